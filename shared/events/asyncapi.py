"""The AsyncAPI 3.0 document of the event backbone, built from the registered event contracts.

One channel per topic, one message per registered (type, version): the envelope with the
contract's JSON schema as its `data`, the Kafka headers the platform writes and the message key.
Who publishes and who subscribes come from the tables below, which tests check against the code
(each service's `consumers.SUBSCRIBE` and `handlers`, the contract each service emits): the
shared library may not import the services (import-linter).

The gateway serves the document at `/asyncapi.json`; `docs/asyncapi.json` is its checked-in copy
(a test fails when it differs). Regenerate it with

    uv run python -m shared.events.asyncapi > docs/asyncapi.json
"""

from __future__ import annotations

import json
import sys
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from shared.events.contracts import DEAD_LETTER_TOPIC, TOPICS
from shared.events.envelope import Envelope, registered

ASYNCAPI_VERSION = "3.0.0"
DOCUMENT_VERSION = "1.0.0"
KAFKA_BINDING_VERSION = "0.5.0"
DEAD_LETTER = "dead-letter"

# The service that emits each event type: `emit(..., source=<service>)` puts it on the topic
# `TOPICS[<service>]` (shared.outbox.emit), so the publisher names the channel too.
PUBLISHER: dict[str, str] = {
    "application.submitted": "intake",
    "application.withdrawn": "intake",
    "consent.requested": "intake",
    "consent.granted": "intake",
    "consent.refused": "intake",
    "consent.expired": "intake",
    "consent.withdrawn": "intake",
    "reconciliation.requested": "intake",
    "fdc.invitation.issued": "intake",
    "fdc.invitation.converted": "intake",
    "verification.waiting": "verification",
    "verification.overdue": "verification",
    "verification.completed": "verification",
    "eligibility.decided": "eligibility",
    "eligibility.deferred": "eligibility",
    "eligibility.extended": "eligibility",
    "parameter.recorded": "eligibility",
    "contract.drafted": "contracts",
    "contract.signed": "contracts",
    "contract.terminated": "contracts",
    "contract.lapsed": "contracts",
    "contract.completed": "contracts",
    "payment.scheduled": "payments",
    "payment.settled": "payments",
    "payment.failed": "payments",
}

# What each service's event consumer follows (services/<name>/consumers.py): the topics it
# subscribes to and the event types it has a handler for. Others on those topics are skipped.
SUBSCRIBERS: dict[str, dict[str, tuple[str, ...]]] = {
    "intake": {
        "topics": (TOPICS["verification"], TOPICS["eligibility"], TOPICS["contracts"], TOPICS["payments"]),
        "events": ("verification.waiting", "verification.overdue", "verification.completed",
                   "eligibility.decided", "eligibility.deferred", "eligibility.extended", "parameter.recorded",
                   "contract.drafted", "contract.signed", "contract.lapsed", "contract.terminated",
                   "contract.completed", "payment.scheduled"),
    },
    "verification": {
        "topics": (TOPICS["intake"],),
        "events": ("application.submitted", "consent.requested", "consent.granted", "consent.refused",
                   "consent.expired", "consent.withdrawn", "reconciliation.requested"),
    },
    "eligibility": {
        "topics": (TOPICS["verification"], TOPICS["intake"], TOPICS["contracts"]),
        "events": ("verification.completed", "contract.drafted", "contract.signed", "contract.lapsed",
                   "contract.completed", "contract.terminated", "application.withdrawn", "reconciliation.requested"),
    },
    "contracts": {
        "topics": (TOPICS["eligibility"], TOPICS["intake"]),
        "events": ("eligibility.decided", "eligibility.extended", "parameter.recorded", "reconciliation.requested"),
    },
    "payments": {
        "topics": (TOPICS["eligibility"], TOPICS["contracts"], TOPICS["intake"]),
        "events": ("eligibility.decided", "eligibility.extended", "contract.signed", "contract.terminated",
                   "application.withdrawn",
                   "reconciliation.requested"),
    },
    "reporting": {
        "topics": tuple(TOPICS.values()),
        "events": ("application.submitted", "application.withdrawn", "verification.waiting", "verification.overdue",
                   "verification.completed", "eligibility.deferred", "eligibility.decided", "eligibility.extended",
                   "contract.drafted", "contract.signed", "contract.lapsed", "contract.terminated",
                   "contract.completed", "payment.scheduled", "payment.settled", "payment.failed",
                   "consent.requested", "consent.granted", "consent.refused", "consent.expired",
                   "consent.withdrawn", "fdc.invitation.issued", "fdc.invitation.converted",
                   "reconciliation.requested"),
    },
}
# Reporting reads the dead-letter topic with its own consumer (services/reporting/consumers.py).
DEAD_LETTER_SUBSCRIBERS = ("reporting",)

