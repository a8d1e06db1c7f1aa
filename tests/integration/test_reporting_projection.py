"""Reporting's projections from event sequences, on a real database and without a broker: the
handlers the consumer calls, fed the scenario's events in the order of the flow, backwards, in
shuffled orders, and each several times — the dashboard's figures are the same every time (the
projections are commutative and idempotent, not merely protected by the inbox)."""

from __future__ import annotations

import random

import orjson
import pytest

from services.reporting import consumers, dashboard
from services.reporting.main import MIGRATIONS_DIR
from services.reporting.repository import truncate_projections
from shared.events.contracts import TOPICS
from tests.integration import reporting_scenario
from tests.support import migrated_database

SCENARIO = reporting_scenario.build()
HANDLERS = consumers.handlers()


def _orders() -> list[tuple[str, list]]:
    events = SCENARIO.events
    shuffled = []
    for seed in range(4):
        order = list(events)
        random.Random(seed).shuffle(order)
        shuffled.append((f"shuffled-{seed}", order))
    twice = [e for e in events for _ in range(2)]
    return [("the flow's order", list(events)), ("backwards", list(reversed(events))),
            ("each twice", twice), ("all, then all again backwards", list(events) + list(reversed(events))),
            *shuffled]


async def _dashboard(sessionmaker, **filters) -> dict:  # noqa: ANN001
    async with sessionmaker() as session:
        answer = await dashboard.dashboard(session=session, now=reporting_scenario.TODAY, **filters)
    return orjson.loads(answer.model_dump_json(by_alias=True))


async def _project(sessionmaker, events) -> None:  # noqa: ANN001
    for envelope in events:
        async with sessionmaker() as session, session.begin():
            await HANDLERS[envelope.type](session, envelope)


async def test_every_order_and_every_repetition_gives_the_same_figures(postgres, db_prefix):
    expected = reporting_scenario.expected_quarter(SCENARIO)
    expected_shymkent = reporting_scenario.expected_shymkent(SCENARIO)
    async with migrated_database(postgres, f"{db_prefix}_reporting_projection", MIGRATIONS_DIR) as sessionmaker:
        for name, order in _orders():
            async with sessionmaker() as session, session.begin():
                await truncate_projections(session, tuple(TOPICS.values()))
            await _project(sessionmaker, order)
            assert await _dashboard(sessionmaker, quarter="2031-Q2", region_kato=None) == expected, name
            assert await _dashboard(sessionmaker, quarter="2031-Q2",
                                    region_kato=reporting_scenario.SHYMKENT) == expected_shymkent, name


async def test_without_filters_the_other_quarter_counts_too(postgres, db_prefix):
    async with migrated_database(postgres, f"{db_prefix}_reporting_projection_all", MIGRATIONS_DIR) as sessionmaker:
        await _project(sessionmaker, SCENARIO.events)
        everything = await _dashboard(sessionmaker, quarter=None, region_kato=None)
        q1 = await _dashboard(sessionmaker, quarter="2031-Q1", region_kato=None)
        q3 = await _dashboard(sessionmaker, quarter="2031-Q3", region_kato=None)
    # Q: one more application, approved (50 000 assigned, 50 000 paid), one more invitation. Every
    # quarter: Q counts once (its 2031-Q1 and its extension's amounts both), T once; B's refused
    # 2031-Q3 extension ends it (its 2031-Q2 amount stays assigned).
    assert everything["headline"] == {
        "applications": 9, "decided": 4, "approved": 3, "rejected": 1, "undecided": 4, "withdrawn": 1,
        "recipient_families": 3, "recipient_people": 4, "amount_assigned": 400000, "amount_paid": 120000}
    assert everything["extensions"]["ended_by_reason"] == [
        {"reason": "INCOME_NOT_BELOW_POVERTY_LINE", "families": 1}, {"reason": "BAN_ACTIVE", "families": 1}]
    assert (everything["extensions"]["extended"], everything["extensions"]["ended"]) == (2, 2)
    assert everything["fdc_funnel"]["totals"] == {"invited": 4, "applied": 2, "approved": 2, "paid": 2}
    assert q1["headline"] == {
        "applications": 1, "decided": 1, "approved": 1, "rejected": 0, "undecided": 0, "withdrawn": 0,
        "recipient_families": 1, "recipient_people": 1, "amount_assigned": 50000, "amount_paid": 50000}
    assert q1["payments"]["by_month"] == [
        {"month": "2031-03", "ordered": 1, "settled": 1, "failed": 0, "amount_settled": 50000}]
    assert q1["backlog"]["total"] == 0 and q1["contracts"]["drafted"] == 0
    assert q1["extensions"]["extended"] == q1["extensions"]["ended"] == 0
    assert q3["headline"]["recipient_families"] == 0 and q3["extensions"]["ended"] == 1


