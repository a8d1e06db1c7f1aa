"""The participating banks: seeded from the national bank registry, maintained by an
administrator, and applied at the door — an account must be at an active participating bank,
the one its BIC names."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import select

from services.intake.models import ParticipatingBank
from tests.support import application_body, person

ADMIN = {"kind": "admin", "caller_id": "admin-1"}


async def test_the_seeded_banks_are_listed(running_service, internal_token):
    async with running_service("intake") as client:
        response = await client.get("/v1/reference/banks", headers=internal_token(**ADMIN))
        assert response.status_code == 200, response.text
        banks = {b["bic"]: b for b in response.json()}
        assert banks["HSBKKZKX"] == {"bic": "HSBKKZKX", "code": "601", "name": 'АО "Народный Банк Казахстана"',
                                     "active": True}
        assert {"KCJBKZKX", "CASPKZKA", "IRTYKZKA", "CITIKZKA", "KPSTKZKA", "TSESKZKA", "EURIKZKA", "INLMKZKA",
                "ALFAKZKA"} <= banks.keys()
        assert "NBRKKZKX" not in banks  # the National Bank holds no citizen's account


async def test_an_administrator_adds_renames_and_deactivates_a_bank(running_service, internal_token):
    applicant = person(date(1980, 10, 10), "male", "applicant")
    citizen = internal_token("portal", citizen=applicant["iin"])
    admin = internal_token(**ADMIN)
    bereke_iban = "KZ52914KZT5004100100"  # bank code 914: Bereke Bank (formerly Sberbank, BIC SABRKZKA)
    async with running_service("intake") as client:
        async def apply(iban: str, bic: str):  # noqa: ANN202
            return await client.post("/v1/applications",
                                     json=application_body([applicant], bank_account={"iban": iban, "bank_code": bic}),
                                     headers=citizen | {"Idempotency-Key": str(uuid.uuid4())})

        refused = await apply(bereke_iban, "BRKEKZKA")
        assert refused.status_code == 422
        assert [e["field"] for e in refused.json()["errors"]] == ["bank_account.bank_code"]

        added = await client.put("/v1/reference/banks/BRKEKZKA", json={"code": "914", "name": "Bereke Bank"},
                                 headers=admin)
        assert added.status_code == 201, added.text
        assert added.json() == {"bic": "BRKEKZKA", "code": "914", "name": "Bereke Bank", "active": True}
        renamed = await client.put("/v1/reference/banks/BRKEKZKA",
                                   json={"code": "914", "name": "  АО «Bereke Bank»  "}, headers=admin)
        assert renamed.status_code == 200 and renamed.json()["name"] == "АО «Bereke Bank»"
        async with client.app.state.sessionmaker() as session:
            row = await session.scalar(select(ParticipatingBank).where(ParticipatingBank.bic == "BRKEKZKA"))
            assert (row.updated_by, row.name) == ("admin-1", "АО «Bereke Bank»")

        accepted = await apply(bereke_iban, "BRKEKZKA")
        assert accepted.status_code == 201, accepted.text

        deactivated = await client.put("/v1/reference/banks/HSBKKZKX",
                                       json={"code": "601", "name": "Halyk Bank", "active": False}, headers=admin)
        assert deactivated.status_code == 200 and deactivated.json()["active"] is False
        listed = await client.get("/v1/reference/banks", params={"active": "false"}, headers=admin)
        assert [b["bic"] for b in listed.json()] == ["HSBKKZKX"]
        other = person(date(1981, 11, 11), "female", "applicant")
        refused = await client.post("/v1/applications", json=application_body([other]),
                                    headers=internal_token("portal", citizen=other["iin"])
                                    | {"Idempotency-Key": str(uuid.uuid4())})
        assert refused.status_code == 422
        assert refused.json()["errors"] == [{"field": "bank_account.bank_code",
                                             "message": "HSBKKZKX is not a bank that pays social benefits"}]


async def test_a_bank_record_is_checked(running_service, internal_token):
    admin = internal_token(**ADMIN)
    async with running_service("intake") as client:
        async def put(bic: str, body) -> tuple[int, list[str]]:  # noqa: ANN001
            response = await client.put(f"/v1/reference/banks/{bic}", json=body, headers=admin)
            assert response.headers["content-type"] == "application/problem+json", response.text
            return response.status_code, [e["field"] for e in response.json().get("errors", [])]

        # The registry gives Halyk's BIC the code 601.
        assert await put("HSBKKZKX", {"code": "856", "name": "Halyk"}) == (422, ["code"])
        # Another active bank has the code.
        assert await put("NEWBKZKA", {"code": "601", "name": "New Bank"}) == (409, ["code"])
        assert await put("hsbkkzkx", {"code": "601", "name": "Halyk"}) == (422, ["path.bic"])
        assert await put("HSBKKZKX", {"code": "6010", "name": "Halyk"}) == (422, ["code"])
        assert await put("HSBKKZKX", {"code": "601", "name": " "}) == (422, ["name"])
        assert await put("HSBKKZKX", {"code": "601", "name": "Halyk\x07"}) == (422, ["name"])
        assert await put("HSBKKZKX", {"code": "601", "name": "Halyk", "bic": "X"}) == (422, ["bic"])
        malformed = await client.put("/v1/reference/banks/HSBKKZKX", content=b'{"code": "601",',
                                     headers=admin | {"content-type": "application/json"})
        assert malformed.status_code == 400
        not_json = await client.put("/v1/reference/banks/HSBKKZKX", content=b"code=601",
                                    headers=admin | {"content-type": "application/x-www-form-urlencoded"})
        assert not_json.status_code == 415
        # A deactivated bank's code is free for its successor.
        assert (await client.put("/v1/reference/banks/TSESKZKA", json={"code": "998", "name": "Tsesnabank",
                                                                      "active": False}, headers=admin)).status_code == 200
        assert (await client.put("/v1/reference/banks/JUSAKZKA", json={"code": "998", "name": "Jusan"},
                                 headers=admin)).status_code == 201
