"""The whole platform as `make run` starts it — separate processes, real HTTP, real PostgreSQL,
the real broker, the sandbox playing the external systems and eGov IDP — started ONCE per test
session and shared by every e2e module. The portal acts for citizens as the real one does: the
citizen signs in at eGov IDP, the portal exchanges its token and the assertion for a token acting
for the citizen (RFC 8693)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from qamqor_cli.demo import DEMO_BANK_ACCOUNT, GatewayClient
from qamqor_cli.infra import free_port
from qamqor_cli.platform import DEFAULT_PORTS, Layout, Platform
from shared.calendar import Quarter, business_date, month_label
from shared.identity import CALLER_KINDS
from tests.otlp import OtlpReceiver
from tests.platform_support import caller_of, running_platform


@pytest.fixture(scope="session")
def trace_receiver() -> OtlpReceiver:
    """The collector every process of the e2e platform sends its spans to (tests/e2e/test_traces.py)."""
    with OtlpReceiver() as receiver:
        yield receiver


@pytest.fixture(scope="session")
def platform(tmp_path_factory, postgres, db_prefix, trace_receiver) -> Platform:
    layout = Layout(
        state_dir=tmp_path_factory.mktemp("platform"),
        db_prefix=f"{db_prefix}_e2e",
        ports={name: free_port() for name in DEFAULT_PORTS},
        kafka_port=free_port(),
        environment="test",
        log_level="DEBUG",  # every log line the code can write is written, and scanned for personal data
        # The API contract run sends thousands of requests per caller; production limits would
        # answer most of them 429 and leave the services untested.
        extra_env={"QAMQOR_GATEWAY_RATE_LIMITS": json.dumps(
            {kind: {"rate": 10_000, "burst": 10_000} for kind in CALLER_KINDS}),
            # An application waiting for the income registry is tried again within a second (not 5 s
            # and more), so the outage test sees it resume soon after the registry returns.
            "QAMQOR_VERIFICATION_OUTAGE_FIRST_RETRY_SECONDS": "0.2",
            "QAMQOR_VERIFICATION_OUTAGE_MAX_RETRY_SECONDS": "1",
            # Traces on, as an operator turns them on: every process exports to the session's
            # receiver, every half second rather than every 5 s.
            "QAMQOR_OTEL_EXPORTER_OTLP_ENDPOINT": trace_receiver.endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "500"},
    )
    yield from running_platform(postgres, layout)


@pytest.fixture(scope="session")
def portal(platform) -> GatewayClient:
    """The portal's own token: it acts for citizens through `citizen(...)`."""
    caller = caller_of(platform, "portal")
    return GatewayClient(platform.layout.url("gateway"), caller["id"], caller["secret"])


@pytest.fixture(scope="session")
def citizen(platform, portal):
    """`citizen(iin)`: the portal acting for that citizen, who has just signed in at eGov IDP."""
    def act_for(iin: str) -> GatewayClient:
        return portal.acting_for(iin, platform.layout.url("sandbox"))

    return act_for


@pytest.fixture(scope="session")
def sandbox(platform):
    with httpx.Client(base_url=platform.layout.url("sandbox")) as client:
        yield client


def assessment_months() -> list[str]:
    return [month_label(m) for m in Quarter.of(business_date()).previous().months()]


def set_incomes(sandbox: httpx.Client, iin: str, kind: str | None, monthly: str) -> None:
    """The person's incomes over the assessment quarter; and no bank account and no purchase, so
    that the expense check (issue 10) finds nothing unless a test says otherwise."""
    incomes = [] if kind is None else [{"month": m, "type": kind, "amount": monthly} for m in assessment_months()]
    sandbox.put(f"/sandbox/persons/{iin}", json={"incomes": incomes}).raise_for_status()
    sandbox.put(f"/sandbox/persons/{iin}/accounts", json={"banks": []}).raise_for_status()
    sandbox.put(f"/sandbox/persons/{iin}/purchases", json={"purchases": []}).raise_for_status()


def application(members: list[dict], region: str = "610000000", consent: bool = True) -> dict[str, Any]:
    """`consent`: the applicant consents to the expense check when applying in the portal (the
    other adults are asked by SMS or in the portal)."""
    return {"channel": "egov", "region_kato": region, "settlement": "urban", "bank_account": DEMO_BANK_ACCOUNT,
            "expense_check_consent": consent, "members": members}


def submit(client: GatewayClient, members: list[dict], consent: bool = True) -> str:
    response = client.post("/v1/applications", json=application(members, consent=consent),
                           headers={"Idempotency-Key": str(uuid.uuid4())})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def estimate(client: GatewayClient, members: list[dict], incomes: list[dict]) -> dict:
    """The same family through the stateless estimate: the flow must decide exactly this."""
    response = client.post("/v1/eligibility/estimate", json={
        "region_kato": "610000000", "application_date": business_date().isoformat(),
        "members": [{k: m[k] for k in ("iin", "birth_date", "sex", "relation", "employed",
                                       "full_time_student", "disability_group", "carer")} for m in members],
        "incomes": incomes,
    })
    assert response.status_code == 200, response.text
    return response.json()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The API contract run goes last among the end-to-end tests: it sends every operation
    generated input as every caller kind — an administrator's too, so it records parameters,
    adds reference banks and disables callers on the shared platform."""
    last = [item for item in items if item.module.__name__.endswith("test_api_contract")]
    for item in last:
        items.remove(item)
    position = max((i for i, item in enumerate(items) if "/e2e/" in str(item.path)), default=len(items) - 1)
    items[position + 1:position + 1] = last