async def test_the_older_statistics_count_each_familys_latest_extension(postgres, db_prefix):
    from services.reporting import service

    async with migrated_database(postgres, f"{db_prefix}_reporting_projection_old", MIGRATIONS_DIR) as sessionmaker:
        await _project(sessionmaker, SCENARIO.events)
        async with sessionmaker() as session:
            everywhere = await service.summary(session=session, region_kato=None)
            shymkent = await service.summary(session=session, region_kato=reporting_scenario.SHYMKENT)
            regions = {r.region_kato: r for r in await service.by_region(session=session, region_kato=None)}
    # Q and T extended; S not, and B's latest (2031-Q3) not
    assert (everywhere.extended_families, everywhere.extension_ended_families) == (2, 2)
    assert (shymkent.extended_families, shymkent.extension_ended_families) == (1, 1)
    kyzylorda = regions[reporting_scenario.KYZYLORDA]
    assert (kyzylorda.applications, kyzylorda.extended_families, kyzylorda.extension_ended_families) == (1, 0, 1)
    assert regions[reporting_scenario.TURKESTAN].extended_families == 1


async def test_an_empty_projection_shows_every_section_with_zeros(postgres, db_prefix):
    async with migrated_database(postgres, f"{db_prefix}_reporting_projection_empty", MIGRATIONS_DIR) as sessionmaker:
        empty = await _dashboard(sessionmaker, quarter=None, region_kato=None)
    assert empty["as_of"] is None
    assert set(empty["headline"].values()) == {0}
    assert len(empty["regions"]) == 20 and all(r["applications"] == 0 for r in empty["regions"])
    assert [s["settlement"] for s in empty["settlement"]] == ["urban", "rural"]
    assert [s["status"] for s in empty["social_status"]] == [
        "children", "employed", "carers", "students", "unemployed", "other"]
    assert empty["backlog"]["total"] == 0 and empty["backlog"]["oldest"] == []
    assert [b["bucket"] for b in empty["backlog"]["buckets"]] == ["0-2", "3-5", "6-10", "over-10"]
    assert empty["fdc_funnel"] == {"totals": {"invited": 0, "applied": 0, "approved": 0, "paid": 0},
                                   "by_region": [], "by_channel": []}
    assert empty["payments"] == {"by_bank": [], "by_month": []}
    assert empty["consent"] == {"requested": 0, "granted": 0, "refused": 0, "expired": 0, "withdrawn": 0}
    assert empty["extensions"] == {
        "extended": 0, "ended": 0, "amount_assigned": 0, "tsa": 0, "child_supplement": 0, "ended_by_reason": [],
        "by_region": [], "settlement": [{"settlement": "urban", "extended": 0, "ended": 0, "amount_assigned": 0},
                                        {"settlement": "rural", "extended": 0, "ended": 0, "amount_assigned": 0}]}


@pytest.mark.parametrize("statement", ["application_facts", "contract_facts", "payment_facts", "invitation_facts",
                                       "extension_facts"])
def test_nothing_personal_is_stored(statement):
    """The projections hold counts and categories: no column for an IIN, a name, a birth date or a phone."""
    from services.reporting.models import Base

    columns = set(Base.metadata.tables[statement].columns.keys())
    assert not {c for c in columns if any(w in c for w in ("iin", "name", "birth", "phone"))}
