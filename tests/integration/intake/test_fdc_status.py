"""A Family Development Centre looks a person up by IIN: the TSA status of the latest application
they are a member of, its period and monthly amount. It lists no applications, and no other
caller uses the lookup."""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from tests.support import application_body, decided_event, eventually, person, publish

FAMILY = [person(date(1987, 7, 7), "female", "applicant"), person(date(2018, 8, 8), "male", "child")]


def _status_path(iin: str) -> str:
    return f"/v1/fdc/families/{iin}/status"


async def test_the_status_follows_the_latest_application_of_the_person(running_service, internal_token, broker):
    fdc = internal_token("fdc")
    child = FAMILY[1]["iin"]
    async with running_service("intake") as client:
        never = await client.get(_status_path(child), headers=fdc)
        assert never.status_code == 200, never.text
        assert never.json() == {"status": "none", "application_id": None, "application_status": None,
                                "period_quarter": None, "period_from": None, "period_to": None,
                                "monthly_amount": None}
        assert never.headers["x-qamqor-data-subjects"] == child  # a read about the person all the same

        created = await client.post("/v1/applications", json=application_body(FAMILY),
                                    headers=internal_token("portal", citizen=FAMILY[0]["iin"])
                                    | {"Idempotency-Key": str(uuid.uuid4())})
        app_id = created.json()["id"]
        applying = (await client.get(_status_path(child), headers=fdc)).json()
        assert (applying["status"], applying["application_id"], applying["application_status"]) == (
            "applying", app_id, "submitted")

        await publish(broker.bootstrap, "qamqor.eligibility", decided_event(application_id=uuid.UUID(app_id)))

        async def approved():
            found = (await client.get(_status_path(child), headers=fdc)).json()
            return found if found["status"] == "approved" else None

        assert await eventually(approved) == {
            "status": "approved", "application_id": app_id, "application_status": "approved",
            "period_quarter": "2026-Q4", "period_from": "2026-11", "period_to": "2026-12", "monthly_amount": 25596}


@pytest.mark.parametrize("kind, extra", [
    ("portal", {"citizen": FAMILY[0]["iin"]}), ("ops", {}), ("case_worker", {"regions": {"61"}}), ("admin", {}),
])
async def test_only_an_fdc_looks_a_person_up(running_service, internal_token, kind, extra):
    async with running_service("intake") as client:
        response = await client.get(_status_path(FAMILY[0]["iin"]),
                                    headers=internal_token(kind, frozenset({"applications:read"}), **extra))
        assert response.status_code == 403
        assert response.json()["type"].endswith("/fdc-only")
        assert "x-qamqor-data-subjects" not in response.headers


@pytest.mark.parametrize("iin", [
    FAMILY[0]["iin"][:-1] + str((int(FAMILY[0]["iin"][-1]) + 1) % 10),  # check digit wrong
    "12345", "90051740123x", "9005174012311",
])
async def test_a_malformed_iin_is_422_naming_the_path(running_service, internal_token, iin):
    async with running_service("intake") as client:
        response = await client.get(_status_path(iin), headers=internal_token("fdc"))
        assert response.status_code == 422, response.text
        assert [e["field"] for e in response.json()["errors"]] == ["path.iin"]
        assert "x-qamqor-data-subjects" not in response.headers


async def test_an_fdc_lists_no_applications(running_service, internal_token):
    async with running_service("intake") as client:
        response = await client.get("/v1/applications", headers=internal_token("fdc"))
        assert response.status_code == 403
