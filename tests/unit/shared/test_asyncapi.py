"""The AsyncAPI document of the events (shared.events.asyncapi): its structure, its publisher and
subscriber tables against the services' code, and the checked-in docs/asyncapi.json."""

from __future__ import annotations

import ast
import importlib
import json
import pathlib
import subprocess
import sys
from types import SimpleNamespace
from unittest.mock import MagicMock

import pytest

from shared.events import registered
from shared.events.asyncapi import (
    DEAD_LETTER_HEADERS, HEADERS, PUBLISHER, SUBSCRIBERS, build, message_name, render,
)
from shared.events.contracts import DEAD_LETTER_TOPIC, TOPICS

ROOT = pathlib.Path(__file__).resolve().parents[3]
CHECKED_IN = ROOT / "docs" / "asyncapi.json"
SERVICES = ("intake", "verification", "eligibility", "contracts", "payments", "reporting")


@pytest.fixture(scope="module")
def doc() -> dict:
    return build()


def resolve(doc: dict, ref: str):
    assert ref.startswith("#/"), ref
    node = doc
    for part in ref[2:].split("/"):
        assert part in node, f"{ref} does not resolve"
        node = node[part]
    return node


def refs_in(node) -> list[str]:
    if isinstance(node, dict):
        return ([node["$ref"]] if "$ref" in node else []) + [r for v in node.values() for r in refs_in(v)]
    if isinstance(node, list):
        return [r for v in node for r in refs_in(v)]
    return []


def test_document_shape(doc) -> None:
    assert doc["asyncapi"] == "3.0.0"
    assert doc["info"]["title"] and doc["info"]["version"]
    assert {c["address"] for c in doc["channels"].values()} == set(TOPICS.values()) | {DEAD_LETTER_TOPIC}
    assert {c["address"] for c in doc["channels"].values()} == {
        "qamqor.intake", "qamqor.verification", "qamqor.eligibility", "qamqor.contracts", "qamqor.payments",
        "qamqor.dead-letter"}
    for operation in doc["operations"].values():
        assert operation["action"] in ("send", "receive")
        channel_ref = operation["channel"]["$ref"]
        for message in operation["messages"]:  # an operation's messages are its channel's
            assert message["$ref"].startswith(channel_ref + "/messages/")


def test_every_reference_resolves(doc) -> None:
    refs = refs_in(doc)
    assert refs
    for ref in refs:
        resolve(doc, ref)


def test_every_registered_event_appears_exactly_once(doc) -> None:
    on_channels = [name for channel in doc["channels"].values() if channel["address"] != DEAD_LETTER_TOPIC
                   for name in channel["messages"]]
    assert sorted(on_channels) == sorted(message_name(t, v) for t, v in registered())
    for (event_type, version), model in registered().items():
        message = doc["components"]["messages"][message_name(event_type, version)]
        payload = message["payload"]
        assert payload["properties"]["type"]["const"] == event_type
        assert payload["properties"]["version"]["const"] == version
        assert payload["properties"]["source"]["const"] == PUBLISHER[event_type]
        assert set(payload["required"]) == {"id", "type", "version", "source", "key", "occurred_at",
                                            "correlation_id", "causation_id", "data"}
        # data is the contract's own JSON schema
        data = resolve(doc, payload["properties"]["data"]["$ref"])
        assert set(data["properties"]) == set(model.model_fields)
        assert resolve(doc, message["headers"]["$ref"])["properties"].keys() >= {"x-request-id", "traceparent"}
        assert message["bindings"]["kafka"]["key"]["type"] == "string"
        # on the channel of the topic its publisher writes
        channel = next(c for c in doc["channels"].values() if c["address"] == TOPICS[PUBLISHER[event_type]])
        assert message_name(event_type, version) in channel["messages"]


