"""The administrator's business-day calendar against real PostgreSQL: a decree recorded through
`PUT /v1/business-days/{day}` rules its day in `GET /v1/business-days` and in every consent
deadline set after it; hostile input is 422 naming the field; only an administrator decrees."""

from __future__ import annotations

import logging
from datetime import date, datetime

import pytest

from services.intake import domain, repository, service
from shared.calendar import ALMATY
from shared.ids import uuid7
from tests.support import HALYK_IBAN, person

ADMIN = {"kind": "admin", "caller_id": "admin-1"}
DECREE = "Government decree No. 123 of 2026-10-01"


async def _consent_deadlines(client, at: datetime) -> set[datetime]:  # noqa: ANN001
    """What the submission does at `at` (the application and its consent requests, one
    transaction): the deadlines of the consent requests it made. Members without a phone are
    asked in the portal at once, so their deadline is set with the submission (an SMS request's
    when the gateway takes the SMS: the same function, counted from then)."""
    members = tuple(domain.Member(**(p | {"birth_date": date.fromisoformat(p["birth_date"])})) for p in (
        person(date(1985, 5, 17), "female", "applicant"), person(date(1983, 2, 1), "male", "spouse")))
    form = domain.ApplicationForm(channel="egov", region_kato="610000000", settlement="urban", bank_iban=HALYK_IBAN,
                                  bank_code="HSBKKZKX", expense_check_consent=False, members=members)
    async with client.app.state.sessionmaker() as session, session.begin():
        application, _ = domain.submit(
            form, submitted_by="portal-egov", at=at, members_on_active_applications=set(),
            banks=await repository.banks(session),
            parameters=await repository.parameter_values(session, domain.ADULT_AGE), new_id=uuid7)
        await repository.add(session, application)
        requests = await service.request_consents(session=session, application=application)
    assert len(requests) == 2
    return {r.expires_at for r in requests}


