"""Text that may be shown: URLs without their credentials (pure)."""

from __future__ import annotations

from urllib.parse import urlsplit

__all__ = ["redact_url"]


def redact_url(url: str) -> str:
    """``url`` without a password in its userinfo or anything in its query string:
    ``http://user:***@host:8123/db?…``. Unparseable text is hidden whole."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(hidden: not a URL)"
    if not parts.scheme:
        return "(hidden: not a URL)"
    user = (
        f"{parts.username}:***@"
        if parts.password
        else (f"{parts.username}@" if parts.username else "")
    )
    query = "?…" if parts.query else ""
    return f"{parts.scheme}://{user}{host}{port}{parts.path}{query}"
