"""shared.tracing: off by default; on, spans reach a real OTLP/HTTP receiver (tests/otlp.py) through
the real exporter; the trace context travels in HTTP and event headers; no span carries an IIN, a
name, a birth date or a phone."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace

import httpx
import pytest
from fastapi import FastAPI
from pydantic_settings import SettingsConfigDict

from shared import tracing
from shared.iin import make_iin
from shared.observability import RequestContextMiddleware
from shared.service import ServiceSpec, create_service_app
from shared.settings import ServiceSettings
from tests.otlp import OtlpReceiver

SERVICE = "unit-tracing"
IIN = make_iin(date(1984, 5, 17), "female", 4242)
NAME, PHONE, BORN = "Aigerim Serikovna Nurlanova", "+77015550142", "1984-05-17"
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture(scope="module")
def receiver():
    with OtlpReceiver() as running:
        yield running


@pytest.fixture
def traced(receiver):
    assert tracing.configure_tracing(SERVICE, SimpleNamespace(otel_exporter_otlp_endpoint=receiver.endpoint,
                                                              environment="test"))
    yield receiver
    tracing.shutdown_tracing(SERVICE)


def ids(traceparent: str) -> tuple[str, str]:
    """(trace id, parent span id) of a traceparent header (its flags vary: sampled, random id)."""
    version, trace_id, span_id, flags = traceparent.split("-")
    assert version == "00" and int(flags, 16) & 1  # sampled
    return trace_id, span_id


def exported(receiver: OtlpReceiver) -> list:
    assert tracing.flush_tracing(SERVICE)
    return [span for span in receiver.snapshot() if span.service == SERVICE]


def app(continue_trace: bool = True) -> FastAPI:
    api = FastAPI()

    @api.get("/v1/fdc/families/{iin}/status")
    async def status(iin: str) -> dict:
        return {"headers": tracing.inject({})}

    @api.post("/v1/applications/{application_id}/explode")
    async def explode(application_id: str) -> dict:
        raise RuntimeError(f"cannot handle {IIN} {NAME} {PHONE}")

    api.add_middleware(tracing.TracingMiddleware, service=SERVICE, continue_trace=continue_trace)
    api.add_middleware(RequestContextMiddleware, service=SERVICE)
    return api


def client(api: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=api, raise_app_exceptions=False),
                             base_url="http://service")


# ---- off --------------------------------------------------------------------------------------

def test_off_unless_an_endpoint_is_configured(monkeypatch):
    for name in ("QAMQOR_OTEL_EXPORTER_OTLP_ENDPOINT", "QAMQOR_UNITOFF_OTEL_EXPORTER_OTLP_ENDPOINT",
                 "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)

    class UnitOffSettings(ServiceSettings):
        model_config = SettingsConfigDict(env_prefix="QAMQOR_UNITOFF_", extra="ignore")

    settings = UnitOffSettings()
    assert settings.otel_exporter_otlp_endpoint is None
    assert tracing.configure_tracing("unitoff", settings) is False and not tracing.enabled("unitoff")
    # A service built without an endpoint has no tracing layer at all.
    app = create_service_app(ServiceSpec(name="unitoff", settings=settings, routers=[]))
    assert tracing.TracingMiddleware not in [m.cls for m in app.user_middleware]
    # Off: a shared no-op, nothing injected, the transport left as it was.
    assert tracing.consume_span("unitoff", "qamqor.intake", "application.submitted",
                                [("traceparent", TRACEPARENT.encode())]) is tracing.consume_span("unitoff", "t", "e")
    assert tracing.traced_transport("unitoff", "registry") is None
    assert tracing.inject({"x-request-id": "r"}) == {"x-request-id": "r"}
    assert tracing.trace_headers() == []
    # The same service with the platform-wide endpoint set is traced, and gets its layer.
    monkeypatch.setenv("QAMQOR_OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9/")
    try:
        app = create_service_app(ServiceSpec(name="unitoff", settings=UnitOffSettings(), routers=[]))
        assert tracing.enabled("unitoff")
        assert tracing.TracingMiddleware in [m.cls for m in app.user_middleware]
    finally:
        tracing._providers.pop("unitoff").shutdown()  # nothing was recorded: nothing to send
        tracing._tracers.pop("unitoff")


def test_the_endpoint_comes_from_the_first_setting_that_is_set():
    endpoint = tracing.otlp_traces_endpoint
    own = SimpleNamespace(otel_exporter_otlp_endpoint="http://own:4318/")
    none = SimpleNamespace(otel_exporter_otlp_endpoint=None)
    everything = {"QAMQOR_OTEL_EXPORTER_OTLP_ENDPOINT": "http://platform:4318",
                  "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://standard:4318/custom/traces",
                  "OTEL_EXPORTER_OTLP_ENDPOINT": "http://base:4318"}
    assert endpoint(own, everything) == "http://own:4318/v1/traces"
    assert endpoint(none, everything) == "http://platform:4318/v1/traces"
    assert endpoint(none, everything | {"QAMQOR_OTEL_EXPORTER_OTLP_ENDPOINT": ""}) == "http://standard:4318/custom/traces"
    assert endpoint(none, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://base:4318/"}) == "http://base:4318/v1/traces"
    assert endpoint(none, {"QAMQOR_OTEL_EXPORTER_OTLP_ENDPOINT": "http://c/v1/traces"}) == "http://c/v1/traces"
    assert endpoint(own, everything | {"OTEL_SDK_DISABLED": "true"}) is None
    assert endpoint(none, {}) is None


# ---- on: spans, propagation -----------------------------------------------------------------

async def test_a_server_span_per_request_named_by_route_template_and_continuing_the_callers_trace(traced):
    async with client(app()) as http:
        response = await http.get(f"/v1/fdc/families/{IIN}/status", headers={"traceparent": TRACEPARENT,
                                                                            "x-request-id": "req-1"})
    assert response.status_code == 200
    injected = response.json()["headers"]["traceparent"]
    [span] = [s for s in exported(traced) if s.attributes.get("qamqor.request_id") == "req-1"]
    assert span.name == "GET /v1/fdc/families/{iin}/status" and span.kind == "SERVER"
    assert span.attributes["http.route"] == "/v1/fdc/families/{iin}/status"
    assert span.attributes["http.response.status_code"] == 200
    # A service continues the trace it is sent; what it sends on is its own span in that trace.
    assert span.trace_id == "0af7651916cd43dd8448eb211c80319c" and span.parent_span_id == "b7ad6b7169203331"
    assert ids(injected) == (span.trace_id, span.span_id)


async def test_the_edge_starts_a_new_trace_and_links_the_callers(traced):
    async with client(app(continue_trace=False)) as http:
        response = await http.get(f"/v1/fdc/families/{IIN}/status", headers={"traceparent": TRACEPARENT,
                                                                            "x-request-id": "req-edge"})
    [span] = [s for s in exported(traced) if s.attributes.get("qamqor.request_id") == "req-edge"]
    assert span.trace_id != "0af7651916cd43dd8448eb211c80319c" and span.parent_span_id == ""
    assert [(t, s) for t, s, _ in span.links] == [("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331")]
    assert response.json()["headers"]["traceparent"].split("-")[1] == span.trace_id


async def test_an_event_carries_the_trace_to_its_consumer(traced):
    tracer = tracing._tracers[SERVICE]
    with tracer.start_as_current_span("writes an event") as writer:
        headers = tracing.inject({"x-request-id": "req-2"})
    kafka_headers = [(name, value.encode()) for name, value in headers.items()] + [("event_type", b"x.y")]
    with tracing.consume_span(SERVICE, "qamqor.intake", "application.submitted", kafka_headers,
                              key="0194c6b0-0000-7000-8000-000000000001", event_id="e-1") as span:
        assert span.is_recording()
        # What the handler writes in turn is a child of the consumer span.
        again = tracing.inject({})
    spans = exported(traced)
    [consumer] = [s for s in spans if s.kind == "CONSUMER" and s.attributes.get("messaging.message.id") == "e-1"]
    context = writer.get_span_context()
    assert consumer.trace_id == format(context.trace_id, "032x") and consumer.parent_span_id == format(
        context.span_id, "016x")
    assert consumer.name == "process application.submitted"
    assert consumer.attributes["messaging.destination.name"] == "qamqor.intake"
    assert consumer.attributes["qamqor.event.key"] == "0194c6b0-0000-7000-8000-000000000001"
    assert consumer.attributes["qamqor.request_id"] == "req-2"
    assert ids(again["traceparent"]) == (consumer.trace_id, consumer.span_id)


async def test_an_event_without_trace_headers_starts_a_trace_and_a_failure_is_marked(traced):
    with pytest.raises(ValueError):
        with tracing.consume_span(SERVICE, "qamqor.intake", "application.submitted", [("x-request-id", b"r3")],
                                  key=IIN, event_id="e-3"):
            raise ValueError(f"member {IIN} {NAME}")
    [span] = [s for s in exported(traced) if s.attributes.get("messaging.message.id") == "e-3"]
    assert span.parent_span_id == "" and span.status_code == 2  # STATUS_CODE_ERROR
    assert span.attributes["error.type"] == "ValueError" and span.status_message == "ValueError"
    assert span.attributes["qamqor.event.key"] == IIN[:4] + "******" + IIN[-2:]  # a key that is not an id


async def test_calls_to_an_external_system_are_client_spans_inside_a_trace_only(traced):
    sent: list[httpx.Request] = []

    def registry(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={"incomes": []})

    transport = tracing.traced_transport(SERVICE, "income_registry", httpx.MockTransport(registry))
    async with httpx.AsyncClient(transport=transport, base_url="http://registry:8100") as http:
        await http.get("/registry/v1/incomes", params={"iin": IIN})  # no trace: no span, no header
        with tracing.consume_span(SERVICE, "qamqor.intake", "application.submitted", None, event_id="e-4"):
            await http.get(f"/registry/v1/persons/{IIN}", params={"iin": IIN})
    assert "traceparent" not in sent[0].headers
    spans = exported(traced)
    [consumer] = [s for s in spans if s.attributes.get("messaging.message.id") == "e-4"]
    [call] = [s for s in spans if s.kind == "CLIENT" and s.parent_span_id == consumer.span_id]
    assert call.name == "GET income_registry" and call.trace_id == consumer.trace_id
    assert ids(sent[1].headers["traceparent"]) == (call.trace_id, call.span_id)
    assert call.attributes["http.response.status_code"] == 200 and call.attributes["server.port"] == 8100
    assert call.attributes["url.path"] == "/registry/v1/persons/" + IIN[:4] + "******" + IIN[-2:]
    assert len([s for s in spans if s.kind == "CLIENT"]) == 1


async def test_aiohttp_calls_to_an_external_system_are_client_spans_inside_a_trace_only(traced):
    import aiohttp
    from aiohttp import web

    assert tracing.traced_aiohttp("unitoff", "registry") == []  # a service not traced: nothing added
    sent: list[dict[str, str]] = []

    async def answer(request: web.Request) -> web.Response:
        sent.append(dict(request.headers))
        return web.json_response({"incomes": []}, status=200 if len(sent) < 3 else 503)

    server = web.AppRunner(web.Application(), access_log=None)
    server.app.router.add_get("/{tail:.*}", answer)
    await server.setup()
    site = web.TCPSite(server, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{port}",
                                         trace_configs=tracing.traced_aiohttp(SERVICE, "income_registry")) as http:
            async with http.get("/registry/v1/incomes", params={"iin": IIN}) as r:  # no trace: no span, no header
                await r.read()
            with tracing.consume_span(SERVICE, "qamqor.intake", "application.submitted", None, event_id="e-aiohttp"):
                async with http.get(f"/registry/v1/persons/{IIN}", params={"iin": IIN}) as r:
                    await r.read()
                async with http.get("/registry/v1/incomes", params={"iin": IIN}) as r:
                    await r.read()
    finally:
        await server.cleanup()
    assert "traceparent" not in {k.lower() for k in sent[0]}
    spans = exported(traced)
    [consumer] = [s for s in spans if s.attributes.get("messaging.message.id") == "e-aiohttp"]
    calls = [s for s in spans if s.kind == "CLIENT" and s.parent_span_id == consumer.span_id]
    # the call outside a trace made none (other tests' calls went to other ports)
    assert len(calls) == 2 and len([s for s in spans if s.kind == "CLIENT" and s.attributes["server.port"] == port]) == 2
    call = next(c for c in calls if c.attributes["http.response.status_code"] == 200)
    assert call.name == "GET income_registry" and call.trace_id == consumer.trace_id
    assert ids(sent[1]["traceparent"]) == (call.trace_id, call.span_id)
    assert call.attributes["server.port"] == port
    assert call.attributes["url.path"] == "/registry/v1/persons/" + IIN[:4] + "******" + IIN[-2:]
    failed = next(c for c in calls if c is not call)
    assert failed.attributes["http.response.status_code"] == 503 and failed.status_code == 2  # ERROR


async def test_no_span_carries_personal_data(traced):
    async with client(app()) as http:
        answers = [
            await http.get(f"/v1/fdc/families/{IIN}/status", params={"iin": IIN, "name": NAME, "phone": PHONE}),
            await http.get(f"/v1/nowhere/{IIN}/{BORN}/{NAME}"),  # no route: named by the method alone
            await http.post(f"/v1/applications/{IIN}/explode", json={"iin": IIN, "full_name": NAME}),
        ]
    assert [a.status_code for a in answers] == [200, 404, 500]
    spans = exported(traced)
    names = {s.name for s in spans if s.kind == "SERVER"}
    assert {"GET /v1/fdc/families/{iin}/status", "GET", "POST /v1/applications/{application_id}/explode"} <= names
    exploded = next(s for s in spans if s.name.startswith("POST /v1/applications"))
    assert exploded.status_code == 2 and exploded.attributes.get("http.response.status_code", 500) == 500
    leaks = [(s.name, text) for s in spans for text in s.strings()
             if any(value in text for value in (IIN, NAME, PHONE, BORN, NAME.split()[-1], "8" + PHONE[2:]))]
    assert leaks == []
    assert not any(key in s.attributes for s in spans for key in ("url.full", "url.query", "http.target", "http.url"))


async def test_an_outbox_event_continues_the_current_trace_or_roots_its_own(traced):
    app_id = "0194c6b0-0000-7000-8000-0000000000aa"
    topic = f"qamqor.{SERVICE}"
    # Written while handling something: the current span's context, and the span notes the event.
    with tracing.consume_span(SERVICE, "qamqor.intake", "application.submitted", None, event_id="e-5") as handling:
        written = tracing.trace_event({"x-request-id": "r"}, topic, "verification.completed", "e-6", app_id)
    assert ids(written["traceparent"]) == (format(handling.get_span_context().trace_id, "032x"),
                                           format(handling.get_span_context().span_id, "016x"))
    # Written by a background loop, outside any span: a PRODUCER span of its own roots a trace.
    background = tracing.trace_event({}, topic, "verification.completed", "e-7", app_id)
    # Headers that carry a trace keep it; an unsampled trace stays unsampled downstream.
    assert tracing.trace_event({"traceparent": TRACEPARENT}, topic, "x", "e-8", app_id) == {"traceparent": TRACEPARENT}
    unsampled = TRACEPARENT[:-2] + "00"
    with tracing.consume_span(SERVICE, "qamqor.intake", "application.submitted", [("traceparent", unsampled.encode())],
                              event_id="e-9") as span:
        assert not span.is_recording()
        passed_on = tracing.trace_event({}, topic, "verification.completed", "e-10", app_id)
    assert passed_on["traceparent"].startswith("00-0af7651916cd43dd8448eb211c80319c-") and passed_on[
        "traceparent"].endswith("-00")

    spans = exported(traced)
    [consumer] = [s for s in spans if s.attributes.get("messaging.message.id") == "e-5"]
    assert consumer.attributes["qamqor.event.key"] == app_id
    assert [(name, attrs["messaging.message.id"]) for name, attrs in consumer.events] == [("outbox", "e-6")]
    [producer] = [s for s in spans if s.attributes.get("messaging.message.id") == "e-7"]
    assert producer.kind == "PRODUCER" and producer.name == "send verification.completed"
    assert producer.parent_span_id == "" and producer.attributes["qamqor.event.key"] == app_id
    assert ids(background["traceparent"]) == (producer.trace_id, producer.span_id)
    assert not [s for s in spans if s.attributes.get("messaging.message.id") in ("e-8", "e-9", "e-10")]


async def test_the_gateway_forwards_its_own_trace_headers_never_a_callers(traced):
    from gateway.proxy import upstream_headers

    scope = {"headers": [(b"traceparent", TRACEPARENT.encode()), (b"tracestate", b"caller=1"),
                         (b"accept", b"application/json")], "scheme": "http"}

    def forwarded() -> dict[bytes, list[bytes]]:
        found: dict[bytes, list[bytes]] = {}
        for name, value in upstream_headers(scope, internal_token="t", request_id="r", client_ip=None):
            found.setdefault(name, []).append(value)
        return found

    outside = forwarded()  # no span current (or tracing off): no trace headers at all
    assert b"traceparent" not in outside and b"tracestate" not in outside and outside[b"accept"] == [b"application/json"]
    with tracing._tracers[SERVICE].start_as_current_span("gateway request") as span:
        inside = forwarded()
    [traceparent] = inside[b"traceparent"]
    assert ids(traceparent.decode()) == (format(span.get_span_context().trace_id, "032x"),
                                         format(span.get_span_context().span_id, "016x"))
    assert b"tracestate" not in inside
