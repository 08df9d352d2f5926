"""Officer HTTP API bodies and replies for accounts (v1): enrolment, sessions,
officer administration, audit grants, tenant settings and the admin change log."""

from __future__ import annotations

from datetime import date

from marshmallow import fields, validate

from .admin_rpc import MAX_RETENTION_YEARS
from .fields import Bool, Int, Pattern, Strict, Text
from .i18n import encode
from .officer_api import PagedQuery, PagedReply, Query, Reply, int_range, roles_field
from .reports import EMAIL_PATTERN, tenant_field

ENROLMENT_CODE_CHARS = 64  # 20 characters, and room for the spaces or hyphens a reader adds
PASSWORD_RULE = validate.Length(min=12, max=1024, error=encode("weak_password", min=12))


class EnrolmentStart(Strict):
    username = Pattern(r"[a-z0-9._\-]{3,64}", "code", required=True, max_len=64)
    enrolment_code = fields.String(required=True, validate=validate.Length(min=1, max=ENROLMENT_CODE_CHARS))


class EnrolmentComplete(Strict):
    enrolment_token = fields.String(required=True, validate=validate.Length(min=1, max=4096))
    password = fields.String(required=True, validate=PASSWORD_RULE)
    totp = Pattern(r"\d{6}", "code", required=True, max_len=6)
    # the officer's own address for notifications; absent keeps the one the administrator gave
    email = Pattern(EMAIL_PATTERN, "email", max_len=320, load_default=None)


class PasswordChange(Strict):
    current_password = fields.String(required=True, validate=validate.Length(min=1, max=1024))
    new_password = fields.String(required=True, validate=PASSWORD_RULE)
    totp = Pattern(r"\d{6}", "code", required=True, max_len=6)


class Roles(Strict):
    roles = roles_field(required=True)


class TenantSettingsChange(Strict):
    """Any subset; a field left out stays as it is (``information_request_days``
    null: the pack's own number of days)."""

    deadline_pack = Pattern(r"[a-z0-9_]{2,32}", "code", max_len=32)
    information_request_days = Int(strict=True, allow_none=True, validate=int_range(1, 365))
    disclosure_notice = Bool(truthy={True}, falsy={False})
    # k: how many inspekturs besides the requester approve a disclosure (the vault's upper bound is 5)
    disclosure_approvals = Int(strict=True, validate=int_range(1, 5))
    retention_years = Int(strict=True, validate=int_range(1, MAX_RETENTION_YEARS))
    # years a case's content (report text, dialogue, notes, evidence copies) is kept after the case ended
    content_retention_years = Int(strict=True, validate=int_range(1, MAX_RETENTION_YEARS))


class Holiday(Strict):
    date = fields.Date(required=True, validate=validate.Range(date(2000, 1, 1), date(2100, 12, 31),
                                                              error=encode("holiday_date")),
                       error_messages={"invalid": "holiday_date", "required": "required"})
    name = Text(required=True, max_len=200, multiline=False)


class Category(Strict):
    code = Pattern(r"[a-z0-9_\-]{2,64}", "code", required=True, max_len=64)
    label_id = Text(required=True, max_len=200, multiline=False)
    label_en = Text(required=True, max_len=200, multiline=False)
    active = Bool(truthy={True}, falsy={False}, load_default=True)


class OfficerListQuery(PagedQuery):
    """``GET /api/v1/officers``: admins their scope in full; others their own tenant's team."""

    tenant = tenant_field()
    role = Pattern(r"[a-z_]{3,20}", "code", max_len=20)
    active = Bool()


class GrantListQuery(Query):
    tenant = tenant_field()
    active = Bool()


class AdminChangeQuery(PagedQuery):
    tenant = tenant_field()


