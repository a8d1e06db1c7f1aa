"""Pure gateway pieces: the route table, token buckets, signatures, path canonicalisation,
settings, token verification and the OpenAPI merge."""

from __future__ import annotations

import hashlib
import hmac
import os

import pytest
from cryptography.exceptions import InvalidTag

from gateway.crypto import MasterKey, SecretHasher, bank_signature, new_token_key, public_key_from_jwk
from gateway.frontdoor import (
    Inbound, _canonical, bearer_token, check_declared_size, check_scope, require_route, strip_spoofed_headers,
)
from gateway.openapi import merge
from gateway.ratelimit import TokenBuckets, retry_after_header
from gateway.routes import DEFAULT_SCOPES, PUBLIC_PATHS, ROUTES, SCOPES, RouteTable, example_path
from gateway.callers import CallerRecord
from gateway.signatures import SignatureRejected, check_bank_signature
from gateway.tokens import AccessTokens, InvalidToken, KeyRing, OAuthError, granted_scopes
from gateway.settings import GatewaySettings, RateLimit
from shared.errors import QamqorError
from shared.identity import CALLER_KINDS

# ---- route table --------------------------------------------------------------------------


def test_every_route_matches_itself_and_only_itself() -> None:
    table = RouteTable()
    for route in ROUTES:
        found, params, _ = table.match(route.method, example_path(route, bank_code="HSBKKZKX"))
        assert found is route
        assert set(params) == set(route.params)


def test_every_scope_guards_a_route_and_every_default_scope_exists() -> None:
    assert set(DEFAULT_SCOPES) == set(CALLER_KINDS)
    assert DEFAULT_SCOPES["bank"] == {"bank:callbacks"}
    assert DEFAULT_SCOPES["admin"] == {"parameters:read", "parameters:write", "callers:admin", "stats:read",
                                       "operations:admin", "payments:release", "reassessments:run"}
    assert set(SCOPES) == {route.scope for route in ROUTES}  # no scope without a route
    assert set().union(*DEFAULT_SCOPES.values()) <= set(SCOPES)
    assert {"/health", "/oauth/token", "/.well-known/jwks.json", "/docs", "/openapi.json",
            "/asyncapi.json"} <= PUBLIC_PATHS


def test_route_matching_details() -> None:
    table = RouteTable()
    # the payments' own words come before a payment id
    assert table.match("GET", "/v1/payments/reconciliation")[0].scope == "stats:read"
    assert table.match("POST", "/v1/payments/releases")[0].scope == "payments:release"
    assert table.match("GET", "/v1/payments/releases")[0].path == "/v1/payments/{payment_id}"
    route, params, _ = table.match("POST", "/v1/banks/KCJBKZKX/payment-status")
    assert route is not None and route.signed and params == {"bank_code": "KCJBKZKX"}
    assert table.match("HEAD", "/v1/payments")[0].method == "GET"
    assert table.match("DELETE", "/v1/applications") == (None, {}, ("POST", "GET"))
    assert table.match("GET", "/v1/nothing") == (None, {}, ())
    assert table.match("GET", "/v1/applications/1/2/3") == (None, {}, ())


@pytest.mark.parametrize("path, ok", [
    ("/v1/applications", True), ("/v1/applications/", False), ("/v1//applications", False),
    ("/v1/applications/../callers", False), ("/v1/./applications", False), ("/v1/a\\b", False),
    ("/v1/applications/..", False), ("v1/applications", False),
])
def test_canonical_paths(path: str, ok: bool) -> None:
    assert _canonical(path, path.encode()) is ok


def test_encoded_slashes_are_not_canonical() -> None:
    assert not _canonical("/v1/applications/a/b", b"/v1/applications/a%2Fb")
    assert not _canonical("/v1/applications/a\\b", b"/v1/applications/a%5cb")


# ---- front-door stages --------------------------------------------------------------------


def _refusal(stage, *args) -> QamqorError:  # noqa: ANN001
    with pytest.raises(QamqorError) as refused:
        stage(*args)
    return refused.value


def test_only_the_gateway_speaks_for_a_caller() -> None:
    scope = {"headers": [(b"x-qamqor-internal-token", b"forged"), (b"x-qamqor-caller-id", b"admin"),
                         (b"authorization", b"Bearer t"), (b"content-length", b"2"), (b"x-custom", b"kept")]}
    inbound = strip_spoofed_headers(scope)
    assert scope["headers"] == [(b"authorization", b"Bearer t"), (b"content-length", b"2"), (b"x-custom", b"kept")]
    assert (inbound.authorization, inbound.content_length, inbound.chunked) == (b"Bearer t", b"2", False)


