"""Traces (OpenTelemetry): one application followed across the gateway, the services, their HTTP
calls and Kafka — OFF unless an OTLP endpoint is configured (docs/operations.md, "Traces").

Turning on: set the OTLP/HTTP endpoint of a collector (Jaeger, Tempo, an OpenTelemetry
Collector…), the first of these that is set wins:

- `QAMQOR_<SERVICE>_OTEL_EXPORTER_OTLP_ENDPOINT` (the setting `otel_exporter_otlp_endpoint` of one
  process), a base URL: spans go to `<base>/v1/traces`;
- `QAMQOR_OTEL_EXPORTER_OTLP_ENDPOINT`, the same for every process of the platform;
- the standard `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (the full URL) or `OTEL_EXPORTER_OTLP_ENDPOINT`
  (a base URL), so a platform that sets them for every workload needs nothing of ours.

`OTEL_SDK_DISABLED=true` turns tracing off whatever is set. The SDK's other standard variables
apply (`OTEL_TRACES_SAMPLER`/`_ARG`, `OTEL_BSP_*`, `OTEL_EXPORTER_OTLP_TRACES_HEADERS`/`_TIMEOUT`/
`_COMPRESSION`, `OTEL_RESOURCE_ATTRIBUTES`).

Off, nothing of the SDK is loaded, no thread runs, no middleware is installed, and the helpers
below return at their first line. On, each process has one batch span processor: spans are
exported from a background thread every `OTEL_BSP_SCHEDULE_DELAY` ms (5 s by default).

What is traced:
- `TracingMiddleware`: a SERVER span per HTTP request, named by the route *template*
  (`GET /v1/fdc/families/{iin}/status`), never by the path a caller sent — paths carry IINs.
  The services continue the trace the gateway sends (`traceparent`); the gateway, the platform's
  edge, starts a new trace for each request and only *links* a caller's `traceparent`.
- `inject(headers)`: the current span's `traceparent`/`tracestate`, for a request the gateway
  forwards; `trace_event(...)` the same for every outbox row (`shared.outbox.record_event`), or a
  PRODUCER span of its own for an event written outside any trace; the relay sends a row's headers
  as Kafka headers.
- `consume_span(...)`: a CONSUMER span for handling an event, child of the span that wrote it.
- `traced_transport(...)` (httpx) and `traced_aiohttp(...)` (aiohttp): a CLIENT span per call to an
  external system, only inside a trace.

No span carries a name, an IIN, a birth date or a phone: no raw path or query, no request or
event body, no exception message (only its type); event keys are application ids (a key that is
not a UUID is IIN-masked).
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import httpx
from opentelemetry import context as otel_context, trace
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.iin import mask_iins_in
from shared.observability import request_id_var

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

log = logging.getLogger("qamqor.tracing")

PLATFORM_ENDPOINT_ENV = "QAMQOR_OTEL_EXPORTER_OTLP_ENDPOINT"
TRACES_PATH = "/v1/traces"
TRACE_HEADERS = ("traceparent", "tracestate")
# Probes and scrapes are not traced: an orchestrator's polling would be most of the spans.
UNTRACED_PATHS = frozenset({"/health", "/ready", "/metrics"})

_PROPAGATOR = TraceContextTextMapPropagator()
_NOTHING = contextlib.nullcontext()
# service name -> its tracer; a service is traced iff it has one. One per process in production;
# tests run several services in one process.
_tracers: dict[str, trace.Tracer] = {}
_providers: dict[str, "TracerProvider"] = {}


# ---- configuration ------------------------------------------------------------------------

def otlp_traces_endpoint(settings: Any = None, environ: Mapping[str, str] | None = None) -> str | None:
    """Where this process sends its spans (the full `/v1/traces` URL), or None: tracing is off."""
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    base = getattr(settings, "otel_exporter_otlp_endpoint", None) or env.get(PLATFORM_ENDPOINT_ENV, "").strip()
    if base:
        return _signal_url(base)
    full = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
    if full:
        return full
    base = env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    return _signal_url(base) if base else None


def _signal_url(base: str) -> str:
    base = base.rstrip("/")
    return base if base.endswith(TRACES_PATH) else base + TRACES_PATH


def configure_tracing(service_name: str, settings: Any = None) -> bool:
    """Turn tracing on for `service_name` when an endpoint is configured (see the module doc),
    off otherwise; returns whether it is on. Called again, it replaces what the last call set up
    (its spans are flushed first)."""
    shutdown_tracing(service_name)
    endpoint = otlp_traces_endpoint(settings)
    if endpoint is None:
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create({
        "service.name": service_name,
        "service.namespace": "qamqor",
        "deployment.environment.name": str(getattr(settings, "environment", "") or "development"),
    })
    # Shut down (and flushed) at process exit by the SDK's own atexit hook.
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    _providers[service_name] = provider
    _tracers[service_name] = provider.get_tracer("qamqor")
    log.info("traces of %s go to %s", service_name, endpoint)
    return True


def enabled(service: str | None = None) -> bool:
    """Whether `service` (any service, when None) is traced in this process."""
    return bool(_tracers) if service is None else service in _tracers


def flush_tracing(service: str | None = None, timeout_millis: int = 10_000) -> bool:
    """Export every span ended so far (tests; a process flushes by itself at exit)."""
    providers = list(_providers.values()) if service is None else [p for s, p in _providers.items() if s == service]
    return all(provider.force_flush(timeout_millis) for provider in providers)


def shutdown_tracing(service: str | None = None) -> None:
    """Flush and stop tracing of `service` (every service, when None)."""
    for name in list(_providers) if service is None else [service]:
        _tracers.pop(name, None)
        provider = _providers.pop(name, None)
        if provider is not None:
            provider.shutdown()


# ---- propagation --------------------------------------------------------------------------

def inject(headers: dict[str, str]) -> dict[str, str]:
    """Put the current span's `traceparent` (and `tracestate`) into `headers`, unless they carry
    one already; nothing when tracing is off or no span is current. Returns `headers`."""
    if _tracers and "traceparent" not in headers:
        _PROPAGATOR.inject(headers)
    return headers


def trace_headers() -> list[tuple[bytes, bytes]]:
    """The current span's trace headers as raw HTTP headers (empty when off or outside a span)."""
    if not _tracers:
        return []
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return [(name.encode(), value.encode("latin-1")) for name, value in carrier.items()]


