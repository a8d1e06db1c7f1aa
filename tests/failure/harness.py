"""The failure suite's driver: families submitted through the gateway as the portal acting for
their applicants, a disruption while they flow, then the platform's state checked against what
was accepted — with deadlines, never with fixed waits.

A family is submitted with one Idempotency-Key for all its attempts: a connection dropped by a
killed gateway, or a 502/503 while a service or the database is away, is tried again with the same
key, so an application created by an attempt whose answer was lost comes back on the retry. Only
applications the platform accepted (201, or the key's replayed answer) are counted; every other
answer is an error of the platform and fails the scenario.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from qamqor_cli.demo import DEMO_BANK_ACCOUNT, GatewayClient, member
from qamqor_cli.platform import SERVICES, Platform
from shared.calendar import Quarter, business_date, month_label
from shared.db import asyncpg_dsn
from shared.events.contracts import DEAD_LETTER_TOPIC
from shared.iin import make_iin

# What each kind of family ends as: a conditional family signs its contract and is then paid.
FINAL_STATUS = {"unconditional": "payments_scheduled", "conditional": "payments_scheduled", "rejected": "rejected"}
DECISION_STATUSES = ("approved", "rejected")
# Answers after which the same request is tried again: the platform (or part of it) is away.
RETRIED_STATUSES = frozenset({502, 503, 504})
DEAD_LETTER_GROUP = "qamqor-reporting-dead-letters"


def subscriptions() -> dict[str, tuple[str, ...]]:
    """Consumer group -> the topics it reads."""
    import importlib

    groups = {f"qamqor-{name}": importlib.import_module(f"services.{name}.consumers").SUBSCRIBE for name in SERVICES}
    groups[DEAD_LETTER_GROUP] = (DEAD_LETTER_TOPIC,)
    return groups


@dataclass
class Family:
    kind: str  # unconditional | conditional | rejected
    members: list[dict[str, Any]]
    key: str = field(default_factory=lambda: str(uuid.uuid4()))  # one Idempotency-Key for every attempt
    app_id: str | None = None
    client: GatewayClient | None = None
    attempts: int = 0
    signed: bool = False
    final: bool = False

    @property
    def applicant(self) -> str:
        return self.members[0]["iin"]

    @property
    def expected_status(self) -> str:
        return FINAL_STATUS[self.kind]

    def body(self) -> dict[str, Any]:
        return {"channel": "egov", "region_kato": "610000000", "settlement": "urban",
                "bank_account": DEMO_BANK_ACCOUNT, "expense_check_consent": True, "members": self.members}


@dataclass
class Figures:
    scenario: str
    families: int = 0
    accepted: int = 0
    retried: int = 0  # submission attempts beyond each family's first
    decisions: int = 0
    duplicates: int = 0
    redrives: int = 0
    dead_letters: int = 0
    drain_seconds: float = 0.0
    wall_seconds: float = 0.0
    note: str = ""

    def line(self) -> str:
        return (f"{self.scenario:<36} applications {self.accepted:>3}/{self.families:<3} retried {self.retried:>3}  "
                f"decisions {self.decisions:>3}  duplicates {self.duplicates}  re-drives {self.redrives:>3}  "
                f"dead letters {self.dead_letters}  drained in {self.drain_seconds:5.1f} s  "
                f"(scenario {self.wall_seconds:5.1f} s){'  ' + self.note if self.note else ''}")


class Harness:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        layout = platform.layout
        self.gateway_url, self.sandbox_url = layout.url("gateway"), layout.url("sandbox")
        portal = next(c for c in platform.callers if c["kind"] == "portal")
        ops = next(c for c in platform.callers if c["kind"] == "ops")
        self.portal = GatewayClient(self.gateway_url, portal["id"], portal["secret"])
        self.ops = GatewayClient(self.gateway_url, ops["id"], ops["secret"])
        self.sandbox = httpx.Client(base_url=self.sandbox_url, timeout=10.0)
        self.accepted: list[Family] = []  # every application accepted so far, all scenarios
        self.errors: list[str] = []  # answers no retry makes right (a 500, an unexpected 4xx)
        self._lock = threading.Lock()
        self._abandon = threading.Event()  # a scenario failed: its threads stop
        self._serial = itertools.count(1, 7)
        self._used: set[str] = set()
        self.months = [month_label(m) for m in Quarter.of(business_date()).previous().months()]

    def close(self) -> None:
        for family in self.accepted:
            if family.client is not None:
                family.client.close()
        self.portal.close()
        self.ops.close()
        self.sandbox.close()

    # ---- families ---------------------------------------------------------------------------

    def _iin(self, birth: date, sex: str) -> str:
        while True:
            iin = make_iin(birth, sex, next(self._serial) % 10_000)
            if iin not in self._used:
                self._used.add(iin)
                return iin

    def _person(self, birth: date, sex: str, relation: str, income: tuple[str, str] | None, **extra: Any) -> dict:
        iin = self._iin(birth, sex)
        incomes = [] if income is None else [{"month": m, "type": income[0], "amount": income[1]} for m in self.months]
        self.sandbox.put(f"/sandbox/persons/{iin}", json={"incomes": incomes}).raise_for_status()
        # The one adult consents when applying; no account, no purchase: the expense check finds nothing.
        self.sandbox.put(f"/sandbox/persons/{iin}/accounts", json={"banks": []}).raise_for_status()
        self.sandbox.put(f"/sandbox/persons/{iin}/purchases", json={"purchases": []}).raise_for_status()
        return member(iin, f"Failure {relation.title()}", birth, sex, relation, **extra)

    def families(self, count: int) -> list[Family]:
        """`count` new families registered in the sandbox's registries, the three kinds in turn:
        a pensioner with a grandchild (approved unconditionally, paid), a working mother with a
        daughter (approved on a social contract, paid once she signs), a well-paid worker (rejected)."""
        made = []
        child_year = business_date().year - 5
        for n in range(count):
            day = 1 + n % 27
            kind = ("unconditional", "conditional", "rejected")[n % 3]
            if kind == "unconditional":
                members = [self._person(date(1954, 3, day), "female", "applicant", ("pension", "60000.00")),
                           self._person(date(child_year, 5, day), "male", "grandchild", None)]
            elif kind == "conditional":
                members = [self._person(date(1991, 6, day), "female", "applicant", ("wage", "45000.00")),
                           self._person(date(child_year, 8, day), "female", "child", None)]
            else:
                members = [self._person(date(1986, 9, day), "male", "applicant", ("wage", "400000.00"), employed=True)]
            made.append(Family(kind, members))
        return made

    # ---- the portal's side ------------------------------------------------------------------

    def _error(self, what: str, response: httpx.Response) -> None:
        with self._lock:
            self.errors.append(f"{what}: {response.status_code} {response.text[:300]}")

    def submit(self, family: Family, give_up_at: float) -> bool:
        """Submit until accepted (or `give_up_at`), every attempt with the family's one key."""
        while time.monotonic() < give_up_at and not self._abandon.is_set():
            family.attempts += 1
            try:
                if family.client is None:
                    family.client = self.portal.acting_for(family.applicant, self.sandbox_url)
                response = family.client.post("/v1/applications", json=family.body(),
                                              headers={"Idempotency-Key": family.key})
            except httpx.HTTPStatusError as refused:  # the token exchange answered an error
                if refused.response.status_code not in RETRIED_STATUSES:
                    self._error("token exchange", refused.response)
                    if refused.response.status_code < 500:
                        return False
            except httpx.TransportError:
                pass  # the gateway is away (killed, restarting): try again
            else:
                if response.status_code in (200, 201):
                    family.app_id = response.json()["id"]
                    with self._lock:
                        self.accepted.append(family)
                    return True
                if response.status_code not in RETRIED_STATUSES:
                    self._error("submission", response)
                    if response.status_code < 500:
                        return False
            time.sleep(0.3)
        return False

    def sign(self, family: Family, contract_id: str) -> None:
        """The applicant signs her drafted contract (tried again later if the platform is away)."""
        try:
            response = family.client.post(f"/v1/contracts/{contract_id}/sign")
        except httpx.TransportError:
            return
        if response.status_code == 200:
            family.signed = True
        elif response.status_code == 409:
            # A signature whose answer was lost: signed already?
            try:
                current = family.client.get(f"/v1/contracts/{contract_id}")
            except httpx.TransportError:
                return
            if current.status_code == 200 and current.json()["status"] == "signed":
                family.signed = True
            elif current.status_code not in RETRIED_STATUSES:
                self._error("contract after a refused signature", current)
        elif response.status_code not in RETRIED_STATUSES:
            self._error("signature", response)

    # ---- the databases and the broker, read directly ----------------------------------------

    def sql(self, database: str, query: str, *args: Any) -> list[asyncpg.Record]:
        url = self.platform.postgres.url(self.platform.layout.database(database))

        async def run() -> list[asyncpg.Record]:
            conn = await asyncpg.connect(asyncpg_dsn(url), timeout=5)
            try:
                return await conn.fetch(query, *args)
            finally:
                await conn.close()

        return asyncio.run(run())

    def _follow(self, families: list[Family], submitting: threading.Event, deadline: float) -> None:
        """Until every accepted family is final: sign each drafted contract, note each final one."""
        while time.monotonic() < deadline and not self._abandon.is_set():
            open_ = {f.app_id: f for f in families if f.app_id is not None and not f.final}
            if not open_ and not submitting.is_set():
                return
            if open_:
                try:
                    rows = self.sql("intake", "SELECT id::text, status, contract_id::text FROM applications "
                                              "WHERE id = ANY($1::uuid[])", list(open_))
                except (OSError, asyncpg.PostgresError, asyncio.TimeoutError):
                    rows = []  # the database is away
                for row in rows:
                    family = open_[row["id"]]
                    if row["status"] == family.expected_status:
                        family.final = True
                    elif row["status"] == "contract_drafted" and not family.signed and family.kind == "conditional":
                        self.sign(family, row["contract_id"])
            time.sleep(0.3)

    def run(self, scenario: str, *, families: int, rate: float, disrupt: Callable[[], str | None],
            timeout: float = 150.0) -> Figures:
        """Submit `families` at `rate` a second while `disrupt()` runs (it returns once the platform
        is whole again, optionally with a note), then wait until everything accepted is final and
        the platform has drained, and check it. Returns the figures."""
        batch = self.families(families)
        self.errors = []
        started = time.monotonic()
        figures = Figures(scenario, families=families)
        redrives_before = self._redrives()
        submitting = threading.Event()
        submitting.set()
        self._abandon.clear()
        give_up_at = started + timeout
        follower = threading.Thread(target=self._follow, args=(batch, submitting, started + timeout), daemon=True)
        follower.start()

        def paced(index: int, family: Family) -> bool:
            if self._abandon.wait(max(0.0, started + index / rate - time.monotonic())):
                return False
            return self.submit(family, give_up_at)

        try:
            with ThreadPoolExecutor(max_workers=4) as pool:
                submissions = [pool.submit(paced, i, f) for i, f in enumerate(batch)]
                try:
                    figures.note = disrupt() or ""
                except BaseException:
                    self._abandon.set()  # the submissions and the follower end at once
                    raise
                restored = time.monotonic()
                for submission in submissions:
                    submission.result()
            submitting.clear()
            follower.join(max(0.0, started + timeout - time.monotonic()) + 5)
        finally:
            self._abandon.set()
            follower.join(5)
        figures.accepted = sum(1 for f in batch if f.app_id is not None)
        figures.retried = sum(f.attempts - 1 for f in batch)
        if self.errors:
            counted = Counter(self.errors)
            raise AssertionError("the platform answered with errors:\n" + "\n".join(
                f"{n} × {error}" for error, n in counted.most_common()))
        assert figures.accepted == families, f"only {figures.accepted} of {families} families were accepted"
        stuck = Counter(f.kind for f in batch if not f.final)
        if stuck:
            statuses = self.sql("intake", "SELECT status, count(*) FROM applications WHERE id = ANY($1::uuid[]) "
                                          "GROUP BY status", [f.app_id for f in batch if not f.final])
            raise AssertionError(f"not final within {timeout:.0f}s: {dict(stuck)}; "
                                 f"their statuses: {[(r['status'], r['count']) for r in statuses]}; "
                                 f"offsets apart: {self.offsets_apart()}")
        self.wait_drained(deadline=started + timeout)
        figures.drain_seconds = time.monotonic() - restored
        checked = self.check(batch)
        figures.decisions = checked["decisions"]
        figures.duplicates = checked["duplicates"]
        figures.dead_letters = checked["dead_letters"]
        figures.redrives = self._redrives() - redrives_before
        figures.wall_seconds = time.monotonic() - started
        return figures

    def _redrives(self) -> int:
        return self.sql("intake", "SELECT coalesce(sum(attempts), 0)::int AS n FROM redrives")[0]["n"]

    # ---- drained --------------------------------------------------------------------------

    def unsent(self) -> dict[str, int]:
        return {name: self.sql(name, "SELECT count(*)::int AS n FROM outbox WHERE published_at IS NULL")[0]["n"]
                for name in SERVICES}

    def consumer_lag(self) -> dict[str, int]:
        """Consumer group -> messages on its topics it has not committed."""
        return {group: sum(end - committed for committed, end in partitions.values())
                for group, partitions in self.offsets().items()}

    def offsets_apart(self) -> list[str]:
        """Every partition a group has not committed to its end, or committed past it (the broker
        lost writes the group had read): what a stuck scenario reports."""
        return [f"{group} {tp.topic}[{tp.partition}]: committed {committed}, end {end}"
                for group, partitions in self.offsets().items()
                for tp, (committed, end) in sorted(partitions.items()) if committed != end]

    def offsets(self) -> dict[str, dict[TopicPartition, tuple[int, int]]]:
        """Consumer group -> (committed offset, end offset) of each partition of its topics."""
        groups = subscriptions()

        async def lag() -> dict[str, dict[TopicPartition, tuple[int, int]]]:
            bootstrap = self.platform.broker.bootstrap
            admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
            consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
            await admin.start()
            try:
                await consumer.start()
                try:
                    topics = {t for ts in groups.values() for t in ts}
                    partitions = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()]
                    # Not vacuous: every topic's partitions are known, or the lag cannot be measured.
                    assert {tp.topic for tp in partitions} == topics, f"no metadata for some of {sorted(topics)}"
                    ends = await consumer.end_offsets(partitions)
                finally:
                    await consumer.stop()
                result = {}
                for group, subscribed in groups.items():
                    committed = await admin.list_consumer_group_offsets(group)
                    result[group] = {tp: (committed[tp].offset if tp in committed else 0, end)
                                     for tp, end in ends.items() if tp.topic in subscribed}
                return result
            finally:
                await admin.close()

        return asyncio.run(lag())

    def _ops_get(self, path: str) -> dict:
        response = self.ops.get(path)
        response.raise_for_status()
        return response.json()

    def drained(self) -> dict[str, Any]:
        """What is not yet drained (empty when everything is)."""
        left: dict[str, Any] = {}
        unsent = {k: v for k, v in self.unsent().items() if v}
        if unsent:
            left["unsent outbox rows"] = unsent
        lag = {k: v for k, v in self.consumer_lag().items() if v}
        if lag:
            left["consumer lag"] = lag
        backlog = self._ops_get("/v1/stats/backlog")
        if backlog["undecided"] or backlog["waiting_for_systems"] or any(s["still_stuck"] for s in backlog["statuses"]):
            left["backlog"] = backlog
        summary = self._ops_get("/v1/stats/summary")
        decided = summary["approved_families"] + summary["rejected_families"]
        paid = self.sql("payments", "SELECT coalesce(sum(total), 0)::bigint AS n FROM payments")[0]["n"]
        if decided != len(self.accepted) or summary["scheduled_total_tenge"] != paid:
            left["reporting"] = {"decided families": decided, "accepted": len(self.accepted),
                                 "scheduled_total_tenge": summary["scheduled_total_tenge"], "payments total": paid}
        return left

    def wait_drained(self, deadline: float) -> None:
        left: dict[str, Any] = {"nothing checked yet": True}
        while time.monotonic() < deadline:
            try:
                left = self.drained()
            except (OSError, asyncpg.PostgresError, asyncio.TimeoutError, httpx.HTTPError) as exc:
                left = {"unreachable": repr(exc)}
            if not left:
                return
            time.sleep(0.5)
        raise AssertionError(f"the platform did not drain: {left}")

    # ---- nothing lost, nothing twice ----------------------------------------------------------

    def check(self, batch: list[Family]) -> dict[str, int]:
        """Every application accepted so far (all scenarios) against every service's state:
        one application each, in its family's final status, with exactly one decision (one
        decision event, never two decision steps in its timeline), a contract only for a
        conditional family, each decided month paid exactly once, and no dead letter. Then this
        batch: its decision step in each timeline, and each application as its applicant sees it
        at the gateway."""
        accepted = {f.app_id: f for f in self.accepted}
        ids = list(accepted)
        problems: list[str] = []
        duplicates = 0

        applications = self.sql("intake", "SELECT id::text, status FROM applications")
        if len(applications) != len(accepted) or {r["id"] for r in applications} != set(accepted):
            problems.append(f"intake holds {len(applications)} applications for {len(accepted)} accepted")
            duplicates += max(0, len(applications) - len(accepted))
        wrong = [(r["id"], r["status"], accepted[r["id"]].kind) for r in applications
                 if r["id"] in accepted and r["status"] != accepted[r["id"]].expected_status]
        if wrong:
            problems.append(f"applications not in their final status: {wrong[:5]}")

        decisions = self.sql("eligibility", "SELECT application_id::text AS id, count(*)::int AS n, "
                                            "bool_or((result->>'eligible')::boolean) AS eligible, "
                                            "max(result->>'kind') AS kind, "
                                            "max(jsonb_array_length(coalesce(result->'monthly', '[]'))) AS months "
                                            "FROM decisions GROUP BY application_id")
        decided = {r["id"]: r for r in decisions}
        undecided = [i for i in ids if i not in decided]
        if undecided:
            problems.append(f"{len(undecided)} accepted applications without a decision")
        if set(decided) - set(accepted):
            problems.append(f"decisions for applications never accepted: {sorted(set(decided) - set(accepted))[:5]}")
        duplicates += sum(r["n"] - 1 for r in decisions)

        events = self.sql("eligibility", "SELECT key, count(DISTINCT event_id)::int AS n FROM outbox "
                                         "WHERE event_type = 'eligibility.decided' GROUP BY key HAVING count(DISTINCT event_id) > 1")
        if events:
            problems.append(f"applications decided by more than one event: {[(r['key'], r['n']) for r in events][:5]}")
            duplicates += sum(r["n"] - 1 for r in events)

        steps = self.sql("intake", "SELECT application_id::text AS id, count(*)::int AS n FROM status_changes "
                                   "WHERE status = ANY($1::text[]) GROUP BY application_id", list(DECISION_STATUSES))
        twice = [(r["id"], r["n"]) for r in steps if r["n"] != 1]
        if twice:
            problems.append(f"a decision step twice in a timeline: {twice[:5]}")
            duplicates += sum(n - 1 for _, n in twice)
        # This batch's: a step missing from an earlier batch's timelines failed that scenario already.
        missing = sorted({f.app_id for f in batch} - {r["id"] for r in steps})
        if missing:
            timelines = self.sql("intake", "SELECT application_id::text AS id, string_agg(status, ' > ' ORDER BY id) AS t "
                                           "FROM status_changes WHERE application_id = ANY($1::uuid[]) GROUP BY 1",
                                 missing)
            problems.append(f"{len(missing)} timelines without their decision step: "
                            f"{[(r['id'], r['t']) for r in timelines][:5]}")
        repeated = self.sql("intake", "SELECT application_id::text AS id, event_id::text, count(*)::int AS n "
                                      "FROM status_changes WHERE event_id IS NOT NULL "
                                      "GROUP BY application_id, event_id HAVING count(*) > 1")
        if repeated:
            problems.append(f"one event applied twice to a timeline: {[tuple(r) for r in repeated][:5]}")
            duplicates += sum(r["n"] - 1 for r in repeated)

        contracts = {r["id"]: r["n"] for r in self.sql(
            "contracts", "SELECT application_id::text AS id, count(*)::int AS n FROM social_contracts GROUP BY 1")}
        expected_contracts = {i for i, f in accepted.items() if f.kind == "conditional"}
        if set(contracts) != expected_contracts or any(n != 1 for n in contracts.values()):
            problems.append(f"contracts: {len(contracts)} applications (expected {len(expected_contracts)}), "
                            f"not once: {[(i, n) for i, n in contracts.items() if n != 1][:5]}")
            duplicates += sum(n - 1 for n in contracts.values())

        paid_twice = self.sql("payments", "SELECT application_id::text AS id, month, count(*)::int AS n FROM payments "
                                          "GROUP BY application_id, month HAVING count(*) > 1")
        if paid_twice:
            problems.append(f"months paid twice: {[tuple(r) for r in paid_twice][:5]}")
            duplicates += sum(r["n"] - 1 for r in paid_twice)
        payments = {r["id"]: r["n"] for r in self.sql(
            "payments", "SELECT application_id::text AS id, count(*)::int AS n FROM payments GROUP BY 1")}
        for app_id, family in accepted.items():
            decision = decided.get(app_id)
            expected = decision["months"] if decision is not None and decision["eligible"] else 0
            if decision is not None and (decision["eligible"] != (family.kind != "rejected") or (
                    family.kind != "rejected" and decision["kind"] != family.kind)):
                problems.append(f"{app_id} ({family.kind}) decided {decision['kind']}, eligible={decision['eligible']}")
            if payments.get(app_id, 0) != expected:
                problems.append(f"{app_id} ({family.kind}): {payments.get(app_id, 0)} payments for {expected} months")

        dead = self._ops_get("/v1/stats/backlog")["dead_letters"]
        if dead["total"]:
            problems.append(f"dead letters: {dead}")

        for family in batch:
            response = family.client.get(f"/v1/applications/{family.app_id}")
            body = response.json()
            if response.status_code != 200 or body["status"] != family.expected_status or body["decision"] is None:
                problems.append(f"{family.app_id} at the gateway: {response.status_code} "
                                f"{body.get('status')} decision={body.get('decision') is not None}")

        assert not problems, "\n".join(problems)
        return {"decisions": sum(1 for f in batch if f.app_id in decided), "duplicates": duplicates,
                "dead_letters": dead["total"]}

    # ---- every event once more ----------------------------------------------------------------

    def publish_topics_again(self, topics: list[str]) -> int:
        """Every record now on `topics`, published once more to its own partition with the same
        key, value and headers, as a producer that resent a whole topic would. Returns how many."""
        bootstrap = self.platform.broker.bootstrap

        async def again() -> int:
            consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                        auto_offset_reset="earliest")
            producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
            await consumer.start()
            await producer.start()
            try:
                partitions = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()]
                ends = {tp: end for tp, end in (await consumer.end_offsets(partitions)).items() if end > 0}
                consumer.assign(list(ends))
                await consumer.seek_to_beginning(*ends)
                sent = []
                remaining = dict(ends)
                while remaining:
                    batches = await consumer.getmany(timeout_ms=1000)
                    for tp, records in batches.items():
                        for record in records:
                            if tp in remaining and record.offset < ends[tp]:
                                sent.append(await producer.send(tp.topic, record.value, key=record.key,
                                                                partition=tp.partition,
                                                                headers=list(record.headers or ())))
                        if tp in remaining and records and records[-1].offset + 1 >= ends[tp]:
                            del remaining[tp]
                await asyncio.gather(*sent)
                return len(sent)
            finally:
                await producer.stop()
                await consumer.stop()

        return asyncio.run(again())
