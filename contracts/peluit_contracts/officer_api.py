"""Officer HTTP API of the cases service (v1): request bodies (one schema per
command), query parameters, and the replies as documented in its OpenAPI
description (generated from these schemas)."""

from __future__ import annotations

from datetime import timezone

from marshmallow import EXCLUDE, INCLUDE, Schema, ValidationError, fields, validate

from .fields import Int, Nested, Pattern, Strict, Text
from .i18n import encode
from .replies import BilingualText, ErrorDetail
from .reports import CHANNELS, EMAIL_PATTERN, tenant_field

UUID_RE = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
CASE_STATUSES = ("diterima", "verifikasi", "menunggu_informasi", "dilimpahkan", "ditolak", "diarsipkan",
                 "penelaahan", "investigasi", "hasil", "tindak_lanjut", "selesai")
MAX_PAGE = 100_000  # far past any tenant's cases, well inside PostgreSQL's OFFSET
MAX_PER_PAGE = 100


def _uuid(**kwargs):
    return Pattern(UUID_RE, "code", max_len=36, **kwargs)


def int_range(low: int, high: int):
    return validate.Range(low, high, error=encode("number_range", min=low, max=high))


class AwareMoment(fields.AwareDateTime):
    """An ISO-8601 date and time with an offset that can be placed on the UTC line."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.error_messages = {key: "as_of" for key in self.error_messages}

    def _deserialize(self, value, attr, data, **kwargs):
        moment = super()._deserialize(value, attr, data, **kwargs)
        try:
            moment.astimezone(timezone.utc)
        except OverflowError:  # year 1 with a positive offset, year 9999 with a negative one
            raise ValidationError("as_of") from None
        return moment


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
    team = fields.List(_uuid(), required=True, validate=validate.Length(max=50))
    plan = Text(required=True, max_len=10000)
    due_on = fields.Date(required=True)


class Sanction(Strict):
    level = Pattern(r"ringan|sedang|berat", "code", required=True, max_len=8)
    type = Pattern(r"[a-z_0-9]{3,40}", "code", required=True, max_len=40)
    months = Int(load_default=None, strict=True, validate=int_range(1, 12))


class Recommendation(Strict):
    kind = Pattern(r"[a-z_]{3,40}", "code", required=True, max_len=40)
    details = Text(max_len=5000, load_default="")
    sanction = Nested(Sanction, load_default=None)
    amount = Int(load_default=None, strict=True, validate=int_range(1, 10**15))


class RecordFindings(Strict):
    outcome = Pattern(r"terbukti|tidak_terbukti", "code", required=True, max_len=16)
    summary = Text(required=True, max_len=20000)
    recommendations = fields.List(Nested(Recommendation), load_default=list, validate=validate.Length(max=50))


class CompleteRecommendation(Strict):
    recommendation_id = Pattern(r"R\d{1,3}", "code", required=True, max_len=4)
    note = Text(required=True, max_len=5000)


class Close(Strict):
    reason = Text(required=True, max_len=2000)
    feedback = Text(required=True, max_len=5000)


class AuditGrant(Strict):
    officer_id = _uuid(required=True)
    tenant = tenant_field(required=True)
    days = Int(required=True, strict=True, validate=int_range(1, 365))
    reason = Text(required=True, max_len=2000)


def roles_field(**kwargs):
    return fields.List(Pattern(r"[a-z_]{3,20}", "code", max_len=20), validate=validate.Length(min=1, max=7),
                       **kwargs)


class NewOfficer(Strict):
    tenant = tenant_field(required=True)
    username = Pattern(r"[a-z0-9._\-]{3,64}", "code", required=True, max_len=64)
    display_name = Text(required=True, max_len=200, multiline=False)
    roles = roles_field(required=True)
    email = Pattern(EMAIL_PATTERN, "email", max_len=320, load_default=None)


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


# -- query parameters ----------------------------------------------------------------------------

class Query(Strict):
    class Meta:
        unknown = EXCLUDE  # a query string may carry what the API does not read


QUEUE_STATES = ("on_time", "approaching", "breached")
QUEUE_SORTS = ("deadline", "registered", "updated")


class PagedQuery(Query):
    """A query for one page of a list."""

    page = Int(load_default=1, validate=int_range(1, MAX_PAGE))
    per_page = Int(load_default=25, validate=int_range(1, MAX_PER_PAGE))


class CaseListQuery(PagedQuery):
    """``GET /api/v1/cases``: the work queue, the nearest deadline first unless ``sort`` says otherwise."""

    status = Pattern("|".join(CASE_STATUSES), "code", max_len=20)
    category = Pattern(r"[a-z0-9_\-]{2,64}", "code", max_len=64)
    channel = Pattern("|".join(CHANNELS), "code", max_len=16)
    deadline = Pattern("|".join((*QUEUE_STATES, "none")), "code", max_len=12, metadata={
        "description": "the state of the case's nearest open deadline; none: no open deadline"})
    number = Pattern(r"[A-Za-z0-9./]{1,40}", "code", max_len=40, metadata={
        "description": "the end of a registration number: 000123, 2026/000123 or the whole number"})
    sort = Pattern("|".join(QUEUE_SORTS), "code", max_len=10, load_default="deadline", metadata={
        "description": "deadline: nearest due first, cases without one last (newest first among them); "
                       "registered, updated: newest first"})


class CaseQuery(Query):
    """``GET /api/v1/cases/{case_id}``: with ``as_of``, the case as it was then."""

    as_of = AwareMoment(metadata={"description": "ISO-8601 with an offset, e.g. 2026-12-02T08:00:00+07:00"})


# -- replies (documentation: the service builds them, these describe them) -------------------------

class Reply(Schema):
    class Meta:
        unknown = INCLUDE  # a reply may grow a field without breaking its readers


class OfficerSummary(Reply):
    id = fields.UUID(required=True)
    tenant = fields.String(required=True)
    roles = fields.List(fields.String(), required=True)
    username = fields.String(required=True)


class LoginReply(Reply):
    token = fields.String(required=True)
    token_type = fields.String(required=True, validate=validate.OneOf(["Bearer"]))
    expires_in = fields.Integer(required=True)
    officer = fields.Nested(OfficerSummary, required=True)


class CaseFacts(Reply):
    """What both the case list and the case document say of a case."""

    case_id = fields.UUID(required=True)
    version = fields.Integer(required=True)
    registration_number = fields.String(required=True)
    origin_tenant = fields.String(required=True)
    handling_tenant = fields.String(required=True)
    category = fields.String(required=True)
    channel = fields.String(required=True)
    registered_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)


class CaseSummary(CaseFacts):
    status = fields.String(required=True, validate=validate.OneOf(CASE_STATUSES))


class PagedReply(Reply):
    """One page of a list (``items``, the subclass's) and where it stands in the whole."""

    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)
    total = fields.Integer(required=True)