def _carrier(headers: Mapping[str, str] | Iterable[tuple[Any, Any]] | None) -> dict[str, str]:
    """The trace headers out of a dict, Kafka headers ((str, bytes) pairs) or ASGI headers."""
    if not headers:
        return {}
    items = headers.items() if isinstance(headers, Mapping) else headers
    found: dict[str, str] = {}
    for name, value in items:
        if isinstance(name, bytes):
            name = name.decode("latin-1")
        name = name.lower()
        if name in TRACE_HEADERS or name == "x-request-id":
            found[name] = value.decode("latin-1") if isinstance(value, bytes) else str(value)
    return found


def extract(headers: Mapping[str, str] | Iterable[tuple[Any, Any]] | None) -> otel_context.Context:
    """The context the headers carry (an empty one — a new trace — when they carry none)."""
    carrier = _carrier(headers)
    return _PROPAGATOR.extract(carrier, context=otel_context.Context()) if "traceparent" in carrier \
        else otel_context.Context()


def event_key(key: str) -> str:
    """An event key as a span attribute: application ids as they are, anything else IIN-masked."""
    try:
        uuid.UUID(key)
        return key
    except ValueError:
        return mask_iins_in(key)


def trace_event(headers: dict[str, str], topic: str, event_type: str, event_id: object, key: str) -> dict[str, str]:
    """For an event about to be written to the outbox: its trace headers, so that its consumers'
    spans are children of the span writing it — the current span (a request's, a consumer's),
    which notes the event and its key (an application's spans are found by its id). Written
    outside any span (a background loop: a retry after an outage, the reconciliation sweep), the
    event gets a short PRODUCER span of its own as the root of a new trace, so every consumer of
    it shares that trace. Headers that carry a `traceparent` already keep it. Returns `headers`."""
    if not _tracers or "traceparent" in headers:
        return headers
    span = trace.get_current_span()
    if span.is_recording():
        span.set_attribute("qamqor.event.key", event_key(key))
        span.add_event("outbox", {"messaging.destination.name": topic, "qamqor.event.type": event_type,
                                  "messaging.message.id": str(event_id)})
        _PROPAGATOR.inject(headers)
        return headers
    if span.get_span_context().is_valid:  # a trace not sampled: its decision travels on
        _PROPAGATOR.inject(headers)
        return headers
    tracer = _tracers.get(topic.removeprefix("qamqor.")) or (next(iter(_tracers.values())) if len(_tracers) == 1
                                                              else None)
    if tracer is None:
        return headers
    attributes = {"messaging.system": "kafka", "messaging.destination.name": topic,
                  "messaging.operation.type": "create", "qamqor.event.type": event_type,
                  "messaging.message.id": str(event_id), "qamqor.event.key": event_key(key)}
    with tracer.start_as_current_span(f"send {event_type}", context=otel_context.Context(), kind=SpanKind.PRODUCER,
                                      attributes=attributes):
        _PROPAGATOR.inject(headers)
    return headers


