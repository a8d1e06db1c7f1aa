"""Callers see what their job needs (issue 8, point 2, the gateway's part): a case worker's caller
carries the regions it serves to the services; every answer that carries people's data leaves a
record of who read whose data, when and why — searchable by IIN, holding none."""

from __future__ import annotations

import asyncio
import json
from datetime import date, datetime, timedelta, timezone

import asyncpg
from typer.testing import CliRunner

from gateway.audit import PURPOSES
from qamqor_cli.callers import callers_app
from shared.access import DATA_SUBJECTS_HEADER
from shared.db import asyncpg_dsn
from shared.errors import PROBLEM_JSON
from shared.iin import make_iin, mask_iin
from tests.integration.gateway.conftest import FAST_ARGON2, Registered, citizen_token, get_token

READER_A = make_iin(date(1966, 3, 14), "female", 1201)
READER_B = make_iin(date(2011, 12, 1), "male", 1202)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _admin(gateway, register) -> dict[str, str]:
    return bearer(await get_token(gateway, await register("admin")))


# ---- a case worker's regions --------------------------------------------------------------


async def test_regions_are_set_changed_and_travel_to_the_services(gateway, register) -> None:
    admin = await _admin(gateway, register)
    created = await gateway.post("/v1/callers", headers=admin,
                                 json={"id": "cw-south", "kind": "case_worker", "regions": ["79", "61", "61"]})
    assert created.status_code == 201, created.text
    assert created.json()["regions"] == ["61", "79"]
    assert created.json()["scopes"] == ["applications:read", "contracts:read", "contracts:write", "payments:read",
                                        "payments:write"]
    worker = Registered("cw-south", "case_worker", created.json()["secret"], created.json()["scopes"])
    token = bearer(await get_token(gateway, worker))
    seen = (await gateway.get("/v1/applications", headers=token)).json()
    assert seen["caller"]["regions"] == ["61", "79"]

    changed = await gateway.put("/v1/callers/cw-south/regions", headers=admin, json={"regions": ["75"]})
    assert changed.status_code == 200 and changed.json()["regions"] == ["75"]
    # At once, with the same token: the next internal token carries the new regions.
    assert (await gateway.get("/v1/applications", headers=token)).json()["caller"]["regions"] == ["75"]
    assert (await gateway.get("/v1/callers/cw-south", headers=admin)).json()["regions"] == ["75"]


async def test_regions_are_checked(gateway, register) -> None:
    admin = await _admin(gateway, register)
    bad = await gateway.post("/v1/callers", headers=admin,
                             json={"id": "cw-bad", "kind": "case_worker", "regions": ["99", "6"]})
    assert bad.status_code == 422
    assert [e["field"] for e in bad.json()["errors"]] == ["regions"]
    assert "99" in bad.json()["errors"][0]["message"]
    portal = await gateway.post("/v1/callers", headers=admin,
                                json={"id": "portal-with-regions", "kind": "portal", "regions": ["61"]})
    assert portal.status_code == 422 and portal.json()["errors"][0]["field"] == "regions"
    assert (await gateway.put("/v1/callers/nobody-here/regions", headers=admin,
                              json={"regions": ["61"]})).status_code == 404
    ops = await register("ops")
    wrong_kind = await gateway.put(f"/v1/callers/{ops.id}/regions", headers=admin, json={"regions": ["61"]})
    assert wrong_kind.status_code == 422
    extra = await gateway.put(f"/v1/callers/{ops.id}/regions", headers=admin, json={"regions": [], "all": True})
    assert extra.status_code == 422 and extra.json()["errors"][0]["field"] == "all"
    not_json = await gateway.put(f"/v1/callers/{ops.id}/regions", headers=admin | {"content-type": "text/plain"},
                                 content=b"61")
    assert not_json.status_code == 415 and not_json.headers["content-type"] == PROBLEM_JSON
    nul = await gateway.post("/v1/callers", headers=admin, json={"id": "cw-nul", "kind": "case_worker",
                                                                 "regions": ["6\x001"]})
    assert nul.status_code == 422 and nul.json()["errors"][0]["field"].startswith("regions")


async def test_the_cli_creates_a_case_worker_with_regions_and_changes_them(gateway, make_settings) -> None:
    settings = make_settings()
    env = {"QAMQOR_GATEWAY_DATABASE_URL": settings.database_url,
           **{f"QAMQOR_GATEWAY_{k.upper()}": str(v) for k, v in FAST_ARGON2.items()}}

    def run(*args: str):
        result = CliRunner().invoke(callers_app, list(args), env=env)
        return result.exit_code, result.output

    code, output = await asyncio.to_thread(run, "create", "--id", "cli-cw", "--kind", "case_worker",
                                           "--regions", "61,79")
    assert code == 0, output
    created = json.loads(output)
    assert created["regions"] == ["61", "79"] and created["secret"]
    code, output = await asyncio.to_thread(run, "set-regions", "cli-cw", "--regions", "75, 71")
    assert code == 0, output
    assert json.loads(output)["regions"] == ["71", "75"]
    code, output = await asyncio.to_thread(run, "set-regions", "cli-cw", "--regions", "00")
    assert code == 1 and json.loads(output)["errors"][0]["field"] == "regions"
    worker = Registered("cli-cw", "case_worker", created["secret"], created["scopes"])
    seen = (await gateway.get("/v1/applications", headers=bearer(await get_token(gateway, worker)))).json()
    assert seen["caller"]["regions"] == ["71", "75"]


