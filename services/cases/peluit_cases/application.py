"""The cases application: commands and queries over the event store.

Plain eventsourcing; runs on the in-memory store in unit tests and on
PostgreSQL in the service.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID
from zoneinfo import ZoneInfo

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError

from .domain import (
    STATUS_LABELS,
    Case,
    DomainError,
    ReceiptIndex,
    RegistrationSequence,
    registration_number,
)
from .envelopes import to_envelope

MAX_SAVE_ATTEMPTS = 20


@dataclass(frozen=True)
class Registration:
    case_id: UUID
    registration_number: str
    status: str
    created: bool


class CasesApplication(Application):
    name = "cases"
    snapshotting_intervals = {Case: 50, RegistrationSequence: 100}

    def __init__(self, *args, timezone: str = "Asia/Jakarta", **kwargs):
        super().__init__(*args, **kwargs)
        self.timezone = ZoneInfo(timezone)
        # writers serialise on the event store's table lock anyway; a lock per
        # tenant-year keeps this process's own writers from conflicting
        self._sequence_locks: dict[tuple[str, int], threading.Lock] = defaultdict(threading.Lock)

    # -- commands ---------------------------------------------------------

    def register_report(self, cmd: dict, now: datetime | None = None) -> Registration:
        """Register a report once per ``submission_id``; a repeat returns the
        first registration (idempotent), or refuses a different report."""
        existing = self._existing(cmd)
        if existing is not None:
            return existing
        year = (now or datetime.now(self.timezone)).astimezone(self.timezone).year
        key = (cmd["tenant"], year)
        with self._sequence_locks[key]:
            for _ in range(MAX_SAVE_ATTEMPTS):
                sequence = self._sequence(*key)
                number = registration_number(cmd["tenant"], year, sequence.issue())
                case = Case(
                    submission_id=cmd["submission_id"], fingerprint=cmd["fingerprint"], tenant=cmd["tenant"],
                    registration_number=number, category=cmd["category"], channel=cmd["channel"],
                    report=dict(cmd["report"]), reporter_ref=cmd.get("reporter_ref"), anonymous=cmd["anonymous"],
                )
                index = ReceiptIndex(receipt_hash=cmd["receipt_hash"], case_id=case.id)
                try:
                    self.save(sequence, case, index)
                except IntegrityError:
                    # another writer won: either the same submission (then it
                    # is a repeat) or the next number (then try again)
                    existing = self._existing(cmd)
                    if existing is not None:
                        return existing
                    continue
                return Registration(case.id, number, case.status, True)
        raise DomainError("registration_contended")

    def _existing(self, cmd: dict) -> Registration | None:
        try:
            case: Case = self.repository.get(Case.create_id(cmd["submission_id"]))
        except AggregateNotFoundError:
            return None
        if case.fingerprint != cmd["fingerprint"] or case.tenant != cmd["tenant"]:
            raise DomainError("idempotency_key_reused")
        return Registration(case.id, case.registration_number, case.status, False)

    def _sequence(self, tenant: str, year: int) -> RegistrationSequence:
        try:
            return self.repository.get(RegistrationSequence.create_id(tenant, year))
        except AggregateNotFoundError:
            return RegistrationSequence(tenant=tenant, year=year)

    # -- queries ----------------------------------------------------------

    def case_for_receipt(self, receipt_hash: str) -> Case | None:
        try:
            index: ReceiptIndex = self.repository.get(ReceiptIndex.create_id(receipt_hash))
        except AggregateNotFoundError:
            return None
        return self.repository.get(index.case_id)

    def reporter_view(self, receipt_hash: str) -> dict | None:
        """What the reporter may see: number, status and the visible timeline."""
        case = self.case_for_receipt(receipt_hash)
        if case is None:
            return None
        return {
            "registration_number": case.registration_number,
            "tenant": case.tenant,
            "status": {"code": case.status, "label": STATUS_LABELS[case.status]},
            "timeline": [
                {"at": item["at"], "status": item["status"], "label": STATUS_LABELS[item["status"]]}
                for item in case.timeline
            ],
        }

    def domain_events(self, after: int, limit: int = 500) -> dict:
        """A page of the notification log as public envelopes.

        ``next`` is the last position read, also past internal events that
        have no envelope, so a follower always advances.
        """
        notifications = self.recorder.select_notifications(start=after, limit=limit, inclusive_of_start=False)
        envelopes, last = [], after
        for notification in notifications:
            last = notification.id
            envelope = to_envelope(notification.id, self.mapper.to_domain_event(notification))
            if envelope is not None:
                envelopes.append(envelope)
        return {"events": envelopes, "next": last, "head": self.max_position()}

    def max_position(self) -> int:
        return self.recorder.max_notification_id() or 0
