"""JSON logs with the request id, IIN masking, and Prometheus metrics."""

from __future__ import annotations

import contextvars
import logging
import sys
import time
from typing import Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.iin import mask_iins_in
from shared.ids import uuid7

REQUEST_ID_HEADER = "x-request-id"
request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

HTTP_REQUESTS = Counter("qamqor_http_requests_total", "HTTP requests", ["service", "method", "route", "status"])
HTTP_LATENCY = Histogram(
    "qamqor_http_request_seconds", "HTTP request latency", ["service", "method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
EVENTS_PUBLISHED = Counter("qamqor_events_published_total", "Outbox events published", ["service", "topic"])
OUTBOX_OLDEST_UNSENT = Gauge("qamqor_outbox_oldest_unsent_seconds",
                              "Age of the oldest outbox row not yet published (0 when none waits)", ["service"])
OUTBOX_PUBLISH_FAILURES = Counter("qamqor_outbox_publish_failures_total",
                                  "Outbox batches the broker did not take", ["service"])
EVENTS_CONSUMED = Counter("qamqor_events_consumed_total", "Events handled", ["service", "type", "outcome"])
CONSUMER_LAG = Gauge("qamqor_consumer_lag", "Events on a partition the service's consumer group has not yet "
                     "handled and committed (high-water mark minus committed offset)", ["service", "topic", "partition"])


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": mask_iins_in(record.getMessage()),
        }
        rid = request_id_var.get()
        if rid:
            entry["request_id"] = rid
        for key in ("event_id", "event_type", "key", "correlation_id"):
            value = getattr(record, key, None)
            if value is not None:
                entry[key] = mask_iins_in(str(value))
        if record.exc_info:
            entry["exc"] = mask_iins_in(self.formatException(record.exc_info))
        return orjson.dumps(entry).decode()


def configure_logging(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiokafka", "kafka", "httpx", "httpcore", "uvicorn.access", "sqlalchemy.engine"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


class RequestContextMiddleware:
    """Takes the request id from the gateway (or makes one), exposes it to logs and echoes it
    back; records Prometheus metrics per route template."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = None
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id":
                rid = value.decode("latin-1")[:128]
                break
        rid = rid or str(uuid7())
        token = request_id_var.set(rid)
        start = time.perf_counter()
        status_holder = {"status": 500}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", rid.encode("latin-1")))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            HTTP_REQUESTS.labels(self.service, method, template, str(status_holder["status"])).inc()
            HTTP_LATENCY.labels(self.service, method, template).observe(time.perf_counter() - start)
            request_id_var.reset(token)


async def metrics_endpoint(_: Request) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
