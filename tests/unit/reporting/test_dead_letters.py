"""What a dead-letter message says: the failed event, where and why — the reason IIN-masked,
whoever wrote it — and whether it can be replayed."""

from __future__ import annotations

import uuid
from datetime import date

import orjson

from services.reporting import domain
from tests.support import decided_event, person

HEADERS = {"error": "ValidationError: [...]", "failed_in": "payments", "original_topic": "qamqor.eligibility",
           "event_type": "eligibility.decided"}


def test_an_event_that_failed_is_kept_to_be_replayed():
    event = decided_event()
    seen = domain.read_dead_letter(orjson.dumps(event.model_dump(mode="json")), HEADERS,
                                   topic="qamqor.dead-letter", partition=2, offset=17)
    assert (seen.event_id, seen.event_type, seen.key) == (event.id, "eligibility.decided", event.key)
    assert (seen.failed_in, seen.original_topic, seen.error) == ("payments", "qamqor.eligibility",
                                                                 "ValidationError: [...]")
    assert seen.replayable and seen.envelope == event.model_dump(mode="json")


def test_the_same_message_delivered_again_is_the_same_position_and_another_message_another():
    value = orjson.dumps(decided_event().model_dump(mode="json"))
    first = domain.read_dead_letter(value, HEADERS, topic="qamqor.dead-letter", partition=2, offset=17)
    again = domain.read_dead_letter(value, HEADERS, topic="qamqor.dead-letter", partition=2, offset=17)
    later = domain.read_dead_letter(value, HEADERS, topic="qamqor.dead-letter", partition=2, offset=18)
    assert first.position == again.position != later.position
    assert first.event_id == later.event_id  # the same event, dead-lettered twice


def test_an_undecodable_message_is_kept_without_content_and_cannot_be_replayed():
    seen = domain.read_dead_letter(b"\xff not json", {"failed_in": "intake", "original_topic": "qamqor.payments",
                                                      "error": "JSONDecodeError: unexpected byte"},
                                   topic="qamqor.dead-letter", partition=0, offset=3)
    assert not seen.replayable and seen.envelope is None
    assert seen.event_type == "undecodable" and seen.key == ""
    assert seen.event_id == seen.position == uuid.uuid5(uuid.NAMESPACE_URL, "kafka:qamqor.dead-letter/0/3")


def test_an_iin_in_the_reason_is_masked_and_missing_headers_are_named():
    iin = person(date(1990, 1, 1), "female", "applicant")["iin"]
    seen = domain.read_dead_letter(orjson.dumps(decided_event().model_dump(mode="json")),
                                   {"error": f"KeyError: {iin}"}, topic="qamqor.dead-letter", partition=0, offset=1)
    assert iin not in seen.error and seen.error.startswith("KeyError: ")
    assert (seen.failed_in, seen.original_topic) == ("unknown", "unknown")


def test_a_consumers_note_of_an_undecodable_message_is_kept_by_its_own_id_and_cannot_be_replayed():
    from shared.events import Envelope

    note = Envelope(id=uuid.UUID(int=5), type="undecodable", source="payments", key="qamqor.contracts/1/9",
                    data={"topic": "qamqor.contracts", "partition": 1, "offset": 9})
    seen = domain.read_dead_letter(orjson.dumps(note.model_dump(mode="json")),
                                   {"failed_in": "payments", "original_topic": "qamqor.contracts",
                                    "error": "JSONDecodeError: unexpected character"},
                                   topic="qamqor.dead-letter", partition=0, offset=4)
    assert (seen.event_id, seen.event_type, seen.key) == (uuid.UUID(int=5), "undecodable", "qamqor.contracts/1/9")
    assert not seen.replayable and seen.envelope is None