def test_stages_refuse_with_the_status_a_caller_can_act_on() -> None:
    assert check_declared_size(Inbound(content_length=b"10"), 10) is True
    assert check_declared_size(Inbound(content_length=b"0"), 10) is False
    assert check_declared_size(Inbound(chunked=True), 10) is True
    assert _refusal(check_declared_size, Inbound(content_length=b"ten"), 10).status == 400
    assert _refusal(check_declared_size, Inbound(content_length=b"11"), 10).status == 413

    assert bearer_token(b"Bearer abc ") == "abc"
    assert _refusal(bearer_token, None).headers == {"WWW-Authenticate": 'Bearer realm="qamqor"'}
    assert 'error="invalid_request"' in _refusal(bearer_token, b"Basic abc").headers["WWW-Authenticate"]

    route = RouteTable().match("GET", "/v1/payments")[0]
    assert require_route("GET", route, ()) is route
    assert _refusal(require_route, "DELETE", None, ("POST", "GET", "GET")).headers == {"Allow": "GET, POST"}
    assert _refusal(require_route, "GET", None, ()).status == 404
    check_scope(route, frozenset({"payments:read"}))
    refused = _refusal(check_scope, route, frozenset({"applications:read"}))
    assert refused.status == 403 and 'scope="payments:read"' in refused.headers["WWW-Authenticate"]


# ---- token buckets ------------------------------------------------------------------------


