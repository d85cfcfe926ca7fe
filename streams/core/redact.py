"""Text as it may be shown: URLs without credentials, data without terminal control characters;
and webhook URLs checked before use (pure)."""

from __future__ import annotations

import ipaddress
import unicodedata
from urllib.parse import urlsplit, urlunsplit

__all__ = ["check_webhook_url", "printable", "redact_url"]

# Characters a terminal or a log line must not get raw: control (ESC starts escape sequences,
# CR/LF start forged lines), format (bidirectional overrides) and line/paragraph separators.
_UNPRINTABLE = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co"})


def printable(text: str) -> str:
    """``text`` with every control or format character written as an escape (``\\x1b``,
    ``\\n``, ``\\u202e``), so data cannot drive a terminal or forge lines."""
    if text.isprintable():
        return text
    return "".join(
        char.encode("unicode_escape").decode("ascii")
        if unicodedata.category(char) in _UNPRINTABLE
        else char
        for char in text
    )


def redact_url(url: str) -> str:
    """The URL as logs and dead letters show it: no user info, query or fragment, and only the
    first path segment (Slack-style URLs carry their secret in the path). Never raises, even
    for a URL that does not parse (its port out of range, say). A URL written without a scheme
    (``registry:8081``, ``user:pw@host``) is read as host[:port][/path], not as a scheme
    followed by a path, so its user info is dropped too."""
    scheme_less = "//" not in url
    try:
        parts = urlsplit("//" + url if scheme_less else url)
    except ValueError:
        return "<unparsable URL>"
    host, colon, port = parts.netloc.rpartition("@")[2].rpartition(":")
    if not colon or "]" in port:  # no port: the whole (a bracketed IPv6 address, say) is host
        host, colon, port = host + colon + port, "", ""
    netloc = host + (":" + (port if port.isdigit() else "***") if colon else "")
    segments = [s for s in parts.path.split("/") if s]
    path = ""
    if segments:
        path = "/" + segments[0] + ("/***" if len(segments) > 1 else "")
    masked = "?***" if parts.query else ""
    shown = urlunsplit((parts.scheme, netloc, path, "", "")) + masked
    return shown.removeprefix("//") if scheme_less else shown


def check_webhook_url(url: str) -> list[str]:
    """Check one webhook URL before any request: the warnings it deserves, or ``ValueError``.

    Errors (the URL can never work): a scheme other than http/https, no host, a port that is
    not a number in 1–65535, whitespace or control characters. Warnings (it works, but think
    twice): plain http (the alert and its signature travel in clear), and a host that is an IP
    literal in a private, loopback or link-local range (169.254.0.0/16 and fe80::/10 hold cloud
    metadata services). Credentials in the URL are accepted; no message shows them (nor the
    query or the path beyond its first segment): see ``redact_url``.
    """
    shown = redact_url(url)
    if any(ch.isspace() or not ch.isprintable() for ch in url):
        raise ValueError(f"webhook URL {shown!r} contains whitespace or control characters")
    try:
        parts = urlsplit(url)
    except ValueError:
        raise ValueError(f"webhook URL {shown!r} does not parse as a URL") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ValueError(f"webhook URL {shown!r} must start with https:// (or http://)")
    host = parts.hostname
    if not host:
        raise ValueError(f"webhook URL {shown!r} has no host")
    port_text = parts.netloc.rpartition("@")[2].rpartition("]")[2].partition(":")[2]
    # An empty port ("host:") is the scheme's default, as RFC 3986 has it.
    if port_text and (not port_text.isdigit() or not 1 <= int(port_text) <= 65535):
        raise ValueError(
            f"webhook URL {shown!r} has port {port_text!r}: a port is a number in 1-65535"
        )
    warnings = []
    if scheme == "http":
        warnings.append(
            f"webhook URL {shown!r} is plain http: alerts and their signatures travel "
            "unencrypted; use https"
        )
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return warnings  # a name: what it resolves to is the network's business
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_link_local:
        warnings.append(
            f"webhook URL {shown!r} is a link-local address (where cloud metadata services "
            "answer): alerts would go to this machine's network neighbourhood"
        )
    elif address.is_loopback:
        warnings.append(f"webhook URL {shown!r} is a loopback address: this machine itself")
    elif address.is_private:
        warnings.append(f"webhook URL {shown!r} is a private-network address")
    return warnings
