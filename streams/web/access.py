"""Who may use the worker's web server: a bearer token, basic-auth users, or a trusted SSO proxy.

The live page shows employee-derived team metrics and lets people acknowledge episodes, so
anything beyond loopback needs access control (``MIROIR_WEB_AUTH``):

| mode | a request is let in when |
|---|---|
| ``none`` | always: only for a server bound to loopback (or ``MIROIR_WEB_ALLOW_ANONYMOUS``) |
| ``token`` | ``Authorization: Bearer <token>``, or the cookie a browser got from ``?token=`` |
| ``basic`` | ``Authorization: Basic`` of a user in ``MIROIR_WEB_USERS`` (salted PBKDF2 hashes) |
| ``proxy`` | it comes from an address in ``MIROIR_WEB_TRUSTED_PROXIES`` with the user header set |

``/healthz`` and ``/metrics`` may each be left public. Secrets are compared in constant time and
never logged; a refused request is answered 401 (with a basic-auth challenge in basic mode) or
403, and logged with its address only.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import hashlib
import hmac
import ipaddress
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from aiohttp import web

if TYPE_CHECKING:
    from streams.settings import Settings

__all__ = [
    "ANONYMOUS",
    "MIN_TOKEN_CHARS",
    "WebAccess",
    "check_web_access",
    "hash_password",
    "parse_users",
    "request_user",
    "startup_warning",
    "verify_password",
]

log = logging.getLogger("miroir.web.access")

PBKDF2_ITERATIONS: Final = 600_000  # OWASP's 2023 figure for PBKDF2-HMAC-SHA256
MIN_TOKEN_CHARS: Final = 32
MAX_REMEMBERED: Final = 1024  # verified basic-auth headers kept (digests), then forgotten
TOKEN_COOKIE: Final = "miroir_token"
ANONYMOUS: Final = ""  # the user of a request let in without authentication
_REQUEST_USER: Final = web.RequestKey("miroir_user", str)
_LOOPBACK_NAMES: Final = frozenset({"localhost", "ip6-localhost"})


def hash_password(password: str, *, iterations: int = PBKDF2_ITERATIONS) -> str:
    """``pbkdf2_sha256$<iterations>$<salt>$<hash>`` of ``password`` (salt and hash base64)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    encode = base64.urlsafe_b64encode
    return f"pbkdf2_sha256${iterations}${encode(salt).decode()}${encode(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches the ``hash_password`` string ``stored``."""
    try:
        scheme, iterations, salt, digest = stored.split("$")
        if scheme != "pbkdf2_sha256":
            return False
        expected = base64.urlsafe_b64decode(digest)
        actual = hashlib.pbkdf2_hmac(
            "sha256", password.encode(), base64.urlsafe_b64decode(salt), int(iterations)
        )
    except (ValueError, binascii.Error):
        return False
    return hmac.compare_digest(actual, expected)


def parse_users(text: str) -> dict[str, str]:
    """``{name: hash}`` of ``name:hash`` entries separated by commas or lines; ValueError
    (naming the entry by position, never its hash) when one is malformed or repeated."""
    users: dict[str, str] = {}
    entries = [e.strip() for e in text.replace("\n", ",").split(",") if e.strip()]
    for position, entry in enumerate(entries, start=1):
        name, sep, stored = entry.partition(":")
        if not sep or not name or not stored.startswith("pbkdf2_sha256$"):
            raise ValueError(
                f"entry {position} is not name:pbkdf2_sha256$…; make it with `miroir web-user NAME`"
            )
        if name in users:
            raise ValueError(f"user {name!r} is listed twice")
        users[name] = stored
    return users


