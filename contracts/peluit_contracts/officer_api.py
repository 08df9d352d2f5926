"""Officer HTTP API bodies (cases service, v1). One schema per command."""

from __future__ import annotations

from marshmallow import fields

from .fields import Nested, Pattern, Strict, Text
from .reports import tenant_field


class Login(Strict):
    username = Pattern(r"[a-z0-9._\-]{3,64}", "code", required=True, max_len=64)
    password = fields.String(required=True, validate=lambda s: 0 < len(s) <= 1024)
    totp = Pattern(r"\d{6}", "code", required=True, max_len=6)


class Empty(Strict):
    pass


class Reason(Strict):
    reason = Text(required=True, max_len=2000)


class Note(Strict):
    note = Text(max_len=2000, load_default=None)


class MessageText(Strict):
    text = Text(required=True, max_len=5000)


class RequestInformation(Strict):
    question = Text(required=True, max_len=5000)
    due_on = fields.Date(required=True)


class Forward(Strict):
    destination_kind = Pattern(r"tenant|external", "code", required=True, max_len=10)
    destination = Pattern(r"[a-z_]{2,32}|\d{2}(\.\d{2})?", "code", required=True, max_len=32)
    reason = Text(required=True, max_len=2000)


class StartInvestigation(Strict):
    team = fields.List(Pattern(r"[0-9a-f\-]{36}", "code", max_len=36), required=True)
    plan = Text(required=True, max_len=10000)
    due_on = fields.Date(required=True)


class Sanction(Strict):
    level = Pattern(r"ringan|sedang|berat", "code", required=True, max_len=8)
    type = Pattern(r"[a-z_0-9]{3,40}", "code", required=True, max_len=40)
    months = fields.Integer(load_default=None)


class Recommendation(Strict):
    kind = Pattern(r"[a-z_]{3,40}", "code", required=True, max_len=40)
    details = Text(max_len=5000, load_default="")
    sanction = Nested(Sanction, load_default=None)
    amount = fields.Integer(load_default=None)


class RecordFindings(Strict):
    outcome = Pattern(r"terbukti|tidak_terbukti", "code", required=True, max_len=16)
    summary = Text(required=True, max_len=20000)
    recommendations = fields.List(fields.Nested(Recommendation), load_default=list)


class CompleteRecommendation(Strict):
    recommendation_id = Pattern(r"R\d{1,3}", "code", required=True, max_len=4)
    note = Text(required=True, max_len=5000)


class Close(Strict):
    reason = Text(required=True, max_len=2000)
    feedback = Text(required=True, max_len=5000)


class AuditGrant(Strict):
    officer_id = Pattern(r"[0-9a-f\-]{36}", "code", required=True, max_len=36)
    tenant = tenant_field(required=True)
    days = fields.Integer(required=True, validate=lambda d: 1 <= d <= 365)
    reason = Text(required=True, max_len=2000)


class NewOfficer(Strict):
    tenant = tenant_field(required=True)
    username = Pattern(r"[a-z0-9._\-]{3,64}", "code", required=True, max_len=64)
    display_name = Text(required=True, max_len=200, multiline=False)
    roles = fields.List(Pattern(r"[a-z_]{3,20}", "code", max_len=20), required=True)


# ``POST /api/v1/cases/{case_id}/{command}``: the body of each command (who may give
# it is the cases service's workflow rule, not part of the contract)
COMMANDS = {
    "start-verification": Empty,
    "request-information": RequestInformation,
    "accept": Note,
    "reject": Reason,
    "archive": Reason,
    "forward": Forward,
    "start-investigation": StartInvestigation,
    "record-findings": RecordFindings,
    "complete-recommendation": CompleteRecommendation,
    "close": Close,
    "message-reporter": MessageText,
    "add-note": MessageText,
    "recuse": Reason,
    "escalate": Reason,
}
