"""Browser tests of the ops dashboard: the whole platform as `make run` starts it (the e2e
tests' `start_platform`, separate processes, real HTTP, PostgreSQL and broker), a few families
submitted through the gateway as the portal submits them, and the system Chromium
(`/usr/bin/chromium`, which `make test` installs when it is missing) driven by Playwright.

The platform here is this package's own (started for tests/browser and stopped after it), not the
e2e session's: the e2e API contract run disables and rotates callers on that one."""

from __future__ import annotations

import json
import os
import time
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, sync_playwright

from qamqor_cli.demo import DEMO_BANK_ACCOUNT, GatewayClient
from qamqor_cli.infra import free_port
from qamqor_cli.platform import DEFAULT_PORTS, Layout, Platform
from shared.calendar import Quarter, business_date, month_label
from shared.identity import CALLER_KINDS
from tests.platform_support import caller_of, running_platform
from tests.support import person

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("QAMQOR_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts"))
TURKESTAN, SHYMKENT = "610000000", "790000000"


@pytest.fixture(scope="package")
def platform(tmp_path_factory, postgres, db_prefix) -> Platform:

    layout = Layout(
        state_dir=tmp_path_factory.mktemp("browser-platform"),
        db_prefix=f"{db_prefix}_browser",
        ports={name: free_port() for name in DEFAULT_PORTS},
        kafka_port=free_port(),
        environment="test",
        # The tests compare the page with the API again and again; production limits would answer 429.
        extra_env={"QAMQOR_GATEWAY_RATE_LIMITS": json.dumps(
            {kind: {"rate": 1000, "burst": 1000} for kind in CALLER_KINDS})},
    )
    yield from running_platform(postgres, layout)


@pytest.fixture(scope="package")
def gateway_url(platform) -> str:
    return platform.layout.url("gateway")


@pytest.fixture(scope="package")
def ops(platform, gateway_url) -> GatewayClient:
    """The ops caller through the API itself, with a bearer token: what the page is compared with."""
    caller = caller_of(platform, "ops")
    return GatewayClient(gateway_url, caller["id"], caller["secret"])


def _set_incomes(sandbox: httpx.Client, iin: str, kind: str | None, monthly: str) -> None:
    months = [month_label(m) for m in Quarter.of(business_date()).previous().months()]
    incomes = [] if kind is None else [{"month": m, "type": kind, "amount": monthly} for m in months]
    sandbox.put(f"/sandbox/persons/{iin}", json={"incomes": incomes}).raise_for_status()
    sandbox.put(f"/sandbox/persons/{iin}/accounts", json={"banks": []}).raise_for_status()
    sandbox.put(f"/sandbox/persons/{iin}/purchases", json={"purchases": []}).raise_for_status()