class EnrolmentStarted(Reply):
    """For the enrolling officer alone: their new TOTP secret, and the token
    (10 minutes, good for the completion step only) that proves the code."""

    enrolment_token = fields.String(required=True)
    totp_secret = fields.String(required=True, validate=validate.Regexp(r"^[A-Z2-7]{32}$"))
    totp_uri = fields.String(required=True)
    expires_in = fields.Integer(required=True)


class Me(Reply):
    id = fields.UUID(required=True)
    tenant = fields.String(required=True)
    username = fields.String(required=True)
    display_name = fields.String(required=True)
    roles = fields.List(fields.String(), required=True)
    email = fields.String(required=True, allow_none=True)
    enrolled_at = fields.DateTime(required=True, allow_none=True)


class ListedOfficer(Reply):
    """Every officer sees id, username, display name and roles; administrators
    of the officer's scope also the rest."""

    id = fields.UUID(required=True)
    username = fields.String(required=True)
    display_name = fields.String(required=True)
    roles = fields.List(fields.String(), required=True)
    tenant = fields.String()
    email = fields.String(allow_none=True)
    active = fields.Boolean()
    enrolled = fields.Boolean()
    enrolment_expires_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()
    created_by = fields.UUID(allow_none=True)


class OfficerList(PagedReply):
    items = fields.List(fields.Nested(ListedOfficer), required=True)


class AdministeredOfficer(ListedOfficer):
    tenant = fields.String(required=True)
    email = fields.String(required=True, allow_none=True)
    active = fields.Boolean(required=True)
    enrolled = fields.Boolean(required=True)
    enrolment_expires_at = fields.DateTime(required=True, allow_none=True)
    created_at = fields.DateTime(required=True)
    created_by = fields.UUID(required=True, allow_none=True)


class FactorReset(AdministeredOfficer):
    """Shown once, to the resetting administrator: the new enrolment code."""

    enrolment_code = fields.String(required=True, validate=validate.Regexp(r"^[A-Z2-9]{20}$"))


class Grant(Reply):
    id = fields.Integer(required=True)
    officer_id = fields.UUID(required=True)
    username = fields.String(required=True, allow_none=True)
    tenant = fields.String(required=True)
    reason = fields.String(required=True)
    granted_by = fields.UUID(required=True)
    created_at = fields.DateTime(required=True)
    expires_at = fields.DateTime(required=True)
    revoked_at = fields.DateTime(required=True, allow_none=True)


class GrantList(Reply):
    items = fields.List(fields.Nested(Grant), required=True)


class ListedCategory(Reply):
    code = fields.String(required=True)
    label_id = fields.String(required=True)
    label_en = fields.String(required=True)
    active = fields.Boolean(required=True)


class ListedHoliday(Reply):
    date = fields.Date(required=True)
    name = fields.String(required=True)


class TenantSettings(Reply):
    code = fields.String(required=True)
    name = fields.String(required=True)
    deadline_pack = fields.String(required=True)
    information_request_days = fields.Integer(required=True, allow_none=True)
    disclosure_notice = fields.Boolean(required=True)
    disclosure_approvals = fields.Integer(required=True, metadata={
        "description": "inspekturs (none of them the requester) who must approve a disclosure"})
    retention_years = fields.Integer(required=True)
    content_retention_years = fields.Integer(required=True, metadata={
        "description": "years a case's content is kept after the case ended; then its keys are destroyed"})
    categories = fields.List(fields.Nested(ListedCategory), required=True)
    holidays = fields.List(fields.Nested(ListedHoliday), required=True)
    packs = fields.List(fields.String(), required=True)


class AdminChange(Reply):
    id = fields.Integer(required=True)
    at = fields.DateTime(required=True)
    officer_id = fields.UUID(required=True, allow_none=True, metadata={"description": "who (null: the command line)"})
    username = fields.String(required=True, allow_none=True)
    tenant = fields.String(required=True)
    kind = fields.String(required=True)
    subject = fields.String(required=True)
    details = fields.Dict(required=True)


class AdminChangeList(PagedReply):
    items = fields.List(fields.Nested(AdminChange), required=True)
