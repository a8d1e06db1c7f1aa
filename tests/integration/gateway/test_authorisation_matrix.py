"""The authorisation matrix: every caller kind × every route, against the table below — the
specification of who may call what, written out by hand rather than derived from
DEFAULT_SCOPES, so a wrong default scope fails here. A kind marked `yes` is let through (to the
stand-in service, which proves the internal token by echoing the caller it verified); a kind
marked `-` gets 403; a request without a token gets 401 — all problem+json.

What each job needs (issue 8): ops — statistics and application lists (the services mask them);
FDC — the estimate and application reads (intake lets it use only the status lookup by IIN);
case workers — applications and contracts (of their regions: the services filter), and a contract's
measures, breaches and termination (issue 11); the portal —
a family's whole case (acting for a citizen: the services show only the citizen's families); the
administrator — parameters, callers, statistics, and the dead letters (inspect and replay, issue 9);
the SMS gateway — SMS received on 1414 only; consent answers and withdrawals — the portal (issue 10).
Where a service narrows further, its own tests say so; this table is the gateway's door."""

from __future__ import annotations

import pytest

from gateway.routes import GATEWAY, PUBLIC_PATHS, ROUTES, Route, example_path
from shared.errors import PROBLEM_JSON
from shared.identity import CALLER_KINDS
from tests.integration.gateway.conftest import Registered, get_token, signed_headers

ALLOWED = """
route                                         portal  fdc  bank  sms_gateway  ops  case_worker  admin
POST /v1/applications                          yes     -    -     -            -    -            -
GET  /v1/applications                          yes     yes  -     -            yes  yes          -
GET  /v1/applications/{application_id}         yes     yes  -     -            yes  yes          -
POST /v1/applications/{application_id}/withdraw yes    -    -     -            -    -            -
GET  /v1/fdc/families/{iin}/status             yes     yes  -     -            yes  yes          -
POST /v1/fdc/invitations                       -       yes  -     -            -    -            -
GET  /v1/fdc/invitations                       yes     yes  -     -            yes  yes          -
GET  /v1/fdc/funnel                            -       -    -     -            yes  -            yes
GET  /v1/reference/banks                       -       -    -     -            -    -            yes
PUT  /v1/reference/banks/{bic}                 -       -    -     -            -    -            yes
GET  /v1/business-days                         -       -    -     -            -    -            yes
PUT  /v1/business-days/{day}                   -       -    -     -            -    -            yes
POST /v1/sms/inbound                           -       -    -     yes          -    -            -
POST /v1/consents/{consent_id}/reply           yes     -    -     -            -    -            -
POST /v1/consents/{consent_id}/withdraw        yes     -    -     -            -    -            -
GET  /v1/verifications/{application_id}        yes     yes  -     -            yes  yes          -
POST /v1/eligibility/estimate                  yes     yes  -     -            -    -            -
GET  /v1/eligibility/decisions/{decision_id}   yes     yes  -     -            yes  yes          -
GET  /v1/parameters                            -       -    -     -            -    -            yes
POST /v1/parameters                            -       -    -     -            -    -            yes
GET  /v1/contracts                             yes     -    -     -            -    yes          -
GET  /v1/contracts/outcomes                    -       -    -     -            yes  -            yes
GET  /v1/contracts/{contract_id}               yes     -    -     -            -    yes          -
POST /v1/contracts/{contract_id}/sign          yes     -    -     -            -    -            -
POST /v1/contracts/{contract_id}/measures      -       -    -     -            -    yes          -
PATCH /v1/contracts/{contract_id}/measures/{measure_id} -  -  -  -            -    yes          -
POST /v1/contracts/{contract_id}/breaches      -       -    -     -            -    yes          -
POST /v1/contracts/{contract_id}/terminate     -       -    -     -            -    yes          -
GET  /v1/payments                              yes     -    -     -            -    yes          -
POST /v1/payments/releases                     -       -    -     -            -    -            yes
GET  /v1/payments/reconciliation               -       -    -     -            yes  -            yes
GET  /v1/payments/{payment_id}                 yes     -    -     -            -    yes          -
POST /v1/payments/{order_id}/reissue           yes     -    -     -            -    yes          -
POST /v1/banks/{bank_code}/cashflow            -       -    yes   -            -    -            -
POST /v1/banks/{bank_code}/payment-status      -       -    yes   -            -    -            -
GET  /v1/banks/{bank_code}/payment-orders      -       -    yes   -            -    -            -
POST /v1/banks/{bank_code}/batches/{batch_id}/ack  -   -    yes   -            -    -            -
GET  /v1/stats/summary                         -       -    -     -            yes  -            yes
GET  /v1/stats/regions                         -       -    -     -            yes  -            yes
GET  /v1/stats/backlog                         -       -    -     -            yes  -            yes
GET  /v1/stats/dashboard                       -       -    -     -            yes  -            yes
GET  /v1/dead-letters                          -       -    -     -            -    -            yes
POST /v1/dead-letters/replay                   -       -    -     -            -    -            yes
GET  /v1/dead-letters/{event_id}               -       -    -     -            -    -            yes
POST /v1/dead-letters/{event_id}/replay        -       -    -     -            -    -            yes
POST /v1/callers                               -       -    -     -            -    -            yes
GET  /v1/callers                               -       -    -     -            -    -            yes
GET  /v1/callers/{caller_id}                   -       -    -     -            -    -            yes
POST /v1/callers/{caller_id}/rotate-secret     -       -    -     -            -    -            yes
POST /v1/callers/{caller_id}/disable           -       -    -     -            -    -            yes
POST /v1/callers/{caller_id}/enable            -       -    -     -            -    -            yes
PUT  /v1/callers/{caller_id}/regions           -       -    -     -            -    -            yes
GET  /v1/audit                                 -       -    -     -            -    -            yes
GET  /v1/audit/data-access                     -       -    -     -            -    -            yes
GET  /metrics                                  -       -    -     -            yes  -            yes
"""