# The message key: the application id, so one application's events stay in order on one
# partition — except where noted.
KEY_OF: dict[str, str] = {
    "parameter.recorded": "The parameter's name (one parameter's values stay in order).",
    "fdc.invitation.issued": "The invitation id (UUID): one invitation's events stay in order on one partition.",
    "fdc.invitation.converted": "The invitation id (UUID): one invitation's events stay in order on one partition.",
}
APPLICATION_KEY = "The application id (UUID): one application's events stay in order on one partition."

# Kafka headers (all strings). shared.observability, shared.tracing and shared.redrive write them.
HEADERS: dict[str, str] = {
    "x-request-id": "The request that caused the event (the gateway's request id, carried along the flow).",
    "traceparent": "W3C trace context of the span that wrote the event (when tracing is on).",
    "tracestate": "W3C trace state, with `traceparent`.",
    "x-qamqor-redrive": "Present when the event is sent again by a re-drive (the reconciliation sweep asked "
                        "the publisher to re-publish its latest events for the key): the reason. Same event "
                        "id: a consumer that had it ignores it.",
    "x-qamqor-replay": "Present when an operator replayed a dead letter to its original topic (reporting, "
                       "through its outbox): the replay id. A consumer that dead-lettered the event handles "
                       "it again, once.",
}
DEAD_LETTER_HEADERS: dict[str, str] = {
    "error": "Why the consumer could not handle the event (no personal data; at most 2000 characters).",
    "failed_in": "The service whose consumer failed.",
    "original_topic": "The topic the event was read from.",
}
UNDECODABLE = "undecodable"


def _first_line(model: type[BaseModel]) -> str:
    doc = (model.__doc__ or "").strip()
    return " ".join(doc.split("\n\n")[0].split())


def message_name(event_type: str, version: int) -> str:
    return f"{event_type}.v{version}"


def _channel_id(topic: str) -> str:
    return topic.removeprefix("qamqor.")


def _headers_schema(extra: dict[str, str] | None = None) -> dict[str, Any]:
    headers = HEADERS | (extra or {})
    schema: dict[str, Any] = {"type": "object",
                              "properties": {name: {"type": "string", "description": text}
                                             for name, text in headers.items()}}
    if extra:
        schema["required"] = sorted(extra)
    return schema


def _envelope_properties() -> dict[str, Any]:
    schema = Envelope.model_json_schema(mode="serialization")
    properties = dict(schema["properties"])
    descriptions = {
        "id": "The event id (UUIDv7): consumers handle each id once.",
        "type": "The event type.",
        "version": "The contract version of `data`.",
        "source": "The publishing service (the topic is `qamqor.<source>`).",
        "key": "The Kafka message key.",
        "occurred_at": "When the event was recorded (UTC).",
        "correlation_id": "The flow this event belongs to: the first event's id (or the application id).",
        "causation_id": "The id of the event that caused this one.",
        "data": "The event's contract.",
    }
    return {name: {**prop, "description": descriptions[name]} for name, prop in properties.items()}


