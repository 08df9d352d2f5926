"""The aggregates beside the case: the registration sequence (gap-free numbers
per tenant and year), the receipt index (a receipt's slow hash to its case)
and the access log (every officer access to a case's content).

Ids are derived (uuid5), so the same tenant-year and the same receipt always
land on the same aggregate. These classes lived in ``domain`` until issue 20:
their stored topics (``peluit_cases.domain:AccessLog...``) stay registered.
"""

from __future__ import annotations

from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event
from eventsourcing.utils import register_topic

NS_SEQUENCE = UUID("5c0d8a4e-3f6b-4d59-9a57-8a3e7c1b2f02")
NS_RECEIPT = UUID("5c0d8a4e-3f6b-4d59-9a57-8a3e7c1b2f03")
NS_ACCESS = UUID("5c0d8a4e-3f6b-4d59-9a57-8a3e7c1b2f04")
OLD_MODULE = "peluit_cases.domain"


class AccessLog(Aggregate):
    """Every officer access to a case's content, allowed or refused: one log
    per case, apart from the case so that reading does not bump its version."""

    @staticmethod
    def create_id(case_id: UUID) -> UUID:
        return uuid5(NS_ACCESS, str(case_id))

    @event("Opened")
    def __init__(self, case_id: UUID):
        self.case_id = case_id
        self.count = 0
        self.refused = 0

    @event("Accessed")
    def accessed(self, officer_id: str, tenant: str, roles: list, action: str, allowed: bool) -> None:
        self.count += 1
        self.refused += 0 if allowed else 1


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


# events and snapshots stored before the move name the old module
for _moved in (AccessLog, RegistrationSequence, ReceiptIndex):
    register_topic(f"{OLD_MODULE}:{_moved.__qualname__}", _moved)