# ---- the data-access record ---------------------------------------------------------------


async def _records(gateway, admin: dict[str, str], **params) -> list[dict]:
    await gateway.gateway.data_access.flush()
    response = await gateway.get("/v1/audit/data-access", params=params, headers=admin)
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def test_every_read_of_a_persons_data_is_recorded(gateway, register, sandbox_url) -> None:
    admin = await _admin(gateway, register)
    worker = await register("case_worker")
    token = bearer(await get_token(gateway, worker))
    answer = await gateway.get("/v1/applications", params={"subjects": f"{READER_A},{READER_B},not-an-iin"},
                               headers=token | {"X-Qamqor-Purpose": f"home visit to {READER_A}"})
    assert answer.status_code == 200
    assert DATA_SUBJECTS_HEADER not in answer.headers  # never leaves the gateway

    rows = await _records(gateway, admin, subject_iin=READER_A)
    assert len(rows) == 1
    row = rows[0]
    assert (row["caller_id"], row["caller_kind"], row["method"], row["route"], row["status"]) == (
        worker.id, "case_worker", "GET", "/v1/applications", 200)
    assert row["purpose"] == PURPOSES["case_worker"] == "case management in the assigned regions"
    assert row["stated_purpose"] == f"home visit to {mask_iin(READER_A)}"
    assert row["subject"] == mask_iin(READER_A) and row["acting_for"] is None
    assert row["request_id"] == answer.headers["x-request-id"]
    by_caller = await _records(gateway, admin, caller_id=worker.id)
    assert sorted(r["subject"] for r in by_caller) == sorted([mask_iin(READER_A), mask_iin(READER_B)])

    # A portal acting for a citizen: the record names the portal and, masked, the citizen.
    portal = await register("portal")
    acting = await citizen_token(gateway, sandbox_url, await get_token(gateway, portal), READER_A)
    await gateway.get("/v1/applications/0190a1b2-c3d4-7e5f-8a9b-000000000001",
                      params={"subjects": READER_B}, headers=bearer(acting))
    [row] = await _records(gateway, admin, caller_id=portal.id)
    assert (row["acting_for"], row["subject"], row["purpose"]) == (
        mask_iin(READER_A), mask_iin(READER_B), PURPOSES["portal"])
    assert row["route"] == "/v1/applications/{application_id}"

    now = datetime.now(timezone.utc)
    assert await _records(gateway, admin, caller_id=portal.id, since=(now + timedelta(minutes=1)).isoformat()) == []
    assert len(await _records(gateway, admin, caller_id=portal.id, until=(now + timedelta(minutes=1)).isoformat(),
                              since=(now - timedelta(minutes=5)).isoformat())) == 1
    refused = await gateway.get("/v1/audit/data-access", params={"subject_iin": "1234"}, headers=admin)
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "query.subject_iin"

    # The table can be searched by IIN but holds none.
    dsn = asyncpg_dsn(gateway.gateway.settings.database_url)
    conn = await asyncpg.connect(dsn)
    try:
        dump = "\n".join(str(dict(r)) for r in await conn.fetch("SELECT * FROM data_access_records"))
        audit = "\n".join(str(dict(r)) for r in await conn.fetch("SELECT * FROM audit_records"))
    finally:
        await conn.close()
    assert mask_iin(READER_A) in dump
    for iin in (READER_A, READER_B):
        assert iin not in dump and iin not in audit


async def test_a_stated_purpose_is_checked(gateway, register) -> None:
    worker = await register("case_worker")
    token = bearer(await get_token(gateway, worker))
    for purpose in ("x" * 201, "line\x7fbreak"):
        refused = await gateway.get("/v1/applications", headers=token | {"X-Qamqor-Purpose": purpose})
        assert refused.status_code == 422, purpose
        assert refused.json()["errors"][0]["field"] == "header.X-Qamqor-Purpose"
    assert (await gateway.get("/v1/applications", headers=token | {"X-Qamqor-Purpose": "x" * 200})).status_code == 200


async def test_a_page_of_families_names_all_its_people(gateway, register) -> None:
    """1,500 people in one answer header (about 20 KiB, beyond aiohttp's default 8 KiB per field)."""
    admin = await _admin(gateway, register)
    ops = await register("ops")
    people = [make_iin(date(1950 + i % 50, 1 + i % 12, 1 + i % 28), "female" if i % 2 else "male", i)
              for i in range(1500)]
    answer = await gateway.get("/v1/applications", params={"subjects": ",".join(people)},
                               headers=bearer(await get_token(gateway, ops)))
    assert answer.status_code == 200, answer.text
    assert DATA_SUBJECTS_HEADER not in answer.headers
    rows = await _records(gateway, admin, caller_id=ops.id, limit=1000)
    assert len(rows) == 1000 and all(r["purpose"] == PURPOSES["ops"] for r in rows)
    await gateway.gateway.data_access.flush()
    conn = await asyncpg.connect(asyncpg_dsn(gateway.gateway.settings.database_url))
    try:
        count = await conn.fetchval("SELECT count(*) FROM data_access_records WHERE caller_id = $1", ops.id)
    finally:
        await conn.close()
    assert count == len(set(people))
