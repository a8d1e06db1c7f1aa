"""THE route table: every path the gateway answers, who owns it and which scope it needs.

The gateway authorises from this table alone, the merged OpenAPI lists exactly these
operations, and the authorisation-matrix test walks it. A path not listed here is refused
(401 without a token, 404 with one); the only paths reachable without a token are PUBLIC_PATHS.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.identity import CALLER_KINDS

SCOPES: dict[str, str] = {
    "applications:write": "Submit and withdraw applications",
    "applications:read": "Read applications, verifications and decisions",
    "consents:write": "Relay family members' consent replies",
    "eligibility:estimate": "Ask for a pre-check benefit estimate",
    "parameters:read": "Read effective-dated parameters",
    "parameters:write": "Change effective-dated parameters",
    "contracts:read": "Read social contracts",
    "contracts:write": "Record contract measures and breaches",
    "contracts:sign": "Relay a family's contract signature",
    "payments:read": "Read payment schedules and payments",
    "payments:write": "Re-issue failed payments",
    "bank:callbacks": "Bank payment orders and status callbacks (signed)",
    "sms:inbound": "Deliver inbound SMS replies",
    "fdc:invite": "Push proactive FDC invitations",
    "stats:read": "Read statistics and gateway metrics",
    "callers:admin": "Manage callers and read the audit log",
}

DEFAULT_SCOPES: dict[str, frozenset[str]] = {
    "portal": frozenset({
        "applications:write", "applications:read", "consents:write", "contracts:read",
        "contracts:sign", "eligibility:estimate", "payments:read",
    }),
    "fdc": frozenset({"fdc:invite", "applications:read", "eligibility:estimate", "payments:read"}),
    "bank": frozenset({"bank:callbacks"}),
    "sms_gateway": frozenset({"sms:inbound"}),
    "ops": frozenset({"stats:read", "applications:read", "contracts:read", "payments:read"}),
    "case_worker": frozenset({"applications:read", "contracts:read", "contracts:write"}),
    "admin": frozenset({"parameters:read", "parameters:write", "callers:admin", "payments:write", "stats:read"}),
}
assert set(DEFAULT_SCOPES) == set(CALLER_KINDS)
assert all(scope in SCOPES for scopes in DEFAULT_SCOPES.values() for scope in scopes)

# Served by the gateway without a token. /ready is here because orchestrator probes cannot
# authenticate; it says only "ready" or "not ready".
PUBLIC_PATHS = frozenset({
    "/health", "/ready", "/oauth/token", "/.well-known/jwks.json", "/docs", "/docs/oauth2-redirect",
    "/openapi.json",
})

GATEWAY = "gateway"


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str  # pattern with {name} segments; also the metrics/audit label
    service: str
    scope: str
    signed: bool = False  # bank callbacks: HMAC signature, timestamp and nonce required
    segments: tuple[str | None, ...] = ()  # None marks a parameter segment
    params: tuple[str, ...] = ()


def _route(method: str, path: str, service: str, scope: str, *, signed: bool = False) -> Route:
    assert scope in SCOPES, scope
    parts = path.strip("/").split("/")
    segments = tuple(None if p.startswith("{") else p for p in parts)
    params = tuple(p[1:-1] for p in parts if p.startswith("{"))
    return Route(method, path, service, scope, signed, segments, params)


ROUTES: tuple[Route, ...] = (
    # intake
    _route("POST", "/v1/applications", "intake", "applications:write"),
    _route("GET", "/v1/applications", "intake", "applications:read"),
    _route("GET", "/v1/applications/{id}", "intake", "applications:read"),
    _route("POST", "/v1/applications/{id}/withdraw", "intake", "applications:write"),
    _route("POST", "/v1/consents/{id}/reply", "intake", "consents:write"),
    _route("POST", "/v1/fdc/invitations", "intake", "fdc:invite"),
    _route("POST", "/v1/sms/inbound", "intake", "sms:inbound"),
    # verification
    _route("GET", "/v1/verifications/{application_id}", "verification", "applications:read"),
    # eligibility
    _route("POST", "/v1/eligibility/estimate", "eligibility", "eligibility:estimate"),
    _route("GET", "/v1/eligibility/decisions/{id}", "eligibility", "applications:read"),
    _route("GET", "/v1/parameters", "eligibility", "parameters:read"),
    _route("POST", "/v1/parameters", "eligibility", "parameters:write"),
    # contracts
    _route("GET", "/v1/contracts", "contracts", "contracts:read"),
    _route("GET", "/v1/contracts/{id}", "contracts", "contracts:read"),
    _route("POST", "/v1/contracts/{id}/sign", "contracts", "contracts:sign"),
    _route("POST", "/v1/contracts/{id}/measures", "contracts", "contracts:write"),
    _route("POST", "/v1/contracts/{id}/breaches", "contracts", "contracts:write"),
    # payments
    _route("GET", "/v1/payments", "payments", "payments:read"),
    _route("GET", "/v1/payments/{id}", "payments", "payments:read"),
    _route("POST", "/v1/payments/{id}/reissue", "payments", "payments:write"),
    _route("POST", "/v1/banks/{bank_code}/payment-status", "payments", "bank:callbacks", signed=True),
    _route("GET", "/v1/banks/{bank_code}/payment-orders", "payments", "bank:callbacks", signed=True),
    # reporting
    _route("GET", "/v1/stats/summary", "reporting", "stats:read"),
    _route("GET", "/v1/stats/regions", "reporting", "stats:read"),
    # the gateway itself
    _route("POST", "/v1/callers", GATEWAY, "callers:admin"),
    _route("GET", "/v1/callers", GATEWAY, "callers:admin"),
    _route("GET", "/v1/callers/{id}", GATEWAY, "callers:admin"),
    _route("POST", "/v1/callers/{id}/rotate-secret", GATEWAY, "callers:admin"),
    _route("POST", "/v1/callers/{id}/disable", GATEWAY, "callers:admin"),
    _route("POST", "/v1/callers/{id}/enable", GATEWAY, "callers:admin"),
    _route("GET", "/v1/audit", GATEWAY, "callers:admin"),
    # Prometheus scrapes with an ops caller's token (client credentials), not anonymously.
    _route("GET", "/metrics", GATEWAY, "stats:read"),
)


class RouteTable:
    """Matches a request path against ROUTES segment by segment (no regexes, no backtracking)."""

    def __init__(self, routes: tuple[Route, ...] = ROUTES) -> None:
        self.routes = routes
        self._by_length: dict[int, list[Route]] = {}
        for route in routes:
            self._by_length.setdefault(len(route.segments), []).append(route)

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], tuple[str, ...]]:
        """(route, path params, allowed methods). A path that exists under other methods gives
        (None, {}, those methods); an unknown path gives (None, {}, ())."""
        parts = path.strip("/").split("/")
        allowed: list[str] = []
        for route in self._by_length.get(len(parts), ()):
            params: dict[str, str] | None = {}
            names = iter(route.params)
            for expected, actual in zip(route.segments, parts):
                if expected is None:
                    params[next(names)] = actual  # type: ignore[index]
                elif expected != actual:
                    params = None
                    break
            if params is None:
                continue
            if route.method == method or (method == "HEAD" and route.method == "GET"):
                return route, params, ()
            allowed.append(route.method)
        return None, {}, tuple(allowed)


def example_path(route: Route, **values: str) -> str:
    """The route's path with its parameters filled in (tests and the benchmark use it)."""
    out = route.path
    for name in route.params:
        out = out.replace("{" + name + "}", values.get(name, f"0190a1b2-c3d4-7e5f-8a9b-{name[:2].encode().hex():0>12}"))
    return out
