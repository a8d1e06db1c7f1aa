"""One settings pattern: every service subclasses `ServiceSettings` with its own env prefix
(`QAMQOR_INTAKE_`, `QAMQOR_GATEWAY_`, ...)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QAMQOR_", extra="ignore")

    environment: str = "development"  # development | test | production
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/qamqor"
    kafka_bootstrap: str = "127.0.0.1:19092"
    kafka_partitions: int = 4
    # Public key (PEM file) the gateway signs internal tokens with; a request without a
    # valid internal token is refused, so nothing is reachable around the gateway.
    internal_public_key_file: Path | None = None
    log_level: str = "INFO"
    # What this process runs: "all" (the API, the outbox relay, the consumer and the service's
    # background loops: one process per service), "api" (only the routes) or "worker" (relay,
    # consumer and loops, with /health, /ready and /metrics). A service whose consumer should not
    # wait behind its API's requests for one event loop runs as an "api" and a "worker" process.
    role: Literal["all", "api", "worker"] = "all"
    # Static group membership id; unique per replica of a service (default: service@hostname).
    consumer_instance_id: str | None = None
    consumer_max_attempts: int = 5
    consumer_backoff_seconds: float = 0.2
    # Events handled in one transaction, and partitions handled at once (each its own transaction).
    consumer_batch_size: int = 200
    consumer_lanes: int = 4
    # A newly assigned partition is read again from this many messages before its committed
    # offset (shared.consumer: a broker that lost acknowledged writes reuses their offsets).
    consumer_rewind_on_assign: int = 500
    # A consumer whose group coordinator stays unknown this long while the broker answers, or
    # whose offset commit takes this long, is rebuilt / moves on (shared.consumer: aiokafka can
    # hang in its coordinator lookup after a broker crash and never consume again).
    consumer_stall_seconds: float = Field(default=15.0, gt=0)
    # Liveness fails when the outbox relay has published nothing for this long while rows wait.
    relay_stall_seconds: float = 600.0
    # OTLP/HTTP base URL of a trace collector (spans go to <url>/v1/traces); unset here, the
    # platform-wide QAMQOR_OTEL_EXPORTER_OTLP_ENDPOINT or the standard OTEL_EXPORTER_OTLP_* apply;
    # none set: tracing is off (shared/tracing.py).
    otel_exporter_otlp_endpoint: str | None = None

    @model_validator(mode="after")
    def _refuse_insecure_defaults(self) -> "ServiceSettings":
        if self.environment == "production" and self.internal_public_key_file is None:
            raise ValueError("internal_public_key_file must be set in production")
        return self

    def internal_public_key(self) -> bytes | None:
        if self.internal_public_key_file is None:
            return None
        return Path(self.internal_public_key_file).read_bytes()
