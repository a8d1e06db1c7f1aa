"""`qamqor demo --families N` against the whole platform, and the ops dashboard through the gateway
counting what the demo did: every application it submitted, every invitation the FDC had made,
the decisions it saw, and the payments the banks settled."""

from __future__ import annotations

import time

import pytest

from qamqor_cli.demo import GatewayClient, run_families
from tests.e2e.conftest import caller_of

pytestmark = pytest.mark.e2e


def test_the_demo_families_show_on_the_dashboard(platform):
    gateway, sandbox = platform.layout.url("gateway"), platform.layout.url("sandbox")
    ops_caller = caller_of(platform, "ops")
    ops = GatewayClient(gateway, ops_caller["id"], ops_caller["secret"])
    before = ops.get("/v1/stats/dashboard").json()

    lines: list[str] = []
    tally = run_families(gateway, sandbox, platform.callers, 16, seed=1313, concurrency=6, echo=lines.append)
    assert tally.errors == 0, lines
    assert tally.submitted >= 10 and tally.approved >= 1, lines
    assert lines[-1].startswith("done: [   16/16]")
    assert any(line.startswith("[") for line in lines[:-1])  # progress as it goes

    def grown(after: dict, *path: str) -> int:
        new, old = after, before
        for key in path:
            new, old = new[key], old[key]
        return new - old

    deadline = time.monotonic() + 60
    while True:
        after = ops.get("/v1/stats/dashboard").json()
        if (grown(after, "headline", "applications") == tally.submitted
                and grown(after, "fdc_funnel", "totals", "invited") == tally.invited
                and grown(after, "headline", "approved") >= tally.approved
                and grown(after, "headline", "rejected") >= tally.rejected):
            break
        assert time.monotonic() < deadline, (tally, after["headline"], after["fdc_funnel"]["totals"])
        time.sleep(0.5)
    assert grown(after, "contracts", "signed") >= tally.signed
    if tally.approved:
        assert grown(after, "headline", "amount_paid") > 0  # the banks settled this month's orders
        assert sum(s["people"] for s in after["social_status"]) > sum(s["people"] for s in before["social_status"])
    # A second run adds other families and never stops on an earlier one's.
    again = run_families(gateway, sandbox, platform.callers, 3, seed=1314, concurrency=3, payments=False,
                         echo=lines.append)
    assert again.errors == 0 and again.done == 3
