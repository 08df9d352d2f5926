"""The reporter portal's routes (server-rendered pages on port 8000, beside the
JSON API), each a function of a ``Visit`` and the application: the report
form (files checked first, then the report registered, then the files
stored, so a refused file registers nothing and a stored report is never
lost to a file), the receipt entry and the report's own page (messages,
evidence), sign-out, static files. The pages, their security and settings:
docs/channels.md (Portal).
"""

from __future__ import annotations

import logging
import urllib.parse
from collections import defaultdict

from marshmallow import ValidationError
from werkzeug.wrappers import Response

from peluit_contracts.fields import Strict, Text
from peluit_contracts.i18n import bilingual_errors, message
from peluit_contracts.reports import ReceiptSchema, ReportSubmissionSchema

from .api import http_error, upload_body_limit
from .application import Intake, answer_no_sooner
from .errors import (
    BackendRefused,
    CaseClosed,
    EvidenceRefused,
    IdempotencyKeyReused,
    IntakeError,
    ReceiptNotFound,
    Unavailable,
    UnknownCategory,
    UnknownTenant,
)
from .portal_pages import (
    HTML_HEADERS,
    IDENTITY_FIELDS,
    REPORT_TEXT_FIELDS,
    PortalKit,
    Visit,
    case_page,
    chosen_files,
    file_errors,
    form_page,
    form_value,
    guard,
    login_page,
    read_form,
    tenant_names,
)
from .receipts import IDEMPOTENCY_KEY
from .slip import printable_slip

log = logging.getLogger(__name__)


def body_limits() -> dict[str, int]:
    """Each form's body limit (the handler refuses more from the declared length), declared on its route too."""
    upload = upload_body_limit()
    return {"report_submit": upload + 256 * 1024, "status_open": 8 * 1024, "status_message": 96 * 1024,
            "status_evidence": upload + 64 * 1024, "sign_out": 8 * 1024}


class _ReplySchema(Strict):
    text = Text(required=True, max_len=5000)


def home(visit: Visit, intake: Intake) -> Response:
    return visit.kit.render(visit, "home.html", page="home")


def report_form(visit: Visit, intake: Intake) -> Response:
    form = defaultdict(str, tenant=visit.request.args.get("tenant", "")[:8], identity_mode="anonim")
    return form_page(visit, intake, form)


