"""The case aggregate and its helpers: plain eventsourcing, no broker, no HTTP.

Ids are derived (uuid5) so that the same submission, the same tenant-year
sequence and the same receipt always land on the same aggregate: a duplicate
is then an optimistic-concurrency conflict in the event store, not a second case.
"""

from __future__ import annotations

from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

NS_CASE = UUID("5c0d8a4e-3f6b-4d59-9a57-8a3e7c1b2f01")
NS_SEQUENCE = UUID("5c0d8a4e-3f6b-4d59-9a57-8a3e7c1b2f02")
NS_RECEIPT = UUID("5c0d8a4e-3f6b-4d59-9a57-8a3e7c1b2f03")

# Reporter-visible statuses with their bilingual labels.
STATUS_LABELS = {
    "diterima": {"id": "Laporan diterima dan terdaftar", "en": "Report received and registered"},
}


class DomainError(Exception):
    """A command the aggregate refuses; ``code`` is stable for clients."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


class Case(Aggregate):
    """One report's life at an Inspektorat."""

    @staticmethod
    def create_id(submission_id: str, **_) -> UUID:
        return uuid5(NS_CASE, submission_id)

    @event("Registered")
    def __init__(self, submission_id: str, fingerprint: str, tenant: str, registration_number: str,
                 category: str, channel: str, report: dict, reporter_ref: str | None, anonymous: bool):
        self.submission_id = submission_id
        self.fingerprint = fingerprint
        self.tenant = tenant
        self.registration_number = registration_number
        self.category = category
        self.channel = channel
        self.report = report
        self.reporter_ref = reporter_ref
        self.anonymous = anonymous
        self.status = "diterima"
        self.timeline = [{"at": self.created_on.isoformat(), "status": "diterima"}]


class RegistrationSequence(Aggregate):
    """Gap-free registration numbers per tenant and year (auditors ask about gaps)."""

    @staticmethod
    def create_id(tenant: str, year: int) -> UUID:
        return uuid5(NS_SEQUENCE, f"{tenant}/{year}")

    @event("Started")
    def __init__(self, tenant: str, year: int):
        self.tenant = tenant
        self.year = year
        self.last = 0

    @event("Issued")
    def _issued(self, number: int) -> None:
        self.last = number

    def issue(self) -> int:
        self._issued(number=self.last + 1)
        return self.last


class ReceiptIndex(Aggregate):
    """Maps a receipt's slow hash to its case. The receipt itself is never stored."""

    @staticmethod
    def create_id(receipt_hash: str, **_) -> UUID:
        return uuid5(NS_RECEIPT, receipt_hash)

    @event("Bound")
    def __init__(self, receipt_hash: str, case_id: UUID):
        self.case_id = case_id


def registration_number(tenant: str, year: int, number: int) -> str:
    return f"WBS/{tenant}/{year}/{number:06d}"
