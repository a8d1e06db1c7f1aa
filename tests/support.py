"""Families for tests: valid IINs made from birth dates, request bodies as the portal sends them."""

from __future__ import annotations

import itertools
from datetime import date
from typing import Any

from shared.iin import make_iin

_serial = itertools.count(100)

# An account at Halyk Bank (bank code 601, BIC HSBKKZKX) with valid ISO 13616 check digits.
HALYK_IBAN = "KZ20601KZT5004100100"


def person(birth: date, sex: str, relation: str, **extra: Any) -> dict[str, Any]:
    return {
        "iin": make_iin(birth, sex, next(_serial) * 7 % 9000),
        "full_name": f"Test {relation.title()}",
        "birth_date": birth.isoformat(),
        "sex": sex,
        "relation": relation,
        "employed": False,
        "full_time_student": False,
        "disability_group": None,
        "carer": False,
    } | extra


def application_body(members: list[dict[str, Any]], region: str = "610000000", **extra: Any) -> dict[str, Any]:
    return {
        "channel": "egov",
        "region_kato": region,
        "settlement": "urban",
        "bank_account": {"iban": HALYK_IBAN, "bank_code": "HSBKKZKX"},
        "expense_check_consent": False,
        "members": members,
    } | extra


async def publish(bootstrap: str, topic: str, envelope, times: int = 1, request_id: str | None = None) -> None:  # noqa: ANN001
    """Put an event on the real broker as a relay would (optionally several times, as a
    redelivery would)."""
    import orjson
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for _ in range(times):
            await producer.send_and_wait(topic, orjson.dumps(envelope.model_dump(mode="json")),
                                         key=envelope.key.encode(),
                                         headers=[("x-request-id", request_id.encode())] if request_id else None)
    finally:
        await producer.stop()


async def eventually(check, timeout: float = 15.0, interval: float = 0.1):  # noqa: ANN001, ANN201
    """Wait until the async `check()` returns something truthy; return it."""
    import asyncio
    import time

    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last: {result!r})")
        await asyncio.sleep(interval)


def decided_event(*, kind: str = "unconditional", eligible: bool = True, members: list[dict] | None = None,
                  able_bodied: list[str] | None = None, bank_code: str = "HSBKKZKX", region: str = "610000000",
                  application_id=None):  # noqa: ANN001, ANN201
    """An `eligibility.decided` event as the eligibility service would emit it (for a new
    application unless `application_id` names one)."""
    import uuid as _uuid
    from datetime import date as _date

    from shared.events import Envelope
    from shared.events.contracts import BankAccount, CaseContext, EligibilityDecided, FamilyMember, MonthlyAmount

    members = members or [person(_date(1990, 2, 2), "female", "applicant")]
    application_id = application_id or _uuid.uuid4()
    return Envelope.wrap(EligibilityDecided(
        application=CaseContext(application_id=application_id, application_date=_date(2026, 11, 22),
                                region_kato=region, settlement="urban", channel="egov",
                                bank_account=BankAccount(iban="KZ86125KZT5004100100", bank_code=bank_code)),
        decision_id=_uuid.uuid4(), eligible=eligible, kind=kind, assessment_quarter="2026-Q3",
        period_quarter="2026-Q4", poverty_line=35596, per_capita_income="10000.00", members=len(members) and [
            FamilyMember(**m) for m in members],
        monthly=[MonthlyAmount(month=m, tsa=25596, child_supplement=0, total=25596) for m in ("2026-11", "2026-12")]
        if eligible else [],
        reasons=["INCOME_BELOW_POVERTY_LINE"], rules_version="test",
        able_bodied_iins=able_bodied or [],
    ), source="eligibility", key=str(application_id))


def on_partition_of(envelope, other):  # noqa: ANN001, ANN201
    """`envelope` under `other`'s message key. Published after `other` on the same topic, it lands
    on the same partition and is consumed after it: once its effect shows, `other` (and every
    redelivery of it published before) has been handled."""
    return envelope.model_copy(update={"key": other.key})


def scopes_without(scope: str) -> frozenset[str]:
    """Every scope but `scope`: a caller the route must refuse although its token is valid."""
    from tests.conftest import SCOPES_ALL

    return SCOPES_ALL - {scope}


async def assert_refused_without_scope(client, internal_token, method: str, path: str, scope: str,  # noqa: ANN001
                                       **request) -> None:  # noqa: ANN003
    """The service itself refuses a caller whose valid token lacks the route's scope: 403
    problem+json naming the scope."""
    kind = "bank" if scope == "bank:callbacks" else "admin"
    headers = internal_token(kind, scopes_without(scope), bank_code="HSBKKZKX") | request.pop("headers", {})
    response = await client.request(method, path, headers=headers, **request)
    assert response.status_code == 403, f"{method} {path}: {response.status_code} {response.text}"
    assert response.headers["content-type"] == "application/problem+json"
    assert scope in response.json()["detail"]


def sequential_ids(start: int = 1):  # noqa: ANN201
    """A `new_id` for domain functions: UUIDs start, start+1, … so a test can name what it gets."""
    import uuid as _uuid

    counter = itertools.count(start)
    return lambda: _uuid.UUID(int=next(counter))
