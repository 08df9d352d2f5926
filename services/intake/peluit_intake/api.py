"""The reporter API (JSON over HTTP on port 8000, described in ``openapi.py``):
a request in, the application's use case, an HTTP status and bilingual JSON
out. ``http_error`` is the one translation of intake's typed errors to HTTP
(the portal answers with the same statuses).

Evidence (``POST /api/v1/reports/evidence``) is multipart: the body is read
bounded and in memory only (413 before it is all read), parsed off the hub,
and handed to ``Intake.add_evidence`` (checks, stripping, sealing, storing).
"""

from __future__ import annotations

import dataclasses
import functools
import io

from eventlet import tpool
from marshmallow import ValidationError
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.formparser import MultiPartParser
from werkzeug.wrappers import Response

from peluit_common.settings import env_int
from peluit_common.web import HttpError, json_response, read_json
from peluit_contracts.i18n import bilingual_errors, message
from peluit_contracts.reports import AssistedReportSchema, ReceiptSchema, ReporterMessageSchema, ReportSubmissionSchema

from . import errors
from .application import REPORTS_REFUSED, AssistedBy, Intake, Registration, answer_no_sooner
from .evidence_checks import Limits
from .receipts import IDEMPOTENCY_KEY
from .slip import printable_slip

MULTIPART_OVERHEAD = 1_000_000  # boundaries, part headers and the receipt field, above the files themselves
STATUS = {errors.UnknownTenant: 422, errors.UnknownCategory: 422, errors.IdempotencyKeyReused: 422,
          errors.ReceiptNotFound: 404, errors.CaseClosed: 409, errors.EvidenceQuota: 413, errors.Unavailable: 503,
          errors.Throttled: 429, errors.Busy: 503,
          errors.SealedIdentityRefused: 422}


def json_body_limit() -> int:
    """The largest report body (``PELUIT_MAX_BODY_BYTES``)."""
    return env_int("PELUIT_MAX_BODY_BYTES", 64 * 1024)


def upload_body_limit(limits: Limits | None = None) -> int:
    """The largest multipart body of an evidence upload (API and portal)."""
    return env_int("PELUIT_EVIDENCE_MAX_BODY_BYTES", (limits or Limits.from_env()).max_request_bytes + MULTIPART_OVERHEAD)


STATUS_BODY, MESSAGE_BODY = 4096, 16 * 1024


def body_limits() -> dict[str, int]:
    """Each handler's body limit, declared on its route too: the gate (``peluit_common.web.BodyGate``)
    reads no byte of a body over it, and the handler refuses it from its declared length."""
    return {"submit_report": json_body_limit(), "submit_assisted_report": json_body_limit(),
            "report_status": STATUS_BODY, "reporter_message": MESSAGE_BODY, "upload_evidence": upload_body_limit(),
            "submit_partner_report": json_body_limit()}


def http_error(err: errors.IntakeError) -> HttpError:
    """Refused files and unknown codes field by field; a throttled or saturated
    request says when to come back (``Retry-After``); anything unexpected from
    cases or the vault is a 500 that names nothing (retry with the same key)."""
    if isinstance(err, errors.Throttled):
        return HttpError(429, err.code, text=err.text, minutes=err.minutes,
                         headers={"Retry-After": str(err.retry_after)})
    if isinstance(err, errors.Busy):
        return HttpError(503, err.code, text=err.text, headers={"Retry-After": str(err.retry_after)})
    if isinstance(err, errors.EvidenceRefused):
        return HttpError(err.refused.status, err.code, err.refused.fields(), text="evidence_refused")
    if isinstance(err, (errors.UnknownTenant, errors.UnknownCategory)):
        return HttpError(422, err.code, {err.field: [message(err.text)]}, text="report_fields_invalid")
    return HttpError(STATUS.get(type(err), 500), err.code, text=err.text)


def translated(handler):
    """The handler's typed errors as ``HttpError`` (which ``json_endpoint`` answers)."""

    @functools.wraps(handler)
    def wrapper(*args, **kwargs):
        try:
            return handler(*args, **kwargs)
        except errors.IntakeError as err:
            raise http_error(err) from None

    return wrapper


@functools.lru_cache(maxsize=None)
def _instance(schema):
    """One instance per schema class: making one (fields copied, nested schemas built) cost twice its load."""
    return schema()


def validated(schema, data: dict, *, report: bool = False) -> dict:
    try:
        return _instance(schema).load(data)
    except ValidationError as err:
        if report:
            REPORTS_REFUSED.labels("validation").inc()
        raise HttpError(400, "validation_failed", bilingual_errors(err.messages),
                        text="report_fields_invalid") from None


def _idempotency_key(request) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is not None and not IDEMPOTENCY_KEY.fullmatch(key):
        REPORTS_REFUSED.labels("idempotency_key").inc()
        raise HttpError(400, "validation_failed", {"Idempotency-Key": [message("idempotency_key_format")]},
                        text="report_fields_invalid")
    return key


