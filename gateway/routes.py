"""THE route table: every path the gateway answers, who owns it and which scope it needs.

The gateway authorises from this table alone and the merged OpenAPI lists exactly these
operations. tests/integration/test_route_table.py holds it to the truth: every route here is
served by its service under the same method, path (parameter names included) and scope, and
every /v1 route a service serves is here; the authorisation-matrix test checks who gets through. A path not listed here is refused
(401 without a token, 404 with one); the only paths reachable without a token are PUBLIC_PATHS
and the Swagger UI files under DOCS_ASSETS_PREFIX.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.identity import CALLER_KINDS

SCOPES: dict[str, str] = {
    "applications:write": "Submit applications",
    "applications:read": "Read applications, verifications and decisions",
    "eligibility:estimate": "Ask for a pre-check benefit estimate",
    "parameters:read": "Read effective-dated parameters",
    "parameters:write": "Change effective-dated parameters",
    "contracts:read": "Read social contracts",
    "contracts:sign": "Relay a family's contract signature",
    "contracts:write": "Record a contract's measures, breaches and termination (case workers)",
    "payments:read": "Read payment schedules and payments",
    "payments:write": "Re-issue a family's failed payment to a corrected account",
    "payments:release": "Release a month's payment orders to the banks",
    "bank:callbacks": "Bank payment orders, payment status and cash-flow callbacks (signed)",
    "stats:read": "Read statistics and gateway metrics",
    "callers:admin": "Manage callers and read the audit log",
    "operations:admin": "Inspect and replay dead letters",
    "consents:write": "Relay a member's answer to, or withdrawal of, a consent request",
    "sms:inbound": "Post SMS received on 1414 (the SMS gateway)",
    "fdc:invite": "Invite families the Family Digital Card flags to apply (FDC)",
}

# What each kind of caller's job needs (issue 8); the services narrow further what a scope shows
# (shared.access: a portal sees only the citizen it acts for, a case worker only its regions, ops
# everything masked, an FDC only its status lookup).
DEFAULT_SCOPES: dict[str, frozenset[str]] = {
    "portal": frozenset({
        "applications:write", "applications:read", "contracts:read", "contracts:sign", "eligibility:estimate",
        "payments:read", "payments:write", "consents:write",
    }),
    "fdc": frozenset({"eligibility:estimate", "applications:read", "fdc:invite"}),
    "bank": frozenset({"bank:callbacks"}),
    "sms_gateway": frozenset({"sms:inbound"}),
    "ops": frozenset({"stats:read", "applications:read"}),
    "case_worker": frozenset({"applications:read", "contracts:read", "contracts:write", "payments:read",
                              "payments:write"}),
    "admin": frozenset({"parameters:read", "parameters:write", "callers:admin", "stats:read", "operations:admin",
                        "payments:release"}),
}
assert set(DEFAULT_SCOPES) == set(CALLER_KINDS)
assert all(scope in SCOPES for scopes in DEFAULT_SCOPES.values() for scope in scopes)

# Served by the gateway without a token. /ready is here because orchestrator probes cannot
# authenticate; it says only "ready" or "not ready".
PUBLIC_PATHS = frozenset({
    "/health", "/ready", "/oauth/token", "/.well-known/jwks.json", "/docs", "/docs/oauth2-redirect",
    "/openapi.json", "/asyncapi.json",
})
# Swagger UI's own files, served by the gateway from the swagger-ui-bundle package (no CDN).
DOCS_ASSETS_PREFIX = "/docs/assets/"

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
    _route("GET", "/v1/applications/{application_id}", "intake", "applications:read"),
    _route("POST", "/v1/applications/{application_id}/withdraw", "intake", "applications:write"),
    _route("GET", "/v1/fdc/families/{iin}/status", "intake", "applications:read"),
    _route("POST", "/v1/fdc/invitations", "intake", "fdc:invite"),
    _route("GET", "/v1/fdc/invitations", "intake", "applications:read"),
    _route("GET", "/v1/fdc/funnel", "intake", "stats:read"),
    _route("GET", "/v1/reference/banks", "intake", "parameters:read"),
    _route("PUT", "/v1/reference/banks/{bic}", "intake", "parameters:write"),
    _route("GET", "/v1/business-days", "intake", "parameters:read"),
    _route("PUT", "/v1/business-days/{day}", "intake", "parameters:write"),
    _route("POST", "/v1/sms/inbound", "intake", "sms:inbound"),
    _route("POST", "/v1/consents/{consent_id}/reply", "intake", "consents:write"),
    _route("POST", "/v1/consents/{consent_id}/withdraw", "intake", "consents:write"),
    # verification
    _route("GET", "/v1/verifications/{application_id}", "verification", "applications:read"),
    _route("POST", "/v1/banks/{bank_code}/cashflow", "verification", "bank:callbacks", signed=True),
    # eligibility
    _route("POST", "/v1/eligibility/estimate", "eligibility", "eligibility:estimate"),
    _route("GET", "/v1/eligibility/decisions/{decision_id}", "eligibility", "applications:read"),
    _route("GET", "/v1/parameters", "eligibility", "parameters:read"),
    _route("POST", "/v1/parameters", "eligibility", "parameters:write"),
    # contracts
    _route("GET", "/v1/contracts", "contracts", "contracts:read"),
    # before /v1/contracts/{contract_id}: the first route that matches wins
    _route("GET", "/v1/contracts/outcomes", "contracts", "stats:read"),
    _route("GET", "/v1/contracts/{contract_id}", "contracts", "contracts:read"),
    _route("POST", "/v1/contracts/{contract_id}/sign", "contracts", "contracts:sign"),
    _route("POST", "/v1/contracts/{contract_id}/measures", "contracts", "contracts:write"),
    _route("PATCH", "/v1/contracts/{contract_id}/measures/{measure_id}", "contracts", "contracts:write"),
    _route("POST", "/v1/contracts/{contract_id}/breaches", "contracts", "contracts:write"),
    _route("POST", "/v1/contracts/{contract_id}/terminate", "contracts", "contracts:write"),
    # payments
    _route("GET", "/v1/payments", "payments", "payments:read"),
    # before /v1/payments/{payment_id}: the table matches in this order
    _route("POST", "/v1/payments/releases", "payments", "payments:release"),
    _route("GET", "/v1/payments/reconciliation", "payments", "stats:read"),
    _route("GET", "/v1/payments/{payment_id}", "payments", "payments:read"),
    _route("POST", "/v1/payments/{order_id}/reissue", "payments", "payments:write"),
    _route("POST", "/v1/banks/{bank_code}/payment-status", "payments", "bank:callbacks", signed=True),
    _route("GET", "/v1/banks/{bank_code}/payment-orders", "payments", "bank:callbacks", signed=True),
    _route("POST", "/v1/banks/{bank_code}/batches/{batch_id}/ack", "payments", "bank:callbacks", signed=True),
    # reporting
    _route("GET", "/v1/stats/summary", "reporting", "stats:read"),
    _route("GET", "/v1/stats/regions", "reporting", "stats:read"),
    _route("GET", "/v1/stats/backlog", "reporting", "stats:read"),
    _route("GET", "/v1/stats/dashboard", "reporting", "stats:read"),
    _route("GET", "/v1/dead-letters", "reporting", "operations:admin"),
    _route("POST", "/v1/dead-letters/replay", "reporting", "operations:admin"),
    _route("GET", "/v1/dead-letters/{event_id}", "reporting", "operations:admin"),
    _route("POST", "/v1/dead-letters/{event_id}/replay", "reporting", "operations:admin"),
    # the gateway itself
    _route("POST", "/v1/callers", GATEWAY, "callers:admin"),
    _route("GET", "/v1/callers", GATEWAY, "callers:admin"),
    _route("GET", "/v1/callers/{caller_id}", GATEWAY, "callers:admin"),
    _route("POST", "/v1/callers/{caller_id}/rotate-secret", GATEWAY, "callers:admin"),
    _route("POST", "/v1/callers/{caller_id}/disable", GATEWAY, "callers:admin"),
    _route("POST", "/v1/callers/{caller_id}/enable", GATEWAY, "callers:admin"),
    _route("PUT", "/v1/callers/{caller_id}/regions", GATEWAY, "callers:admin"),
    _route("GET", "/v1/audit", GATEWAY, "callers:admin"),
    _route("GET", "/v1/audit/data-access", GATEWAY, "callers:admin"),
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