def _allowed() -> dict[tuple[str, str], dict[str, bool]]:
    header, *rows = ALLOWED.strip().splitlines()
    kinds = header.split()[1:]
    table = {}
    for row in rows:
        method, path, *marks = row.split()
        assert len(marks) == len(kinds), row
        table[(method, path)] = {kind: mark == "yes" for kind, mark in zip(kinds, marks)}
    return table


EXPECTED = _allowed()
BANK_CODE = "CITIKZKA"
_callers: dict[str, tuple[Registered, str]] = {}


def test_the_matrix_covers_every_route_and_every_kind() -> None:
    assert set(EXPECTED) == {(route.method, route.path) for route in ROUTES}
    assert all(set(row) == set(CALLER_KINDS) for row in EXPECTED.values())


async def caller_of(kind: str, register, gateway) -> tuple[Registered, str]:
    if kind not in _callers:
        caller = await register(kind, bank_code=BANK_CODE if kind == "bank" else None,
                                caller_id=f"matrix-{kind.replace('_', '-')}")
        _callers[kind] = (caller, await get_token(gateway, caller))
    return _callers[kind]


def _path(route: Route) -> str:
    return example_path(route, bank_code=BANK_CODE)


def _case_id(case: tuple[str, Route]) -> str:
    return f"{case[0]}:{case[1].method} {case[1].path}"


MATRIX = [(kind, route) for kind in CALLER_KINDS for route in ROUTES]


@pytest.mark.parametrize("case", MATRIX, ids=[_case_id(c) for c in MATRIX])
async def test_caller_kind_on_route(case: tuple[str, Route], gateway, register) -> None:
    kind, route = case
    caller, token = await caller_of(kind, register, gateway)
    path = _path(route)
    body = b'{"probe": true}' if route.method == "POST" else b""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json",
               # spoofing attempts: the gateway must strip these
               "X-Qamqor-Caller-Id": "someone-else", "X-Qamqor-Caller-Scopes": "callers:admin",
               "X-Qamqor-Internal-Token": "forged"}
    if route.signed:
        headers |= signed_headers(caller, route.method, path, body) if caller.signing_secret else {}
    response = await gateway.request(route.method, path, content=body or None, headers=headers)

    if not EXPECTED[(route.method, route.path)][kind]:
        assert response.status_code == 403, response.text
        assert response.headers["content-type"] == PROBLEM_JSON
        assert "insufficient_scope" in response.headers["www-authenticate"]
        return
    if route.service == GATEWAY:
        # The gateway's own handler answered (validation or not-found errors are fine here:
        # what matters is that authorisation let the request through).
        assert response.status_code not in (401, 403, 405), response.text
        return
    assert response.status_code == 200, response.text
    seen = response.json()
    assert seen["service"] == route.service
    assert seen["path"] == path
    assert seen["method"] == route.method
    assert seen["caller"]["id"] == caller.id
    assert seen["caller"]["kind"] == kind
    assert seen["caller"]["scopes"] == sorted(caller.scopes)
    assert seen["caller"]["bank_code"] == caller.bank_code
    assert seen["caller"]["citizen"] is None and seen["caller"]["regions"] == []
    # Only the gateway's own internal token arrives; spoofed caller headers and the bearer
    # token do not.
    assert seen["qamqor_headers"] == ["x-qamqor-internal-token"] + (
        ["x-qamqor-nonce", "x-qamqor-signature", "x-qamqor-timestamp"] if route.signed else [])
    assert seen["authorization_forwarded"] is False
    assert seen["request_id"] == response.headers["x-request-id"]


@pytest.mark.parametrize("route", ROUTES, ids=[f"{r.method} {r.path}" for r in ROUTES])
async def test_route_without_token_is_401(route: Route, gateway) -> None:
    response = await gateway.request(route.method, _path(route))
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["status"] == 401


@pytest.mark.parametrize("path", sorted(PUBLIC_PATHS - {"/oauth/token"}))
async def test_public_paths_need_no_token(path: str, gateway) -> None:
    response = await gateway.get(path)
    assert response.status_code == 200, response.text


async def test_token_endpoint_is_public(gateway) -> None:
    response = await gateway.post("/oauth/token", data={"grant_type": "client_credentials"})
    assert response.status_code == 401  # invalid_client, not "no bearer token"
    assert response.json()["error"] == "invalid_client"


@pytest.mark.parametrize("path", ["/v1/unknown", "/internal/admin",
                                  "/v1/applications/", "/v1/applications/a%2Fb"])
async def test_unknown_paths_need_a_token_and_then_do_not_exist(path: str, gateway, register) -> None:
    assert (await gateway.get(path)).status_code == 401
    _, token = await caller_of("admin", register, gateway)
    response = await gateway.get(path, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM_JSON


async def test_wrong_method_on_a_known_path_is_405(gateway, register) -> None:
    _, token = await caller_of("portal", register, gateway)
    response = await gateway.delete("/v1/applications", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