def is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_web_access(settings: Settings) -> None:
    """Refuse settings that would expose the web server, or name a mode without what it needs
    (ValueError: the settings loader reports it naming the variables)."""
    mode = settings.web_auth
    if mode == "none":
        exposed = settings.web_port and not is_loopback(settings.web_bind)
        if exposed and not settings.web_allow_anonymous:
            raise ValueError(
                f"MIROIR_WEB_BIND={settings.web_bind} listens beyond loopback with "
                "MIROIR_WEB_AUTH=none: everyone who reaches the port would see employee-"
                "derived team metrics; set MIROIR_WEB_AUTH to token, basic or proxy (or "
                "MIROIR_WEB_ALLOW_ANONYMOUS=true for a network you trust)"
            )
        return
    if mode == "token":
        token = settings.web_token.get_secret_value() if settings.web_token else ""
        if len(token) < MIN_TOKEN_CHARS:
            raise ValueError(
                f"MIROIR_WEB_AUTH=token needs MIROIR_WEB_TOKEN of at least {MIN_TOKEN_CHARS} "
                "characters (e.g. `openssl rand -hex 32`)"
            )
    elif mode == "basic":
        if settings.web_users is None:
            raise ValueError("MIROIR_WEB_AUTH=basic needs MIROIR_WEB_USERS")
        try:
            parse_users(settings.web_users.get_secret_value())
        except ValueError as e:
            raise ValueError(f"MIROIR_WEB_USERS: {e}") from None
    elif mode == "proxy" and not settings.web_trusted_proxies:
        raise ValueError("MIROIR_WEB_AUTH=proxy needs MIROIR_WEB_TRUSTED_PROXIES")


@dataclass(frozen=True)
class WebAccess:
    """The access rules of one web server (see the module doc)."""

    mode: str = "none"
    token: str | None = None
    users: Mapping[str, str] | None = None
    proxy_header: str = "X-Forwarded-User"
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    public_paths: frozenset[str] = frozenset({"/healthz"})
    _cache_key: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    _verified: set[bytes] = field(default_factory=set, repr=False, compare=False)
    # PBKDF2 takes a fraction of a second by design; on the event loop (which the pipeline
    # shares) a burst of wrong guesses would stall the worker. Two threads do it, so a flood
    # of guesses waits in their queue instead of taking every core.
    _hashing: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(2, thread_name_prefix="miroir-web-auth"),
        repr=False,
        compare=False,
    )

    @classmethod
    def from_settings(cls, settings: Settings) -> WebAccess:
        public = {"/healthz"} if settings.web_healthz_public else set()
        if settings.web_metrics_public:
            public.add("/metrics")
        return cls(
            mode=settings.web_auth,
            token=settings.web_token.get_secret_value() if settings.web_token else None,
            users=parse_users(settings.web_users.get_secret_value())
            if settings.web_users
            else None,
            proxy_header=settings.web_proxy_user_header,
            trusted_proxies=tuple(
                ipaddress.ip_network(n, strict=False) for n in settings.web_trusted_proxies
            ),
            public_paths=frozenset(public),
        )

    @property
    def names_users(self) -> bool:
        """Whether an authenticated request carries a person's name (basic, proxy)."""
        return self.mode in ("basic", "proxy")

    async def user_of(self, request: web.Request) -> str | None:
        """Who made ``request`` (ANONYMOUS when no authentication applies), or None when it
        must be refused."""
        if self.mode == "none" or request.path in self.public_paths:
            return ANONYMOUS
        if self.mode == "token":
            return self._token_user(request)
        if self.mode == "basic":
            return await self._basic_user(request)
        return self._proxy_user(request)

    def _token_user(self, request: web.Request) -> str | None:
        assert self.token is not None
        given = _bearer(request) or request.cookies.get(TOKEN_COOKIE) or ""
        given = given or request.query.get("token", "")
        return "token" if hmac.compare_digest(given.encode(), self.token.encode()) else None

    async def _basic_user(self, request: web.Request) -> str | None:
        header = request.headers.get("Authorization", "")
        if not header.lower().startswith("basic "):
            return None
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        name, _, password = decoded.partition(":")
        stored = (self.users or {}).get(name)
        # A page load makes a dozen requests with the same header, so a verified header is
        # remembered (as a keyed digest only).
        seen = hmac.new(self._cache_key, header.encode(), hashlib.sha256).digest()
        if stored is not None and seen in self._verified:
            return name
        loop = asyncio.get_running_loop()
        # An unknown name costs the same work as a known one: timing does not tell which exist.
        if not await loop.run_in_executor(self._hashing, _verify, password, stored):
            return None
        assert stored is not None  # _verify is False without a stored hash
        if len(self._verified) >= MAX_REMEMBERED:
            self._verified.clear()
        self._verified.add(seen)
        return name

    def _proxy_user(self, request: web.Request) -> str | None:
        if not self.from_trusted_proxy(request):
            return None
        user = request.headers.get(self.proxy_header, "").strip()
        return user or None

    def from_trusted_proxy(self, request: web.Request) -> bool:
        """Whether ``request`` came from an address of MIROIR_WEB_TRUSTED_PROXIES."""
        try:
            address = ipaddress.ip_address(request.remote or "")
        except ValueError:
            return False
        return any(address in network for network in self.trusted_proxies)

    def client_address(self, request: web.Request) -> str:
        """The client's address: through a trusted proxy, the last hop it added to
        ``X-Forwarded-For`` (the earlier ones are whatever the client claimed); else the
        connection's."""
        forwarded = request.headers.get("X-Forwarded-For", "")
        if forwarded and self.from_trusted_proxy(request):
            last = forwarded.rsplit(",", 1)[-1].strip()
            try:
                return str(ipaddress.ip_address(last))
            except ValueError:
                pass  # not an address: count it as the proxy's own
        return request.remote or ""

    def middleware(self) -> Callable[..., Awaitable[web.StreamResponse]]:
        """The aiohttp middleware enforcing these rules; the user is ``request["miroir_user"]``."""

        @web.middleware
        async def check(
            request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
        ) -> web.StreamResponse:
            user = await self.user_of(request)
            if user is None:
                log.warning(
                    "web: refused %s %r from %r (no valid credentials)",
                    request.method,
                    request.path,
                    request.remote,
                )
                return self._refusal(request)
            request[_REQUEST_USER] = user
            if self.mode == "token" and "token" in request.query:
                # A browser opened a link with the token: keep it in a cookie scripts cannot
                # read, and drop it from the address bar (and from history and referrers).
                kept = {k: v for k, v in request.query.items() if k != "token"}
                response = web.Response(
                    status=303, headers={"Location": str(request.rel_url.with_query(kept))}
                )
                response.set_cookie(
                    TOKEN_COOKIE,
                    request.query["token"],
                    httponly=True,
                    # Lax, not Strict: the link is usually clicked in a chat or an e-mail,
                    # and Chromium withholds Strict cookies from the whole redirect chain
                    # of a navigation another site started (the page would answer 401).
                    # POSTs from other sites are refused by the origin check anyway.
                    samesite="Lax",
                    secure=request.secure,
                    path="/",
                )
                return response
            return await handler(request)

        return check

    def _refusal(self, request: web.Request) -> web.Response:
        if self.mode == "basic":
            return web.Response(
                status=401,
                text="Sign in to see Miroir's live page.\n",
                headers={"WWW-Authenticate": 'Basic realm="Miroir", charset="UTF-8"'},
            )
        if self.mode == "proxy":
            return web.Response(status=403, text="Sign in through your organisation's portal.\n")
        return web.Response(
            status=401,
            text="Open the page with the link containing its token, or send "
            "'Authorization: Bearer <token>'.\n",
            headers={"WWW-Authenticate": 'Bearer realm="Miroir"'},
        )


