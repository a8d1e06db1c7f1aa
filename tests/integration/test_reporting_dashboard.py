"""GET /v1/stats/dashboard through the real broker and the real service: one quarter's events
(tests/integration/reporting_scenario.py) published out of order — each topic's events backwards,
the later topics first — and each twice; the dashboard shows exactly the hand-counted figures.
`qamqor reporting rebuild` then empties the projections and reads every topic again from its
beginning, and the figures are the same."""

from __future__ import annotations

import asyncio

import orjson
import pytest
import time_machine
from aiokafka import AIOKafkaProducer

from typer.testing import CliRunner

from qamqor_cli.main import app as cli
from tests.integration import reporting_scenario
from tests.support import assert_refused_without_scope, eventually

STATS = frozenset({"stats:read"})
FLOW = ("intake", "verification", "eligibility", "contracts", "payments")


async def _publish_out_of_order(bootstrap: str, scenario: reporting_scenario.Scenario) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for source in reversed(FLOW):
            for envelope in reversed([e for e in scenario.events if e.source == source]):
                for _ in range(2):  # a redelivery
                    await producer.send_and_wait(reporting_scenario.Scenario.topic(envelope),
                                                 orjson.dumps(envelope.model_dump(mode="json")),
                                                 key=envelope.key.encode())
    finally:
        await producer.stop()


async def test_the_dashboard_shows_the_quarter_as_counted_by_hand_and_a_rebuild_shows_it_again(
        running_service, broker, internal_token):
    scenario = reporting_scenario.build()
    expected = reporting_scenario.expected_quarter(scenario)
    with time_machine.travel(reporting_scenario.TODAY, tick=True):
        async with running_service("reporting") as client:
            await _publish_out_of_order(broker.bootstrap, scenario)

            async def dashboard(**params: str) -> dict:
                response = await client.get("/v1/stats/dashboard", params=params,
                                            headers=internal_token("ops", STATS))
                assert response.status_code == 200, response.text
                return response.json()

            async def all_projected() -> dict | None:
                body = await dashboard(quarter="2031-Q2")
                return body if body == expected else None

            try:
                await eventually(all_projected, timeout=30.0)
            except AssertionError:
                assert await dashboard(quarter="2031-Q2") == expected  # shows what differs
            assert await dashboard(quarter="2031-Q2", region_kato=reporting_scenario.SHYMKENT) == \
                reporting_scenario.expected_shymkent(scenario)

            # `qamqor reporting rebuild` while the service keeps running (the service's database from
            # QAMQOR_REPORTING_DATABASE_URL, as the test's environment sets it).
            result = await asyncio.to_thread(CliRunner().invoke, cli, [
                "reporting", "rebuild", "--kafka-bootstrap", broker.bootstrap])
            assert result.exit_code == 0, result.output
            assert "projections emptied" in result.output and "rebuilt from" in result.output
            read = int(result.output.rsplit("rebuilt from ", 1)[1].split()[0])
            assert read >= 2 * len(scenario.events)
            assert await dashboard(quarter="2031-Q2") == expected
            assert await dashboard(quarter="2031-Q2", region_kato=reporting_scenario.SHYMKENT) == \
                reporting_scenario.expected_shymkent(scenario)
            # The existing statistics read the same projection.
            summary = await client.get("/v1/stats/summary", params={"region_kato": reporting_scenario.KYZYLORDA},
                                       headers=internal_token("ops", STATS))
            assert summary.status_code == 200
            # Figures only: no IIN, name or birth date of a family reaches the answer.
            answer = await client.get("/v1/stats/dashboard", headers=internal_token("ops", STATS))
            assert answer.status_code == 200
            for member in (m for e in scenario.events if e.type == "application.submitted"
                           for m in e.payload().members):
                assert member.iin not in answer.text and member.birth_date.isoformat() not in answer.text


@pytest.mark.parametrize("params, field", [
    ({"quarter": "2031Q2"}, "query.quarter"),
    ({"quarter": "2031-Q5"}, "query.quarter"),
    ({"region_kato": "61"}, "query.region_kato"),
    ({"region_kato": "990000000"}, "query.region_kato"),
])
async def test_a_bad_filter_is_refused_naming_it(running_service, internal_token, params, field):
    async with running_service("reporting") as client:
        response = await client.get("/v1/stats/dashboard", params=params, headers=internal_token("ops", STATS))
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"
        assert [e["field"] for e in response.json()["errors"]] == [field]


async def test_the_dashboard_needs_stats_read(running_service, internal_token):
    async with running_service("reporting") as client:
        await assert_refused_without_scope(client, internal_token, "GET", "/v1/stats/dashboard", "stats:read")
