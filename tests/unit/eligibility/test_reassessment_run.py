"""The reassessment run's pure parts (issue 12): the register's chunk as the bulk path's columns
(decided as the single path decides the same family's extension), the extract's CSV, the totals,
the composition fingerprint, and the events written as JSON, which must be what the contract
writes."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import UTC, date, datetime

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.eligibility.domain import Case, History, ParameterSet, decide, load_shipped_parameters
from services.eligibility.reassessment import decide_columns, reason_codes_of
from services.eligibility.reassessment.bulk import RELATION_CODES, SEX_CODES, day_number, month_first_day
from services.eligibility.reassessment.register import RegisterChunk, composition_of, income_columns
from services.eligibility.reassessment.bulk import INCOME_TYPE_CODES
from services.eligibility.runs import (
    ChunkOutcome,
    ExtractFailed,
    Incomes,
    merge_totals,
    parse_extract,
    write_chunk,
)
from shared.calendar import Quarter
from shared.events import Envelope
from shared.events.contracts import EligibilityExtended

from .strategies import cases

PARAMS = ParameterSet(load_shipped_parameters())


def chunk_of(case_list: list[Case], contract_state: str = "none") -> RegisterChunk:
    """The register's chunk holding these families (what `stream_register` reads)."""
    members = [(f, m) for f, case in enumerate(case_list) for m in case.members]
    n = len(case_list)
    return RegisterChunk(
        family_id=[uuid.UUID(int=f + 1) for f in range(n)], application_id=[uuid.UUID(int=100 + f) for f in range(n)],
        decision_id=[uuid.UUID(int=200 + f) for f in range(n)],
        region_kato=np.array([c.region_kato for c in case_list], dtype="<U9"),
        settlement=np.array(["urban"] * n, dtype="<U5"), kind=np.array(["conditional"] * n, dtype="<U13"),
        contract_state=np.array([contract_state] * n, dtype="<U10"),
        composition=np.array([composition_of(c.members) for c in case_list], dtype="<U32"),
        application_day=np.array([day_number(c.application_date) for c in case_list], np.int32),
        quarter_total=np.zeros(n, np.int64),
        member_family=np.array([f for f, _ in members], np.int32),
        iin=np.array([m.iin for _, m in members], dtype="<U12"),
        birth_day=np.array([day_number(m.birth_date) for _, m in members], np.int32),
        sex=np.array([SEX_CODES[m.sex] for _, m in members], np.int8),
        relation=np.array([RELATION_CODES[m.relation] for _, m in members], np.int8),
        employed=np.array([m.employed for _, m in members], np.bool_),
        full_time_student=np.array([m.full_time_student for _, m in members], np.bool_),
        disability_group=np.array([m.disability_group or 0 for _, m in members], np.int8),
        carer=np.array([m.carer for _, m in members], np.bool_),
    )


def as_extension(case: Case, quarter: Quarter) -> Case:
    """The family as a reassessment decides it: on the quarter's first day, an extension, without
    bank aggregates, its only history a terminated contract."""
    return replace(case, application_date=quarter.first_day, extension=True, expenses=None,
                   history=History(contract_terminated_on=case.history.contract_terminated_on))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(cases(params=PARAMS), min_size=1, max_size=8), st.sampled_from(["2025-Q2", "2026-Q1", "2026-Q4"]))
def test_a_register_chunk_decides_as_the_single_path_decides_the_extension(case_list, quarter_text):
    quarter = Quarter.parse(quarter_text)
    extended = [as_extension(c, quarter) for c in case_list]
    # a person in two generated families would be two people in the register: keep the first
    seen: set[str] = set()
    extended = [c for c in extended if not (set(m.iin for m in c.members) & seen) and not seen.update(
        m.iin for m in c.members)]
    chunk = chunk_of(extended)
    rows = [(i.iin, f"{i.month:%Y-%m}", i.type, f"{i.amount:.2f}") for c in extended for i in c.incomes]
    incomes = income_columns(*(list(col) for col in zip(*rows))) if rows else (np.zeros(0, "<U12"),) + tuple(
        np.zeros(0, t) for t in (np.int32, np.int8, np.int64))
    terminated = np.array([day_number(c.history.contract_terminated_on) if c.history.contract_terminated_on
                           else np.iinfo(np.int32).min for c in extended], np.int32)
    columns = chunk.to_columns(application_day=day_number(quarter.first_day), income_iin=incomes[0],
                               income_month=incomes[1], income_type=incomes[2], income_amount=incomes[3],
                               contract_terminated_day=terminated)
    result = decide_columns(columns, PARAMS)
    for i, case in enumerate(extended):
        d = decide(case, PARAMS)
        assert bool(result.eligible[i]) == d.eligible, case
        assert set(reason_codes_of(int(result.reasons[i]))) == set(d.reason_codes), case
        months = [month_first_day(int(result.first_month[i]) + j).strftime("%Y-%m") for j in range(int(result.months[i]))]
        paid = [(int(result.tsa[j, i]), int(result.child_supplement[j, i])) for j in range(len(months))]
        assert paid == ([(m.tsa, m.child_supplement) for m in d.monthly] or [(0, 0)] * len(months)), case


