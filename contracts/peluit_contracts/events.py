"""Domain event envelope (v1) used on the bus and by the notification-log RPC.

CloudEvents-shaped. ``position`` is the cases notification id: consumers that
need order and exactly-once track it; others dedupe on ``id``. Envelopes carry
no identity and no report text.
"""

from __future__ import annotations

import functools

from marshmallow import fields, validate

from .fields import Int, Pattern, Strict, Text
from .reports import SOURCE_ID, SYSTEM_NAME, tenant_field

ENVELOPE_VERSION = "1.0"
DOMAIN_EXCHANGE = "peluit.domain"
SOURCE_CASES = "peluit/cases"


class CaseRegisteredV1(Strict):
    case_id = fields.UUID(required=True)
    tenant = tenant_field(required=True)
    registration_number = Text(required=True, max_len=40, multiline=False)
    category = Text(required=True, max_len=64, multiline=False)
    channel = Text(required=True, max_len=16, multiline=False)
    anonymous = fields.Boolean(required=True)
    registered_at = fields.AwareDateTime(required=True)


# statuses after which a case is over for its Inspektorat (retention starts)
TERMINAL_STATUSES = frozenset({"selesai", "ditolak", "diarsipkan", "dilimpahkan"})


class CaseStatusChangedV1(Strict):
    """Any workflow step that changed a case's status or handling tenant."""

    case_id = fields.UUID(required=True)
    tenant = tenant_field(required=True)  # the handling tenant after the step
    origin_tenant = tenant_field(required=True)
    status = Text(required=True, max_len=32, multiline=False)
    step = Text(required=True, max_len=40, multiline=False)
    changed_at = fields.AwareDateTime(required=True)


class DeadlineOutcomeV1(Strict):
    rule = Text(required=True, max_len=40, multiline=False)
    due_at = fields.AwareDateTime(required=True)
    met_at = fields.AwareDateTime(allow_none=True, load_default=None)
    met = fields.Boolean(required=True)


class CaseDeadlineOutcomesV1(Strict):
    """How the case's deadlines ended, computed by cases with the tenant's
    pack at the moment of closing, so statistics never depend on today's
    configuration (and a rebuild gives the same answer)."""

    case_id = fields.UUID(required=True)
    tenant = tenant_field(required=True)  # the handling tenant that closed the case
    pack = Text(required=True, max_len=40, multiline=False)
    deadlines = fields.List(fields.Nested(DeadlineOutcomeV1), required=True)
    closed_at = fields.AwareDateTime(required=True)


class CaseDeadlineBreachedV1(Strict):
    """The scheduler recorded a breached deadline (open or later closed case)."""

    case_id = fields.UUID(required=True)
    tenant = tenant_field(required=True)
    rule = Text(required=True, max_len=40, multiline=False)
    due_at = fields.AwareDateTime(allow_none=True, load_default=None)
    noticed_at = fields.AwareDateTime(required=True)


class CaseMessageForReporterV1(Strict):
    """The Inspektorat wrote to the reporter (question, message, closing
    feedback, or a notice such as a disclosure request). Carries no text: the reporter reads it with the receipt."""

    case_id = fields.UUID(required=True)
    tenant = tenant_field(required=True)
    kind = Pattern(r"question|message|feedback|notice", "code", required=True, max_len=10)
    sent_at = fields.AwareDateTime(required=True)


class CaseDeadlineApproachingV1(CaseDeadlineBreachedV1):
    """The scheduler recorded that a deadline is near (once per case and rule); same fields."""


class CaseReporterWroteV1(Strict):
    """The reporter answered or wrote through the anonymous channel (no text)."""

    case_id = fields.UUID(required=True)
    tenant = tenant_field(required=True)
    written_at = fields.AwareDateTime(required=True)


class CaseTeamAssignedV1(Strict):
    """An investigation team was named: officer ids, nothing else."""

    case_id = fields.UUID(required=True)
    tenant = tenant_field(required=True)
    team = fields.List(Text(max_len=64, multiline=False), required=True, validate=validate.Length(max=50))
    assigned_at = fields.AwareDateTime(required=True)


class DisclosureStepV1(Strict):
    """A disclosure request was filed (``disclosure.requested``) or approved
    (``disclosure.approved``); no reason, no identity."""

    request_id = fields.UUID(required=True)
    case_id = fields.UUID(required=True)
    tenant = tenant_field(required=True)
    requested_by = fields.UUID(required=True)
    at = fields.AwareDateTime(required=True)


# -- integration events: a public API for other pemda systems (see contracts/asyncapi.yaml)


class IntegrationEventV1(Strict):
    """What every integration event names its case by: pemda systems know the registration number."""

    case_id = fields.UUID(required=True)
    registration_number = Text(required=True, max_len=40, multiline=False)


class CaseForwardedV1(IntegrationEventV1):
    from_tenant = tenant_field(required=True)
    destination_kind = Text(required=True, max_len=10, multiline=False)
    destination = Text(required=True, max_len=32, multiline=False)
    forwarded_at = fields.AwareDateTime(required=True)