def report_submit(visit: Visit, intake: Intake) -> Response:
    kit = visit.kit
    raw, files = read_form(visit, body_limits()["report_submit"], uploads=True)
    expired = guard(visit, raw, "")
    form = defaultdict(str, {name: form_value(raw, name) for name in
                             (*REPORT_TEXT_FIELDS, *(f"identity.{k}" for k in IDENTITY_FIELDS))})
    form["terlapor_inspektorat"] = raw.get("terlapor_inspektorat") == "1"
    form["identity_mode"] = "rahasia" if raw.get("identity_mode") == "rahasia" else "anonim"
    key = raw.get("idempotency_key") or ""
    form["idempotency_key"] = key if IDEMPOTENCY_KEY.fullmatch(key) else ""
    uploads = chosen_files(files)
    notices = [visit.t("attach_again")] if uploads else []

    if expired:
        return form_page(visit, intake, form, 403, general=[visit.t("expired")], notices=notices)
    report, errors = validate_report(visit, form)
    if errors:
        return form_page(visit, intake, form, 400, errors=errors, notices=notices)
    wait = visit.wait("report")
    if wait is not None:
        return form_page(visit, intake, form, 429, general=[visit.t("rate_limited", minutes=int(wait // 60) + 1)],
                         notices=notices, headers={"Retry-After": str(int(wait) + 1)})
    try:
        if uploads:  # a refused file is answered before anything is registered
            intake.check_evidence(uploads)
        registration = intake.register(dict(report), form["idempotency_key"] or None, channel="web")
    except EvidenceRefused as err:
        return form_page(visit, intake, form, err.refused.status, errors=file_errors(visit, err.refused.fields()),
                         notices=notices)
    except (UnknownTenant, UnknownCategory) as err:
        return form_page(visit, intake, form, 422, errors={err.field: [visit.pick(message(err.text))]},
                         notices=notices)
    except IdempotencyKeyReused:
        form["idempotency_key"] = ""
        return form_page(visit, intake, form, 422, general=[visit.t("key_reused")], notices=notices)
    except IntakeError as err:
        first = visit.t("busy_title" if isinstance(err, Unavailable) else "error_title") + "."
        refusal = http_error(err)
        return form_page(visit, intake, form, refusal.status, general=[first, visit.t("busy_kept")],
                         notices=notices, headers=refusal.headers)
    try:  # nothing after the registration may cost the reporter the receipt page
        evidence_notes = report_evidence(visit, intake, registration.receipt, uploads) if uploads else []
    except Exception as exc:
        log.error("evidence with a new report failed: %s", type(exc).__name__)
        evidence_notes = [visit.t("evidence_later")]
    number, receipt = registration.registration_number, registration.receipt
    slip = visit.t("slip_text", number=number, receipt=receipt)
    try:
        return kit.render(
            visit, "tanda_terima.html", 201, page="lapor", registration_number=number, receipt=receipt,
            tenant_name=tenant_names(intake).get(registration.tenant, registration.tenant),
            anonymous=registration.anonymous, evidence_notes=evidence_notes, csrf=kit.csrf.issue(""),
            switch_url=None, download_href="data:text/plain;charset=utf-8," + urllib.parse.quote(slip),
            download_name="tanda-terima-" + number.replace("/", "-") + ".txt")
    except Exception as exc:  # the receipt exists only in this response: never lose it to a page error
        log.error("receipt page failed: %s", type(exc).__name__)
        return printable_slip(registration)


def receipt_info(visit: Visit, intake: Intake) -> Response:
    return visit.kit.render(visit, "info.html", title=visit.t("receipt_once_title"),
                            paragraphs=[visit.t("receipt_once_1"), visit.t("receipt_once_2")])


def status(visit: Visit, intake: Intake) -> Response:
    notices = []
    ok = visit.request.args.get("ok")
    if ok in ("pesan", "bukti"):
        notices.append(visit.t("message_sent" if ok == "pesan" else "evidence_sent"))
    if visit.session is None:
        general = [visit.t("session_ended")] if visit.session_expired else []
        return login_page(visit, general=general)
    return case_page(visit, intake, notices=notices)


def status_open(visit: Visit, intake: Intake) -> Response:
    kit = visit.kit
    form, _ = read_form(visit, body_limits()["status_open"])
    if guard(visit, form, ""):
        return login_page(visit, 403, general=[visit.t("expired")])
    try:
        typed = form_value(form, "receipt").strip()
        receipt = ReceiptSchema().load({"receipt": typed} if typed else {})["receipt"]
    except ValidationError as err:
        errors = {"receipt": [visit.pick(m) for m in bilingual_errors(err.messages).get("receipt", [])]}
        return login_page(visit, 400, errors=errors)
    wait = visit.wait("receipt")
    if wait is not None:
        response = login_page(visit, 429, general=[visit.t("rate_limited", minutes=int(wait // 60) + 1)])
        response.headers["Retry-After"] = str(int(wait) + 1)
        return response
    with answer_no_sooner():
        receipt_hash = intake.receipt_hash(receipt)
        del receipt
        try:
            intake.status(receipt_hash)
        except ReceiptNotFound:
            receipt_hash = None
    if receipt_hash is None:
        return login_page(visit, 404, errors={"receipt": [visit.t("unknown_receipt")]})
    visit.session = kit.sessions.start(receipt_hash)
    return kit.redirect(visit.url("/status"))


def status_message(visit: Visit, intake: Intake) -> Response:
    form, _ = read_form(visit, body_limits()["status_message"])
    text = form_value(form, "text")
    if visit.session is None:
        # only a same-site request carries the (SameSite=Strict) expired cookie:
        # a cross-site POST gets no echo of what it sent
        return login_page(visit, 401, general=[visit.t("session_ended")],
                          unsent_text=text if visit.had_cookie else "")
    if guard(visit, form, "s:" + visit.session.sid):
        return case_page(visit, intake, 403, general=[visit.t("expired")], reply_text=text)
    try:
        body = _ReplySchema().load({"text": text} if text.strip() else {})
    except ValidationError as err:
        errors = {"text": [visit.pick(m) for m in bilingual_errors(err.messages).get("text", [])]}
        return case_page(visit, intake, 400, errors=errors, reply_text=text)
    wait = visit.wait("message")
    if wait is not None:
        return case_page(visit, intake, 429, general=[visit.t("rate_limited", minutes=int(wait // 60) + 1)],
                         reply_text=text, headers={"Retry-After": str(int(wait) + 1)})
    try:
        intake.send_message(visit.session.receipt_hash, body["text"], counted=False)
    except ReceiptNotFound:
        visit.session = None
        return login_page(visit, 404, general=[visit.t("session_ended")], unsent_text=text)
    except CaseClosed:
        return case_page(visit, intake, 409, general=[visit.t("case_closed")])
    except BackendRefused:
        return case_page(visit, intake, 500, general=[visit.t("error_text")], reply_text=text)
    return visit.kit.redirect(visit.url("/status", ok="pesan"))


def status_evidence(visit: Visit, intake: Intake) -> Response:
    kit = visit.kit
    form, files = read_form(visit, body_limits()["status_evidence"], uploads=True)
    if visit.session is None:
        return login_page(visit, 401, general=[visit.t("session_ended")])
    if guard(visit, form, "s:" + visit.session.sid):
        return case_page(visit, intake, 403, general=[visit.t("expired"), visit.t("attach_again")])
    uploads = chosen_files(files)
    if not uploads:
        return case_page(visit, intake, 400, errors={"file": [visit.pick(message("refusal_no_file"))]})
    wait = visit.wait("evidence")
    if wait is not None:
        return case_page(visit, intake, 429, general=[visit.t("rate_limited", minutes=int(wait // 60) + 1),
                                                     visit.t("attach_again")],
                         headers={"Retry-After": str(int(wait) + 1)})
    try:
        intake.add_evidence(uploads, receipt_hash=visit.session.receipt_hash)
    except IntakeError as err:
        refusal = http_error(err)
        return case_page(visit, intake, refusal.status, errors=file_errors(visit, _evidence_fields(err)),
                         headers=refusal.headers)
    return kit.redirect(visit.url("/status", ok="bukti"))


def sign_out(visit: Visit, intake: Intake) -> Response:
    form, _ = read_form(visit, body_limits()["sign_out"])
    if visit.session is not None:
        guard(visit, form, "s:" + visit.session.sid)  # an expired token still signs out
    visit.session = None
    return visit.kit.render(visit, "info.html", title=visit.t("signed_out_title"),
                            paragraphs=[visit.t("signed_out_text")])


def static(kit: PortalKit, name: str, request=None) -> Response:
    wait = None if request is None else kit.throttle.hit("request", kit.throttle.client(request.environ))
    if wait is not None:
        return Response("429", status=429, content_type="text/plain; charset=utf-8",
                        headers={**HTML_HEADERS, "Retry-After": str(int(wait) + 1)})
    found = kit.static.get(name)
    if found is None:
        return Response("not found", status=404, content_type="text/plain; charset=utf-8", headers=HTML_HEADERS)
    data, content_type, _ = found
    headers = {**HTML_HEADERS, "Cache-Control": "public, max-age=86400"}
    return Response(data, status=200, content_type=content_type, headers=headers)


# -- helpers ---------------------------------------------------------------------------------

def _evidence_fields(err: IntakeError) -> dict:
    return err.refused.fields() if isinstance(err, EvidenceRefused) else {"file": [message(err.text)]}


def report_evidence(visit: Visit, intake: Intake, receipt: str, uploads: list) -> list[str]:
    """Files sent with the report, after it is registered: a refusal here
    never undoes the report, it is explained on the receipt page."""
    try:
        intake.add_evidence(uploads, receipt=receipt.replace("-", ""))
    except IntakeError as err:
        flat = [m for messages in file_errors(visit, _evidence_fields(err)).values() for m in messages]
        return [visit.t("evidence_refused"), *flat, visit.t("evidence_later")]
    return [visit.t("evidence_received", count=len(uploads)), visit.pick(message("evidence_accepted"))]


def validate_report(visit: Visit, form) -> tuple[dict | None, dict[str, list[str]]]:
    """The form as the API's body, validated by the same schema; errors in
    the visit's language, by field path."""
    data = {name: form[name] for name in REPORT_TEXT_FIELDS if form[name].strip()}
    data["terlapor_inspektorat"] = bool(form["terlapor_inspektorat"])
    identity = {k: form[f"identity.{k}"] for k in IDENTITY_FIELDS if form[f"identity.{k}"].strip()}
    errors: dict[str, list[str]] = {}
    if form["identity_mode"] == "rahasia":
        data["identity"] = identity
    elif identity:
        errors["identity"] = [visit.t("identity_conflict")]
    try:
        report = ReportSubmissionSchema().load(data)
    except ValidationError as err:
        report = None
        for path, messages in bilingual_errors(err.messages).items():
            errors.setdefault(path, []).extend(visit.pick(m) for m in messages)
    return (None if errors else report), errors
