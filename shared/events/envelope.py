from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from shared.calendar import utcnow
from shared.ids import uuid7

_REGISTRY: dict[tuple[str, int], type[BaseModel]] = {}

M = TypeVar("M", bound=type[BaseModel])


def register(event_type: str, version: int = 1):
    """Class decorator: this pydantic model is the `data` of `event_type` at `version`."""

    def wrap(model: M) -> M:
        _REGISTRY[(event_type, version)] = model
        model.event_type = event_type  # type: ignore[attr-defined]
        model.event_version = version  # type: ignore[attr-defined]
        return model

    return wrap


def contract_for(event_type: str, version: int) -> type[BaseModel]:
    try:
        return _REGISTRY[(event_type, version)]
    except KeyError:
        raise ValueError(f"unknown event type {event_type} v{version}") from None


def registered() -> dict[tuple[str, int], type[BaseModel]]:
    """Every event contract: (type, version) → model."""
    return dict(_REGISTRY)


def validate_data(event_type: str, version: int, data: Any) -> BaseModel:
    return contract_for(event_type, version).model_validate(data)


class Envelope(BaseModel):
    """What travels on Kafka. `key` is the application (or family) id: the message key, so one
    application's events stay in order on one partition."""

    model_config = ConfigDict(frozen=True)

    id: UUID = Field(default_factory=uuid7)
    type: str
    version: int = 1
    source: str
    key: str
    occurred_at: datetime = Field(default_factory=utcnow)
    correlation_id: str | None = None
    causation_id: str | None = None
    data: dict[str, Any]

    @classmethod
    def wrap(
        cls,
        payload: BaseModel,
        *,
        source: str,
        key: str,
        correlation_id: str | None = None,
        causation_id: str | None = None,
    ) -> "Envelope":
        event_type = payload.event_type  # type: ignore[attr-defined]
        version = payload.event_version  # type: ignore[attr-defined]
        return cls(
            type=event_type,
            version=version,
            source=source,
            key=key,
            correlation_id=correlation_id,
            causation_id=causation_id,
            data=payload.model_dump(mode="json"),
        )

    def payload(self) -> BaseModel:
        """The typed `data`, validated against its contract."""
        return validate_data(self.type, self.version, self.data)

    def follow(self, payload: BaseModel, *, source: str, key: str | None = None) -> "Envelope":
        """An event caused by this one: same correlation, causation = this event."""
        return Envelope.wrap(
            payload,
            source=source,
            key=key or self.key,
            correlation_id=self.correlation_id or str(self.id),
            causation_id=str(self.id),
        )