def test_the_extract_csv_becomes_columns():
    body = (b"iin,month,type,amount\n900517401231,2026-10,wage,85000.50\n"
            b"900517401231,2026-11,employment_measure,1.05\n210302504566,2026-12,pension,7000.00\n")
    parsed = parse_extract(body)
    assert parsed.iin.tolist() == [900517401231, 900517401231, 210302504566]
    assert parsed.month.tolist() == [2026 * 12 + 9, 2026 * 12 + 10, 2026 * 12 + 11]
    assert parsed.type.tolist() == [INCOME_TYPE_CODES[t] for t in ("wage", "employment_measure", "pension")]
    assert parsed.amount.tolist() == [8500050, 105, 700000]
    # an amount without its two decimals is still read exactly (the slower way)
    odd = parse_extract(body.replace(b"7000.00", b"7000") + b"210302504566,2026-12,pension,0.01")
    assert odd.amount.tolist() == [8500050, 105, 700000, 1] and odd.iin.tolist()[:3] == parsed.iin.tolist()
    assert parse_extract(b"iin,month,type,amount\n").iin.tolist() == []
    assert parse_extract(b"").iin.tolist() == []
    with pytest.raises(ExtractFailed):
        parse_extract(b"iin,month,type,amount\n900517401231,2026-10,lottery,1.00\n")
    with pytest.raises(ExtractFailed):
        parse_extract(b"iin,month,type,amount\n900517401231,2026-10,lottery,1\n")


def test_the_composition_fingerprint():
    from services.eligibility.domain import Member

    a = Member("900517401231", date(1990, 5, 17), "female", "applicant")
    b = Member("210302504566", date(2021, 3, 2), "male", "child")
    assert composition_of([a, b]) == composition_of([b, a])  # the order of the members is not who they are
    assert composition_of([a, b]) != composition_of([a])  # a member left (or died)
    assert composition_of([a, b]) != composition_of([a, replace(b, relation="grandchild")])
    assert composition_of([a, b]) == composition_of([replace(a, employed=True), b])  # a job is not a new family
    assert len(composition_of([a])) == 32


def test_totals_add_up_chunk_by_chunk():
    one = {"extended": 2, "ended": {"BAN_ACTIVE": 1}, "review": {"contract_needed": 1},
           "amounts_by_region": {"610000000": {"families": 2, "amount": 100}}, "seconds": {"read": 0.5}}
    two = {"extended": 1, "ended": {"BAN_ACTIVE": 2, "INCOME_NOT_BELOW_POVERTY_LINE": 1}, "review": {},
           "amounts_by_region": {"610000000": {"families": 1, "amount": 50}, "710000000": {"families": 0, "amount": 0}},
           "seconds": {"read": 0.25, "write": 1.0}}
    total = merge_totals(merge_totals({}, one), two)
    assert total == {"extended": 3, "ended": {"BAN_ACTIVE": 3, "INCOME_NOT_BELOW_POVERTY_LINE": 1},
                     "review": {"contract_needed": 1},
                     "amounts_by_region": {"610000000": {"families": 3, "amount": 150},
                                           "710000000": {"families": 0, "amount": 0}},
                     "seconds": {"read": 0.75, "write": 1.0}}


class Recorder:
    """Stands in for the asyncpg connection: keeps what is copied."""

    def __init__(self) -> None:
        self.copied: dict[str, list[tuple]] = {}

    async def execute(self, *args):  # noqa: ANN002, ANN201
        return None

    async def executemany(self, *args):  # noqa: ANN002, ANN201
        return None

    async def copy_records_to_table(self, table, *, records, columns):  # noqa: ANN001, ANN201
        self.copied[table] = [dict(zip(columns, r)) for r in records]

    async def copy_to_table(self, table, *, source, columns, format):  # noqa: ANN001, ANN201, A002
        assert format == "text"
        self.copied[table] = [dict(zip(columns, line.split("\t"))) for line in source.read().decode().splitlines()]



