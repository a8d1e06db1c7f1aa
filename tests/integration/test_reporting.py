"""Reporting: the read model follows every service's events, in whatever order they arrive."""

from __future__ import annotations

from tests.support import decided_event, eventually, publish

STATS = frozenset({"stats:read"})


async def test_decisions_are_projected_into_statistics(running_service, broker, internal_token):
    approved = decided_event(kind="unconditional")
    rejected = decided_event(eligible=False)
    async with running_service("reporting") as client:
        await publish(broker.bootstrap, "qamqor.eligibility", approved, times=2)
        await publish(broker.bootstrap, "qamqor.eligibility", rejected)

        # Other tests share the broker, so compare against what was there before these events.
        async def summary():
            return (await client.get("/v1/stats/summary", headers=internal_token("ops", STATS))).json()

        async def includes_both():
            from sqlalchemy import select

            from services.reporting.models import ApplicationFact
            async with client.app.state.sessionmaker() as session:
                rows = (await session.execute(select(ApplicationFact).where(ApplicationFact.application_id.in_(
                    [approved.data["application"]["application_id"], rejected.data["application"]["application_id"]]
                )))).scalars().all()
                return rows if len(rows) == 2 and all(r.stage == "decided" for r in rows) else None

        rows = await eventually(includes_both)
        assert sorted(r.eligible for r in rows) == [False, True]
        body = await summary()
        assert body["approved_families"] >= 1 and body["rejected_families"] >= 1
        regions = (await client.get("/v1/stats/regions", headers=internal_token("ops", STATS))).json()
        turkestan = next(r for r in regions if r["region_kato"] == "610000000")
        assert turkestan["region"] == "Turkestan" and turkestan["applications"] >= 2
