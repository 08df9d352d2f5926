"""The domain event envelope and the broker topology."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pytest
from marshmallow import ValidationError

from peluit_contracts.events import (
    DATA_SCHEMAS,
    INTEGRATION_TYPES,
    dump_envelope,
    load_envelope,
    routing_key,
)
from peluit_contracts.topology import EXCHANGES, RELIABLE_QUEUES

AT = datetime(2026, 3, 2, 2, 0, tzinfo=timezone.utc)


def registered(**data):
    case_id = uuid.uuid4()
    return dump_envelope(
        event_id=f"{case_id}:1", event_type="case.registered", version=1, time=AT, subject=str(case_id),
        tenant="35.73", position=7, data={"case_id": case_id, "tenant": "35.73",
                                          "registration_number": "WBS/35.73/2026/000001", "category": "korupsi",
                                          "channel": "web", "anonymous": True, "registered_at": AT, **data})


def test_an_envelope_round_trips_with_typed_data():
    envelope = registered()
    assert envelope["specversion"] == "1.0" and envelope["source"] == "peluit/cases"
    loaded = load_envelope(envelope)
    assert isinstance(loaded["data"]["case_id"], uuid.UUID)
    assert loaded["data"]["registered_at"] == AT and loaded["position"] == 7


def test_envelope_data_is_checked_against_its_type_and_version():
    envelope = registered()
    envelope["data"]["what"] = "report text has no place on the bus"
    with pytest.raises(ValidationError):
        load_envelope(envelope)


def test_an_unknown_type_keeps_its_data_but_not_a_bad_header():
    envelope = {**registered(), "type": "case.something_new", "data": {"x": 1}}
    assert load_envelope(envelope)["data"] == {"x": 1}
    with pytest.raises(ValidationError):
        load_envelope({**registered(), "tenant": "jatim"})


def test_no_event_schema_carries_identity_or_report_text():
    forbidden = {"identity", "name", "nik", "nip", "email", "phone", "address", "reporter_ref",
                 "what", "where", "when", "who", "how", "text", "report"}
    for key, schema in DATA_SCHEMAS.items():
        assert not forbidden & set(schema().fields), key


def test_integration_types_are_published_events():
    assert INTEGRATION_TYPES <= {t for t, _ in DATA_SCHEMAS}
    assert routing_key("case.closed", 1) == "case.closed.v1"


def test_every_reliable_queue_is_a_quorum_queue_on_a_declared_exchange():
    for queue in RELIABLE_QUEUES:
        assert queue.arguments["x-queue-type"] == "quorum"
        assert queue.exchange in EXCHANGES
        assert queue.dead_letter_queue == f"{queue.name}.dead"
        assert queue.retry_queue(1000) == f"{queue.name}.backoff.1000ms"
        assert queue.retry_exchange == f"{queue.name}.retry"