def build() -> dict[str, Any]:
    """The AsyncAPI 3.0 document (a plain dict, deterministic: same contracts, same document)."""
    contracts = registered()
    unknown = sorted(event_type for event_type, _ in contracts if event_type not in PUBLISHER)
    if unknown:
        raise ValueError(f"no publisher recorded for {unknown} (shared.events.asyncapi.PUBLISHER)")
    order = sorted(contracts)
    refs, definitions = models_json_schema([(contracts[k], "serialization") for k in order],
                                           ref_template="#/components/schemas/{model}")
    schemas: dict[str, Any] = dict(sorted(definitions.get("$defs", {}).items()))
    envelope = _envelope_properties()
    required = list(Envelope.model_fields)  # every field is written, null or not

    messages: dict[str, Any] = {}
    channel_messages: dict[str, dict[str, Any]] = {_channel_id(t): {} for t in TOPICS.values()}
    for event_type, version in order:
        model = contracts[(event_type, version)]
        name = message_name(event_type, version)
        source = PUBLISHER[event_type]
        data_ref = refs[(model, "serialization")]
        properties = dict(envelope)
        properties["type"] = {**envelope["type"], "const": event_type}
        properties["version"] = {**envelope["version"], "const": version}
        properties["source"] = {**envelope["source"], "const": source}
        properties["key"] = {**envelope["key"], "description": KEY_OF.get(event_type, APPLICATION_KEY)}
        properties["data"] = {"$ref": data_ref["$ref"], "description": envelope["data"]["description"]}
        messages[name] = {
            "name": event_type,
            "title": f"{event_type} v{version}",
            "summary": _first_line(model) or f"{model.__name__}",
            "contentType": "application/json",
            "headers": {"$ref": "#/components/schemas/EventHeaders"},
            "payload": {"type": "object", "title": f"{model.__name__}Envelope", "properties": properties,
                        "required": required, "additionalProperties": False},
            "bindings": {"kafka": {"key": {"type": "string",
                                           "description": KEY_OF.get(event_type, APPLICATION_KEY)},
                                   "bindingVersion": KAFKA_BINDING_VERSION}},
            "x-qamqor-publisher": source,
            "x-qamqor-subscribers": sorted(service for service, follows in SUBSCRIBERS.items()
                                           if event_type in follows["events"] and TOPICS[source] in follows["topics"]),
        }
        channel_messages[_channel_id(TOPICS[source])][name] = {"$ref": f"#/components/messages/{name}"}

    schemas["EventHeaders"] = _headers_schema()
    schemas["DeadLetterHeaders"] = _headers_schema(DEAD_LETTER_HEADERS)
    dead_letter_envelope = {name: dict(prop) for name, prop in envelope.items()}
    dead_letter_envelope["data"] = {"type": "object", "additionalProperties": True,
                                    "description": "The original event's `data`, as it was published."}
    messages["dead-letter.event"] = {
        "name": "dead-letter.event",
        "title": "A dead letter",
        "summary": "An event a consumer could not handle, exactly as it was published (any registered type); "
                   "an operator may replay it to `original_topic`.",
        "contentType": "application/json",
        "headers": {"$ref": "#/components/schemas/DeadLetterHeaders"},
        "payload": {"type": "object", "title": "DeadLetterEnvelope", "properties": dead_letter_envelope,
                    "required": required, "additionalProperties": False},
        "bindings": {"kafka": {"key": {"type": "string", "description": "The original event's key."},
                               "bindingVersion": KAFKA_BINDING_VERSION}},
    }
    undecodable = {name: dict(prop) for name, prop in envelope.items()}
    undecodable["type"] = {**envelope["type"], "const": UNDECODABLE}
    undecodable["source"] = {**envelope["source"], "description": "The service whose consumer could not decode it."}
    undecodable["key"] = {**envelope["key"], "description": "`<topic>/<partition>/<offset>` of the message."}
    undecodable["data"] = {"type": "object", "additionalProperties": False,
                           "required": ["topic", "partition", "offset"],
                           "properties": {"topic": {"type": "string"}, "partition": {"type": "integer"},
                                          "offset": {"type": "integer"}},
                           "description": "Where the message is — never its bytes, which may hold personal data."}
    messages["dead-letter.undecodable"] = {
        "name": UNDECODABLE,
        "title": "An undecodable message",
        "summary": "A message that was not an event at all (not JSON, not an envelope). Not replayable.",
        "contentType": "application/json",
        "headers": {"$ref": "#/components/schemas/DeadLetterHeaders"},
        "payload": {"type": "object", "title": "UndecodableEnvelope", "properties": undecodable,
                    "required": required, "additionalProperties": False},
        "bindings": {"kafka": {"key": {"type": "string", "description": "`<topic>/<partition>/<offset>`."},
                               "bindingVersion": KAFKA_BINDING_VERSION}},
    }

    channels: dict[str, Any] = {}
    for service, topic in TOPICS.items():
        channel = _channel_id(topic)
        channels[channel] = {
            "address": topic,
            "title": topic,
            "description": f"Events published by {service} (through its outbox), keyed by application id.",
            "messages": channel_messages[channel],
            "bindings": {"kafka": {"topic": topic, "bindingVersion": KAFKA_BINDING_VERSION}},
        }
    channels[DEAD_LETTER] = {
        "address": DEAD_LETTER_TOPIC,
        "title": DEAD_LETTER_TOPIC,
        "description": "Events a consumer could not handle, written by that consumer (every service) with "
                       "the headers `error`, `failed_in` and `original_topic`; reporting keeps them for an "
                       "operator to list and replay (docs/operations.md).",
        "messages": {"dead-letter.event": {"$ref": "#/components/messages/dead-letter.event"},
                     "dead-letter.undecodable": {"$ref": "#/components/messages/dead-letter.undecodable"}},
        "bindings": {"kafka": {"topic": DEAD_LETTER_TOPIC, "bindingVersion": KAFKA_BINDING_VERSION}},
    }

    operations: dict[str, Any] = {}
    for service, topic in TOPICS.items():
        channel = _channel_id(topic)
        if channel_messages[channel]:
            operations[f"{service}.publish"] = {
                "action": "send", "title": f"{service} publishes",
                "channel": {"$ref": f"#/channels/{channel}"},
                "messages": [{"$ref": f"#/channels/{channel}/messages/{name}"} for name in channel_messages[channel]],
            }
    for service, follows in SUBSCRIBERS.items():
        for topic in follows["topics"]:
            channel = _channel_id(topic)
            handled = [name for name, message in channel_messages[channel].items()
                       if messages[name]["name"] in follows["events"]]
            if not handled:
                continue
            operations[f"{service}.receive.{channel}"] = {
                "action": "receive", "title": f"{service} follows {topic}",
                "channel": {"$ref": f"#/channels/{channel}"},
                "messages": [{"$ref": f"#/channels/{channel}/messages/{name}"} for name in handled],
            }
    dead_letter_messages = [{"$ref": f"#/channels/{DEAD_LETTER}/messages/{name}"}
                            for name in channels[DEAD_LETTER]["messages"]]
    operations["every-service.dead-letter"] = {
        "action": "send", "title": "A consumer dead-letters what it cannot handle",
        "description": "Every service's consumer (shared.consumer), and verification for parked work it gives up on.",
        "channel": {"$ref": f"#/channels/{DEAD_LETTER}"}, "messages": dead_letter_messages,
    }
    for service in DEAD_LETTER_SUBSCRIBERS:
        operations[f"{service}.receive.{DEAD_LETTER}"] = {
            "action": "receive", "title": f"{service} keeps the dead letters",
            "channel": {"$ref": f"#/channels/{DEAD_LETTER}"}, "messages": dead_letter_messages,
        }

    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "Qamqor events",
            "version": DOCUMENT_VERSION,
            "description": "The events Qamqor's services exchange over Kafka. Every message is a JSON envelope "
                           "whose `data` is the pydantic contract of its (type, version) in "
                           "shared/events/contracts.py; services talk only through these events.",
        },
        "defaultContentType": "application/json",
        "servers": {
            "kafka": {"host": "127.0.0.1:19092", "protocol": "kafka",
                      "description": "The broker (QAMQOR_KAFKA_BOOTSTRAP)."},
        },
        "channels": channels,
        "operations": operations,
        "components": {"schemas": schemas, "messages": messages},
    }


def render() -> str:
    """The document as the checked-in docs/asyncapi.json holds it."""
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":  # uv run python -m shared.events.asyncapi > docs/asyncapi.json
    sys.stdout.write(render())
