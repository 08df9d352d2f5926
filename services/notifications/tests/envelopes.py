"""Domain-event envelopes as cases publishes them (the contract's own dump)."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

from peluit_contracts.events import dump_envelope

AT = datetime(2026, 3, 2, 2, 0, tzinfo=timezone.utc)


def registered(case_id: uuid.UUID | None = None, tenant: str = "35.73") -> dict:
    case_id = case_id or uuid.uuid4()
    return dump_envelope(event_id=f"{case_id}:1", event_type="case.registered", version=1, time=AT,
                         subject=str(case_id), tenant=tenant, position=1, data={
                             "case_id": case_id, "tenant": tenant, "registration_number": "WBS/35.73/2026/000001",
                             "category": "korupsi", "channel": "web", "anonymous": True, "registered_at": AT})


def message_for_reporter(kind: str = "message", case_id: uuid.UUID | None = None, version: int = 4) -> dict:
    case_id = case_id or uuid.uuid4()
    return dump_envelope(event_id=f"{case_id}:{version}", event_type="case.message_for_reporter", version=1,
                         time=AT, subject=str(case_id), tenant="35.73", position=version, data={
                             "case_id": case_id, "tenant": "35.73", "kind": kind, "sent_at": AT})


def status_changed(case_id: uuid.UUID | None = None) -> dict:
    case_id = case_id or uuid.uuid4()
    return dump_envelope(event_id=f"{case_id}:2", event_type="case.status_changed", version=1, time=AT,
                         subject=str(case_id), tenant="35.73", position=2, data={
                             "case_id": case_id, "tenant": "35.73", "origin_tenant": "35.73",
                             "status": "verifikasi", "step": "verification_started", "changed_at": AT})


def event(event_type: str, tenant: str = "35.73", case_id: uuid.UUID | None = None, suffix: str = "",
          **data) -> dict:
    """Any envelope of the contract: ``data`` beside case_id and tenant (datetimes as AT)."""
    case_id = case_id or uuid.uuid4()
    body = {"case_id": case_id, "tenant": tenant, **data}
    if event_type.startswith("disclosure."):
        body.setdefault("request_id", uuid.uuid4())
    return dump_envelope(event_id=f"{case_id}:5{suffix}", event_type=event_type, version=1, time=AT,
                         subject=str(case_id), tenant=tenant, position=5, data=body)
