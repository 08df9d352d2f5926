"""Officer notifications: kinds, preferences and the recipients RPC (v1).

- ``cases.notification_recipients(RecipientsQuery)`` -> ``RecipientsReply``:
  the active officers notifications must tell (by tenant and role, by officer
  id, or "acting on the case"), each with the e-mail address on their record
  and their preference per kind, and the case's registration number and
  nearest deadline. Officers are cases' data; notifications keeps no directory.
  Nothing about the reporter crosses: no identity, no report text.
- ``notifications.officer_inbox(InboxQuery)`` -> ``Inbox`` and
  ``notifications.mark_read(MarkRead)`` -> ``{"unread": n}``: an officer's
  notification list (the console channel), which cases serves at
  ``/api/v1/officer/me/inbox`` for the signed-in officer only.
- Preferences are set in the officer API (``POST /api/v1/officer/me/notifications``).
"""

from __future__ import annotations

from marshmallow import fields, validate

from .fields import Int, Pattern, Strict, Text
from .reports import EMAIL_PATTERN, tenant_field

RECIPIENTS_RPC_VERSION = 1

# what officers are told of, in the order the preferences page lists them
KINDS = ("case_new", "case_arrived", "reporter_wrote", "team_assigned", "disclosure_waiting",
         "disclosure_approved", "deadline_approaching", "deadline_breached", "breach_summary")
MODES = ("immediately", "digest", "off")
# a breach cannot be switched off: "off" reads as "immediately"
ALWAYS_ON = frozenset({"deadline_breached", "breach_summary"})
DEFAULT_MODE = "immediately"
CHANNELS = ("email", "console")
ROLES = ("penerima", "penelaah", "investigator", "inspektur", "auditor", "tenant_admin", "province_admin")


def effective_mode(preferences: dict, kind: str) -> str:
    """The officer's choice for ``kind``, with the rule that breaches always arrive."""
    mode = preferences.get(kind, DEFAULT_MODE)
    return DEFAULT_MODE if mode == "off" and kind in ALWAYS_ON else mode


class RecipientsQuery(Strict):
    """Officers of ``tenant`` holding any of ``roles``, plus ``officer_ids``
    (any tenant), plus, with ``acting``, the officers acting on ``case_id``
    (its investigation team, else those who recorded its steps)."""

    version = Int(required=True, strict=True)
    tenant = tenant_field(allow_none=True, load_default=None)
    roles = fields.List(Pattern("|".join(ROLES), "code", max_len=20), load_default=list,
                        validate=validate.Length(max=len(ROLES)))
    officer_ids = fields.List(fields.UUID(), load_default=list, validate=validate.Length(max=100))
    case_id = fields.UUID(allow_none=True, load_default=None)
    acting = fields.Boolean(load_default=False)


class Recipient(Strict):
    officer_id = fields.UUID(required=True)
    tenant = tenant_field(required=True)
    email = Text(allow_none=True, load_default=None, max_len=320, multiline=False)
    preferences = fields.Dict(keys=Pattern("|".join(KINDS), "code", max_len=30),
                              values=Pattern("|".join(MODES), "code", max_len=12), load_default=dict)


class CaseFacts(Strict):
    registration_number = Text(required=True, max_len=40, multiline=False)
    deadline_rule = Text(allow_none=True, load_default=None, max_len=40, multiline=False)
    deadline_due_at = fields.AwareDateTime(allow_none=True, load_default=None)


class RecipientsReply(Strict):
    recipients = fields.List(fields.Nested(Recipient), required=True)
    case = fields.Nested(CaseFacts, allow_none=True, load_default=None)


class PreferencesChange(Strict):
    """``POST /api/v1/officer/me/notifications``: the kinds to change."""

    preferences = fields.Dict(keys=Pattern("|".join(KINDS), "code", max_len=30),
                              values=Pattern("|".join(MODES), "code", max_len=12), required=True)


class EmailChange(Strict):
    """``POST /api/v1/officers/<id>/email`` (an administrator of the
    officer's scope; null removes it)."""

    email = Pattern(EMAIL_PATTERN, "email", max_len=320, required=True, allow_none=True)


class Preference(Strict):
    kind = fields.String(required=True)
    mode = fields.String(required=True)
    can_switch_off = fields.Boolean(required=True)


class PreferencesReply(Strict):
    """Every kind with the officer's mode (``default_mode`` where none was chosen)."""

    preferences = fields.List(fields.Nested(Preference), required=True)
    default_mode = fields.String(required=True)


INBOX_RPC_VERSION = 1
MAX_INBOX_PAGE = 100


class InboxPage(Strict):
    """``GET /api/v1/officer/me/inbox``: newest first, ``before`` an item id to page on."""

    unread = fields.Boolean(load_default=False)
    before = Int(allow_none=True, load_default=None, validate=validate.Range(1, 2**63 - 1))
    limit = Int(load_default=20, validate=validate.Range(1, MAX_INBOX_PAGE))


class InboxQuery(InboxPage):
    version = Int(required=True, strict=True)
    officer_id = fields.UUID(required=True)


class InboxItem(Strict):
    id = fields.Integer(required=True)
    kind = fields.String(required=True)
    registration_number = fields.String(allow_none=True, required=True)
    case_id = fields.UUID(allow_none=True, required=True)
    deadline_rule = fields.String(allow_none=True, required=True)
    deadline_due_at = fields.AwareDateTime(allow_none=True, required=True)
    occurred_at = fields.AwareDateTime(required=True)
    read = fields.Boolean(required=True)


class Inbox(Strict):
    items = fields.List(fields.Nested(InboxItem), required=True)
    unread = fields.Integer(required=True)


class ReadChange(Strict):
    """``POST /api/v1/officer/me/inbox/read``: these items, or every one."""

    ids = fields.List(Int(validate=validate.Range(1, 2**63 - 1)), load_default=list,
                      validate=validate.Length(max=MAX_INBOX_PAGE))
    all = fields.Boolean(load_default=False)


class MarkRead(ReadChange):
    version = Int(required=True, strict=True)
    officer_id = fields.UUID(required=True)


class Unread(Strict):
    unread = fields.Integer(required=True)