class _Messages(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def logged():  # noqa: ANN201
    """Intake's log messages; the handler is added once the service has configured logging."""
    handler = _Messages()
    yield handler
    logging.getLogger().removeHandler(handler)


async def test_a_decreed_day_off_is_listed_and_moves_a_consent_deadline_set_after_it(running_service, internal_token,
                                                                                     logged):
    admin = internal_token(**ADMIN)
    # Wednesday 14 October 2026: the answer is due by the end of Thursday the 15th ...
    wednesday = datetime(2026, 10, 14, 10, 0, tzinfo=ALMATY)
    async with running_service("intake") as client:
        logging.getLogger().addHandler(logged)  # after start-up: the service configures logging
        before = await _consent_deadlines(client, wednesday)
        assert before == {datetime(2026, 10, 16, tzinfo=ALMATY)}

        # ... until the government decrees Thursday a day off: then by the end of Friday the 16th.
        put = await client.put("/v1/business-days/2026-10-15", json={"working": False, "reason": DECREE},
                               headers=admin)
        assert put.status_code == 200, put.text
        assert put.json() == {"day": "2026-10-15", "working": False, "reason": DECREE}
        assert await _consent_deadlines(client, wednesday) == {datetime(2026, 10, 17, tzinfo=ALMATY)}

        # A Saturday decreed working, after a decree for it that said otherwise: the later one rules.
        for working in (False, True):
            saturday = await client.put("/v1/business-days/2026-10-17",
                                        json={"working": working, "reason": "  decree No. 124  "}, headers=admin)
            assert saturday.status_code == 200, saturday.text
        assert saturday.json() == {"day": "2026-10-17", "working": True, "reason": "decree No. 124"}

        listed = await client.get("/v1/business-days", params={"from": "2026-10-14", "to": "2026-10-26"},
                                  headers=admin)
        assert listed.status_code == 200, listed.text
        days = {d["day"]: (d["business_day"], d["off"], d["name"]) for d in listed.json()}
        assert list(days) == [f"2026-10-{n}" for n in range(14, 27)]
        assert days["2026-10-14"] == (True, None, None)
        assert days["2026-10-15"] == (False, "decree", DECREE)
        assert days["2026-10-17"] == (True, None, "decree No. 124")
        assert days["2026-10-18"] == (False, "weekend", None)
        # Republic Day, Sunday 25 October, is observed on Monday the 26th
        assert days["2026-10-25"][:2] == (False, "public_holiday") and "Republic Day" in days["2026-10-25"][2]
        assert days["2026-10-26"][:2] == (False, "public_holiday") and "observed" in days["2026-10-26"][2]

        nauryz = await client.get("/v1/business-days", params={"from": "2026-03-20", "to": "2026-03-26"},
                                  headers=internal_token("admin", frozenset({"parameters:read"})))
        assert [(d["business_day"], d["off"]) for d in nauryz.json()] == [
            (True, None), *[(False, "public_holiday")] * 5, (True, None)]
    # The log names the day and the administrator, never the decree's words.
    decreed = [m for m in logged.messages if "decreed" in m]
    assert decreed and all("admin-1" in m and DECREE not in m for m in decreed), logged.messages


async def test_hostile_input_is_refused_naming_the_field(running_service, internal_token):
    admin = internal_token(**ADMIN)
    async with running_service("intake") as client:
        async def refused(method: str, path: str, **kwargs) -> list[str]:  # noqa: ANN003
            response = await client.request(method, path, headers=admin, **kwargs)
            assert response.status_code == 422, response.text
            assert response.headers["content-type"] == "application/problem+json"
            return [e["field"] for e in response.json()["errors"]]

        good = {"working": False, "reason": DECREE}
        for day in ("2026-02-30", "20261015", "1760486400", "2026-10-15T00:00:00", "1999-12-31", "2100-01-01",
                    "tomorrow"):
            assert await refused("PUT", f"/v1/business-days/{day}", json=good) == ["path.day"], day
        assert await refused("PUT", "/v1/business-days/2026-10-15", json=good | {"by": "me"}) == ["by"]
        assert await refused("PUT", "/v1/business-days/2026-10-15", json={"working": False}) == ["reason"]
        assert await refused("PUT", "/v1/business-days/2026-10-15", json={"working": "maybe", "reason": "x"}) \
            == ["working"]
        assert await refused("PUT", "/v1/business-days/2026-10-15", json={"working": False, "reason": "   "}) \
            == ["reason"]
        assert await refused("PUT", "/v1/business-days/2026-10-15",
                             json={"working": False, "reason": "decree\u0000"}) == ["reason"]

        assert await refused("GET", "/v1/business-days", params={"from": "2026-01-01"}) == ["query.to"]
        assert await refused("GET", "/v1/business-days", params={"from": "2026-13-01", "to": "2026-12-31"}) \
            == ["query.from"]
        assert await refused("GET", "/v1/business-days", params={"from": "2026-12-31", "to": "2026-01-01"}) \
            == ["query.to"]
        # 366 days are one answer (a leap year's worth), 367 are not
        whole = await client.get("/v1/business-days", params={"from": "2028-01-01", "to": "2028-12-31"},
                                 headers=admin)
        assert whole.status_code == 200 and len(whole.json()) == 366
        assert await refused("GET", "/v1/business-days", params={"from": "2026-01-01", "to": "2027-01-02"}) \
            == ["query.to"]

        # Nothing was recorded by any of it
        async with client.app.state.sessionmaker() as session:
            assert (await repository.business_calendar(session)).decrees == {}


async def test_only_an_administrator_decrees(running_service, internal_token):
    body = {"working": False, "reason": DECREE}
    async with running_service("intake") as client:
        for kind in ("ops", "portal", "case_worker", "bank", "fdc", "sms_gateway"):
            # even with every scope: the kind decides
            response = await client.put("/v1/business-days/2026-10-15", json=body, headers=internal_token(kind))
            assert response.status_code == 403, (kind, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json()["type"].endswith("/admin-only")
        without_scope = await client.put("/v1/business-days/2026-10-15", json=body,
                                         headers=internal_token("admin", frozenset({"parameters:read"})))
        assert without_scope.status_code == 403
        listed = await client.get("/v1/business-days", params={"from": "2026-10-15", "to": "2026-10-15"},
                                  headers=internal_token("ops", frozenset({"stats:read"})))
        assert listed.status_code == 403
        async with client.app.state.sessionmaker() as session:
            assert (await repository.business_calendar(session)).decrees == {}