class CaseList(PagedReply):
    items = fields.List(fields.Nested(CaseSummary), required=True)


class CaseStatus(Reply):
    code = fields.String(required=True, validate=validate.OneOf(CASE_STATUSES))
    label = fields.Nested(BilingualText, required=True)


class HistoryStep(Reply):
    """One step of the case: who, when, what, why (more details by kind)."""

    at = fields.DateTime(required=True)
    kind = fields.String(required=True)
    actor = fields.Dict(required=True)
    status = fields.String(required=True, validate=validate.OneOf(CASE_STATUSES))
    reason = fields.String(allow_none=True)
    reporter_visible = fields.Boolean(required=True)


class DialogueMessage(Reply):
    at = fields.DateTime(required=True)
    text = fields.String(required=True)
    kind = fields.String(required=True)


class ListedEvidence(Reply):
    """An attachment's stripped copy: metadata, and where to download it."""

    evidence_id = fields.UUID(required=True)
    label = fields.String(required=True)
    mime = fields.String(required=True)
    size = fields.Integer(required=True)
    sha256 = fields.String(required=True)
    original_ref = fields.String(required=True)
    added_at = fields.DateTime(allow_none=True)
    download = fields.String(required=True)


class CaseDocument(CaseFacts):
    status = fields.Nested(CaseStatus, required=True)
    anonymous = fields.Boolean(required=True)
    report = fields.Dict(required=True)
    history = fields.List(fields.Nested(HistoryStep), required=True)
    messages = fields.List(fields.Nested(DialogueMessage), required=True)
    investigation = fields.Dict(required=True, allow_none=True)
    findings = fields.Dict(required=True, allow_none=True)
    recommendations = fields.List(fields.Dict(), required=True)
    forwarded_to = fields.Dict(required=True, allow_none=True)
    information_due = fields.String(required=True, allow_none=True)
    evidence = fields.List(fields.Nested(ListedEvidence), required=True)
    as_of = fields.DateTime(metadata={"description": "only when asked for the case as of a moment"})


class CommandResult(Reply):
    case_id = fields.UUID(required=True)
    version = fields.Integer(required=True)
    status = fields.String(required=True, validate=validate.OneOf(CASE_STATUSES))


class Chained(Reply):
    """A stored event: when, its notification id and its hash in the chain."""

    timestamp = fields.DateTime(required=True)
    notification_id = fields.Integer(required=True)
    event_hash = fields.String(required=True, validate=validate.Regexp(r"^[0-9a-f]{64}$"))


class TimelineEvent(Chained):
    type = fields.String(required=True)
    version = fields.Integer(required=True)
    actor = fields.Dict(required=True, allow_none=True)


class AccessEntry(Chained):
    """A read of the case, allowed or refused."""

    officer_id = fields.String(required=True)
    tenant = fields.String(required=True)
    roles = fields.List(fields.String(), required=True)
    action = fields.String(required=True)
    allowed = fields.Boolean(required=True)