def test_payload_describes_what_is_written(doc) -> None:
    """An envelope as the platform writes it has exactly the message's properties, and its data
    exactly the contract schema's."""
    from datetime import datetime, timezone
    from uuid import uuid4

    from shared.events import Envelope
    from shared.events.contracts import ContractSigned

    signed = ContractSigned(contract_id=uuid4(), application_id=uuid4(), decision_id=uuid4(),
                            signed_at=datetime(2025, 3, 10, tzinfo=timezone.utc))
    written = Envelope.wrap(signed, source="contracts", key=str(signed.application_id)).model_dump(mode="json")
    schema = doc["components"]["messages"]["contract.signed.v1"]["payload"]
    assert set(written) == set(schema["properties"]) == set(schema["required"])
    data_schema = resolve(doc, schema["properties"]["data"]["$ref"])
    assert set(written["data"]) == set(data_schema["properties"])
    assert data_schema["additionalProperties"] is False
    assert data_schema["properties"]["signed_at"]["format"] == "date-time"


def test_checked_in_document_is_current() -> None:
    """docs/asyncapi.json is what the generator builds: regenerate it after changing a contract with
    `uv run python -m shared.events.asyncapi > docs/asyncapi.json`."""
    assert CHECKED_IN.read_text(encoding="utf-8") == render(), (
        "docs/asyncapi.json is out of date: uv run python -m shared.events.asyncapi > docs/asyncapi.json")
    json.loads(CHECKED_IN.read_text(encoding="utf-8"))


def test_the_cli_prints_the_document() -> None:
    result = subprocess.run([sys.executable, "-m", "shared.events.asyncapi"], capture_output=True, text=True,
                            cwd=ROOT, check=True, timeout=60)
    assert result.stdout == render()


def _service_files(service: str):
    for path in (ROOT / "services" / service).rglob("*.py"):
        if "tests" not in path.parts:
            yield path


def test_publishers_are_the_services_that_emit() -> None:
    """Each event is referenced by its publisher's code, and built (called) by no other service;
    the publisher's SOURCE names the topic it is emitted on (shared.outbox.emit)."""
    assert set(PUBLISHER) == {t for t, _ in registered()}
    name_of = {model.__name__: event_type for (event_type, _), model in registered().items()}
    referenced: dict[str, set[str]] = {}
    built: dict[str, set[str]] = {}
    for service in SERVICES:
        for path in _service_files(service):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Name) and node.id in name_of:
                    referenced.setdefault(name_of[node.id], set()).add(service)
                if isinstance(node, ast.Call):
                    func = node.func
                    called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
                    if called in name_of:
                        built.setdefault(name_of[called], set()).add(service)
    for event_type, publisher in PUBLISHER.items():
        assert publisher in referenced.get(event_type, set()), event_type
        assert built.get(event_type, {publisher}) == {publisher}, (event_type, built.get(event_type))
    for publisher in set(PUBLISHER.values()):
        assert importlib.import_module(f"services.{publisher}.service").SOURCE == publisher


def _app_for(service: str):
    app = MagicMock()
    if service == "verification":
        from services.verification.settings import VerificationSettings
        app.state = SimpleNamespace(settings=VerificationSettings())
    return app


@pytest.mark.parametrize("service", SERVICES)
def test_subscribers_match_the_consumers(service: str) -> None:
    consumers = importlib.import_module(f"services.{service}.consumers")
    assert tuple(SUBSCRIBERS[service]["topics"]) == tuple(consumers.SUBSCRIBE)
    assert set(SUBSCRIBERS[service]["events"]) == set(consumers.handlers(_app_for(service)))


def test_every_service_with_a_consumer_is_listed() -> None:
    assert set(SUBSCRIBERS) == set(SERVICES)


def test_header_names_are_the_ones_written() -> None:
    from shared import redrive, tracing
    from shared.observability import REQUEST_ID_HEADER

    assert {REQUEST_ID_HEADER, redrive.REPLAY_HEADER, redrive.REDRIVE_HEADER, *tracing.TRACE_HEADERS} == set(HEADERS)
    assert {redrive.ERROR_HEADER, redrive.FAILED_IN_HEADER, redrive.ORIGINAL_TOPIC_HEADER} == set(DEAD_LETTER_HEADERS)
