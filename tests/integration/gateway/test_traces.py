"""One trace from the caller's request to the next service's work (issue 9, point 6): the gateway
(over ASGI) forwards a citizen's application over real HTTP to intake (a real uvicorn server);
intake writes `application.submitted` to its outbox, its relay publishes it to the real broker with
the `traceparent` in the Kafka headers; verification consumes it, asks the income registry (the
sandbox, real HTTP) and emits `verification.completed`, which intake consumes in turn. Every span
reaches a real OTLP/HTTP receiver through the real exporter, and all share one trace id."""

from __future__ import annotations

import asyncio
import importlib
import os
import uuid
from datetime import date

import httpx
import pytest

from shared import tracing
from shared.db import drop_database, ensure_database, migrate
from tests.integration.gateway.conftest import UvicornOnSocket, citizen_token, get_token, running_gateway
from tests.otlp import OtlpReceiver
from tests.support import application_body, eventually, person, verification_systems, without_expenses

CALLERS_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture(scope="module")
def receiver():
    with OtlpReceiver() as running:
        yield running


async def traced_intake(service_env, endpoint: str) -> UvicornOnSocket:
    """Intake as its own HTTP server (its lifespan: relay and consumer on the real broker)."""
    env = service_env("intake") | {"QAMQOR_INTAKE_OTEL_EXPORTER_OTLP_ENDPOINT": endpoint}
    url = env["QAMQOR_INTAKE_DATABASE_URL"]
    await drop_database(url)
    await ensure_database(url)
    module = importlib.import_module("services.intake.main")
    await asyncio.to_thread(migrate, url, module.MIGRATIONS_DIR)
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        app = module.create_app()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    assert tracing.enabled("intake")
    return UvicornOnSocket(app, lifespan="on")


async def test_a_request_and_the_events_it_causes_are_one_trace(
        receiver, service_env, running_service, make_settings, register, sandbox_url):
    mother = person(date(1990, 3, 8), "female", "applicant")
    son = person(date(2018, 6, 1), "male", "child")
    async with httpx.AsyncClient(base_url=sandbox_url) as sandbox:
        for member, amount in ((mother, "52000.00"), (son, None)):
            incomes = [] if amount is None else [{"month": "2026-07", "type": "wage", "amount": amount}]
            (await sandbox.put(f"/sandbox/persons/{member['iin']}", json={"incomes": incomes})).raise_for_status()
    await without_expenses(sandbox_url, [mother, son])

    intake = await traced_intake(service_env, receiver.endpoint)
    try:
        async with running_service("verification", **verification_systems(sandbox_url),
                                   QAMQOR_VERIFICATION_OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint), \
                running_gateway(make_settings(intake_url=intake.url,
                                              otel_exporter_otlp_endpoint=receiver.endpoint)) as gateway:
            assert tracing.enabled("verification") and tracing.enabled("gateway")
            portal = await register("portal")
            token = await citizen_token(gateway, sandbox_url, await get_token(gateway, portal), mother["iin"])
            response = await gateway.post(
                "/v1/applications", json=application_body([mother, son], expense_check_consent=True),
                headers={"authorization": f"Bearer {token}", "idempotency-key": str(uuid.uuid4()),
                         # A caller's own trace: linked by the gateway, never continued.
                         "traceparent": f"00-{CALLERS_TRACE}-00f067aa0ba902b7-01"})
            assert response.status_code == 201, response.text
            application_id, request_id = response.json()["id"], response.headers["x-request-id"]

            def one_trace(spans):
                edge = [s for s in spans if s.service == "gateway" and s.attributes.get("qamqor.request_id") == request_id]
                if not edge:
                    return None
                trace = [s for s in spans if s.trace_id == edge[0].trace_id]
                wanted = {("gateway", "SERVER"), ("intake", "SERVER"), ("verification", "CONSUMER"),
                          ("verification", "CLIENT"), ("intake", "CONSUMER")}
                return trace if wanted <= {(s.service, s.kind) for s in trace} else None

            async def arrived():
                await asyncio.to_thread(tracing.flush_tracing)
                return one_trace(receiver.snapshot())

            trace = await eventually(arrived, timeout=60)
    finally:
        await asyncio.to_thread(intake.stop)
        tracing.shutdown_tracing("intake")
        tracing.shutdown_tracing("gateway")
        tracing.shutdown_tracing("verification")

    def only(service: str, kind: str, name: str):
        found = [s for s in trace if (s.service, s.kind, s.name) == (service, kind, name)]
        assert len(found) == 1, [(s.service, s.kind, s.name) for s in trace]
        return found[0]

    edge = only("gateway", "SERVER", "POST /v1/applications")
    assert edge.trace_id != CALLERS_TRACE and edge.parent_span_id == ""
    assert [(t, s) for t, s, _ in edge.links] == [(CALLERS_TRACE, "00f067aa0ba902b7")]
    assert edge.attributes["qamqor.upstream"] == "intake" and edge.attributes["http.response.status_code"] == 201

    submitted = only("intake", "SERVER", "POST /v1/applications")
    assert submitted.parent_span_id == edge.span_id  # the traceparent the gateway forwarded
    assert submitted.attributes["qamqor.event.key"] == application_id
    # The submission, then the consent request to the mother, the family's one adult, granted by
    # her consent given when applying, in the same transaction (issue 10).
    assert [a["qamqor.event.type"] for name, a in submitted.events if name == "outbox"] == [
        "application.submitted", "consent.requested", "consent.granted"]

    verifying = only("verification", "CONSUMER", "process application.submitted")
    assert verifying.parent_span_id == submitted.span_id  # the traceparent in the Kafka headers
    assert verifying.attributes["qamqor.event.key"] == application_id
    assert verifying.attributes["qamqor.request_id"] == request_id
    # Gathering asks each registry about the family, once: incomes, homes, vehicles.
    calls = [s for s in trace if s.kind == "CLIENT" and s.parent_span_id == verifying.span_id]
    assert sorted(s.name for s in calls) == ["POST income_registry", "POST real_estate_registry",
                                             "POST vehicle_registry"]
    assert {s.attributes["http.response.status_code"] for s in calls} == {200}
    # The mother's consent (given when applying) lets verification ask which banks hold her
    # accounts — none — and freeze the evidence: the same trace, caused by the consent event.
    consented = only("verification", "CONSUMER", "process consent.granted")
    asked = [s for s in trace if s.kind == "CLIENT" and s.parent_span_id == consented.span_id]
    assert [s.name for s in asked] == ["POST accounts_registry"]

    verified = only("intake", "CONSUMER", "process verification.completed")
    assert verified.parent_span_id == consented.span_id
    # Nothing of the family in any span of the trace.
    family = {mother["iin"], son["iin"], mother["full_name"], mother["birth_date"], son["birth_date"]}
    assert [text for s in trace for text in s.strings() if any(v in text for v in family)] == []