# ---- spans --------------------------------------------------------------------------------

def consume_span(service: str, topic: str, event_type: str,
                 headers: Mapping[str, str] | Iterable[tuple[Any, Any]] | None = None, *,
                 key: str | None = None, event_id: object = None) -> contextlib.AbstractContextManager:
    """`with consume_span(...):` around handling one event: a CONSUMER span, child of the span that
    wrote the event (its `traceparent` header), or the root of a new trace. A shared no-op when
    `service` is not traced."""
    tracer = _tracers.get(service)
    if tracer is None:
        return _NOTHING
    return _consuming(tracer, topic, event_type, headers, key, event_id)


@contextlib.contextmanager
def _consuming(tracer: trace.Tracer, topic: str, event_type: str, headers: Any, key: str | None,
               event_id: object) -> Iterator[trace.Span]:
    carrier = _carrier(headers)
    attributes: dict[str, Any] = {"messaging.system": "kafka", "messaging.destination.name": topic,
                                  "messaging.operation.type": "process", "qamqor.event.type": event_type}
    if key is not None:
        attributes["qamqor.event.key"] = event_key(key)
    if event_id is not None:
        attributes["messaging.message.id"] = str(event_id)
    if "x-request-id" in carrier:
        attributes["qamqor.request_id"] = carrier["x-request-id"][:128]
    with tracer.start_as_current_span(f"process {event_type}", context=extract(carrier), kind=SpanKind.CONSUMER,
                                      attributes=attributes, record_exception=False,
                                      set_status_on_exception=False) as span:
        try:
            yield span
        except BaseException as exc:
            _failed(span, exc)
            raise


def _failed(span: trace.Span, exc: BaseException) -> None:
    # The exception's type only: messages and tracebacks may quote personal data.
    span.set_attribute("error.type", type(exc).__qualname__)
    span.set_status(Status(StatusCode.ERROR, type(exc).__name__))


class TracingMiddleware:
    """A SERVER span per HTTP request, inside `RequestContextMiddleware` (it reads the request id)
    and outside everything that matches the route (it reads the route template from the scope
    when the request is done). `continue_trace=False` (the gateway): a caller's `traceparent`
    becomes a link, not the parent — callers outside the platform do not choose its trace ids or
    whether it is sampled."""

    def __init__(self, app: ASGIApp, service: str, continue_trace: bool = True) -> None:
        self.app = app
        self.service = service
        self.continue_trace = continue_trace

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        tracer = _tracers.get(self.service)
        if tracer is None or scope["type"] != "http" or scope["path"] in UNTRACED_PATHS:
            await self.app(scope, receive, send)
            return
        inbound = extract(scope.get("headers"))
        links = None
        parent = inbound
        if not self.continue_trace:
            caller = trace.get_current_span(inbound).get_span_context()
            links = [Link(caller, {"qamqor.link": "caller"})] if caller.is_valid else None
            parent = otel_context.Context()
        method = scope.get("method", "")
        attributes: dict[str, Any] = {"http.request.method": method, "url.scheme": scope.get("scheme", "http")}
        request_id = request_id_var.get()
        if request_id:
            attributes["qamqor.request_id"] = request_id
        status = 0

        async def noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        with tracer.start_as_current_span(method, context=parent, kind=SpanKind.SERVER, links=links,
                                          attributes=attributes, record_exception=False,
                                          set_status_on_exception=False) as span:
            try:
                await self.app(scope, receive, noting_status)
            except BaseException as exc:
                _failed(span, exc)
                raise
            finally:
                route = scope.get("route")
                template = getattr(route, "path", None)
                if template:
                    span.update_name(f"{method} {template}")
                    span.set_attribute("http.route", template)
                upstream = getattr(route, "service", None)
                if isinstance(upstream, str):  # the gateway's route table names the owning service
                    span.set_attribute("qamqor.upstream", upstream)
                if status:
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        span.set_status(Status(StatusCode.ERROR))