def request_user(request: web.Request) -> str:
    """The user the access middleware let ``request`` in as (ANONYMOUS without one)."""
    user = request.get(_REQUEST_USER, ANONYMOUS)
    return user if isinstance(user, str) else ANONYMOUS


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return None


def startup_warning(settings: Settings) -> str | None:
    """What to warn about when the web server starts (None: nothing)."""
    if not settings.web_port:
        return None
    if settings.web_bind in ("0.0.0.0", "::", ""):
        how = "no authentication" if settings.web_auth == "none" else settings.web_auth
        return (
            f"web: listening on every interface ({settings.web_bind}:{settings.web_port}) with "
            f"{how}; bind a single address or put the port behind a network policy"
        )
    if settings.web_auth == "none" and not is_loopback(settings.web_bind):
        return (
            f"web: listening on {settings.web_bind}:{settings.web_port} without authentication "
            "(MIROIR_WEB_ALLOW_ANONYMOUS=true): whoever reaches the port sees employee-derived "
            "team metrics and can acknowledge episodes"
        )
    return None


def _verify(password: str, stored: str | None) -> bool:
    """``verify_password``, against a throw-away hash when there is no user (runs in a thread)."""
    if stored is None:
        verify_password(password, _dummy_hash())
        return False
    return verify_password(password, stored)


@functools.cache
def _dummy_hash() -> str:
    return hash_password("not a password")
