"""The ops dashboard at `/dashboard` (issue 13; docs/dashboard.md): a page, its own static files,
the chart library, a cookie session, and one data endpoint.

An ops caller (or an admin; `dashboard_caller_kinds`) holding `stats:read` signs in with its
client id and secret. The secret is checked exactly as at the token endpoint (same argon2id check,
same per-client bucket, plus a per-address bucket); the gateway then issues an ordinary access
token narrowed to `stats:read` and keeps it in a cookie the page's JavaScript cannot read
(HttpOnly, SameSite=Strict, Path=/dashboard, Secure over https and in production). The cookie
also carries the sign-in time, MACed with a key derived from the master key, so that the token
can be renewed while the page stays open — never past `dashboard_session_seconds`.

`GET /dashboard/data` takes ONLY that cookie (an Authorization header is dropped, never used):
the request is rewritten to `GET /v1/stats/dashboard` with the cookie's token as its bearer and
handed to the front door, which authenticates, rate-limits, checks the route's scope, forwards
with an internal token and audits, as for any other caller. Sign-in and sign-out are POSTs that
must come from the page's own origin (Origin, else Referer), on top of SameSite=Strict.

Every answer carries a Content-Security-Policy that allows scripts only from this origin (no
inline script, no other origin), `nosniff`, and `frame-ancestors 'none'`.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass
from importlib import metadata, util
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.callers import CallerRecord
from gateway.directory import RegistryUnreachable
from gateway.frontdoor import Gateway
from gateway.grants import authenticate_client
from gateway.ratelimit import retry_after_header
from gateway.routes import GATEWAY
from gateway.tokens import InvalidToken, OAuthError
from shared.calendar import Quarter, business_date
from shared.errors import PROBLEM_JSON, PROBLEM_BASE, QamqorError
from shared.inputs import has_control_character
from shared.observability import request_id_var

log = logging.getLogger("qamqor.gateway.dashboard")

PREFIX = "/dashboard"
COOKIE = "qamqor_dashboard"
SCOPE = "stats:read"
STATS_PATH = "/v1/stats/dashboard"
FILTERS = ("quarter", "region_kato")
STATIC_DIR = Path(__file__).parent / "static" / "dashboard"
# The chart library ships in the plotly package; found without importing plotly's Python side.
PLOTLY_FILE = Path(util.find_spec("plotly").origin).parent / "package_data" / "plotly.min.js"  # type: ignore[union-attr, arg-type]
PLOTLY_PATH = f"{PREFIX}/vendor/plotly-{metadata.version('plotly')}.min.js"
MAX_FORM_BYTES = 4096
STATS_DATA = PREFIX + "/data"
SIGN_IN = PREFIX + "/sign-in"
SIGN_OUT = PREFIX + "/sign-out"
SESSION = PREFIX + "/session"

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml", ".json": "application/json",
}
# Scripts only from here; no inline script, no eval, no other origin. Plotly sets element styles
# (its tooltips, axis labels), which CSP counts as inline styles: styles are the one allowance.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = (
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
)
NO_STORE = ((b"cache-control", b"no-store"),)


@dataclass(frozen=True, slots=True)
class _Template:
    """What the metrics middleware reads off `scope["route"]`: the path label."""

    path: str


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    content_type: str
    etag: str
    cache_control: str
    gzipped: bytes | None = None


@dataclass(frozen=True, slots=True)
class Session:
    caller: CallerRecord
    token: str
    since: int
    renewed: str | None = None  # a new cookie value to set, when the token was renewed


class Refusal(Exception):
    def __init__(self, status: int, slug: str, title: str, detail: str,
                 headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
        super().__init__(detail)
        self.status, self.slug, self.title, self.detail, self.headers = status, slug, title, detail, headers


def _not_signed_in(detail: str = "Sign in to the dashboard first.") -> Refusal:
    return Refusal(401, "unauthorized", "Authentication required", detail)


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def load_assets() -> dict[str, Asset]:
    """The page and its files (revalidated on every load: an ETag answers 304), and the chart
    library under a versioned path (cached for a year: a new plotly is a new path)."""
    assets: dict[str, Asset] = {}
    for file in sorted(STATIC_DIR.rglob("*")):
        if not file.is_file() or file.suffix not in CONTENT_TYPES:
            continue
        body = file.read_bytes()
        if file.name == "index.html":
            body = body.replace(b"__PLOTLY_PATH__", PLOTLY_PATH.encode())
            assets[PREFIX] = Asset(body, CONTENT_TYPES[".html"], _etag(body), "no-cache")
            continue
        path = f"{PREFIX}/static/{file.relative_to(STATIC_DIR).as_posix()}"
        assets[path] = Asset(body, CONTENT_TYPES[file.suffix], _etag(body), "no-cache")
    return assets


class Dashboard:
    """ASGI middleware in front of the front door: answers every path under /dashboard, passes
    everything else through untouched."""

    def __init__(self, app: ASGIApp, gateway: Gateway) -> None:
        self.app = app
        self.gateway = gateway
        self.settings = gateway.settings
        self.assets = load_assets()
        self._plotly: Asset | None = None
        self._plotly_lock = asyncio.Lock()
        # Sessions signed out here: (caller id, sign-in time) → when the session would have ended.
        # In this instance's memory (like the rate limits); the cookie itself is cleared in the browser.
        self._signed_out: dict[tuple[str, int], float] = {}

    # ---- dispatch ------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path != PREFIX and not path.startswith(PREFIX + "/"):
            await self.app(scope, receive, send)
            return
        started, wall = time.perf_counter(), time.time()
        status = {"code": 500}
        who: dict = {"caller": None, "forwarded": False}

        async def noting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        method = scope["method"]
        try:
            if path == STATS_DATA:
                scope["route"] = _Template(STATS_DATA)
                if method not in ("GET", "HEAD"):
                    raise _method_not_allowed("GET")
                await self._data(scope, receive, noting_send, who)
                return  # the front door audits the forwarded request
            if path == SIGN_IN:
                scope["route"] = _Template(SIGN_IN)
                await self._sign_in(scope, receive, noting_send, who)
            elif path == SIGN_OUT:
                scope["route"] = _Template(SIGN_OUT)
                await self._sign_out(scope, receive, noting_send, who)
            elif path == SESSION:
                scope["route"] = _Template(SESSION)
                if method not in ("GET", "HEAD"):
                    raise _method_not_allowed("GET")
                await self._whoami(scope, noting_send, who)
            else:
                await self._asset(scope, noting_send)
        except Refusal as refusal:
            await _problem(noting_send, refusal, instance=path)
        finally:
            route = getattr(scope.get("route"), "path", None)
            if not who["forwarded"]:
                caller = who["caller"]
                client = scope.get("client")
                self.gateway.audit.record(
                    at=wall, caller_id=caller.id if caller else None, caller_kind=caller.kind if caller else None,
                    method=method, route=route or PREFIX + "/{asset}", path=path, service=GATEWAY,
                    status=status["code"], latency_ms=round((time.perf_counter() - started) * 1000, 3),
                    request_id=request_id_var.get() or "", client_ip=client[0] if client else None)

    # ---- files -----------------------------------------------------------------------------

    async def _asset(self, scope: Scope, send: Send) -> None:
        path, method = scope["path"], scope["method"]
        if path == PLOTLY_PATH:
            asset = await self._plotly_asset()
        elif path == PREFIX + "/":
            await _send(send, 308, [(b"location", PREFIX.encode())], b"")
            return
        else:
            asset = self.assets.get(path)
        if asset is None:
            raise Refusal(404, "not-found", "Not found", "No such dashboard file.")
        if method not in ("GET", "HEAD"):
            raise _method_not_allowed("GET, HEAD")
        scope["route"] = _Template(path if path in (PREFIX, PLOTLY_PATH) else PREFIX + "/static/{file}")
        headers = _headers(scope)
        common = [(b"etag", asset.etag.encode()), (b"cache-control", asset.cache_control.encode()),
                  (b"vary", b"accept-encoding")]
        if headers.get("if-none-match") == asset.etag:
            await _send(send, 304, common, b"")
            return
        body, extra = asset.body, []
        if asset.gzipped is not None and "gzip" in headers.get("accept-encoding", ""):
            body, extra = asset.gzipped, [(b"content-encoding", b"gzip")]
        await _send(send, 200, [(b"content-type", asset.content_type.encode()), *common, *extra],
                    b"" if method == "HEAD" else body, length=len(body))

    async def _plotly_asset(self) -> Asset:
        """Read and compressed once, on first use (about 4.6 MB, 1.4 MB gzipped), off the loop."""
        if self._plotly is None:
            async with self._plotly_lock:
                if self._plotly is None:
                    def build() -> Asset:
                        body = PLOTLY_FILE.read_bytes()
                        return Asset(body, CONTENT_TYPES[".js"], _etag(body), "public, max-age=31536000, immutable",
                                     gzip.compress(body, compresslevel=6, mtime=0))
                    self._plotly = await asyncio.to_thread(build)
        return self._plotly

    # ---- sign-in and sign-out -------------------------------------------------------------

    async def _sign_in(self, scope: Scope, receive: Receive, send: Send, who: dict) -> None:
        if scope["method"] != "POST":
            raise _method_not_allowed("POST")
        headers = _headers(scope)
        self._check_origin(scope, headers)
        client = scope.get("client")
        ip_wait = self.gateway.buckets.take("dashboard-sign-in:" + (client[0] if client else "?"),
                                            self.settings.dashboard_sign_in_rate_limit)
        if ip_wait:
            raise _rate_limited(ip_wait)
        if headers.get("content-type", "").split(";")[0].strip().lower() != "application/x-www-form-urlencoded":
            raise Refusal(415, "unsupported-media-type", "Unsupported media type",
                          "Sign in with an application/x-www-form-urlencoded form.")
        form = _form(await _read_body(receive, MAX_FORM_BYTES))
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        missing = [name for name, value in (("client_id", client_id), ("client_secret", secret)) if not value]
        if missing:
            raise Refusal(422, "validation-error", "Invalid input", "Missing: " + ", ".join(missing) + ".")
        try:
            caller = await authenticate_client(self.gateway, client_id, secret)
        except OAuthError:
            raise Refusal(401, "sign-in-failed", "Sign-in failed", "The client id or secret is wrong.") from None
        except QamqorError as exc:  # the token endpoint's bucket for this client id
            raise _rate_limited(float(exc.headers.get("Retry-After", "1"))) from None
        except Exception:  # noqa: BLE001 — the caller registry is unreachable: not the caller's fault
            log.warning("caller registry unavailable at dashboard sign-in", exc_info=True)
            raise _registry_unavailable() from None
        who["caller"] = caller
        self._require_dashboard_caller(caller)
        token, _ = self.gateway.tokens.issue(caller, frozenset({SCOPE}))
        since = int(self.gateway.tokens.clock())
        cookie = self._cookie(scope, self._cookie_value(since, token), since)
        body = json.dumps(self._session_view(caller)).encode()
        await _send(send, 200, [(b"content-type", b"application/json"), (b"set-cookie", cookie.encode()),
                                *NO_STORE], body)

    async def _sign_out(self, scope: Scope, receive: Receive, send: Send, who: dict) -> None:
        """Clears the cookie whatever it held, and refuses that session from now on in this
        instance (another instance would still take a copy of the cookie until its token expires,
        at most `token_lifetime_seconds`; nothing but the cookie ever held it)."""
        if scope["method"] != "POST":
            raise _method_not_allowed("POST")
        self._check_origin(scope, _headers(scope))
        try:
            session = await self._session(scope, renew=False)
        except Refusal:
            pass
        else:
            who["caller"] = session.caller
            now = self.gateway.tokens.clock()
            self._signed_out = {key: end for key, end in self._signed_out.items() if end > now}
            self._signed_out[(session.caller.id, session.since)] = session.since + self.settings.dashboard_session_seconds
        await _send(send, 204, [(b"set-cookie", self._cookie(scope, "", None).encode()), *NO_STORE], b"")

    async def _whoami(self, scope: Scope, send: Send, who: dict) -> None:
        """Whether this browser is signed in (and as whom): what the page asks when it opens. Not
        signed in is a plain answer here, not an error; a cookie that no longer works is cleared."""
        try:
            session = await self._session(scope, renew=True)
        except Refusal as refusal:
            if refusal.status == 503:
                raise
            cleared = [(b"set-cookie", self._cookie(scope, "", None).encode())] \
                if _cookie_of(_headers(scope).get("cookie", ""), COOKIE) else []
            await _send(send, 200, [(b"content-type", b"application/json"), *NO_STORE, *cleared],
                        json.dumps({"signed_in": False}).encode())
            return
        who["caller"] = session.caller
        extra = [(b"set-cookie", self._cookie(scope, session.renewed, session.since).encode())] if session.renewed else []
        await _send(send, 200, [(b"content-type", b"application/json"), *NO_STORE, *extra],
                    json.dumps(self._session_view(session.caller)).encode())

    def _session_view(self, caller: CallerRecord) -> dict:
        """Who is signed in, and what the page needs to draw its filters: no secret, no token."""
        current = Quarter.of(business_date())
        quarters = [current.next()]
        for _ in range(6):
            quarters.append(current)
            current = current.previous()
        return {"signed_in": True, "caller_id": caller.id, "kind": caller.kind, "quarters": [str(q) for q in quarters],
                "refresh_seconds": self.settings.dashboard_refresh_seconds}

    # ---- the data --------------------------------------------------------------------------

    async def _data(self, scope: Scope, receive: Receive, send: Send, who: dict) -> None:
        """The cookie's token becomes the bearer of a GET /v1/stats/dashboard that goes through
        the front door like any other request: its authentication, limits, scope check,
        internal token and audit."""
        try:
            session = await self._session(scope, renew=True)
        except Refusal as refusal:
            await _problem(send, refusal, instance=scope["path"])
            return
        who["caller"] = session.caller
        query = [(name, value) for name, value in parse_qsl((scope.get("query_string") or b"").decode("latin-1"),
                                                           keep_blank_values=True)
                 if name in FILTERS and value]
        inner = dict(scope)
        inner["path"] = STATS_PATH
        inner["raw_path"] = STATS_PATH.encode()
        inner["query_string"] = urlencode(query).encode()
        inner["headers"] = [(name, value) for name, value in scope["headers"]
                            if name not in (b"authorization", b"cookie")]
        inner["headers"].append((b"authorization", b"Bearer " + session.token.encode()))
        inner.pop("route", None)
        who["forwarded"] = True
        renewed = (b"set-cookie", self._cookie(scope, session.renewed, session.since).encode()) \
            if session.renewed else None

        async def marked_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(n, v) for n, v in message.get("headers", []) if n.lower() != b"cache-control"]
                headers.extend(NO_STORE)
                headers.extend(SECURITY_HEADERS)
                if renewed is not None:
                    headers.append(renewed)
                message["headers"] = headers
            await send(message)

        await self.app(inner, receive, marked_send)

    async def _session(self, scope: Scope, *, renew: bool) -> Session:
        """The signed-in caller behind the cookie, as it is now; a Refusal (401/403) otherwise.
        With `renew`, a token past half its life is replaced (the session's end stays put)."""
        raw = _cookie_of(_headers(scope).get("cookie", ""), COOKIE)
        if not raw:
            raise _not_signed_in()
        since_text, _, rest = raw.partition(".")
        mac, _, token = rest.partition(".")
        if not (since_text.isascii() and since_text.isdigit() and token
                and hmac.compare_digest(mac.encode(), self._mac(since_text, token).encode())):
            raise _not_signed_in("The dashboard session is not valid; sign in again.")
        since = int(since_text)
        gw = self.gateway
        now = gw.tokens.clock()
        if now - since > self.settings.dashboard_session_seconds:
            raise _not_signed_in("The dashboard session has ended; sign in again.")
        try:
            claims = gw.tokens.verify(token)
        except InvalidToken:
            raise _not_signed_in("The dashboard session has expired; sign in again.") from None
        if (claims.caller_id, since) in self._signed_out:
            raise _not_signed_in("The dashboard session was signed out; sign in again.")
        try:
            caller = await gw.directory.find(claims.caller_id)
        except RegistryUnreachable:
            raise _registry_unavailable() from None
        if caller is None or not caller.enabled or caller.credential_version != claims.credential_version \
                or claims.citizen_iin is not None:
            raise _not_signed_in("The dashboard session is no longer valid; sign in again.")
        self._require_dashboard_caller(caller)
        renewed = None
        if renew and claims.expires_at - now < gw.tokens.lifetime / 2:
            token, _ = gw.tokens.issue(caller, frozenset({SCOPE}))
            renewed = self._cookie_value(since, token)
        return Session(caller, token, since, renewed)

    def _require_dashboard_caller(self, caller: CallerRecord) -> None:
        if caller.kind not in self.settings.dashboard_caller_kinds or SCOPE not in caller.scopes:
            kinds = " or ".join(self.settings.dashboard_caller_kinds)
            raise Refusal(403, "forbidden", "Forbidden", f"The dashboard is for {kinds} callers with {SCOPE}.")

    # ---- cookie and origin -----------------------------------------------------------------

    def _mac(self, since: str, token: str) -> str:
        key = self.gateway.master_key.derive("dashboard-session")
        digest = hmac.new(key, f"{since}.{token}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def _cookie_value(self, since: int, token: str) -> str:
        return f"{since}.{self._mac(str(since), token)}.{token}"

    def _secure(self, scope: Scope) -> bool:
        return (scope.get("scheme") == "https" or self.settings.environment == "production"
                or bool(self.settings.dashboard_secure_cookie))

    def _cookie(self, scope: Scope, value: str, since: int | None) -> str:
        """The session cookie (`since` given) or its removal."""
        if since is None:
            max_age = 0
        else:
            max_age = max(0, since + self.settings.dashboard_session_seconds - int(self.gateway.tokens.clock()))
        parts = [f"{COOKIE}={value}", f"Path={PREFIX}", f"Max-Age={max_age}", "HttpOnly", "SameSite=Strict"]
        if self._secure(scope):
            parts.append("Secure")
        return "; ".join(parts)

    def _check_origin(self, scope: Scope, headers: dict[str, str]) -> None:
        """A sign-in or sign-out must come from this page: its Origin (or, failing that, its
        Referer) is this gateway's own origin or one configured in `dashboard_origins`."""
        claimed = headers.get("origin")
        if claimed is None and "referer" in headers:
            try:
                parts = urlsplit(headers["referer"])
            except ValueError:  # e.g. an unclosed IPv6 bracket
                parts = None
            claimed = f"{parts.scheme}://{parts.netloc}" if parts and parts.scheme and parts.netloc else None
        own = f"{scope.get('scheme', 'http')}://{headers.get('host', '')}"
        if claimed is None or (claimed != own and claimed not in self.settings.dashboard_origins):
            raise Refusal(403, "cross-site-request", "Cross-site request refused",
                          "Sign-in and sign-out are accepted only from the dashboard page itself.")


# ---- plain ASGI helpers ----------------------------------------------------------------------


def _headers(scope: Scope) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in scope.get("headers", ()):
        key = name.decode("latin-1").lower()
        out[key] = out[key] + "; " + value.decode("latin-1") if key == "cookie" and key in out \
            else value.decode("latin-1")
    return out


def _cookie_of(header: str, name: str) -> str | None:
    for part in header.split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key == name:
            return value
    return None


def _form(body: bytes) -> dict[str, str]:
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        raise Refusal(400, "bad-request", "Bad request", "The form is not UTF-8.") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form or has_control_character(name) or has_control_character(value):
            raise Refusal(400, "bad-request", "Bad request", "The form is not valid.")
        form[name] = value
    return form


async def _read_body(receive: Receive, limit: int) -> bytes:
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise Refusal(400, "bad-request", "Bad request", "The request ended early.")
        body += message.get("body", b"")
        if len(body) > limit:
            raise Refusal(413, "payload-too-large", "Payload too large", f"The form may be at most {limit} bytes.")
        if not message.get("more_body", False):
            return body


def _method_not_allowed(allowed: str) -> Refusal:
    return Refusal(405, "method-not-allowed", "Method not allowed", "Not allowed here.",
                   headers=((b"allow", allowed.encode()),))


def _registry_unavailable() -> Refusal:
    return Refusal(503, "service-unavailable", "Service unavailable",
                   "The caller registry cannot be reached; try again shortly.", headers=((b"retry-after", b"1"),))


def _rate_limited(wait: float) -> Refusal:
    return Refusal(429, "rate-limited", "Too many requests", "Too many sign-in attempts; try again later.",
                   headers=((b"retry-after", retry_after_header(wait).encode()),))


async def _send(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes,
                length: int | None = None) -> None:
    out = [*headers, *SECURITY_HEADERS]
    if status != 304:
        out.append((b"content-length", str(len(body) if length is None else length).encode()))
    await send({"type": "http.response.start", "status": status, "headers": out})
    await send({"type": "http.response.body", "body": body})


async def _problem(send: Send, refusal: Refusal, *, instance: str) -> None:
    body = json.dumps({"type": PROBLEM_BASE + refusal.slug, "title": refusal.title, "status": refusal.status,
                       "detail": refusal.detail, "instance": instance}).encode()
    headers = [(b"content-type", PROBLEM_JSON.encode()), *NO_STORE, *refusal.headers]
    if refusal.status == 401:
        headers.append((b"www-authenticate", b'Cookie realm="qamqor-dashboard"'))
    await _send(send, refusal.status, headers, body)

