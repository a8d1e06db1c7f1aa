"""Operations on the running platform (issue 9): an income-registry outage is waited out — the
citizen sees the application wait, ops see it in the backlog, and it is decided by itself once the
registry returns — and an operator lists, inspects and replays dead letters with `qamqor dlq`,
through the gateway, as the administrator."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import date

import pytest
from typer.testing import CliRunner

from qamqor_cli.demo import GatewayClient
from qamqor_cli.main import app as cli
from shared.events import Envelope
from tests.e2e.conftest import caller_of, set_incomes, submit
from tests.support import person, publish

pytestmark = pytest.mark.e2e


def test_an_outage_of_the_income_registry_is_waited_out(platform, citizen, sandbox):
    pensioner = person(date(1952, 8, 8), "female", "applicant")
    set_incomes(sandbox, pensioner["iin"], "pension", "50000.00")
    ops_caller = caller_of(platform, "ops")
    ops = GatewayClient(platform.layout.url("gateway"), ops_caller["id"], ops_caller["secret"])
    applicant = citizen(pensioner["iin"])
    assert sandbox.put("/sandbox/outages/income-registry", json={"down": True}).status_code == 200
    try:
        app_id = submit(applicant, [pensioner])
        waits = applicant.wait_for(f"/v1/applications/{app_id}",
                                   lambda a: a["status"] == "waiting_for_income_registry")
        assert waits["timeline"][-1]["detail"]["system"] == "income_registry"
        ops.wait_for("/v1/stats/backlog", lambda b: b["waiting_for_systems"] >= 1)
    finally:
        sandbox.put("/sandbox/outages/income-registry", json={"down": False}).raise_for_status()
    decided = applicant.wait_for(f"/v1/applications/{app_id}", lambda a: a["decision"] is not None, timeout=30)
    assert [c["status"] for c in decided["timeline"]][:3] == ["submitted", "waiting_for_income_registry", "verified"]


def _dlq(platform, *args: str, ok: bool = True):  # noqa: ANN001, ANN202
    admin = caller_of(platform, "admin")
    result = CliRunner().invoke(cli, ["dlq", "--gateway", platform.layout.url("gateway"), "--client-id", admin["id"],
                                      "--client-secret", admin["secret"], *args])
    assert (result.exit_code == 0) is ok, result.output
    return result.output


def test_an_operator_lists_shows_and_replays_dead_letters(platform):
    # An application.submitted without its members: verification (and reporting, which projects
    # it) can never handle it, and dead-letter it.
    broken = Envelope(type="application.submitted", source="intake", key=str(uuid.uuid4()),
                      data={"expense_check_consent": False})
    asyncio.run(publish(platform.broker.bootstrap, "qamqor.intake", broken))

    deadline = time.monotonic() + 30
    while str(broken.id) not in (listed := _dlq(platform, "list", "--pending")) and time.monotonic() < deadline:
        time.sleep(0.3)
    [row] = [line for line in listed.splitlines() if line.startswith(str(broken.id)) and "verification" in line]
    assert "application.submitted" in row and "pending" in row and "ValidationError" in row
    assert listed.splitlines()[0].split() == ["EVENT", "ID", "TYPE", "FAILED", "IN", "TIMES", "LAST", "FAILED",
                                              "STATE", "ERROR"]

    shown = _dlq(platform, "show", str(broken.id))
    assert f"event_id        {broken.id}" in shown and "original_topic  qamqor.intake" in shown
    assert any(line.startswith("verification") for line in shown.splitlines())

    replayed = _dlq(platform, "replay", "--id", str(broken.id))
    assert str(broken.id) in replayed and "1 event(s) sent again." in replayed
    # The replay is handled again, not ignored as a duplicate — and as nothing was fixed, it fails
    # again in both services and is back, failed twice, for an operator.
    deadline = time.monotonic() + 30
    while True:
        after = [line.split() for line in _dlq(platform, "list").splitlines() if line.startswith(str(broken.id))]
        if sorted((row[2], row[3], row[5]) for row in after) == [("reporting", "2", "pending"),
                                                                 ("verification", "2", "pending")]:
            break
        assert time.monotonic() < deadline, after
        time.sleep(0.3)

    assert "Name what to replay" in _dlq(platform, "replay", ok=False)
    assert "404" in _dlq(platform, "show", str(uuid.uuid4()), ok=False)
