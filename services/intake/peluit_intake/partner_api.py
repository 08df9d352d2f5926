"""``POST /api/v1/partner/reports``: reports from partner systems (``peluit_contracts.partner``).

The partner authenticates with its own credential (``Bearer <name>.<secret>``;
cases keeps only the secret's SHA-256 and its tenants), seals the identity
itself (a body with ``identity`` in clear is refused before anything else),
and names its own reference ``source_id``: the same (system, source_id) again
answers with the same registration number and records nothing new.
"""

from __future__ import annotations

import base64
import binascii
import hashlib

from werkzeug.wrappers import Response

from peluit_common.web import HttpError, json_response, read_json
from peluit_contracts.i18n import message
from peluit_contracts.partner import PartnerReportSchema

from .api import json_body_limit, translated, validated
from .application import REPORTS_REFUSED, Intake


def authenticate(request, intake: Intake) -> dict:
    """{"name", "tenants"} of the calling partner system, or a 401 (unknown, revoked or wrong alike)."""
    header = request.headers.get("Authorization", "")
    name, _, secret = header.removeprefix("Bearer ").partition(".")
    if not header.startswith("Bearer ") or not name or not secret:
        raise HttpError(401, "partner_unauthorized")
    partner = intake.backend.partner_check(name, hashlib.sha256(secret.encode()).hexdigest())
    if not partner:
        REPORTS_REFUSED.labels("partner_unauthorized").inc()
        raise HttpError(401, "partner_unauthorized")
    return partner


@translated
def submit_partner_report(request, intake: Intake) -> Response:
    partner = authenticate(request, intake)
    body = read_json(request, json_body_limit())
    if isinstance(body, dict) and "identity" in body:
        REPORTS_REFUSED.labels("identity_in_clear").inc()
        raise HttpError(422, "identity_in_clear", {"identity": [message("identity_in_clear")]})
    report = validated(PartnerReportSchema, body, report=True)
    if report["tenant"] not in partner["tenants"]:
        REPORTS_REFUSED.labels("partner_tenant").inc()
        raise HttpError(403, "partner_tenant")
    sealed = report.pop("sealed_identity")
    try:
        sealed = base64.b64decode(sealed, validate=True) if sealed else None
    except (binascii.Error, ValueError):
        raise HttpError(400, "validation_failed", {"sealed_identity": [message("invalid_sealed_identity")]},
                        text="report_fields_invalid") from None
    source = {"system": partner["name"], "source_id": report.pop("source_id")}
    # the idempotency key is the partner's own reference: the same report again, the same case
    key = "partner_" + hashlib.sha256(f"{source['system']}\n{source['source_id']}".encode()).hexdigest()
    registration = intake.register(report, key, "integration", sealed=sealed, source=source)
    return json_response(201, {
        "registration_number": registration.registration_number, "source_id": source["source_id"],
        "tenant": registration.tenant, "status": "diterima", "anonymous": registration.anonymous,
    }, headers={"Idempotent-Replayed": "true"} if registration.replayed else None)