class Clock:
    """Time that moves only when a test moves it."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def test_token_bucket_allows_a_burst_then_refuses_with_a_wait() -> None:
    buckets = TokenBuckets(clock=Clock(0.0))
    limit = RateLimit(rate=2, burst=3)
    assert [buckets.take("a", limit) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a", limit) == 0.5  # one token comes back every 1/rate seconds
    assert retry_after_header(0.5) == "1"
    assert buckets.take("b", limit) == 0.0  # per key


def test_token_bucket_refills_at_its_rate_up_to_its_burst() -> None:
    clock = Clock(0.0)  # a monotonic clock: seconds since some start
    buckets = TokenBuckets(clock=clock)
    limit = RateLimit(rate=100, burst=2)
    assert [buckets.take("a", limit) for _ in range(2)] == [0.0, 0.0]
    assert buckets.take("a", limit) == pytest.approx(0.01)
    clock.advance(0.005)  # half a token back: still refused, with the rest of the wait
    assert buckets.take("a", limit) == pytest.approx(0.005)
    clock.advance(0.005)
    assert buckets.take("a", limit) == 0.0
    clock.advance(60)  # a long pause refills only up to the burst
    assert [buckets.take("a", limit) for _ in range(3)][-1] > 0


def test_token_buckets_stay_bounded() -> None:
    buckets = TokenBuckets(max_keys=100)
    limit = RateLimit(rate=1, burst=1)
    for i in range(1000):
        buckets.take(f"k{i}", limit)
    assert len(buckets._buckets) <= 100


# ---- signatures ---------------------------------------------------------------------------


def test_bank_signature_is_the_issue_3_formula() -> None:
    body = b'{"a":1}'
    message = "\n".join(["1700000000", "nonce-0123456789ab", "POST", "/v1/banks/HSBKKZKX/payment-status",
                         hashlib.sha256(body).hexdigest()])
    expected = hmac.new(b"secret", message.encode(), hashlib.sha256).hexdigest()
    assert bank_signature(b"secret", timestamp="1700000000", nonce="nonce-0123456789ab", method="post",
                          path="/v1/banks/HSBKKZKX/payment-status", body=body) == expected


def _bank() -> CallerRecord:
    return CallerRecord("b", "bank", frozenset({"bank:callbacks"}), True, "HSBKKZKX", 1, "", b"s3cret")


def _headers(ts: int, nonce: str = "n" * 16, body: bytes = b"") -> dict[str, str]:
    sig = bank_signature(b"s3cret", timestamp=str(ts), nonce=nonce, method="GET", path="/p", body=body)
    return {"x-qamqor-timestamp": str(ts), "x-qamqor-nonce": nonce, "x-qamqor-signature": sig}


def test_check_bank_signature() -> None:
    now = 1_700_000_000
    signed = check_bank_signature(caller=_bank(), headers=_headers(now), method="GET", path="/p", body=b"",
                                  now=now + 300, window_seconds=300)
    assert signed.nonce == "n" * 16
    with pytest.raises(SignatureRejected, match="300 s"):
        check_bank_signature(caller=_bank(), headers=_headers(now), method="GET", path="/p", body=b"",
                             now=now + 301, window_seconds=300)
    with pytest.raises(SignatureRejected, match="does not match"):
        check_bank_signature(caller=_bank(), headers=_headers(now), method="GET", path="/q", body=b"",
                             now=now, window_seconds=300)
    with pytest.raises(SignatureRejected, match="Nonce"):
        check_bank_signature(caller=_bank(), headers=_headers(now, nonce="n" * 15), method="GET", path="/p",
                             body=b"", now=now, window_seconds=300)
    with pytest.raises(SignatureRejected, match="unix seconds"):
        check_bank_signature(caller=_bank(), headers=_headers(now) | {"x-qamqor-timestamp": "1.5"}, method="GET",
                             path="/p", body=b"", now=now, window_seconds=300)


# ---- secrets and keys ---------------------------------------------------------------------


def test_master_key_seals_with_a_label(tmp_path) -> None:
    key = MasterKey.load(tmp_path / "k", create=True)
    assert oct((tmp_path / "k").stat().st_mode & 0o777) == "0o600"
    sealed = key.seal(b"signing secret", "bank-signing-secret:a")
    assert b"signing secret" not in sealed
    assert key.open(sealed, "bank-signing-secret:a") == b"signing secret"
    with pytest.raises(InvalidTag):  # the label is authenticated: no moving a secret to another use
        key.open(sealed, "bank-signing-secret:b")
    with pytest.raises(FileNotFoundError):
        MasterKey.load(tmp_path / "absent", create=False)


def test_secret_hasher_uses_argon2id() -> None:
    hasher = SecretHasher(time_cost=1, memory_kib=8192, parallelism=1)
    hashed = hasher.hash("s")
    assert hashed.startswith("$argon2id$")
    assert hasher.verify(hashed, "s") and not hasher.verify(hashed, "t") and not hasher.verify(None, "s")
    assert not hasher.verify("not a hash", "s")


def test_token_key_jwk_round_trip() -> None:
    kid, _, jwk = new_token_key()
    assert jwk["kid"] == kid and jwk["crv"] == "Ed25519" and "d" not in jwk
    assert public_key_from_jwk(jwk) is not None


def _tokens(lifetime: int = 60, *, clock: Clock, leeway: int = 0) -> AccessTokens:
    ring = KeyRing(MasterKey(os.urandom(32)))
    from gateway.models import SigningKeyRow

    kid, pem, jwk = new_token_key()
    ring._install([SigningKeyRow(kid=kid, algorithm="EdDSA", private_key_sealed=ring.master_key.seal(
        pem, f"token-signing-key:{kid}"), public_jwk=jwk, retired_at=None)])
    return AccessTokens(ring, issuer="https://i", audience="a", lifetime=lifetime, leeway=leeway, clock=clock)


def test_access_token_round_trip_and_cache_expiry() -> None:
    clock = Clock()
    tokens = _tokens(lifetime=1, clock=clock)
    caller = CallerRecord("p", "portal", frozenset({"x", "y"}), True, None, 3, "", None)
    token, expires_in = tokens.issue(caller, frozenset({"x"}))
    claims = tokens.verify(token)
    assert (claims.caller_id, claims.scopes, claims.credential_version, expires_in) == ("p", {"x"}, 3, 1)
    assert claims.expires_at == clock.now + 1
    assert tokens.verify(token) is claims  # cached
    clock.advance(0.9)
    assert tokens.verify(token) is claims
    clock.advance(0.1)
    with pytest.raises(InvalidToken, match="expired"):
        tokens.verify(token)


def test_token_time_claims_are_checked_against_the_clock() -> None:
    clock = Clock()
    issuer = _tokens(lifetime=60, clock=clock)
    caller = CallerRecord("p", "portal", frozenset({"x"}), True, None, 1, "", None)
    token, _ = issuer.issue(caller, frozenset({"x"}))

    def verifier_at(now: float, leeway: int = 0) -> AccessTokens:
        return AccessTokens(issuer.keyring, issuer="https://i", audience="a", lifetime=60, leeway=leeway,
                            clock=Clock(now))
    assert verifier_at(clock.now + 59).verify(token).caller_id == "p"
    with pytest.raises(InvalidToken, match="expired"):  # never seen before: the signature path
        verifier_at(clock.now + 60).verify(token)
    assert verifier_at(clock.now + 62, leeway=5).verify(token).caller_id == "p"
    with pytest.raises(InvalidToken, match="not valid"):  # issued in this verifier's future
        verifier_at(clock.now - 10).verify(token)
    assert verifier_at(clock.now - 3, leeway=5).verify(token).caller_id == "p"


def test_granted_scopes() -> None:
    caller = CallerRecord("p", "portal", frozenset({"x", "y"}), True, None, 1, "", None)
    assert granted_scopes(caller.scopes, None) == {"x", "y"}
    assert granted_scopes(caller.scopes, " x ") == {"x"}
    with pytest.raises(OAuthError) as refused:
        granted_scopes(caller.scopes, "x z")
    assert refused.value.error == "invalid_scope" and refused.value.status == 400


# ---- settings -----------------------------------------------------------------------------


def test_production_refuses_insecure_defaults(tmp_path) -> None:
    with pytest.raises(ValueError, match="internal_private_key_file"):
        GatewaySettings(environment="production", internal_public_key_file=tmp_path / "pub")
    with pytest.raises(ValueError):
        GatewaySettings(token_lifetime_seconds=3600)
    ok = GatewaySettings(environment="production", internal_public_key_file=tmp_path / "pub",
                         internal_private_key_file=tmp_path / "priv", master_key_file=tmp_path / "master")
    assert ok.token_lifetime_seconds <= 600


def test_rate_limits_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("QAMQOR_GATEWAY_RATE_LIMITS", '{"ops": {"rate": 5, "burst": 7}}')
    settings = GatewaySettings()
    assert settings.rate_limit_for("ops") == RateLimit(rate=5, burst=7)
    assert settings.rate_limit_for("portal").burst == 200  # the default for kinds not named


# ---- OpenAPI merge ------------------------------------------------------------------------


def test_openapi_merge_renames_clashing_schemas() -> None:
    gateway_doc = {"openapi": "3.1.0", "info": {"version": "1"}, "paths": {},
                   "components": {"schemas": {"Item": {"type": "string"}}}}
    intake = {"paths": {"/v1/applications/{application_id}": {"get": {
        "summary": "One application",
        "responses": {"200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Item"}}}}}}}},
        "components": {"schemas": {"Item": {"type": "object"}}}}
    doc = merge(gateway_doc, {"intake": intake, "payments": None}, title="t")
    operation = doc["paths"]["/v1/applications/{application_id}"]["get"]
    assert operation["summary"] == "One application"
    assert operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"] == \
        "#/components/schemas/intake_Item"
    assert doc["components"]["schemas"]["Item"] == {"type": "string"}
    assert doc["x-qamqor-unavailable-services"] == ["payments"]
    assert doc["paths"]["/v1/payments"]["get"]["security"][0] == {"oauth2": ["payments:read"]}


# ---- upstream URLs ------------------------------------------------------------------------


@pytest.mark.parametrize("base, raw_path, query, expected", [
    ("http://127.0.0.1:8001", b"/v1/applications/1", b"", "http://127.0.0.1:8001/v1/applications/1"),
    ("http://127.0.0.1:8001", b"/v1/payments", b"application_id=a%20b&x=1",
     "http://127.0.0.1:8001/v1/payments?application_id=a%20b&x=1"),
    ("http://intake.internal:80/prefix/", b"/v1/applications", b"", "http://intake.internal/prefix/v1/applications"),
    ("http://127.0.0.1:8001", "/v1/applications/é".encode(), b"", "http://127.0.0.1:8001/v1/applications/%C3%A9"),
])
def test_upstream_url_keeps_the_callers_encoding(base: str, raw_path: bytes, query: bytes, expected: str) -> None:
    from yarl import URL

    from gateway.proxy import upstream_url

    url = upstream_url(URL(base.rstrip("/")), raw_path, query)
    assert str(url) == expected
    assert url == URL(expected, encoded=True)
    assert url.raw_path_qs == URL(expected, encoded=True).raw_path_qs