class Timeline(Reply):
    case_id = fields.UUID(required=True)
    events = fields.List(fields.Nested(TimelineEvent), required=True)
    access_log = fields.List(fields.Nested(AccessEntry), required=True)


class AuditBundle(Reply):
    """``peluit-audit-bundle/1``, checked offline by ``peluit-verify``."""

    format = fields.String(required=True, validate=validate.OneOf(["peluit-audit-bundle/1"]))
    scope = fields.Dict(required=True)
    public_keys = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    checkpoints = fields.List(fields.Dict(), required=True)
    events = fields.List(fields.Dict(), required=True)


class NewOfficerReply(Reply):
    """Shown once, to the creating administrator: the officer's enrolment code
    (never a password or a TOTP secret: the officer chooses both at enrolment)."""

    officer_id = fields.UUID(required=True)
    username = fields.String(required=True)
    tenant = fields.String(required=True)
    roles = fields.List(fields.String(), required=True)
    enrolment_code = fields.String(required=True, validate=validate.Regexp(r"^[A-Z2-9]{20}$"))
    enrolment_expires_at = fields.DateTime(required=True)


class GrantReply(Reply):
    id = fields.Integer(required=True)
    officer_id = fields.UUID(required=True)
    tenant = fields.String(required=True)
    days = fields.Integer(required=True)


# -- the desk: work queue, case page, catalogue (replies) ----------------------------------------------

class QueueDeadline(Reply):
    """The case's nearest open deadline (the rule of the tenant's pack due first)."""

    rule = fields.String(required=True)
    due_at = fields.DateTime(required=True)
    approaching_at = fields.DateTime(required=True)
    state = fields.String(required=True, validate=validate.OneOf(QUEUE_STATES))


class QueueItem(CaseSummary):
    deadline = fields.Nested(QueueDeadline, required=True, allow_none=True)


class WorkQueue(CaseList):
    items = fields.List(fields.Nested(QueueItem), required=True)
    counts = fields.Dict(keys=fields.String(validate=validate.OneOf(CASE_STATUSES)), values=fields.Integer(),
                         required=True, metadata={"description": "cases per status, with every other filter applied"})


class CaseDeadline(QueueDeadline):
    """An open deadline of the case; a paused clock (the reporter is asked) is on time."""

    label = fields.Nested(BilingualText, required=True)
    paused = fields.Boolean(required=True)


class CasePage(CaseDocument):
    allowed_commands = fields.List(fields.String(validate=validate.OneOf(list(COMMANDS))), required=True, metadata={
        "description": "the commands this officer may give now (role, status, recusal, team); none as of a moment"})
    deadlines = fields.List(fields.Nested(CaseDeadline), required=True)


class StaleVersion(Reply):
    """``409 stale_version``: what changed since the version the officer sent."""

    error = fields.Nested(ErrorDetail, required=True)
    current_version = fields.Integer(required=True)
    changes = fields.List(fields.Nested(HistoryStep), required=True, metadata={
        "description": "the history steps recorded after the version sent, oldest first"})


class CatalogueTenant(Reply):
    """An Inspektorat: its region code, name and parent (the province's, or none)."""

    code = fields.String(required=True, metadata={"description": "Kemendagri region code, e.g. 35.73"})
    name = fields.String(required=True)
    parent = fields.String(required=True, allow_none=True, metadata={"description": "the tenant escalations go to"})


class Labelled(Reply):
    """A code and its label in Bahasa Indonesia and English."""

    code = fields.String(required=True)
    label_id = fields.String(required=True, metadata={"description": "Bahasa Indonesia"})
    label_en = fields.String(required=True, metadata={"description": "English"})


class ExternalBody(Labelled):
    """An external body a case may be forwarded to (a configured list kept as data)."""

    only_for = fields.String(required=True, allow_none=True, metadata={
        "description": "a rule the case must meet: province_inspektorat_reported (only a report against the "
                       "province's own Inspektorat), or null"})


class Catalogue(Reply):
    """What the officers' forms choose from: the data the commands validate against."""

    tenants = fields.List(fields.Nested(CatalogueTenant), required=True)
    external_destinations = fields.List(fields.String(), required=True, metadata={
        "description": "the codes of external_bodies; a forward elsewhere is a 422 unknown_destination"})
    external_bodies = fields.List(fields.Nested(ExternalBody), required=True)
    categories = fields.List(fields.Nested(Labelled), required=True, metadata={
        "description": "the officer's own tenant's active categories"})
    sanctions = fields.Dict(keys=fields.String(), values=fields.List(fields.String()), required=True, metadata={
        "description": "PP 94/2021 sanction types by level"})
    tukin_months = fields.List(fields.Integer(), required=True, metadata={
        "description": "the months a pemotongan_tukin_25_persen sanction may last"})
    recommendation_kinds = fields.List(fields.String(), required=True)
    legal_bases = fields.List(fields.String(), required=True)
    deadline_rules = fields.List(fields.Nested(Labelled), required=True, metadata={
        "description": "the rules of the officer's tenant's deadline pack (code and label)"})
