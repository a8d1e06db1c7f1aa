"""`qamqor seed` (issue 12, point 5): a synthetic register of current recipients in eligibility's
register and their incomes in the sandbox's store, into real databases."""

from __future__ import annotations

import json
from collections import Counter

import asyncpg
import numpy as np

from qamqor_cli.seed import seed
from qamqor_cli.seed_data import synthetic_iins
from services.eligibility.main import MIGRATIONS_DIR
from services.payments.main import MIGRATIONS_DIR as PAYMENTS_MIGRATIONS
from services.eligibility.reassessment.register import stream_register
from shared.calendar import Quarter
from shared.db import asyncpg_dsn, drop_database
from shared.iin import parse_iin
from tests.support import migrated_database

RUN = Quarter(2026, 4)  # current assignments 2026-Q3, incomes seeded for 2026-Q3


async def test_seed_fills_the_register_and_the_sandboxs_store(postgres, db_prefix):
    eligibility_url = postgres.url(f"{db_prefix}_seed_eligibility")
    sandbox_url = postgres.url(f"{db_prefix}_seed_sandbox")
    payments_url = postgres.url(f"{db_prefix}_seed_payments")
    lines: list[str] = []
    async with migrated_database(postgres, f"{db_prefix}_seed_eligibility", MIGRATIONS_DIR), \
            migrated_database(postgres, f"{db_prefix}_seed_payments", PAYMENTS_MIGRATIONS):
        try:
            phases = await seed(2000, eligibility_url=eligibility_url, sandbox_url=sandbox_url, run_quarter=RUN,
                                echo=lines.append, payments_url=payments_url)
            assert "families/s" in lines[-1] and phases["total"] > 0
            el = await asyncpg.connect(asyncpg_dsn(eligibility_url))
            sb = await asyncpg.connect(asyncpg_dsn(sandbox_url))
            try:
                assignments = await el.fetch("SELECT * FROM assignments")
                members = await el.fetch("SELECT * FROM assignment_members ORDER BY family_id, position")
                assert len(assignments) == 2000
                assert {a["period_quarter"] for a in assignments} == {"2026-Q3"}
                assert all(a["state"] == "active" and a["eligible"] and a["quarter_total"] > 0 for a in assignments)
                assert all(a["months"] == ["2026-07", "2026-08", "2026-09"] for a in assignments)
                assert all(sum(a["total"]) == a["quarter_total"] for a in assignments)
                assert {a["contract_state"] for a in assignments if a["kind"] == "conditional"} == {"signed"}
                assert {a["contract_state"] for a in assignments if a["kind"] == "unconditional"} <= {"none"}
                # unique keys
                assert len({a["family_id"] for a in assignments}) == 2000
                assert len({a["decision_id"] for a in assignments}) == 2000
                assert len(members) == sum(a["member_count"] for a in assignments)
                iins = [m["iin"] for m in members]
                assert len(set(iins)) == len(iins)
                for m in members[:500]:
                    facts = parse_iin(m["iin"])
                    assert facts is not None and facts.birth_date == m["birth_date"] and facts.sex == m["sex"]
                assert Counter(m["relation"] for m in members if m["position"] == 0) == {"applicant": 2000}
                # regions spread as TSA recipients are: Turkestan first, most regions present
                regions = Counter(a["region_kato"][:2] for a in assignments)
                assert regions.most_common(1)[0][0] == "61" and len(regions) >= 15
                sizes = Counter(a["member_count"] for a in assignments)
                assert len(sizes) >= 8 and 4.5 < sum(k * v for k, v in sizes.items()) / 2000 < 6.5
                assert Counter(a["settlement"] for a in assignments).keys() == {"urban", "rural"}
                # the register reads back as the bulk path's columns
                chunks = [c async for c in stream_register(el, "2026-Q3", chunk_size=700)]
                assert sum(c.families for c in chunks) == 2000
                # the sandbox's store: every member, incomes of 2026-Q3 only
                assert await sb.fetchval("SELECT count(*) FROM seeded_persons") == len(members)
                months = {r[0] for r in await sb.fetch("SELECT DISTINCT month FROM seeded_incomes")}
                assert months <= {RUN.previous().month_index + k for k in range(3)}
                stored = {f"{r[0]:012d}" for r in await sb.fetch("SELECT DISTINCT iin FROM seeded_incomes")}
                assert stored <= set(iins) and len(stored) > 1000
                # payments knows each family's assignment (its months, amounts, account, members),
                # so that an extension plans the next quarter's payments
                pay = await asyncpg.connect(asyncpg_dsn(payments_url))
                try:
                    paid = {r["application_id"]: r for r in await pay.fetch("SELECT * FROM assignments")}
                finally:
                    await pay.close()
                assert paid.keys() == {a["application_id"] for a in assignments}
                members_of = Counter(m["family_id"] for m in members)
                for a in assignments[:300]:
                    row = paid[a["application_id"]]
                    assert (row["decision_id"], row["kind"], row["period_quarter"], row["region_kato"],
                            row["settlement"], row["status"]) == (a["decision_id"], a["kind"], "2026-Q3",
                                                                  a["region_kato"], a["settlement"], "scheduled")
                    monthly = json.loads(row["monthly"])
                    assert [m["month"] for m in monthly] == a["months"]
                    assert [m["total"] for m in monthly] == list(a["total"])
                    assert len(row["member_iins"]) == members_of[a["family_id"]]
                    assert row["bank_code"] in {"HSBKKZKX", "CASPKZKA"}

                # seeding again replaces the previous seed (and only it)
                await seed(500, eligibility_url=eligibility_url, sandbox_url=sandbox_url, run_quarter=RUN,
                           seed_number=1, echo=lines.append, payments_url=payments_url)
                assert await el.fetchval("SELECT count(*) FROM assignments") == 500
                pay = await asyncpg.connect(asyncpg_dsn(payments_url))
                try:
                    assert await pay.fetchval("SELECT count(*) FROM assignments") == 500
                finally:
                    await pay.close()
                assert await el.fetchval("SELECT count(*) FROM assignment_members") == await el.fetchval(
                    "SELECT sum(member_count) FROM assignments")
                assert await sb.fetchval("SELECT count(*) FROM seeded_persons") == await el.fetchval(
                    "SELECT count(*) FROM assignment_members")
            finally:
                await el.close()
                await sb.close()
        finally:
            await drop_database(sandbox_url)


