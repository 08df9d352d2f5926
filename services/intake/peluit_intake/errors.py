"""What intake's use cases refuse, as typed errors: each channel (JSON API,
portal, SMTP, WhatsApp) translates them to its own protocol.

``code`` is the stable wire code, ``text`` the bilingual catalogue entry
(``peluit_contracts.i18n``) that explains it. No error carries a receipt,
report text or identity: only codes and counts.
"""

from __future__ import annotations


class IntakeError(Exception):
    code = "internal_error"
    text = "unavailable"

    def __init__(self, text: str | None = None):
        super().__init__(self.code)
        if text is not None:
            self.text = text


class UnknownTenant(IntakeError):
    """No live Inspektorat under this code (or not the assisting officer's own)."""

    code = text = "unknown_tenant"
    field = "tenant"


class UnknownCategory(IntakeError):
    code = text = "unknown_category"
    field = "category"


class IdempotencyKeyReused(IntakeError):
    """The key was used before for a report with other content."""

    code = text = "idempotency_key_reused"


class ReceiptNotFound(IntakeError):
    code, text = "not_found", "unknown_receipt"


class CaseClosed(IntakeError):
    code = text = "case_closed"


class EvidenceQuota(IntakeError):
    """The case holds as many evidence files or bytes as it may."""

    code, text = "evidence_quota", "case_evidence_quota"


class EvidenceRefused(IntakeError):
    """Files of one upload refused by content; ``refused`` lists each (``evidence_checks.Refused``)."""

    text = "evidence_refused"

    def __init__(self, refused):
        super().__init__()
        self.refused = refused
        self.code = refused.code


class Unavailable(IntakeError):
    """cases or the vault did not answer in time: nothing was decided, try again."""

    code = text = "unavailable"


class BackendRefused(IntakeError):
    """cases or the vault answered with an error intake does not expect (logged by code)."""

    code, text = "internal_error", "unavailable"


class SealedIdentityRefused(IntakeError):
    """A partner's sealed identity that the vault cannot open or that is not an identity."""

    code = text = "invalid_sealed_identity"


class Throttled(IntakeError):
    """Too many attempts by one client, for one receipt or from one sender: wait ``retry_after`` seconds."""

    code = text = "rate_limited"

    def __init__(self, wait: float):
        super().__init__()
        self.retry_after = int(wait) + 1

    @property
    def minutes(self) -> int:
        return (self.retry_after + 59) // 60


class Busy(IntakeError):
    """Every receipt-hash slot is taken and the queue is full: try again in a moment (nothing was done)."""

    code, text = "busy", "busy"
    retry_after = 1


def temporary(err: IntakeError) -> bool:
    """Whether the sender should try the same thing again later (a channel's 451 or 503)."""
    return isinstance(err, (Unavailable, BackendRefused, Busy))