# ---- outgoing HTTP (httpx) ----------------------------------------------------------------

class _TracedTransport(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport, service: str, system: str) -> None:
        self.inner = inner
        self.service = service
        self.system = system

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        tracer = _tracers.get(self.service)
        # Only inside a trace: a background retry loop starts no trace per call.
        if tracer is None or not trace.get_current_span().get_span_context().is_valid:
            return await self.inner.handle_async_request(request)
        url = request.url
        attributes = {"http.request.method": request.method, "server.address": url.host or "",
                      "url.path": mask_iins_in(url.path), "qamqor.peer.system": self.system}
        if url.port:
            attributes["server.port"] = url.port
        with tracer.start_as_current_span(f"{request.method} {self.system}", kind=SpanKind.CLIENT,
                                          attributes=attributes, record_exception=False,
                                          set_status_on_exception=False) as span:
            carrier: dict[str, str] = {}
            _PROPAGATOR.inject(carrier)
            for name, value in carrier.items():
                request.headers[name] = value
            try:
                response = await self.inner.handle_async_request(request)
            except BaseException as exc:
                _failed(span, exc)
                raise
            span.set_attribute("http.response.status_code", response.status_code)
            if response.status_code >= 500:
                span.set_status(Status(StatusCode.ERROR))
            return response

    async def aclose(self) -> None:
        await self.inner.aclose()


def traced_transport(service: str, system: str,
                     transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncBaseTransport | None:
    """For `httpx.AsyncClient(transport=...)`: `transport` (None: httpx's default) wrapped in CLIENT
    spans named after the external `system` when `service` is traced; `transport` as it is when not."""
    if service not in _tracers:
        return transport
    return _TracedTransport(transport or httpx.AsyncHTTPTransport(), service, system)


# ---- outgoing HTTP (aiohttp) --------------------------------------------------------------

def traced_aiohttp(service: str, system: str) -> list:
    """For `aiohttp.ClientSession(trace_configs=...)`: the same CLIENT spans as `traced_transport`
    (named after the external `system`, only inside a trace, the `traceparent` sent along) when
    `service` is traced; an empty list when not."""
    if service not in _tracers:
        return []
    import aiohttp

    config = aiohttp.TraceConfig()

    async def started(_session: Any, context: Any, params: Any) -> None:
        context.span = None
        tracer = _tracers.get(service)
        if tracer is None or not trace.get_current_span().get_span_context().is_valid:
            return
        url = params.url
        attributes = {"http.request.method": params.method, "server.address": url.host or "",
                      "url.path": mask_iins_in(url.path), "qamqor.peer.system": system}
        if url.port:
            attributes["server.port"] = url.port
        span = tracer.start_span(f"{params.method} {system}", kind=SpanKind.CLIENT, attributes=attributes,
                                 record_exception=False, set_status_on_exception=False)
        carrier: dict[str, str] = {}
        _PROPAGATOR.inject(carrier, context=trace.set_span_in_context(span))
        for name, value in carrier.items():
            params.headers[name] = value
        context.span = span

    async def ended(_session: Any, context: Any, params: Any) -> None:
        span = getattr(context, "span", None)
        if span is None:
            return
        status = params.response.status
        span.set_attribute("http.response.status_code", status)
        if status >= 500:
            span.set_status(Status(StatusCode.ERROR))
        span.end()

    async def failed(_session: Any, context: Any, params: Any) -> None:
        span = getattr(context, "span", None)
        if span is not None:
            _failed(span, params.exception)
            span.end()

    config.on_request_start.append(started)
    config.on_request_end.append(ended)
    config.on_request_exception.append(failed)
    return [config]