class SanctionRecommendedV1(IntegrationEventV1):
    tenant = tenant_field(required=True)
    recommendation_id = Text(required=True, max_len=8, multiline=False)
    level = Text(required=True, max_len=8, multiline=False)
    sanction = Text(required=True, max_len=40, multiline=False)
    months = fields.Integer(allow_none=True, load_default=None)
    recommended_at = fields.AwareDateTime(required=True)


class SanctionRecommendedV2(SanctionRecommendedV1):
    """v1 and the version of the PP 94/2021 catalogue (``peluit_contracts.sanctions``)
    the sanction was checked against. v1 is closed, so this is a new version."""

    catalogue_version = Pattern(r"[a-z0-9-]{1,30}/[0-9]{1,6}", "code", required=True, max_len=40)


class CaseClosedV1(IntegrationEventV1):
    tenant = tenant_field(required=True)
    outcome = Text(allow_none=True, load_default=None, max_len=16, multiline=False)
    closed_at = fields.AwareDateTime(required=True)


class ReportStatusChangedV1(IntegrationEventV1):
    """The status of a case a partner system filed (channel integration), named by the partner's own reference."""

    tenant = tenant_field(required=True)  # the handling tenant
    source_system = Pattern(SYSTEM_NAME, "code", required=True, max_len=41)
    source_id = Pattern(SOURCE_ID, "code", required=True, max_len=100)
    status = Text(required=True, max_len=32, multiline=False)
    changed_at = fields.AwareDateTime(required=True)


class ChainCheckpointV1(Strict):
    """A signed head of the cases event store's hash chain (witnesses keep it: ``peluit-verify --since``).

    Published on the integration stream so that copies exist that the database cannot rewrite."""

    position = Int(required=True)  # the notification id of the signed head
    head_hash = Pattern(r"[0-9a-f]{64}", "code", required=True, max_len=64)
    signed_at = Text(required=True, max_len=40, multiline=False)  # the exact text that was signed
    key_id = Pattern(r"[0-9a-f]{16}", "code", required=True, max_len=16)
    signature = Pattern(r"[0-9a-f]{128}", "code", required=True, max_len=128)


DATA_SCHEMAS = {
    ("case.registered", 1): CaseRegisteredV1,
    ("case.status_changed", 1): CaseStatusChangedV1,
    ("case.message_for_reporter", 1): CaseMessageForReporterV1,
    ("case.forwarded", 1): CaseForwardedV1,
    ("case.sanction_recommended", 1): SanctionRecommendedV1,
    ("case.sanction_recommended", 2): SanctionRecommendedV2,
    ("case.closed", 1): CaseClosedV1,
    ("case.deadline_outcomes", 1): CaseDeadlineOutcomesV1,
    ("case.deadline_breached", 1): CaseDeadlineBreachedV1,
    ("chain.checkpoint", 1): ChainCheckpointV1,
    ("report.status_changed", 1): ReportStatusChangedV1,
    ("case.deadline_approaching", 1): CaseDeadlineApproachingV1,
    ("case.reporter_wrote", 1): CaseReporterWroteV1,
    ("case.team_assigned", 1): CaseTeamAssignedV1,
    ("disclosure.requested", 1): DisclosureStepV1,
    ("disclosure.approved", 1): DisclosureStepV1,
}
# which envelope types go on the public integration exchange (the rest stay internal)
INTEGRATION_TYPES = {"case.forwarded", "case.sanction_recommended", "case.closed", "chain.checkpoint",
                     "report.status_changed"}


class EnvelopeSchema(Strict):
    specversion = Pattern(r"1\.0", "code", required=True, max_len=8)
    id = Text(required=True, max_len=100, multiline=False)
    source = Text(required=True, max_len=100, multiline=False)
    type = Pattern(r"[a-z_]+(\.[a-z_]+)+", "code", required=True, max_len=100)
    dataversion = Int(required=True)
    time = fields.AwareDateTime(required=True)
    subject = Text(required=True, max_len=100, multiline=False)
    tenant = tenant_field(required=True)
    position = Int(required=True)
    # CloudEvents attributes of integration events (``peluit_contracts.integration``)
    datacontenttype = Pattern(r"application/json", "code", max_len=16)
    dataschema = Text(max_len=100, multiline=False)
    data = fields.Dict(required=True)


def routing_key(event_type: str, version: int) -> str:
    return f"{event_type}.v{version}"


@functools.cache
def _schema(cls):
    # one instance per schema: building a marshmallow schema per call was half
    # the cost of an envelope in a rebuild (instances hold no per-call state)
    return cls()


def load_envelope(body: dict) -> dict:
    """Validate an envelope and, where its type is known, its data."""
    envelope = _schema(EnvelopeSchema).load(body)
    schema = DATA_SCHEMAS.get((envelope["type"], envelope["dataversion"]))
    if schema is not None:
        envelope["data"] = _schema(schema).load(envelope["data"])
    return envelope


def dump_envelope(*, event_id, event_type, version, time, subject, tenant, position, data,
                  source: str = SOURCE_CASES) -> dict:
    schema = DATA_SCHEMAS[(event_type, version)]
    return {
        "specversion": ENVELOPE_VERSION,
        "id": event_id,
        "source": source,
        "type": event_type,
        "dataversion": version,
        "time": time.isoformat(),
        "subject": subject,
        "tenant": tenant,
        "position": position,
        "data": _schema(schema).dump(data),
    }


