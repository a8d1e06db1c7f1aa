"""No IIN, name, birth date or phone number of a family reaches intake's log lines or its
problems, whatever happens to the application: accepted, refused for a bad field, raced,
refused for a missing parameter, read by each kind of caller."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import date

from sqlalchemy import delete

from services.intake.models import ParameterReplica
from shared.observability import JsonFormatter
from tests.support import application_body, person

FAMILY = [person(date(1983, 12, 24), "female", "applicant", full_name="Saule Zhanbolatkyzy", phone="+77019876543"),
          person(date(2014, 10, 30), "male", "child", full_name="Daulet Yerlanuly", phone="+77471112233")]
MINOR = person(date(2012, 2, 29), "female", "applicant", full_name="Aruzhan Minorkyzy", phone="+77001110099")


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.setFormatter(JsonFormatter("intake"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))
        self.lines.append(record.getMessage())  # before the formatter's masking, too: names are not masked


def _personal(people: list[dict]) -> list[str]:
    return [value for p in people for value in (p["iin"], p["full_name"], p["birth_date"], p["phone"])]


async def test_no_personal_data_in_logs_or_problems(running_service, internal_token):
    lines = _Lines()
    answers: list[str] = []
    async with running_service("intake") as client:
        root = logging.getLogger()
        root.addHandler(lines)
        try:
            citizen = internal_token("portal", citizen=FAMILY[0]["iin"])

            async def post(body: dict, headers: dict) -> int:
                response = await client.post("/v1/applications", json=body,
                                             headers=headers | {"Idempotency-Key": str(uuid.uuid4())})
                if response.status_code >= 400:
                    answers.append(response.text)
                return response.status_code

            bad_bank = application_body(FAMILY, bank_account={"iban": "KZ86125KZT5004100100", "bank_code": "HSBKKZKX"})
            assert await post(bad_bank, citizen) == 422
            assert await post(application_body([MINOR]), internal_token("portal", citizen=MINOR["iin"])) == 422
            assert await post(application_body(FAMILY), internal_token("portal", citizen=FAMILY[1]["iin"])) == 403
            assert sorted(await asyncio.gather(*(post(application_body(FAMILY), citizen) for _ in range(3)))) == [
                201, 409, 409]
            for headers in (citizen, internal_token("case_worker", regions={"61"}), internal_token("ops")):
                listed = await client.get("/v1/applications", headers=headers)
                assert listed.status_code == 200 and len(listed.json()) == 1
            answers.append((await client.get(f"/v1/fdc/families/{FAMILY[0]['iin'][:-1]}x/status",
                                             headers=internal_token("fdc"))).text)
            async with client.app.state.sessionmaker() as session, session.begin():
                await session.execute(delete(ParameterReplica))
            other = person(date(1970, 4, 4), "male", "applicant", full_name="Nurlan Parametrov", phone="+77023334455")
            assert await post(application_body([other]), internal_token("portal", citizen=other["iin"])) == 503
        finally:
            root.removeHandler(lines)
    assert lines.lines, "nothing was logged: the scan would prove nothing"
    for value in _personal([*FAMILY, MINOR, other]):
        assert not [line for line in lines.lines if value in line], value
        assert not [answer for answer in answers if value in answer], value
