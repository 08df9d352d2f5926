"""Events from partner systems (``peluit_contracts.inbound``): plain rules, no broker.

Who sent a message is the broker's word (``user_id``, checked by RabbitMQ
against the connection), never the message's own ``ce-source``; which
tenant it speaks for is the routing key, which the partner's topic
permissions restrict. Anything wrong raises ``Refused`` with a reason
(codes and field names only) and records nothing.
"""

from __future__ import annotations

from marshmallow import ValidationError

from peluit_common.inbound import Refused
from peluit_contracts.inbound import INBOUND_SCHEMAS, PARTNER_PREFIX, SanctionFollowedUpV1

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


def handle(app, body, meta: dict) -> str:
    """Apply one inbound event; returns what happened (for a metric)."""
    source, tenant, _ = _meta(meta, body)
    data = _load(SanctionFollowedUpV1, body)  # the one inbound type so far
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
