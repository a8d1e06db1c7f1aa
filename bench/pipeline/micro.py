"""Micro-benchmarks of the pipeline's hot paths: one path, in one process, against the real
PostgreSQL, counting that process's CPU time (less noisy on a shared machine than the end-to-end
run). Each prints µs (or ms) of CPU per operation; `--module FILE` runs the same path with another
version of the module under test — e.g. `git show REV:services/intake/repository.py > /tmp/old.py`
— so two versions are compared in one sitting (they alternate, `--rounds` times).

    uv run python bench/pipeline/micro.py follow   [--module OLD_intake_repository.py]
    uv run python bench/pipeline/micro.py upsert   [--module OLD_reporting_repository.py]
    uv run python bench/pipeline/micro.py consent  [--module OLD_reporting_repository.py]
    uv run python bench/pipeline/micro.py contract [--module OLD_reporting_repository.py]
    uv run python bench/pipeline/micro.py payment  [--module OLD_reporting_repository.py]
    uv run python bench/pipeline/micro.py decision [--module OLD_eligibility_repository.py]
    uv run python bench/pipeline/micro.py emit     [--module OLD_shared_outbox.py] [--per-transaction 20]
    uv run python bench/pipeline/micro.py verification [--module OLD_verification_repository.py]
    uv run python bench/pipeline/micro.py intake   [--requests 1500]

- follow: intake's `service.follow_flow` for verification.completed + eligibility.decided of new
  applications, 10 events per transaction (a consumer batch).
- upsert: reporting's `upsert_fact`, three events per application, 50 per transaction.
- consent: reporting's `set_consent_flags` (service.project_consent's statement), three consent
  events per application (requested; granted; refused), 50 per transaction.
- contract: reporting's `upsert_contract`, two events per contract (drafted, with two measures;
  signed), 50 per transaction.
- payment: reporting's payment projections, two events per application (payment.scheduled of
  three months: three `add_planned_payment`; payment.settled: one `upsert_order`), 50 per
  transaction; µs per event.
- decision: eligibility's lookups (one that finds a decision, one that does not) and the insert
  of one decision.
- emit: `shared.outbox.record_event` of a VerificationCompleted-sized envelope.
- verification: verification's expense-check repository path of one application whose two
  adults consent and whose four bank requests (two banks each) are answered, each step in its own
  transaction as the service makes it — the submission (progress, open the check, gather, save),
  two consent events (lock, save; the second adds the bank requests), four bank callbacks (save
  the answer; the last one adds the evidence and freezes the check) — calling the repository as
  services/verification/service.py does. The registries, the outbox and the events' validation
  are left out. A module without `application_of_request` (before the Core rewrite) is called as
  the service called it then: it read the check again in `_resume` and wrote it at each step, and
  read the bank request before and after locking the check. Also prints the SQL statements each
  version sends per application.
- intake: the whole intake process over HTTP — the platform started as `make run` does, every
  service but intake stopped (so nothing comes back), then submissions and reads straight to
  intake with internal tokens, 8 in flight; intake's CPU from /proc. Not comparable with
  `--module` (it runs the checked-out code).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import random
import sys
import time
import uuid
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from shared.db import drop_database, ensure_database, make_engine, make_sessionmaker, migrate  # noqa: E402

URL = f"postgresql+asyncpg://postgres@127.0.0.1:5432/qamqor_micro{os.getpid()}"


def load(path: str, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # a dataclass of the module looks its module up
    spec.loader.exec_module(module)
    return module


def family(today: date) -> tuple:
    from services.intake import domain
    from shared.iin import make_iin

    def person(relation: str, first: int, last: int, sex: str) -> domain.Member:
        born = date(first, 1, 1) + timedelta(days=random.randrange((last - first) * 365))
        return domain.Member(iin=make_iin(born, sex, random.randrange(10_000)), full_name="Bench Person",
                             birth_date=born, sex=sex, relation=relation)

    return person("applicant", 1970, 1995, "female"), person("child", 2008, 2020, "male"), \
        person("child", 2008, 2020, "female")


# ---- follow: intake's flow events -----------------------------------------------------------------

async def follow(repository: ModuleType, count: int) -> float:
    from services.intake import domain, service
    from shared.events import Envelope
    from shared.events.contracts import (EligibilityDecided, FamilyMember, IncomeRecord, MonthlyAmount,
                                         VerificationCompleted)
    from shared.ids import uuid7

    import services.intake.repository as current

    service.repository = repository  # type: ignore[attr-defined]
    engine = make_engine(URL)
    sessionmaker = make_sessionmaker(engine)
    events = []
    async with sessionmaker() as session, session.begin():
        for _ in range(count):
            at = datetime.now(timezone.utc)
            application = domain.Application(
                id=uuid7(), status="submitted", channel="egov", region_kato="610000000", settlement="urban",
                application_date=at.date(), extension=False, expense_check_consent=False,
                bank_iban="KZ20601KZT5004100100", bank_code="HSBKKZKX", submitted_by="portal", submitted_at=at,
                members=family(at.date()), timeline=(domain.StatusChange("submitted", at),))
            await current.add(session, application)
            context = domain.case_context(application)
            members = [FamilyMember(iin=m.iin, full_name=m.full_name, birth_date=m.birth_date, sex=m.sex,
                                    relation=m.relation, employed=False, full_time_student=False, disability_group=None,
                                    carer=False) for m in application.members]
            incomes = [IncomeRecord(iin=members[0].iin, type="wage", month=f"2026-0{k}", amount=Decimal("50000.00"))
                       for k in (7, 8, 9)]
            events.append(Envelope.wrap(VerificationCompleted(
                application=context, evidence_id=uuid7(), assessment_quarter="2026-Q3", members=members,
                incomes=incomes), source="verification", key=str(application.id)))
            events.append(Envelope.wrap(EligibilityDecided(
                application=context, decision_id=uuid7(), eligible=True, kind="unconditional",
                assessment_quarter="2026-Q3", period_quarter="2026-Q4", poverty_line=40000,
                per_capita_income=Decimal("16666.67"), members=members, reasons=["INCOME_BELOW_POVERTY_LINE"],
                monthly=[MonthlyAmount(month="2026-12", tsa=1000, child_supplement=0, total=1000)],
                rules_version="bench"), source="eligibility", key=str(application.id)))
    began = time.process_time()
    for i in range(0, len(events), 10):
        async with sessionmaker() as session, session.begin():
            for envelope in events[i:i + 10]:
                await service.follow_flow(session, envelope)
    spent = time.process_time() - began
    service.repository = current  # type: ignore[attr-defined]
    await engine.dispose()
    return 1e6 * spent / len(events)


# ---- upsert: reporting's projection ---------------------------------------------------------------

async def upsert(repository: ModuleType, count: int) -> float:
    from services.reporting import domain

    changes = []
    for _ in range(count):
        application = uuid.uuid4()
        changes += [domain.FactChange(application, "submitted", {"region_kato": "610000000", "settlement": "urban",
                                                                 "channel": "egov", "members": 4}),
                    domain.FactChange(application, "verified", {}),
                    domain.FactChange(application, "decided", {"eligible": True, "kind": "conditional"})]
    engine = make_engine(URL)
    sessionmaker = make_sessionmaker(engine)
    began = time.process_time()
    for i in range(0, len(changes), 50):
        async with sessionmaker() as session, session.begin():
            for change in changes[i:i + 50]:
                await repository.upsert_fact(session, change)
    spent = time.process_time() - began
    await engine.dispose()
    return 1e6 * spent / len(changes)


# ---- consent, contract, payment: reporting's other projections -----------------------------------

async def _per_transaction(calls: list, per: int = 50) -> float:
    """Run `calls` (each a coroutine function of a session), `per` to a transaction; CPU µs each."""
    engine = make_engine(URL)
    sessionmaker = make_sessionmaker(engine)
    began = time.process_time()
    for i in range(0, len(calls), per):
        async with sessionmaker() as session, session.begin():
            for call in calls[i:i + per]:
                await call(session)
    spent = time.process_time() - began
    await engine.dispose()
    return 1e6 * spent / len(calls)


async def consent(repository: ModuleType, count: int) -> float:
    calls = []
    for _ in range(count):
        application = uuid.uuid4()
        for flags in (("consent_requested",), ("consent_requested", "consent_granted"),
                      ("consent_requested", "consent_refused")):
            calls.append(lambda session, a=application, f=flags: repository.set_consent_flags(
                session, application_id=a, flags=f, at=datetime.now(timezone.utc)))
    return await _per_transaction(calls)


async def contract(repository: ModuleType, count: int) -> float:
    calls = []
    for _ in range(count):
        contract_id, application = uuid.uuid4(), uuid.uuid4()
        for flag, measures in (("drafted", {"job_placement": 1, "training": 2}), ("signed", None)):
            calls.append(lambda session, c=contract_id, a=application, f=flag, m=measures: repository.upsert_contract(
                session, contract_id=c, application_id=a, flag=f, measures=m, at=datetime.now(timezone.utc)))
    return await _per_transaction(calls)


async def payment(repository: ModuleType, count: int) -> float:
    from services.reporting import domain

    async def scheduled(session, planned: list) -> None:  # noqa: ANN001
        at = datetime.now(timezone.utc)
        for one in planned:
            await repository.add_planned_payment(session, one, at)

    calls = []
    for _ in range(count):
        application = uuid.uuid4()
        planned = [domain.PaymentPlanned(uuid.uuid4(), application, "HSBKKZKX", month, 42_000)
                   for month in ("2026-10", "2026-11", "2026-12")]
        calls.append(lambda session, p=planned: scheduled(session, p))
        calls.append(lambda session, p=planned[0]: repository.upsert_order(
            session, domain.OrderReported(p.payment_id, p.application_id, "settled", p.bank_code, p.month, p.total),
            datetime.now(timezone.utc)))
    return await _per_transaction(calls)


# ---- decision: eligibility's stored decisions -----------------------------------------------------

CASE = {"format": 2, "region_kato": "610000000", "application_date": "2026-11-30", "extension": False,
        "members": [{"iin": "900101400123", "birth_date": "1990-01-01", "sex": "female", "relation": "applicant"}] * 5,
        "incomes": [{"iin": "900101400123", "type": "wage", "month": "2026-07", "amount": "70000.00"}] * 9}
RESULT = {"eligible": True, "kind": "conditional", "reasons": [{"code": "X", "params": {"a": "1"}}] * 6,
          "monthly": [{"month": "2026-10", "tsa": 1, "total": 2}] * 3}


async def decision(repository: ModuleType, count: int) -> float:
    from services.eligibility.models import DecisionRecord

    def record(application: uuid.UUID) -> DecisionRecord:
        return DecisionRecord(application_id=application, evidence_id=uuid.uuid4(), decided_at=datetime.now(timezone.utc),
                              rules_version="bench", case_input=CASE, result=RESULT)

    async def decided(session, application: uuid.UUID) -> bool:  # noqa: ANN001
        if hasattr(repository, "has_decision"):
            return await repository.has_decision(session, application)
        return await repository.decision_for_application(session, application) is not None

    engine = make_engine(URL)
    sessionmaker = make_sessionmaker(engine)
    existing = uuid.uuid4()
    async with sessionmaker() as session, session.begin():
        await repository.add_decision(session, record(existing))
    began = time.process_time()
    for _ in range(0, count, 50):
        async with sessionmaker() as session, session.begin():
            for _ in range(50):
                application = uuid.uuid4()
                assert await decided(session, existing) and not await decided(session, application)
                await repository.add_decision(session, record(application))
    spent = time.process_time() - began
    await engine.dispose()
    return 1e6 * spent / count


# ---- emit: the outbox ------------------------------------------------------------------------------

async def emit(outbox: ModuleType, count: int, per_transaction: int) -> float:
    from shared.events import Envelope
    from shared.events.contracts import BankAccount, CaseContext, FamilyMember, IncomeRecord, VerificationCompleted

    members = [FamilyMember(iin="900101400123", full_name="Bench Person", birth_date=date(1990, 1, 1), sex="female",
                            relation="applicant", employed=False, full_time_student=False, disability_group=None,
                            carer=False)] * 5
    incomes = [IncomeRecord(iin="900101400123", type="wage", month="2026-07", amount=Decimal("70000.00"))] * 12
    envelopes = [Envelope.wrap(VerificationCompleted(
        application=CaseContext(application_id=uuid.uuid4(), application_date=date(2026, 11, 30),
                                region_kato="610000000", settlement="urban", channel="egov", extension=False,
                                bank_account=BankAccount(iban="KZ20601KZT5004100100", bank_code="HSBKKZKX")),
        evidence_id=uuid.uuid4(), assessment_quarter="2026-Q3", members=members, incomes=incomes),
        source="verification", key="bench") for _ in range(count)]
    engine = make_engine(URL)
    sessionmaker = make_sessionmaker(engine)
    began = time.process_time()
    for i in range(0, count, per_transaction):
        async with sessionmaker() as session, session.begin():
            for envelope in envelopes[i:i + per_transaction]:
                await outbox.record_event(session, "qamqor.verification", envelope)
    spent = time.process_time() - began
    await engine.dispose()
    return 1e6 * spent / count


# ---- verification: the expense check's repository path ------------------------------------------

STATEMENTS: dict[str, float] = {}


async def verification(repository: ModuleType, count: int, label: str) -> float:
    from dataclasses import replace

    from sqlalchemy import event

    from services.verification import domain, expenses
    from shared.events import Envelope
    from shared.events.contracts import (ApplicationSubmitted, BankAccount, CaseContext, ConsentRecord, FamilyMember,
                                         IncomeRecord)
    from shared.ids import uuid7

    before = not hasattr(repository, "application_of_request")  # called as the service called it then
    engine = make_engine(URL)
    sessionmaker = make_sessionmaker(engine)
    statements = 0

    def counted(*_: object) -> None:
        nonlocal statements
        statements += 1

    event.listen(engine.sync_engine, "before_cursor_execute", counted)
    now = datetime.now(timezone.utc)
    adults = [FamilyMember(iin=f"8{k}0101400123", full_name="Bench Person", birth_date=date(1980 + k, 1, 1),
                           sex="female", relation="applicant" if k == 0 else "spouse", employed=True)
              for k in range(2)]
    children = [FamilyMember(iin=f"1{k}0101500123", full_name="Bench Child", birth_date=date(2010 + k, 1, 1),
                             sex="male", relation="child") for k in range(2)]
    incomes = tuple(IncomeRecord(iin=a.iin, type="wage", month=f"2026-0{m}", amount=Decimal("70000.00"))
                    for a in adults for m in (7, 8, 9))
    gathered = expenses.Gathered(incomes=incomes, purchases=(), sources={
        "income_registry": {"quarter": "2026-Q3", "members_queried": 4, "fetched_at": now.isoformat()}})
    figures = expenses.BankAnswer(total_spending=Decimal("120000.00"), non_mortgage_loans=Decimal("0.00"),
                                  savings_deposits=Decimal("5000.00"))
    applications = []
    for _ in range(count):
        application_id = uuid7()
        envelope = Envelope.wrap(ApplicationSubmitted(
            application=CaseContext(application_id=application_id, application_date=date(2026, 11, 30),
                                    region_kato="610000000", settlement="urban", channel="egov",
                                    bank_account=BankAccount(iban="KZ20601KZT5004100100", bank_code="HSBKKZKX")),
            expense_check_consent=True, members=[*adults, *children], consent_required=True),
            source="intake", key=str(application_id))
        consents = [ConsentRecord(
            consent_id=uuid7(), application_id=application_id, iin=a.iin, purpose="tsa_expense_check",
            data_categories=["bank_aggregates"], assessment_quarter="2026-Q3", controller="bench",
            legal_basis="consent", banks=[], method="sms_1414", status="granted", requested_at=now,
            expires_at=now + timedelta(days=1), answered_at=now, answered_via="sms").model_dump(mode="json") for a in adults]
        applications.append((application_id, envelope.model_dump(mode="json"), consents))

    async def resume(session, locked, requests=None):  # noqa: ANN001, ANN202 - `_resume` up to its next step
        if before:
            locked = await repository.lock_check(session, locked[0].application_id)
        return locked[0], requests if requests is not None else await repository.bank_requests(
            session, locked[0].application_id)

    async def one(application_id: uuid.UUID, submitted_event: dict, consents: list[dict]) -> None:
        async with sessionmaker() as session, session.begin():  # application.submitted
            assert await repository.progress(session, application_id) == (False, False)
            check = expenses.Check(application_id, True)
            opened = await repository.open_check(session, check, submitted_event)
            locked = (check, submitted_event) if opened else await repository.lock_check(session, application_id)
            check = replace(locked[0], gathered=gathered)
            if before:
                await repository.save_check(session, check)
            _, requests = await resume(session, (check, submitted_event))
            assert isinstance(expenses.next_step(check, requests), expenses.Wait)
            if not before:
                await repository.save_check(session, check)
        for k, record in enumerate(consents):  # consent.granted of each adult
            async with sessionmaker() as session, session.begin():
                locked = await repository.lock_check(session, application_id)
                check = expenses.follow_consent(locked[0], record, "granted" if k == len(consents) - 1 else "pending")
                if before:
                    await repository.save_check(session, check)
                check, requests = await resume(session, (check, locked[1]))
                if isinstance(expenses.next_step(check, requests), expenses.AskBanks):
                    await repository.add_bank_requests(session, [
                        expenses.BankRequest(id=uuid7(), application_id=application_id, bank_code=bank, iin=iin,
                                             quarter="2026-Q3", created_at=now)
                        for iin in check.consenting_iins for bank in ("HSBKKZKX", "KCJBKZKX")])
                    check = replace(check, banks_asked_at=now, bank_deadline=now + timedelta(days=7))
                    if before:
                        await repository.save_check(session, check)
                    requests = await repository.bank_requests(session, application_id)
                if not before:
                    await repository.save_check(session, check)
        async with sessionmaker() as session:
            request_ids = [r.id for r in await repository.bank_requests(session, application_id)]
        for request_id in request_ids:  # each bank's callback
            async with sessionmaker() as session, session.begin():
                if before:
                    found = await repository.bank_request(session, request_id)
                    locked = await repository.lock_check(session, found.application_id)
                    request = await repository.bank_request(session, request_id)
                else:
                    found_application = await repository.application_of_request(session, request_id)
                    locked = await repository.lock_check(session, found_application)
                    requests = await repository.bank_requests(session, found_application)
                    request = next(r for r in requests if r.id == request_id)
                outcome = expenses.answer(request, locked[0], bank_code=request.bank_code, iin=request.iin,
                                          quarter=request.quarter, figures=figures, at=datetime.now(timezone.utc))
                assert outcome.outcome == expenses.RECORDED
                saved = await repository.save_answer(session, outcome.request)
                if before:
                    check, requests = await resume(session, locked)
                else:
                    check, requests = await resume(session, locked, [saved if r.id == saved.id else r
                                                                     for r in requests])
                step = expenses.next_step(check, requests)
                if isinstance(step, expenses.Freeze):
                    submitted: ApplicationSubmitted = Envelope.model_validate(locked[1]).payload()  # type: ignore
                    evidence, _ = domain.freeze(submitted, check.gathered.incomes, evidence_id=uuid7(), at=now,
                                                expenses=step.expenses, sources=dict(check.gathered.sources),
                                                consents=expenses.consent_records(check, {}), bank_answers=[])
                    await repository.add(session, evidence)
                    await repository.save_check(session, replace(check, frozen=True))

    # The last callback's validation of the submitted event and `domain.freeze` are counted too
    # (the same for every version).
    began = time.process_time()
    for application_id, submitted_event, consents in applications:
        await one(application_id, submitted_event, consents)
    spent = time.process_time() - began
    async with sessionmaker() as session:
        frozen = len(await repository.overdue_candidates(session, now + timedelta(days=30), count))
    assert frozen == 0  # every check frozen
    STATEMENTS[label] = (statements - 1 - count) / count  # less the reads of request ids and the check above
    await engine.dispose()
    return 1e6 * spent / count


# ---- intake: the process over HTTP -----------------------------------------------------------------

def intake_requests(requests: int) -> None:
    import signal

    import aiohttp
    import orjson
    import uvloop

    from bench.pipeline.bench_pipeline import cmdline, cpu_seconds, own_platform
    from bench.pipeline.families import FamilyMaker
    from shared.identity import Caller, mint_internal_token

    target = own_platform(argparse.Namespace(log_level="INFO", keep_logs=False))
    try:
        for name in ("verification", "eligibility", "contracts", "payments", "reporting"):
            os.kill(target.processes[name][0], signal.SIGTERM)
        pid = target.processes["intake"][0]
        args = cmdline(pid)
        url = f"http://127.0.0.1:{args[args.index('--port') + 1]}"
        private = (target.state_dir / "keys" / "internal_private.pem").read_bytes()
        families = FamilyMaker(seed=int(time.time())).families(requests + 100, (0.4, 0.4, 0.2))

        def headers(iin: str) -> dict[str, str]:
            caller = Caller(id="demo-portal", kind="portal", citizen_iin=iin,
                            scopes=frozenset({"applications:write", "applications:read"}))
            return {"x-qamqor-internal-token": mint_internal_token(private, caller, "bench"),
                    "Content-Type": "application/json"}

        async def main() -> None:
            gate = asyncio.Semaphore(8)
            tokens = [headers(f.applicant_iin) for f in families]
            ids: list[tuple[int, str]] = []
            async with aiohttp.ClientSession() as http:
                async def post(i: int) -> None:
                    async with gate, http.post(url + "/v1/applications", data=orjson.dumps(families[i].body),
                                               headers=tokens[i] | {"Idempotency-Key": str(uuid.uuid4())}) as r:
                        body = await r.read()
                        assert r.status == 201, (r.status, body[:300])
                        ids.append((i, orjson.loads(body)["id"]))

                async def get(i: int, application_id: str) -> None:
                    async with gate, http.get(f"{url}/v1/applications/{application_id}", headers=tokens[i]) as r:
                        await r.read()
                        assert r.status == 200

                await asyncio.gather(*(post(i) for i in range(100)))  # warm
                await asyncio.sleep(3)
                before = cpu_seconds(pid)
                await asyncio.gather(*(post(i) for i in range(100, requests + 100)))
                await asyncio.sleep(2)  # the relay publishes what was submitted
                print(f"POST /v1/applications: {1000 * (cpu_seconds(pid) - before) / requests:.2f} ms intake CPU each")
                before = cpu_seconds(pid)
                await asyncio.gather(*(get(i, a) for i, a in ids[100:]))
                print(f"GET /v1/applications/{{id}}: {1000 * (cpu_seconds(pid) - before) / len(ids[100:]):.2f} ms "
                      "intake CPU each")

        uvloop.install()
        asyncio.run(main())
    finally:
        target.stop()


# ---- main ------------------------------------------------------------------------------------------

REPORTING = {"consent": consent, "contract": contract, "payment": payment}
PATHS = {"follow": ("services.intake.repository", "services/intake/main.py"),
         "upsert": ("services.reporting.repository", "services/reporting/main.py"),
         "consent": ("services.reporting.repository", "services/reporting/main.py"),
         "contract": ("services.reporting.repository", "services/reporting/main.py"),
         "payment": ("services.reporting.repository", "services/reporting/main.py"),
         "decision": ("services.eligibility.repository", "services/eligibility/main.py"),
         "emit": ("shared.outbox", "services/verification/main.py"),
         "verification": ("services.verification.repository", "services/verification/main.py")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path", choices=(*PATHS, "intake"))
    parser.add_argument("--module", help="another version of the module under test, to compare with")
    parser.add_argument("--count", type=int, default=1000, help="operations per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--per-transaction", type=int, default=20, help="emit: events per transaction")
    parser.add_argument("--requests", type=int, default=1500, help="intake: submissions (and as many reads)")
    args = parser.parse_args()
    if args.path == "intake":
        intake_requests(args.requests)
        return
    import importlib

    import uvloop

    module_name, main_module = PATHS[args.path]
    versions = {"checked out": importlib.import_module(module_name)}
    if args.module:
        versions[args.module] = load(args.module, "compared_" + module_name.replace(".", "_"))
    migrations = importlib.import_module(main_module.removesuffix(".py").replace("/", ".")).MIGRATIONS_DIR

    async def rounds() -> None:
        results: dict[str, list[float]] = {name: [] for name in versions}
        for _ in range(args.rounds):
            for name, module in versions.items():
                if args.path == "follow":
                    results[name].append(await follow(module, args.count // 2))
                elif args.path == "upsert":
                    results[name].append(await upsert(module, args.count // 3))
                elif args.path in ("consent", "contract", "payment"):
                    per_application = {"consent": 3, "contract": 2, "payment": 2}[args.path]
                    results[name].append(await REPORTING[args.path](module, args.count // per_application))
                elif args.path == "decision":
                    results[name].append(await decision(module, args.count))
                elif args.path == "verification":
                    results[name].append(await verification(module, args.count // 10, name))
                else:
                    results[name].append(await emit(module, args.count, args.per_transaction))
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
        for name, values in results.items():
            print(f"{args.path} ({name}): min {min(values):.0f} µs CPU per "
                  f"{'application' if args.path == 'verification' else 'operation'}; rounds "
                  f"{', '.join(f'{v:.0f}' for v in values)}"
                  + (f"; {STATEMENTS[name]:.0f} SQL statements per application" if name in STATEMENTS else ""))

    try:
        asyncio.run(ensure_database(URL))
        migrate(URL, migrations)
        uvloop.install()
        asyncio.run(rounds())
    finally:
        asyncio.run(drop_database(URL))


if __name__ == "__main__":
    main()