def receipt_response(registration: Registration) -> Response:
    return json_response(201, {
        "registration_number": registration.registration_number, "receipt": registration.receipt,
        "tenant": registration.tenant, "status": "diterima", "anonymous": registration.anonymous,
        "message": message("keep_receipt"),
    }, headers={"Idempotent-Replayed": "true"} if registration.replayed else None)


# -- the handlers ---------------------------------------------------------------------------

@translated
def throttled(request, throttle, bucket: str | None) -> None:
    """Count the request against its client (``request``, then the route's own ``bucket``): 429 past a limit."""
    throttle.check_client(request.environ, "request", *([bucket] if bucket else []))


@translated
def submit_report(request, intake: Intake) -> Response:
    report = validated(ReportSubmissionSchema, read_json(request, json_body_limit()), report=True)
    return receipt_response(intake.register(report, _idempotency_key(request), channel="web"))


@translated
def submit_assisted_report(request, intake: Intake, claims) -> Response:
    """A penerima registers a walk-in, letter or telephone report on the
    reporter's behalf; same path as the portal, plus a printable slip."""
    if not claims.has_role("penerima"):
        raise HttpError(403, "forbidden", text="penerima_only")
    report = validated(AssistedReportSchema, read_json(request, json_body_limit()), report=True)
    channel = report.pop("channel")
    registration = intake.register(report, _idempotency_key(request), channel,
                                   AssistedBy(claims.officer_id, claims.username, claims.tenant))
    if request.args.get("format") == "html":
        return printable_slip(registration)
    return receipt_response(registration)


@translated
def report_status(request, intake: Intake) -> Response:
    with answer_no_sooner():
        receipt = validated(ReceiptSchema, read_json(request, STATUS_BODY))["receipt"]
        return json_response(200, intake.status(intake.receipt_hash(receipt)))


@translated
def reporter_message(request, intake: Intake) -> Response:
    """The reporter answers a question or writes to the Inspektorat."""
    with answer_no_sooner():
        body = validated(ReporterMessageSchema, read_json(request, MESSAGE_BODY))
        status = intake.send_message(intake.receipt_hash(body["receipt"]), body["text"])
        return json_response(201, {"status": status, "message": message("message_received")})


@translated
def upload_evidence(request, intake: Intake) -> Response:
    """Multipart ``receipt`` and ``file`` parts; all files or none are stored."""
    with answer_no_sooner():
        limits = Limits.from_env()
        fields, files = read_upload(request, limits)
        receipt = validated(ReceiptSchema, fields)["receipt"]
        stored = intake.add_evidence(files, receipt=receipt, limits=limits)
        return json_response(201, {"evidence": [dataclasses.asdict(s) for s in stored],
                                   "message": message("evidence_accepted")})


@translated
def tenants(intake: Intake) -> Response:
    return json_response(200, intake.refresh_catalogue())


# -- multipart -------------------------------------------------------------------------------

def read_upload(request, limits: Limits) -> tuple[dict, list[tuple[str | None, bytes]]]:
    """(form fields, [(file name, bytes)]) of a multipart body, read bounded and in memory."""
    limit = upload_body_limit(limits)
    too_large = HttpError(413, "payload_too_large", text="upload_too_large", mb=f"{limit / 1_000_000:g}")
    length = request.content_length
    if length is not None and length > limit:
        raise too_large
    if request.mimetype != "multipart/form-data":
        raise HttpError(415, "unsupported_media_type", text="multipart_only")
    boundary = request.mimetype_params.get("boundary", "")
    if not boundary or len(boundary) > 200:
        raise HttpError(400, "malformed_multipart")
    # werkzeug hides a chunked body (no Content-Length) behind an empty stream; eventlet decodes chunks itself
    stream = request.stream if length is not None else request.environ["wsgi.input"]
    raw = stream.read(limit + 1)
    if len(raw) > limit:
        raise too_large
    parser = MultiPartParser(stream_factory=lambda *_args, **_kw: io.BytesIO(),  # never a temporary file
                             max_form_memory_size=64 * 1024, max_form_parts=limits.max_files + 16)
    try:
        # off the hub: parsing megabytes of multipart in Python takes a while
        form, files = tpool.execute(parser.parse, io.BytesIO(raw), boundary.encode("latin-1"), len(raw))
    except RequestEntityTooLarge:
        raise too_large from None
    except (ValueError, UnicodeError):
        raise HttpError(400, "malformed_multipart") from None
    # a part may come without a usable name (None): still just an unknown field
    unknown = {str(k)[:64] for k in form if k != "receipt"} | {str(k)[:64] for k in files if k != "file"}
    if unknown:
        raise HttpError(400, "validation_failed", {k: [message("unknown_field")] for k in sorted(unknown)},
                        text="evidence_refused")
    uploads = []
    for part in files.getlist("file"):
        data = part.stream.read()
        if not part.filename and not data:  # a browser's empty file input
            continue
        uploads.append((part.filename, data))
    return {"receipt": form.get("receipt")} if "receipt" in form else {}, uploads
