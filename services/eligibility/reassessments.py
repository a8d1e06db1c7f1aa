"""Reassessment runs as the API and the process see them (issue 12; docs/reassessment.md): start
or find a quarter's run, show its progress and totals, list the families for case workers, and
the background loop that executes (and after a crash resumes) runs."""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from uuid import UUID

from fastapi import FastAPI
from sqlalchemy import event as orm_event

from services.eligibility import runs, simulation_api
from services.eligibility.service import MissingParameterError
from services.eligibility.schemas import (
    ReassessmentOut,
    ReassessmentProgressOut,
    ReassessmentTotalsOut,
    RegionAmountOut,
    ReviewItemOut,
    ReviewOut,
)
from shared.access import family_access
from shared.calendar import Quarter, utcnow
from shared.errors import NotFound, QamqorError, field_error
from shared.identity import Caller
from shared.wakeups import wait_for_wakeup

log = logging.getLogger("qamqor.eligibility.reassessment")


class Reassessments:
    """The process's executor of runs: woken by a POST, and every `poll_seconds` it looks for a
    run left `running` (a process that died mid-run; the advisory lock tells a live one)."""

    def __init__(self, app: FastAPI) -> None:
        settings = app.state.settings
        self.app = app
        self.wakeup = asyncio.Event()
        self.running = False  # a run is at work in this process
        self.poll_seconds = settings.reassessment_poll_seconds
        self.executor = runs.Executor(engine=app.state.engine, parameters=app.state.parameters,
                                      extract=runs.HttpIncomeExtract(app.state.income_registry),
                                      chunk_size=settings.reassessment_chunk_size)

    async def loop(self) -> None:
        while True:
            await self.resume_all()
            await wait_for_wakeup(self.wakeup, self.poll_seconds)
            self.wakeup.clear()

    async def resume_all(self) -> None:
        async with self.app.state.engine.connect() as conn:
            waiting = await runs.unfinished(conn)
        for run in waiting:
            self.running = True
            simulation_api.give_way(self.app)
            try:
                status = await self.executor.execute(run["id"])
            except runs.RunStopped:
                log.warning("reassessment run %s stopped (fault injected)", run["id"])
                continue
            finally:
                self.running = False
            if status is not None:
                log.info("reassessment run %s: %s", run["id"], status)


def shown(run: dict[str, Any]) -> ReassessmentOut:
    totals = run["totals"]
    if isinstance(totals, str):
        import orjson

        totals = orjson.loads(totals)
    regions = totals.get("amounts_by_region", {})
    return ReassessmentOut(
        id=run["id"], quarter=run["quarter"], ending_quarter=str(Quarter.parse(run["quarter"]).previous()),
        status=run["status"], started_at=run["started_at"], updated_at=run["updated_at"],
        finished_at=run["finished_at"], error=run["error"],
        progress=ReassessmentProgressOut(phase=run["phase"], families_total=run["families_total"],
                                         families_done=run["families_done"], chunks_done=run["chunks_done"]),
        totals=ReassessmentTotalsOut(
            extended=totals.get("extended", 0), ended=totals.get("ended", {}), review=totals.get("review", {}),
            amount=sum(r["amount"] for r in regions.values()),
            amounts_by_region=[RegionAmountOut(region_kato=k, **v) for k, v in sorted(regions.items())],
            seconds=totals.get("seconds", {})),
    )


async def start(*, app: FastAPI, session: Any, caller: Caller, quarter: str) -> tuple[ReassessmentOut, bool]:
    """The quarter's run, started (True) or as it stands (False: running, completed, or failed and
    now resumed); the process's executor is woken either way. A run that would start or resume
    without a parameter value it needs is refused whole (422 `missing-parameter`, naming each
    `parameters.<name>`): nothing is written, and recording the values then starting it again works."""
    missing = await runs.parameters_missing_for(session, Quarter.parse(quarter), await app.state.parameters.current())
    if missing:
        raise missing_parameters_error(quarter, missing)
    run, created = await runs.start(session, quarter=quarter, caller_id=caller.id, now=utcnow())
    # the executor looks once the run is committed (the request's unit of work commits it)
    wakeup = app.state.reassessments.wakeup
    orm_event.listen(session.sync_session, "after_commit", lambda _: wakeup.set(), once=True)
    return shown(run), created


def missing_parameters_error(quarter: str, missing: list) -> QamqorError:
    """One field error per parameter name: the regions and days it lacks a value for."""
    by_name: dict[str, list] = {}
    for error in missing:
        by_name.setdefault(error.name, []).append(error)
    errors = []
    for name, lacking in by_name.items():
        days = sorted({e.on.isoformat() for e in lacking})
        regions = sorted({e.region_kato for e in lacking if e.region_kato})
        errors.append(field_error(f"parameters.{name}", (
            f"no value valid on {', '.join(days)} for region(s) {', '.join(regions)} (nor nationally); "
            f"record it (POST /v1/parameters) and start the run again")))
    return MissingParameterError(
        f"The reassessment of {quarter} needs parameter values that are not recorded: "
        f"{', '.join(by_name)}. Nothing was started.", errors=errors)


async def get(*, session: Any, run_id: UUID) -> ReassessmentOut:
    run = await runs.get(session, run_id)
    if run is None:
        raise NotFound(f"No reassessment run {run_id}.")
    return shown(run)


async def review(*, session: Any, caller: Caller, run_id: UUID, limit: int, offset: int) -> ReviewOut:
    """The families a run did not extend and a case worker looks at: a case worker's regions only
    (ids and reasons, no personal data; ops sees every region)."""
    access = family_access(caller)
    if access.view == "citizen":
        from shared.errors import Forbidden

        raise Forbidden("The review list is for case workers.")
    if await runs.get(session, run_id) is None:
        raise NotFound(f"No reassessment run {run_id}.")
    regions = sorted(access.regions) if access.view == "regions" else None
    rows = await runs.reviews(session, run_id, regions=regions, limit=limit, offset=offset)
    return ReviewOut(run_id=run_id, families=[ReviewItemOut(**r) for r in rows])
