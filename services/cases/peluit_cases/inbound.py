"""Events from partner systems (``peluit_contracts.inbound``): plain rules, no broker.

Who sent a message is the broker's word (``user_id``, checked by RabbitMQ
against the connection), never the message's own ``ce-source``; which
tenant it speaks for is the routing key, which the partner's topic
permissions restrict. Anything wrong raises ``Refused`` with a reason
(codes and field names only) and records nothing.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from typing import Protocol

from marshmallow import ValidationError

from peluit_common.inbound import Refused
from peluit_contracts.inbound import INBOUND_SCHEMAS, PARTNER_PREFIX, SanctionFollowedUpV1
from peluit_contracts.partner import PartnerReportSchema
from peluit_contracts.reports import RegisterReportCommand, ReportFieldsSchema

from .domain import DomainError


def _meta(meta: dict, body) -> tuple[str, str, tuple[str, int]]:
    source = meta.get("user_id") or ""
    if not source.startswith(PARTNER_PREFIX):
        raise Refused("unauthenticated_source")
    headers = meta.get("headers") or {}
    try:
        key = (str(headers["ce-type"]), int(headers["ce-dataversion"]))
    except (KeyError, ValueError):
        raise Refused("not_a_cloudevent: ce-type, ce-dataversion") from None
    if key not in INBOUND_SCHEMAS or headers.get("ce-specversion") != "1.0" or not headers.get("ce-id"):
        raise Refused("unknown_type_or_version")
    routing_key = meta.get("routing_key") or ""
    prefix = f"{key[0]}.v{key[1]}."
    if not routing_key.startswith(prefix):
        raise Refused("routing_key_does_not_match_type")
    if not isinstance(body, dict):
        raise Refused("invalid_data: not a JSON object")
    return source, routing_key[len(prefix):], key


def _load(schema, body) -> dict:
    try:
        return schema().load(body)
    except ValidationError as err:
        raise Refused("invalid_data: " + ", ".join(sorted(err.messages))) from None


class Ports(Protocol):
    """What a partner's report needs besides the application (the service's RPC and database)."""

    def store_identity(self, submission_id: str, sealed_b64: str, tenant: str) -> dict: ...
    def catalogue_problem(self, tenant: str, category: str) -> str | None: ...
    def parent_tenant(self, tenant: str) -> str | None: ...


def handle(app, body, meta: dict, ports: Ports | None = None) -> str:
    """Apply one inbound event; returns what happened (for a metric)."""
    source, tenant, key = _meta(meta, body)
    if key == ("report.submitted", 1):
        return _report(app, body, source, tenant, ports)
    data = _load(SanctionFollowedUpV1, body)
    try:
        case = app.get_case(data["case_id"])
    except DomainError:
        raise Refused("unknown_case") from None
    if tenant not in (case.tenant, case.handling_tenant):
        raise Refused("tenant_not_allowed")  # the same answer as for a case that does not exist elsewhere
    if case.registration_number != data["registration_number"]:
        raise Refused("registration_number_mismatch")
    follow_up = {"decision": data["decision"], "level": data["level"], "sanction": data["sanction"],
                 "months": data["months"], "decided_on": data["decided_on"].isoformat(),
                 "decree_number": data["decree_number"], "event_id": str(meta["headers"]["ce-id"])}
    try:
        app.record_sanction_follow_up(case.id, source, data["recommendation_id"], follow_up)
    except DomainError as err:
        raise Refused(err.code) from None
    return "sanction_followed_up"


def _report(app, body: dict, source: str, tenant: str, ports: Ports) -> str:
    """A partner's report over the broker, as over the partner API: the identity
    sealed by the partner (in clear: refused, and not kept even in the dead-letter
    queue), idempotent per (system, source_id), channel integration."""
    if "identity" in body:
        raise Refused("identity_in_clear", drop_body=True)
    data = _load(PartnerReportSchema, body)
    if data["tenant"] != tenant:
        raise Refused("tenant_not_allowed")
    problem = ports.catalogue_problem(tenant, data["category"])
    if problem:
        raise Refused(problem)
    system = source.removeprefix(PARTNER_PREFIX)
    submission_id = hashlib.sha256(f"partner\n{system}\n{data['source_id']}\n{tenant}".encode()).hexdigest()
    reporter_ref = None
    if data["sealed_identity"]:
        stored = ports.store_identity(submission_id, data["sealed_identity"], tenant)
        if "error" in stored:
            raise Refused("invalid_sealed_identity" if stored["error"] in ("invalid_sealed_identity",
                                                                           "invalid_command") else stored["error"])
        reporter_ref = stored["reporter_ref"]
    report = {k: data[k] for k in ReportFieldsSchema._declared_fields if k in data}
    fingerprint = hashlib.sha256(json.dumps({"tenant": tenant, "category": data["category"], **report},
                                            sort_keys=True).encode()).hexdigest()
    command = {"version": 1, "submission_id": submission_id, "fingerprint": fingerprint,
               # no receipt: the reporter follows the case through the partner (report.status_changed)
               "receipt_hash": secrets.token_hex(32), "tenant": tenant, "category": data["category"],
               "channel": "integration", "report": report, "reporter_ref": reporter_ref,
               "anonymous": reporter_ref is None,
               "source": {"system": system, "source_id": data["source_id"]}}
    try:
        app.register_report(RegisterReportCommand().load(command), escalate_to=ports.parent_tenant(tenant))
    except ValidationError as err:
        raise Refused("invalid_data: " + ", ".join(sorted(err.messages))) from None
    except DomainError as err:
        raise Refused(err.code) from None
    return "report_submitted"