def test_the_events_written_as_json_are_what_the_contract_writes():
    quarter = Quarter.parse("2026-Q4")
    from services.eligibility.domain import Member

    poor = Case(region_kato="610000000", application_date=quarter.first_day, extension=True, members=(
        Member("900517401231", date(1990, 5, 17), "female", "applicant"),
        Member("210302504566", date(2021, 3, 2), "male", "child")))
    chunk = chunk_of([poor], contract_state="signed")
    decisions = decide_columns(chunk.to_columns(application_day=day_number(quarter.first_day)), PARAMS)
    outcome = ChunkOutcome(chunk, np.array([0]), decisions, {}, np.array([bool(decisions.eligible[0])]))
    raw = Recorder()
    now = datetime(2026, 12, 20, 5, tzinfo=UTC)
    run_id = uuid.UUID(int=7)
    assert asyncio.run(write_chunk(raw, outcome, run_id=run_id, quarter=quarter, now=now)) == 1
    [row] = raw.copied["outbox"]
    written = orjson.loads(row["envelope"])
    assert row["event_type"] == written["type"] == "eligibility.extended" and row["key"] == str(chunk.application_id[0])
    envelope = Envelope.model_validate(written)
    payload = envelope.payload()
    assert isinstance(payload, EligibilityExtended)
    # the same JSON the contract writes for the same facts
    assert written["data"] == payload.model_dump(mode="json")
    again = Envelope.wrap(payload, source="eligibility", key=envelope.key, correlation_id=str(run_id))
    assert {k: v for k, v in written.items() if k not in ("id", "occurred_at")} == {
        k: v for k, v in again.model_dump(mode="json").items() if k not in ("id", "occurred_at")}
    assert envelope.occurred_at == now
    single = decide(poor, PARAMS)
    assert payload.eligible == single.eligible and [m.total for m in payload.monthly] == [m.total for m in single.monthly]
    [assignment] = raw.copied["assignments"]
    # the row in COPY's text format
    assert assignment["period_quarter"] == "2026-Q4" and assignment["extension"] == "t" and assignment["eligible"] == "t"
    totals = [int(x) for x in assignment["total"].strip("{}").split(",")]
    assert totals == [m.total for m in single.monthly] and int(assignment["quarter_total"]) == sum(totals)
    assert assignment["ended_reason"] == "\\N" and assignment["decision_id"] == str(payload.decision_id)
    assert len(assignment) == 26 and assignment["months"].count(",") == len(totals) - 1
    assert single.eligible and payload.contract_carried_over  # a signed contract runs on with the family
    assert "900517401231" not in row["envelope"]  # no IIN in the event


def test_uuid7_in_bulk():
    from services.eligibility.runs import uuid7_batch

    ids = [uuid.UUID(text) for text in uuid7_batch(10_000)]
    assert len(set(ids)) == 10_000 and ids == sorted(ids)
    assert {u.version for u in ids} == {7} and {u.variant for u in ids} == {uuid.RFC_4122}
    assert abs((ids[0].int >> 80) - datetime.now(UTC).timestamp() * 1000) < 60_000
    assert uuid7_batch(0) == []


def test_an_empty_extract():
    assert isinstance(parse_extract(b""), Incomes)


def test_the_extract_is_asked_in_batches_of_the_contracts_size_and_read_back_whole():
    import httpx

    from services.eligibility.runs import HttpIncomeExtract

    asked: list[dict] = []

    def registry(request: httpx.Request) -> httpx.Response:
        body = orjson.loads(request.content)
        asked.append(body)
        lines = "".join(f"{iin},2026-10,wage,{100 + int(iin[-1])}.00\n" for iin in body["iins"])
        return httpx.Response(200, content=("iin,month,type,amount\n" + lines).encode(),
                              headers={"content-type": "text/csv; charset=utf-8"})

    iins = [f"90051740123{i}" for i in range(5)]

    async def ask() -> Incomes:
        async with httpx.AsyncClient(transport=httpx.MockTransport(registry), base_url="http://registry") as client:
            return await HttpIncomeExtract(client, batch=2).incomes(Quarter.parse("2026-Q4"), iins)

    got = asyncio.run(ask())
    assert sorted(b["iins"] for b in asked) == [iins[0:2], iins[2:4], iins[4:]] and {b["quarter"] for b in asked} == {"2026-Q4"}
    assert got.iin.tolist() == [int(i) for i in iins] and got.amount.tolist() == [10000 + 100 * i for i in range(5)]

    def down(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503)

    async def ask_down() -> Incomes:
        async with httpx.AsyncClient(transport=httpx.MockTransport(down), base_url="http://registry") as client:
            return await HttpIncomeExtract(client).incomes(Quarter.parse("2026-Q4"), iins)

    with pytest.raises(ExtractFailed, match="503"):
        asyncio.run(ask_down())