def test_synthetic_iins_are_valid_and_unique():
    rng = np.random.default_rng(3)
    birth = rng.integers(-20000, 20000, 50_000).astype(np.int32)
    birth[:5000] = 12345  # many people born the same day
    sex = rng.integers(0, 2, 50_000).astype(np.int8)
    iins = synthetic_iins(birth, sex)
    assert len(np.unique(iins)) == len(iins)
    from datetime import date, timedelta

    for k in rng.integers(0, len(iins), 2000).tolist():
        facts = parse_iin(f"{iins[k]:012d}")
        assert facts is not None
        assert facts.birth_date == date(1970, 1, 1) + timedelta(days=int(birth[k]))
        assert facts.sex == ("male", "female")[sex[k]]


async def test_seed_carries_forward_the_parameters_of_later_runs_as_an_administrator_records_them(
        postgres, db_prefix):
    """Seeded for 2027-Q2 (the shipped files end with 2026): the values the runs of 2027-Q2 to 2028-Q1
    lack are recorded through `service.record_parameter` — rows labelled synthetic, one
    `parameter.recorded` per value in the outbox — and a run of each finds nothing missing."""
    from qamqor_cli.seed import SEED_RECORDER, load_parameters
    from services.eligibility.domain import ParameterSet
    from services.eligibility.runs import parameters_missing_for

    eligibility_url = postgres.url(f"{db_prefix}_seedcarry_eligibility")
    sandbox_url = postgres.url(f"{db_prefix}_seedcarry_sandbox")
    lines: list[str] = []
    async with migrated_database(postgres, f"{db_prefix}_seedcarry_eligibility", MIGRATIONS_DIR):
        try:
            el = await asyncpg.connect(asyncpg_dsn(eligibility_url))
            try:
                before = ParameterSet(await load_parameters(el))
                assert {m.name for m in await parameters_missing_for(el, Quarter(2027, 2), before)} == set()  # no register yet
                await seed(300, eligibility_url=eligibility_url, sandbox_url=sandbox_url, run_quarter=Quarter(2027, 2),
                           echo=lines.append)
                assert any("synthetic" in line and "median_income" in line for line in lines), lines
                carried = await el.fetch("SELECT name, region_kato, valid_from, valid_to FROM parameters "
                                         "WHERE recorded_by = $1", SEED_RECORDER)
                names = Counter(r["name"] for r in carried)
                assert names == {"mci": 2, "subsistence_minimum": 1, "median_income": 80}, names
                events = await el.fetch("SELECT envelope FROM outbox WHERE event_type = 'parameter.recorded'")
                assert len(events) == len(carried)
                recorded = [json.loads(e["envelope"])["data"] for e in events]
                assert {(d["name"], d["region_kato"], d["valid_from"]) for d in recorded} == {
                    (r["name"], r["region_kato"], r["valid_from"].isoformat()) for r in carried}
                # every run of the horizon starts: nothing missing for the register's regions
                params = ParameterSet(await load_parameters(el))
                for quarter in (Quarter(2027, 2), Quarter(2027, 3), Quarter(2027, 4), Quarter(2028, 1)):
                    await el.execute("UPDATE assignments SET period_quarter = $1", str(quarter.previous()))
                    assert await parameters_missing_for(el, quarter, params) == [], quarter
                # 2028-Q2 is beyond the horizon: refused, naming what is missing
                await el.execute("UPDATE assignments SET period_quarter = '2028-Q1'")
                assert {m.name for m in await parameters_missing_for(el, Quarter(2028, 2), params)} == {
                    "median_income", "subsistence_minimum"}
                # seeding again records nothing new
                await seed(100, eligibility_url=eligibility_url, sandbox_url=sandbox_url, run_quarter=Quarter(2027, 2),
                           seed_number=1, echo=lines.append)
                assert await el.fetchval("SELECT count(*) FROM parameters WHERE recorded_by = $1",
                                         SEED_RECORDER) == len(carried)
            finally:
                await el.close()
        finally:
            await drop_database(sandbox_url)
