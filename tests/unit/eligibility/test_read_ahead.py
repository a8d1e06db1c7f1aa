"""Eligibility reads the coming quarter's register ahead for simulations (simulation_api.keep_warm);
a reassessment run starting stops a reading at work (`give_way`) — both would compete for the
same cores and the registry — and the loop carries on: the register is read again after."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from services.eligibility import simulation_api
from shared.calendar import Quarter


@pytest.fixture
def app():
    settings = SimpleNamespace(database_url="postgresql+asyncpg://nobody@127.0.0.1:1/none", simulation_check_seconds=3600)
    return SimpleNamespace(state=SimpleNamespace(settings=settings, simulation_quarter=lambda: Quarter(2027, 1)))


async def test_a_run_starting_stops_the_reading_and_the_loop_goes_on(app, monkeypatch):
    readings: list[asyncio.Event] = []
    stopped: list[int] = []

    async def warm(app_, quarter):  # noqa: ANN001, ANN202 - a reading that lasts until cancelled
        done = asyncio.Event()
        readings.append(done)
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            stopped.append(len(readings))
            raise

    monkeypatch.setattr(simulation_api, "warm", warm)
    keeping = asyncio.create_task(simulation_api.keep_warm(app))  # no LISTEN here: the database is away
    try:
        async with asyncio.timeout(30):  # a bound on a hang, not a timing assertion
            while not readings:
                await asyncio.sleep(0)
            simulation_api.give_way(app)  # a run starts
            while not stopped:
                await asyncio.sleep(0)
            assert stopped == [1] and not keeping.done()  # the loop goes on, waiting for the next change
            simulation_api.give_way(app)  # nothing at work: nothing to stop
            assert stopped == [1]
    finally:
        keeping.cancel()
        await asyncio.gather(keeping, return_exceptions=True)
    assert keeping.cancelled()  # the process stopping stops the loop itself


def test_nothing_to_give_way_before_any_reading():
    simulation_api.give_way(SimpleNamespace(state=SimpleNamespace()))
