"""Families for tests: valid IINs made from birth dates, request bodies as the portal sends them."""

from __future__ import annotations

import itertools
from contextlib import asynccontextmanager
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
    from shared.events.contracts import (
        BankAccount,
        CaseContext,
        EligibilityDecided,
        FamilyMember,
        MonthlyAmount,
    )

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


def someone_else() -> str:
    """The IIN of a citizen who belongs to no family of any test."""
    return person(date(1970, 6, 6), "male", "other")["iin"]


def data_subjects(response) -> set[str]:  # noqa: ANN001
    """The people whose data the service says the answer carries (the gateway records them)."""
    from shared.access import DATA_SUBJECTS_HEADER

    header = response.headers.get(DATA_SUBJECTS_HEADER)
    return set(header.split(",")) if header else set()


async def assert_family_scoped(client, internal_token, path: str, *, scope: str, member_iin: str,  # noqa: ANN001
                               region_kato: str, listing: bool = False, params: dict | None = None):  # noqa: ANN201
    """The family-access rules of one read of a family's data, caller by caller. Every token holds
    the route's scope, so each refusal is the rule's, not the scope's:
    - the portal acting for a member: 200, the member named among the answer's data subjects;
    - the portal acting for someone else: 404 — or, for a list, nothing listed;
    - the portal acting for nobody: 403 `citizen-token-required`;
    - a case worker of the family's region: 200; of other regions only: 404 (or nothing listed);
    - ops (statistics and masked application lists only), fdc, bank, admin: 403.
    Returns the member's answer."""
    scopes = frozenset({scope})

    async def get(**token):  # noqa: ANN003, ANN202
        return await client.get(path, params=params, headers=internal_token(scopes=scopes, **token))

    def hidden(response) -> None:  # noqa: ANN001
        if listing:
            assert response.status_code == 200 and response.json() == [], f"{path}: {response.text}"
        else:
            assert response.status_code == 404, f"{path}: {response.status_code} {response.text}"
            assert response.headers["content-type"] == "application/problem+json"
        assert data_subjects(response) == set()

    member = await get(kind="portal", citizen=member_iin)
    assert member.status_code == 200, f"{path}: {member.status_code} {member.text}"
    assert member_iin in data_subjects(member)
    hidden(await get(kind="portal", citizen=someone_else()))
    unbound = await get(kind="portal")
    assert unbound.status_code == 403 and unbound.json()["type"].endswith("citizen-token-required"), unbound.text
    worker = await get(kind="case_worker", regions=frozenset({region_kato[:2]}))
    assert worker.status_code == 200 and worker.json() == member.json(), worker.text
    assert member_iin in data_subjects(worker)
    other_regions = frozenset({"71", "75"} - {region_kato[:2]})
    hidden(await get(kind="case_worker", regions=other_regions))
    for kind in ("ops", "fdc", "bank", "admin"):
        refused = await get(kind=kind, bank_code="HSBKKZKX" if kind == "bank" else None)
        assert refused.status_code == 403, f"{kind} {path}: {refused.status_code} {refused.text}"
        assert refused.headers["content-type"] == "application/problem+json" and data_subjects(refused) == set()
    return member


def assert_documents_what_it_answers(service: str) -> None:
    """The service's OpenAPI: every /v1 operation has a typed success answer with an example, and
    its real error answers as problem+json with the field-errors list (403 and 422 at least),
    never FastAPI's default validation schema."""
    import importlib

    main = importlib.import_module(f"services.{service}.main")
    settings = getattr(importlib.import_module(f"services.{service}.settings"), f"{service.capitalize()}Settings")
    document = main.create_app(settings(environment="test")).openapi()
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas

    def resolved(schema: dict) -> dict:
        if "$ref" in schema:
            return schemas[schema["$ref"].rsplit("/", 1)[-1]]
        if schema.get("type") == "array":
            return resolved(schema["items"])
        return schema

    operations = [(method, path, operation) for path, item in document["paths"].items() if path.startswith("/v1/")
                  for method, operation in item.items()]
    assert operations
    for method, path, operation in operations:
        where = f"{method.upper()} {path}"
        responses = operation["responses"]
        successes = [status for status in responses if status.startswith("2")]
        assert successes, f"{where}: no success answer"
        for success in successes:  # e.g. 202 for a new run, 200 for the run that exists
            body = resolved(responses[success]["content"]["application/json"]["schema"])
            assert body.get("examples"), f"{where} {success}: no example of its answer"
        errors = sorted(status for status in responses if not status.startswith("2"))
        assert {"403", "422"} <= set(errors), f"{where}: {errors}"
        for status in errors:
            content = responses[status]["content"]
            assert list(content) == ["application/problem+json"], f"{where} {status}: {list(content)}"
            problem = content["application/problem+json"]
            assert {"type", "title", "status", "detail", "errors"} <= set(problem["schema"]["properties"])
            assert problem["example"]["status"] == int(status) and responses[status]["description"]
        if "requestBody" in operation:
            assert {"400", "415"} <= set(errors), f"{where}: a body's errors undocumented"
            request = resolved(operation["requestBody"]["content"]["application/json"]["schema"])
            assert request.get("examples"), f"{where}: no example of its request"


@asynccontextmanager
async def migrated_database(postgres, name: str, migrations_dir):  # noqa: ANN001, ANN201
    """A service database `name`, migrated, with no service running (what is queued in its outbox
    stays there): yields a sessionmaker on it, and drops it afterwards."""
    import asyncio

    from shared.db import (
        drop_database,
        ensure_database,
        make_engine,
        make_sessionmaker,
        migrate,
    )

    url = postgres.url(name)
    await drop_database(url)
    await ensure_database(url)
    await asyncio.to_thread(migrate, url, migrations_dir)
    engine = make_engine(url)
    try:
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()
        await drop_database(url)


def verification_systems(sandbox_url: str) -> dict[str, str]:
    """Verification's environment with every external system it asks played by the sandbox at
    `sandbox_url`: the income, accounts, real-estate and vehicle registries and the banks."""
    return {f"QAMQOR_VERIFICATION_{system}_URL": sandbox_url
            for system in ("INCOME_REGISTRY", "ACCOUNTS_REGISTRY", "REAL_ESTATE_REGISTRY", "VEHICLE_REGISTRY", "BANKS")}


async def without_expenses(sandbox_url: str, members: list[dict[str, Any]]) -> None:
    """These members hold no bank account and bought nothing (the sandbox's synthetic answers
    replaced): with their consent given, the expense check finds nothing and asks no bank."""
    import httpx

    async with httpx.AsyncClient(base_url=sandbox_url) as sandbox:
        for m in members:
            (await sandbox.put(f"/sandbox/persons/{m['iin']}/accounts", json={"banks": []})).raise_for_status()
            (await sandbox.put(f"/sandbox/persons/{m['iin']}/purchases", json={"purchases": []})).raise_for_status()
