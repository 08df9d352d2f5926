"""The officer HTTP API's translation layer: requests in, documents and errors
out. The rules live in ``commands``, ``access``, ``disclosure_api`` and
``evidence``; this module only parses (bodies, If-Match, query parameters),
renders (the case document, downloads) and maps every refusal to HTTP in one
table (``STATUS``), its text from the catalogue (``peluit_contracts.i18n``).
"""

from __future__ import annotations

import functools
import re
import urllib.parse

from marshmallow import ValidationError
from werkzeug.wrappers import Response

from peluit_common.web import SECURITY_HEADERS, HttpError, http, json_endpoint, json_response
from peluit_contracts.i18n import MESSAGES, bilingual_errors

from . import evidence
from .domain import STATUS_LABELS, Case
from .errors import CasesError

# every refusal code -> HTTP status; a code not listed is a refused workflow step (422)
STATUS = {
    "validation_failed": 400, "invalid_if_match": 400,
    "invalid_credentials": 401, "missing_token": 401, "invalid_token": 401, "expired_token": 401,
    "invalid_enrolment": 401, "reauthentication_failed": 403,
    "forbidden": 403, "inactive": 403, "not_investigator": 403, "not_inspektur": 403, "self_approval": 403,
    "conflicted_approver": 403, "other_tenant": 403, "not_requester": 403, "step_up_required": 403, "totp_invalid": 403, "step_up_reused": 403,
    "not_found": 404, "unknown_original": 404,
    "stale_version": 409, "contended": 409, "not_checkpointed": 409, "expired": 409, "already_decided": 409,
    "already_approved": 409, "not_approved": 409, "refused": 409, "already_viewed": 409, "view_window_closed": 409,
    "content_ended": 410,  # the case's content ended with its retention period (``retention``)
    "precondition_required": 428,
    "locked": 429, "too_many_attempts": 429,
    "internal_error": 500,
    "vault_unavailable": 503, "notifications_unavailable": 503,
}
# wire codes whose text has a key of its own in the catalogue
TEXT = {"forbidden": "officer_forbidden", "validation_failed": "officer_invalid_fields"}


def http_error(err: CasesError) -> HttpError:
    text = err.text or TEXT.get(err.code) or (err.code if err.code in MESSAGES else "bad_request")
    return HttpError(STATUS.get(err.code, 422), err.code, err.fields, text=text, **err.params)


def officer_endpoint(func):
    """``json_endpoint`` that also answers every ``CasesError`` by the table."""
    return json_endpoint(func, refusal=CasesError, to_http=http_error)


def officer_route(method: str, url: str, handler):
    """An ``officer_endpoint`` on ``url`` whose whole work is ``handler(service, request, **url_values)``:
    the service class names it, the handler module (accounts_api, notify_api) holds it."""

    @http(method, url)
    @officer_endpoint
    @functools.wraps(handler)
    def route(self, request, **values):
        return handler(self, request, **values)

    return route


# -- requests ---------------------------------------------------------------------------------

def invalid(fields: dict) -> CasesError:
    return CasesError("validation_failed", fields=fields)


def load(schema, data) -> dict:
    """``data`` checked by a contract schema, or a field-by-field 400."""
    try:
        return schema().load(data)
    except ValidationError as err:
        raise invalid(bilingual_errors(err.messages)) from None


def expected_version(if_match: str | None) -> int:
    if not if_match:
        raise CasesError("precondition_required")
    raw = if_match.strip()
    if raw.startswith("W/"):
        raw = raw[2:]
    try:
        return int(raw.strip('"'))
    except ValueError:
        raise CasesError("invalid_if_match") from None


# -- documents --------------------------------------------------------------------------------

def case_document_from(case: Case, history: list[dict], messages: list[dict]) -> dict:
    """The document for a replayed case: the current one, or one as of a
    moment (``GET /api/v1/cases/{id}?as_of=``, audit.case_as_of)."""
    return {
        "case_id": str(case.id),
        "version": case.version,
        "registration_number": case.registration_number,
        "origin_tenant": case.tenant,
        "handling_tenant": case.handling_tenant,
        "status": {"code": case.status, "label": STATUS_LABELS[case.status]},
        "category": case.category,
        "channel": case.channel,
        "anonymous": case.anonymous,
        "report": case.report,
        "history": history,
        "messages": messages,
        "investigation": case.investigation,
        "findings": case.findings,
        "recommendations": case.recommendations,
        "forwarded_to": case.forwarded_to,
        "information_due": case.information_due,
        # metadata of the stripped copies; the bytes are a separate download
        "evidence": evidence.listing(case),
        "registered_at": case.created_on.isoformat(),
        "updated_at": case.modified_on.isoformat(),
    }


def stale_response(current_version: int, changes: list[dict]) -> Response:
    """``409 stale_version`` with what changed since the version the officer
    sent (``contracts.StaleVersion``), and the current version as the ETag."""
    err = http_error(CasesError("stale_version"))
    return json_response(409, {"error": {"code": err.code, "message": err.message},
                               "current_version": current_version, "changes": changes},
                         headers={"ETag": f'"{current_version}"'})


def content_disposition(label: str) -> str:
    """``attachment`` with an ASCII fallback and the UTF-8 label (RFC 6266 / 5987)."""
    fallback = re.sub(r"[^A-Za-z0-9._ -]", "_", label)[:120] or "bukti"
    return f'attachment; filename="{fallback}"; filename*=UTF-8\'\'{urllib.parse.quote(label, safe="")}'


def evidence_response(copy: evidence.StoredCopy) -> Response:
    """The stripped copy, as an attachment the browser will neither sniff nor
    render: ``nosniff``, ``Content-Security-Policy: sandbox``."""
    headers = dict(SECURITY_HEADERS)
    headers.update({
        "Content-Disposition": content_disposition(copy.label),
        "Content-Security-Policy": "sandbox",
        "X-Content-Type-Options": "nosniff",
        "Cross-Origin-Resource-Policy": "same-origin",
        "ETag": f'"{copy.sha256}"',
    })
    content_type = "text/plain; charset=utf-8" if copy.mime == "text/plain" else copy.mime
    return Response(copy.data, status=200, content_type=content_type, headers=headers)


def bundle_response(body: str, case_id) -> Response:
    return Response(body, status=200, content_type="application/json; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="audit-bundle-{case_id}.json"'})