@pytest.fixture(scope="package")
def figures(platform, gateway_url, ops) -> dict[str, Any]:
    """Real data for the page: six families submitted through the gateway by their applicants
    (the portal acting for each after she signs in at eGov IDP) — four in Turkestan region, two
    in Shymkent, one of them invited first by the Family Digital Card; one rejected for its
    income, one waiting for its members' consent. Returns the API's figures once reporting has
    projected every decision."""
    sandbox_url = platform.layout.url("sandbox")
    portal_caller, fdc_caller = caller_of(platform, "portal"), caller_of(platform, "fdc")
    portal = GatewayClient(gateway_url, portal_caller["id"], portal_caller["secret"])
    fdc = GatewayClient(gateway_url, fdc_caller["id"], fdc_caller["secret"])
    year = business_date().year
    families = [
        (TURKESTAN, "urban", [person(date(1953, 4, 9), "female", "applicant"),
                              person(date(year - 4, 2, 2), "male", "grandchild")], "pension", "60000.00"),
        (TURKESTAN, "rural", [person(date(1960, 1, 5), "female", "applicant"),
                              person(date(year - 7, 5, 5), "female", "grandchild"),
                              person(date(year - 9, 6, 6), "male", "grandchild")], "pension", "45000.00"),
        (TURKESTAN, "urban", [person(date(1985, 3, 3), "male", "applicant", employed=True)], "wage", "400000.00"),
        (SHYMKENT, "urban", [person(date(1955, 8, 8), "female", "applicant"),
                             person(date(year - 6, 3, 3), "female", "grandchild")], "pension", "50000.00"),
        (SHYMKENT, "rural", [person(date(1958, 9, 9), "female", "applicant"),
                             person(date(year - 5, 1, 1), "male", "grandchild")], "pension", "40000.00"),
    ]
    with httpx.Client(base_url=sandbox_url, timeout=10.0) as sandbox:
        for _, _, members, kind, monthly in families:
            _set_incomes(sandbox, members[0]["iin"], kind, monthly)
            for member in members[1:]:
                _set_incomes(sandbox, member["iin"], None, "0")
    invited = families[4][2]
    answered = fdc.post("/v1/fdc/invitations", json={"families": [{
        "reference": f"fdc-{invited[0]['iin']}", "region_kato": SHYMKENT, "settlement": "rural",
        "phone": "+77071230001", "category": "E",
        "members": [{k: m[k] for k in ("iin", "birth_date", "sex", "relation")} for m in invited]}]})
    assert answered.status_code == 200 and answered.json()["families"][0]["outcome"] == "invited", answered.text

    def submit(region: str, settlement: str, members: list[dict], consent: bool) -> tuple[GatewayClient, str]:
        applicant = portal.acting_for(members[0]["iin"], sandbox_url)
        response = applicant.post("/v1/applications", headers={"Idempotency-Key": str(uuid.uuid4())}, json={
            "channel": "egov", "region_kato": region, "settlement": settlement, "bank_account": DEMO_BANK_ACCOUNT,
            "expense_check_consent": consent, "members": members})
        assert response.status_code == 201, response.text
        return applicant, response.json()["id"]

    submitted = [submit(region, settlement, members, True) for region, settlement, members, _, _ in families]
    # And one that waits: both parents are asked by SMS to consent to the expense check, and
    # neither replies — undecided, in the backlog, the oldest application.
    waiting = [person(date(1990, 2, 2), "female", "applicant", phone="+77021230002"),
               person(date(1989, 3, 3), "male", "spouse", phone="+77021230003"),
               person(date(year - 3, 4, 4), "female", "child")]
    submit(TURKESTAN, "rural", waiting, False)
    final = {"payments_scheduled", "rejected"}
    for applicant, app_id in submitted:
        applicant.wait_for(f"/v1/applications/{app_id}", lambda a: a["status"] in final, timeout=90)

    # Reporting hears of every decision from the topics; wait until it has projected them all,
    # and the figures stop moving (payments are scheduled a moment after the decision).
    deadline = time.monotonic() + 90
    previous = None
    while True:
        stats = ops.get("/v1/stats/dashboard")
        assert stats.status_code == 200, stats.text
        body = stats.json()
        headline = body["headline"]
        if headline["decided"] == len(families) and headline["applications"] == len(families) + 1 \
                and body == previous:
            return body
        assert time.monotonic() < deadline, f"reporting did not catch up: {headline}"
        previous = body
        time.sleep(0.5)


@pytest.fixture(scope="package")
def browser(platform) -> Browser:
    """Started after the platform and closed before it stops: Playwright's sync API runs an event
    loop in this thread while it is open (asyncio.run cannot run meanwhile)."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs it (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield launched
        launched.close()


@pytest.fixture
def context(browser, gateway_url) -> BrowserContext:
    context = browser.new_context(base_url=gateway_url, viewport={"width": 1680, "height": 1000},
                                  locale="ru-RU", timezone_id="Asia/Almaty")
    yield context
    context.close()


@pytest.fixture
def artifacts() -> Path:
    """Screenshots a person reads (test-artifacts/browser/, ignored by git)."""
    path = ARTIFACTS / "browser"
    path.mkdir(parents=True, exist_ok=True)
    return path
