"""Report submission (public HTTP contract) and the intake -> cases RPC payloads."""

from __future__ import annotations

from uuid import UUID, uuid5

from marshmallow import ValidationError, fields, validates_schema

from .fields import Bool, Int, Nested, Pattern, Strict, Text
from .i18n import encode

TENANT_CODE = r"\d{2}(\.\d{2})?"
RECEIPT_PATTERN = r"\d{16}"
EMAIL_PATTERN = r"[^@\s]{1,64}@[^@\s]{1,255}\.[A-Za-z]{2,63}"
CHANNELS = ("web", "email", "whatsapp", "letter", "phone", "walk_in", "integration")

# A case's id is derived from its submission: the same submission is the same case
# (no doubles), and the vault learns which case a reporter's identity belongs to
# without any message that could be forged.
CASE_ID_NAMESPACE = UUID("5c0d8a4e-3f6b-4d59-9a57-8a3e7c1b2f01")


def case_id_for(submission_id: str) -> UUID:
    return uuid5(CASE_ID_NAMESPACE, submission_id)


def tenant_field(**kwargs):
    return Pattern(TENANT_CODE, "tenant_code", max_len=5, **kwargs)


class IdentitySchema(Strict):
    """What a reporter may tell about themself. Exists in clear only inside
    intake's request handling (before sealing) and the identity vault."""

    name = Text(max_len=200, multiline=False)
    nik = Pattern(r"\d{16}", "nik", strip=" .-")
    nip = Pattern(r"\d{18}", "nip", strip=" .-")
    email = Pattern(EMAIL_PATTERN, "email", max_len=320)
    phone = Pattern(r"\+?\d{8,15}", "phone", strip=" -().")
    address = Text(max_len=500)

    @validates_schema
    def _not_empty(self, data, **_):
        if not data:
            raise ValidationError(encode("identity_empty"))


class ReportFieldsSchema(Strict):
    """The 5W+1H of a report. ``who`` and ``how`` may be unknown to the reporter."""

    what = Text(required=True, min_len=10, max_len=5000)
    where = Text(required=True, max_len=500)
    when = Text(required=True, max_len=200)
    who = Text(max_len=1000)
    how = Text(max_len=5000)
    # the terlapor works at the Inspektorat itself: the province must handle it
    terlapor_inspektorat = Bool(load_default=False)


class ReportSubmissionSchema(ReportFieldsSchema):
    """``POST /api/v1/reports`` body (public contract v1)."""

    tenant = tenant_field(required=True)
    category = Pattern(r"[a-z0-9_\-]{2,64}", "code", required=True, max_len=64)
    identity = Nested(IdentitySchema, allow_none=True)


class ReceiptSchema(Strict):
    """``POST /api/v1/reports/status`` body."""

    receipt = Pattern(RECEIPT_PATTERN, "receipt", required=True, strip=" -", max_len=40)


class ReporterMessageSchema(ReceiptSchema):
    """``POST /api/v1/reports/messages`` body: the receipt opens the dialogue."""

    text = Text(required=True, max_len=5000)


class AssistedReportSchema(ReportSubmissionSchema):
    """``POST /api/v1/assisted-reports``: a penerima types in a walk-in,
    letter or telephone report on the reporter's behalf."""

    channel = Pattern("walk_in|letter|phone", "code", required=True, max_len=16)


class AssistedBy(Strict):
    officer_id = Pattern(r"[0-9a-f\-]{36}", "code", required=True, max_len=36)
    username = Pattern(r"[a-z0-9._\-]{3,64}", "code", required=True, max_len=64)


SOURCE_ID = r"[A-Za-z0-9._:/\-]{1,100}"
SYSTEM_NAME = r"[a-z0-9][a-z0-9\-]{1,40}"


class ReportSource(Strict):
    """Where a partner system's report came from (``peluit_contracts.partner``): its name and reference."""

    system = Pattern(SYSTEM_NAME, "code", required=True, max_len=41)
    source_id = Pattern(SOURCE_ID, "code", required=True, max_len=100)


class RegisterReportCommand(Strict):
    """intake -> cases ``register_report`` RPC (v1). No identity: only the
    vault's opaque ``reporter_ref``."""

    version = Int(required=True)
    submission_id = Pattern(r"[0-9a-f]{64}", "code", required=True, max_len=64)
    fingerprint = Pattern(r"[0-9a-f]{64}", "code", required=True, max_len=64)
    receipt_hash = Pattern(r"[0-9a-f]{64}", "code", required=True, max_len=64)
    tenant = tenant_field(required=True)
    category = Pattern(r"[a-z0-9_\-]{2,64}", "code", required=True, max_len=64)
    channel = Pattern("|".join(CHANNELS), "code", required=True, max_len=16)
    report = Nested(ReportFieldsSchema, required=True)
    reporter_ref = Pattern(r"[A-Za-z0-9_\-]{20,64}", "code", allow_none=True, load_default=None)
    anonymous = Bool(required=True)
    assisted_by = Nested(AssistedBy, allow_none=True, load_default=None)
    source = Nested(ReportSource, allow_none=True, load_default=None)  # channel "integration" only


REGISTER_REPORT_VERSION = 1


class StoreIdentityCommand(Strict):
    """intake -> identity-vault ``store_identity`` RPC (v1): a libsodium sealed
    box (base64) that only the vault's private key opens."""

    version = Int(required=True)
    submission_id = Pattern(r"[0-9a-f]{64}", "code", required=True, max_len=64)
    sealed_identity = fields.String(required=True)
    tenant = tenant_field(required=True)


STORE_IDENTITY_VERSION = 1
