"""Intake entrypoints for the reporter portal (server-rendered pages).

A mixin of ``IntakeService``: nameko collects its entrypoints and
dependencies with the service's own.

The whole flow works without JavaScript (``static/portal.js`` only enhances).
Routes (port 8000, beside the JSON API):

- ``GET /``               what may be reported, how identity is protected, what happens next
- ``GET /lapor``          the report form (``?tenant=`` preselects an Inspektorat)
- ``POST /lapor``         registers through ``IntakeService._register`` (channel ``web``) and
                          answers with the receipt page itself (201); errors re-render the form
                          with what was typed. Files are checked by the evidence module first (a
                          refused file registers nothing), then stored with ``_store_evidence``.
                          A hidden Idempotency-Key makes a double submit one case, one receipt.
- ``GET /tanda-terima``   says why a receipt cannot be shown again
- ``GET /status``         receipt entry, or the report's page while a session is open
- ``POST /status``        checks a receipt; opens the session (the one cookie) and 303s to ``/status``
- ``POST /status/pesan``  a message to the Inspektorat (cases ``reporter_message``)
- ``POST /status/bukti``  more evidence (the evidence module's ``_store_evidence``)
- ``POST /keluar``        sign out: the cookie is removed
- ``GET /static/<name>``  the portal's own CSS, JS and icon

Language: Bahasa Indonesia unless ``lang=en`` is in the query or the form
(every link and form carries it); no cookie for it. No cookie at all until a
receipt has been entered. Every page: CSP without inline script,
``Cache-Control: no-store``, ``Referrer-Policy: no-referrer``, nosniff, DENY.
Nothing here logs a client address, a User-Agent, a receipt or report text.

CSRF: every form carries a signed token (``portal_security.CsrfTokens``);
forms that act on a session bind it to the session's id, and a POST whose
``Sec-Fetch-Site`` says another site is refused. Rate limits (report POSTs,
receipt checks) count on a keyed, daily-rotated hash of the address, in this
process's memory only. Settings: ``PELUIT_PORTAL_REPORTS_PER_HOUR`` (20),
``PELUIT_PORTAL_RECEIPT_CHECKS_PER_HOUR`` (30), ``PELUIT_PORTAL_PROXY_HOPS``
(0: trust no X-Forwarded-For), ``PELUIT_PORTAL_SESSION_IDLE_SECONDS`` (1800),
``PELUIT_PORTAL_FORM_SECONDS`` (7200, a form token's life).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import io
import json
import logging
import secrets
import time
import urllib.parse
import zoneinfo
from collections import defaultdict
from pathlib import Path

from babel.dates import format_date, format_datetime
from eventlet import tpool
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from marshmallow import ValidationError
from nameko.extensions import DependencyProvider
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from peluit_common.rpc import UNAVAILABLE_ERRORS, call
from peluit_common.settings import env, env_float, env_int, secret_bytes
from peluit_common.web import SECURITY_HEADERS, HttpError, http
from peluit_contracts.fields import Strict, Text
from peluit_contracts.i18n import bilingual_errors
from peluit_contracts.reports import ReceiptSchema, ReportSubmissionSchema

from . import i18n
from .portal_security import CsrfTokens, RateLimiter, SessionBlobs, client_address, portal_subkey
from .receipts import IDEMPOTENCY_KEY

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
                           "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
HTML_HEADERS = {**SECURITY_HEADERS, "Content-Security-Policy": CONTENT_SECURITY_POLICY}
STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                ".svg": "image/svg+xml"}

COOKIE = "peluit_sesi"
COOKIE_TLS = "__Host-peluit_sesi"  # over TLS: the __Host- prefix pins Secure, Path=/ and no Domain

# the report form's fields, in the order errors are summarised
REPORT_TEXT_FIELDS = ("tenant", "category", "what", "where", "when", "who", "how")
IDENTITY_FIELDS = ("name", "nik", "nip", "email", "phone", "address")
REPORT_FIELDS = (*REPORT_TEXT_FIELDS, "terlapor_inspektorat", "file", "identity",
                 *(f"identity.{k}" for k in IDENTITY_FIELDS))
FORM_VALUE_MAX = 20_000  # characters kept from any one form value (the schemas' limits are lower)


def N_(message: str) -> str:
    """Marks a string for the catalogue; translated when a page is rendered."""
    return message


# Portal texts used from code (templates hold the rest); each is in the catalogue.
T = {
    "csrf_title": N_("The form could not be accepted"),
    "csrf_text": N_("It did not come from this site's own page, or it was changed on the way. Nothing was stored. "
                    "Open the page again and fill it in there."),
    "expired": N_("For your safety a form is valid for a limited time. Check what you wrote and send it again."),
    "too_large_title": N_("The upload is too large"),
    "too_large_text": N_("All files of one upload together may be at most %(mb)s MB. Nothing was stored. "
                         "Go back and attach fewer or smaller files."),
    "rate_limited": N_("Too many attempts from your connection. Please wait %(minutes)s minutes and try again."),
    "busy_kept": N_("What you wrote is kept below: send it again. It will not be registered twice."),
    "identity_conflict": N_("You chose anonymous but filled in identity details. Choose confidential to send them, "
                            "or empty those fields."),
    "attach_again": N_("Files cannot be kept between attempts: attach them again."),
    "key_reused": N_("This form was already sent with a different content. Check it and send it again to make a "
                     "new report."),
    "evidence_received": N_("Evidence files received: %(count)s."),
    "evidence_later": N_("Your files could not be attached here. Add them on your report's page: open it with your "
                         "receipt."),
    "evidence_refused": N_("Your report was registered, but these files were refused:"),
    "evidence_unavailable": N_("Uploading evidence is not available at the moment. Please try again later."),
    "unknown_receipt": N_("Unknown receipt. Check the 16 digits and try again."),
    "session_ended": N_("Your session has ended. Enter your receipt again to open your report."),
    "signed_out_title": N_("You have signed out"),
    "signed_out_text": N_("The session cookie has been removed from your browser. To open your report again, enter "
                          "your receipt."),
    "message_sent": N_("Your message was sent to the Inspektorat."),
    "evidence_sent": N_("Your evidence was received."),
    "case_closed": N_("This report is closed: no more messages or evidence can be added."),
    "receipt_once_title": N_("Receipts are shown only once"),
    "receipt_once_1": N_("A receipt appears only once, right after a report is sent, and is stored nowhere in "
                         "readable form."),
    "receipt_once_2": N_("If you have it, open your report with it. If you lost it, it cannot be recovered: you may "
                         "send a new report and mention the earlier one."),
    "busy_title": N_("The service is busy"),
    "error_title": N_("Something went wrong"),
    "error_text": N_("Please try again in a moment."),
    "slip_text": N_("Peluit report receipt\nRegistration number: %(number)s\nReceipt: %(receipt)s\n"
                    "Keep this receipt secret. It cannot be recovered if lost.\n"),
}


class Refusal(Exception):
    """A page-level refusal: rendered as ``error.html`` with ``status``."""

    def __init__(self, status: int, title: str, *paragraphs: str, back: str = "/", headers: dict | None = None,
                 params: dict | None = None):
        super().__init__(title)
        self.status, self.title, self.paragraphs, self.back = status, title, paragraphs, back
        self.headers, self.params = headers or {}, params or {}


class _ReplySchema(Strict):
    text = Text(required=True, max_len=5000)


def _in_memory_stream(total_content_length=None, content_type=None, filename=None, content_length=None):
    """Uploads stay in memory (the body is capped before parsing): intake
    writes no reporter file to disk, not even a temporary one."""
    return io.BytesIO()


class PortalKit:
    """Everything the portal pages share: catalogues, templates, keys,
    limiter, static files. No nameko here, so tests build one directly."""

    def __init__(self, secret: bytes, *, clock=time.time):
        self.translations = i18n.load_translations()
        self.envs = {lang: self._environment(lang) for lang in i18n.LANGUAGES}
        self.csrf = CsrfTokens(portal_subkey(secret, "csrf"), max_age=env_float("PELUIT_PORTAL_FORM_SECONDS", 7200),
                               clock=clock)
        self.sessions = SessionBlobs(portal_subkey(secret, "session"),
                                     idle=env_int("PELUIT_PORTAL_SESSION_IDLE_SECONDS", 1800), clock=clock)
        self.limiter = RateLimiter(portal_subkey(secret, "ratelimit"), {
            "report": (env_int("PELUIT_PORTAL_REPORTS_PER_HOUR", 20), 3600.0),
            "receipt": (env_int("PELUIT_PORTAL_RECEIPT_CHECKS_PER_HOUR", 30), 3600.0),
        }, clock=clock)
        self.proxy_hops = env_int("PELUIT_PORTAL_PROXY_HOPS", 0)
        self.timezone = zoneinfo.ZoneInfo(env("PELUIT_TIMEZONE", "Asia/Jakarta"))
        self.evidence_limits = _evidence_limits()
        # the same body cap as the evidence API's, plus room for the report's text fields
        self.upload_limit = env_int("PELUIT_EVIDENCE_MAX_BODY_BYTES",
                                    self.evidence_limits.max_request_bytes + 1_000_000)
        self.static = {}
        for path in sorted(STATIC.iterdir()):
            if path.suffix in STATIC_TYPES:
                data = path.read_bytes()
                self.static[path.name] = (data, STATIC_TYPES[path.suffix], hashlib.sha256(data).hexdigest()[:10])
        self._catalogue, self._catalogue_at = None, 0.0
        self.clock = clock

    def _environment(self, lang: str) -> Environment:
        environment = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=True,
                                  undefined=StrictUndefined, extensions=["jinja2.ext.i18n"],
                                  trim_blocks=True, lstrip_blocks=True, auto_reload=False)
        environment.policies["ext.i18n.trimmed"] = True
        environment.install_gettext_translations(self.translations[lang], newstyle=True)
        return environment

    def gettext(self, lang: str, message: str, **params) -> str:
        out = self.translations[lang].gettext(message)
        return out % params if params else out

    # -- tenants and categories ---------------------------------------------------

    def catalogue(self, cases) -> dict:
        """The full catalogue (names too), cached 30 s; a stale copy serves
        while cases is away. Cases re-checks every registration."""
        if self._catalogue is None or time.monotonic() - self._catalogue_at > 30:
            try:
                self._catalogue = call(cases.catalogue, timeout=env_float("PELUIT_RPC_TIMEOUT", 10.0))
                self._catalogue_at = time.monotonic()
            except UNAVAILABLE_ERRORS as exc:
                log.warning("portal catalogue unavailable: %s", type(exc).__name__)
                if self._catalogue is None:
                    raise HttpError(503, "unavailable", {}) from None
        return self._catalogue

    def tenant_names(self, catalogue: dict | None) -> dict[str, str]:
        return {t["code"]: t["name"] for t in (catalogue or {}).get("tenants", [])}

    def form_choices(self, catalogue: dict, lang: str, tenant: str | None):
        tenants = sorted(catalogue["tenants"], key=lambda t: (t.get("parent") is not None, t["name"]))
        offered: dict[str, dict] = {}
        for t in catalogue["tenants"]:
            if tenant and t["code"] != tenant:
                continue
            for c in t["categories"]:
                entry = offered.setdefault(c["code"], {"code": c["code"], "name": c["name"].get(lang) or c["code"],
                                                       "tenants": []})
                entry["tenants"].append(t["code"])
        categories = sorted(offered.values(), key=lambda c: (c["code"] == "lainnya", c["name"].casefold()))
        for c in categories:
            c["tenants"] = " ".join(c["tenants"])
        return [{"code": t["code"], "name": t["name"]} for t in tenants], categories

    # -- formatting -----------------------------------------------------------------

    def when(self, value: str | None, lang: str) -> tuple[str, str]:
        if not value:
            return "", ""
        try:
            moment = dt.datetime.fromisoformat(value)
        except ValueError:
            return value, value
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.timezone.utc)
        pattern = "d MMMM y, HH.mm zzz" if lang == "id" else "d MMMM y, HH:mm zzzz"
        return moment.isoformat(), format_datetime(moment, pattern, tzinfo=self.timezone, locale=lang)

    def day(self, value: str | None, lang: str) -> str:
        if not value:
            return ""
        try:
            return format_date(dt.date.fromisoformat(value[:10]), "d MMMM y", locale=lang)
        except ValueError:
            return value

    # -- responses --------------------------------------------------------------------

    def render(self, visit: Visit, template: str, status: int = 200, **context) -> Response:
        lang = visit.lang
        base = {
            "lang": lang, "page": "", "notices": [], "errors": {}, "general": [], "has_errors": False,
            "url": visit.url, "static": self.static_url, "switch_url": visit.switch_url(),
            "session_csrf": visit.session_token(), "evidence_limits": {
                "files": self.evidence_limits.max_files,
                "file_mb": f"{self.evidence_limits.max_file_bytes / 1_000_000:g}",
                "total_mb": f"{self.evidence_limits.max_request_bytes / 1_000_000:g}"},
            # a hint to the browser's file picker only: the server decides by content
            "accept": ".jpg,.jpeg,.png,.pdf,.docx,.xlsx,.pptx,.txt,.mp3,.m4a",
        }
        base.update(context)
        base["has_errors"] = bool(base["errors"] or base["general"])
        html = self.envs[lang].get_template(template).render(**base)
        return Response(html, status=status, content_type="text/html; charset=utf-8", headers=HTML_HEADERS)

    def static_url(self, name: str) -> str:
        return f"/static/{name}?v={self.static[name][2]}"

    def redirect(self, location: str) -> Response:
        return Response("", status=303, headers={**HTML_HEADERS, "Location": location})


def _evidence_limits():
    """The evidence module's limits (files per upload, sizes), shown in the forms' hints."""
    from .evidence import Limits

    return Limits.from_env()


class Portal(DependencyProvider):
    """The portal's shared state for one intake process (built at start-up:
    catalogues compiled, templates loaded, keys derived from intake's secret)."""

    def setup(self):
        secret = bytes.fromhex(secret_bytes("PELUIT_INTAKE_SECRET_FILE", "intake-secret.key").decode())
        self.kit = PortalKit(secret)

    def get_dependency(self, worker_ctx):
        return self.kit


class Visit:
    """One request as the portal sees it: language, session, cookie to send."""

    def __init__(self, kit: PortalKit, request):
        self.kit, self.request = kit, request
        self.lang = i18n.choose_language(request.args.get("lang"))
        self.tls = (request.headers.get("X-Forwarded-Proto", "").lower() == "https"
                    or request.environ.get("wsgi.url_scheme") == "https")
        self.cookie_name = COOKIE_TLS if self.tls else COOKIE
        raw = request.cookies.get(self.cookie_name)
        self.had_cookie = raw is not None
        self.session = kit.sessions.open(raw) if raw else None
        self.session_expired = self.had_cookie and self.session is None
        self.switchable = request.method == "GET"

    def take_form_language(self, form) -> None:
        self.lang = i18n.choose_language(form.get("lang"), self.request.args.get("lang"))

    def t(self, key: str, **params) -> str:
        return self.kit.gettext(self.lang, T[key], **params)

    def pick(self, bilingual: dict) -> str:
        return bilingual.get(self.lang) or bilingual.get("id") or ""

    def url(self, path: str, **params) -> str:
        query = urllib.parse.urlencode({"lang": self.lang, **{k: v for k, v in params.items() if v}})
        return f"{path}?{query}"

    def switch_url(self) -> str | None:
        other = "en" if self.lang == "id" else "id"
        params = {"lang": other}
        if self.switchable and self.request.args.get("tenant"):
            params["tenant"] = self.request.args["tenant"]
        return f"{self.request.path}?{urllib.parse.urlencode(params)}"

    def session_token(self) -> str | None:
        if self.session is None:
            return None
        return self.kit.csrf.issue("s:" + self.session.sid)

    def client(self) -> str:
        return client_address(self.request.environ, self.kit.proxy_hops)

    def finish(self, response: Response) -> Response:
        """The session cookie, re-issued with a fresh last-seen on every
        request, or removed when it ended or was refused."""
        if self.session is not None:
            response.set_cookie(self.cookie_name, self.kit.sessions.seal(self.session), max_age=self.kit.sessions.idle,
                                path="/", secure=self.tls, httponly=True, samesite="Strict")
        elif self.had_cookie:
            response.delete_cookie(self.cookie_name, path="/", secure=self.tls, httponly=True, samesite="Strict")
        return response


def portal_page(func):
    """Wrap a portal handler: a ``Visit`` in, an HTML response with every
    security header out; refusals and errors become pages, never tracebacks."""

    @functools.wraps(func)
    def wrapper(self, request, *args, **kwargs):
        kit: PortalKit = self.portal
        visit = Visit(kit, request)
        try:
            response = func(self, visit, *args, **kwargs)
        except Refusal as refusal:
            response = _refusal_page(kit, visit, refusal)
        except HttpError as err:
            busy = err.status == 503
            title = visit.t("busy_title" if busy else "error_title")
            text = visit.pick(err.message) if err.message else visit.t("error_text")
            response = _refusal_page(kit, visit, Refusal(err.status, title, text))
        except Exception as exc:
            log.error("portal page failed: %s", type(exc).__name__)
            try:
                response = _refusal_page(kit, visit, Refusal(500, visit.t("error_title"), visit.t("error_text")))
            except Exception:
                response = Response("500", status=500, content_type="text/plain; charset=utf-8",
                                    headers=HTML_HEADERS)
        return visit.finish(response)

    return wrapper


def _refusal_page(kit: PortalKit, visit: Visit, refusal: Refusal) -> Response:
    response = kit.render(visit, "error.html", refusal.status, title=refusal.title,
                          paragraphs=list(refusal.paragraphs), back=refusal.back)
    response.headers.update(refusal.headers)
    return response


def _read_form(visit: Visit, limit: int, uploads: bool = False):
    """The parsed form, capped at ``limit`` bytes before anything is read."""
    request = visit.request
    length = request.content_length
    too_large = Refusal(413, visit.t("too_large_title"), visit.t(
        "too_large_text", mb=f"{visit.kit.evidence_limits.max_request_bytes / 1_000_000:g}") if uploads
        else visit.t("error_text"), back=request.path)
    if length is None:  # browsers always send a length with a form
        raise Refusal(411, visit.t("error_title"), visit.t("error_text"))
    if length > limit:
        raise too_large
    request.max_content_length = limit
    request.max_form_memory_size = 64 * 1024
    request.max_form_parts = 64
    request._get_file_stream = _in_memory_stream
    try:
        form, files = request.form, request.files
    except HTTPException:
        raise too_large from None
    visit.take_form_language(form)
    return form, files


def _guard(visit: Visit, form, binding: str) -> bool:
    """Refuses a cross-site or unsigned POST; True if the token is genuine
    but too old (the caller re-renders its form with a fresh one)."""
    site = visit.request.headers.get("Sec-Fetch-Site")
    if site is not None and site not in ("same-origin", "none"):
        raise Refusal(403, visit.t("csrf_title"), visit.t("csrf_text"))
    verdict = visit.kit.csrf.check(form.get("csrf"), binding)
    if verdict == "invalid":
        raise Refusal(403, visit.t("csrf_title"), visit.t("csrf_text"))
    return verdict == "expired"


def _value(form, name: str) -> str:
    return (form.get(name) or "")[:FORM_VALUE_MAX]


def _uploads(files) -> list[tuple[str | None, bytes]]:
    """(file name, bytes) of every chosen file; a browser's empty file input is none."""
    out = []
    for part in files.getlist("file"):
        data = part.stream.read()
        if part.filename or data:
            out.append((part.filename, data))
    return out


class PortalMixin:
    portal = Portal()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name, member in vars(_PortalEntrypoints).items():
            if hasattr(member, "nameko_entrypoints") and name not in vars(cls):
                setattr(cls, name, member)

    # -- helpers --------------------------------------------------------------------

    def _portal_rpc(self, method, *args):
        from .service import _call  # service imports this module

        return _call(method, *args)

    def _portal_form(self, visit, form, status: int = 200, *, errors=None, general=(), notices=(),
                     headers: dict | None = None):
        kit = self.portal
        catalogue = kit.catalogue(self.cases)
        tenants, categories = kit.form_choices(catalogue, visit.lang, None)
        if form.get("tenant") and form["tenant"] in {t["code"] for t in tenants} and visit.request.method == "GET":
            _, categories = kit.form_choices(catalogue, visit.lang, form["tenant"])
        errors = dict(errors or {})
        general = list(general)
        for path in list(errors):
            if path not in REPORT_FIELDS:
                general.extend(errors.pop(path))
        response = kit.render(
            visit, "lapor.html", status, page="lapor", form=form, tenants=tenants, categories=categories,
            errors=errors, general=general, notices=list(notices), csrf=kit.csrf.issue(""),
            idempotency_key=form.get("idempotency_key") or secrets.token_urlsafe(32))
        response.headers.update(headers or {})
        return response

    def _portal_login(self, visit, status: int = 200, *, errors=None, general=(), unsent_text: str = ""):
        return self.portal.render(visit, "status_masuk.html", status, page="status", errors=errors or {},
                                  general=list(general), csrf=self.portal.csrf.issue(""), unsent_text=unsent_text)

    def _portal_case(self, visit, status: int = 200, *, errors=None, general=(), notices=(), reply_text: str = ""):
        kit = self.portal
        view = self._portal_rpc(self.cases.reporter_view, visit.session.receipt_hash)
        if view is None:  # the case is gone for this receipt: end the session
            visit.session = None
            return self._portal_login(visit, 404, general=[visit.t("session_ended")])
        try:
            names = kit.tenant_names(kit.catalogue(self.cases))
        except HttpError:
            names = {}
        lang = visit.lang
        timeline = []
        for step in view.get("timeline", []):
            iso, when = kit.when(step.get("at"), lang)
            timeline.append({"iso": iso, "when": when, "label": visit.pick(step.get("label") or {})})
        messages = []
        for message in view.get("messages", []):
            iso, when = kit.when(message.get("at"), lang)
            messages.append({"iso": iso, "when": when, "text": message.get("text", ""),
                             "mine": message.get("from") == "pelapor", "kind": message.get("kind"),
                             "due": kit.day(message.get("due_on"), lang) if message.get("kind") == "question" else "",
                             "attachments": len(message.get("attachments") or [])})
        status_code = (view.get("status") or {}).get("code")
        return kit.render(
            visit, "status.html", status, page="status", registration_number=view["registration_number"],
            tenant_name=names.get(view.get("tenant"), view.get("tenant", "")),
            status_label=visit.pick((view.get("status") or {}).get("label") or {}),
            information_due=kit.day(view.get("information_due"), lang), timeline=timeline, messages=messages,
            open=status_code not in ("selesai", "ditolak", "diarsipkan", "dilimpahkan"),
            errors=errors or {}, general=list(general), notices=list(notices), reply_text=reply_text)

    # -- evidence (the evidence module's code does the work) --------------------------

    def _portal_check_evidence(self, uploads: list):
        """The evidence module's content checks (types by magic bytes, sizes,
        zip bombs, pixel floods): ``None`` if every file passes, else
        ``(status, {field: [bilingual message]})``. Stores nothing."""
        from .evidence import Refused, check_all

        try:
            tpool.execute(check_all, uploads, self.portal.evidence_limits)
        except Refused as refused:
            return refused.status, refused.fields()
        return None

    def _portal_store_evidence(self, receipt_hash: str, uploads: list):
        """``None`` when this intake cannot store evidence, else ``(status,
        {field: [bilingual message]}, bilingual message)``, errors empty on success.
        The evidence module does the work (``EvidenceMixin._store_evidence``)."""
        store = getattr(self, "_store_evidence", None)
        if not callable(store):
            return None
        try:
            result = store(receipt_hash, uploads)
        except HttpError as err:
            return err.status, err.fields or {"file": [err.message]}, None
        return 201, {}, (result or {}).get("message")

    def _portal_report_evidence(self, visit, receipt: str, uploads: list) -> list[str]:
        """Files sent with the report, after it is registered: a refusal here
        never undoes the report, it is explained on the receipt page."""
        if not callable(getattr(self, "_store_evidence", None)):
            return [visit.t("evidence_later")]
        receipt_hash = tpool.execute(self.secrets.receipts.lookup_hash, receipt.replace("-", ""))
        try:
            outcome = self._portal_store_evidence(receipt_hash, uploads)
        except HttpError:
            outcome = None
        if outcome is None:
            return [visit.t("evidence_later")]
        _, errors, message = outcome
        if not errors:
            return [visit.t("evidence_received", count=len(uploads)), *([visit.pick(message)] if message else [])]
        flat = [m for messages in _file_errors(visit, errors).values() for m in messages]
        return [visit.t("evidence_refused"), *flat, visit.t("evidence_later")]



class _PortalEntrypoints:
    """The portal's entrypoints, given to every subclass of ``PortalMixin``
    (i.e. ``IntakeService``) but not to the mixin itself: ``nameko run
    peluit_intake.service`` takes every class in that module with decorated
    methods for a service of its own, and the mixin is imported there."""

    @http("GET", "/")
    @portal_page
    def portal_home(self, visit):
        return self.portal.render(visit, "home.html", page="home")

    @http("GET", "/lapor")
    @portal_page
    def portal_report_form(self, visit):
        form = defaultdict(str, tenant=visit.request.args.get("tenant", "")[:8], identity_mode="anonim")
        return self._portal_form(visit, form)

    @http("POST", "/lapor")
    @portal_page
    def portal_report_submit(self, visit):
        kit = self.portal
        raw, files = _read_form(visit, kit.upload_limit + 256 * 1024, uploads=True)
        expired = _guard(visit, raw, "")
        form = defaultdict(str, {name: _value(raw, name) for name in
                                 (*REPORT_TEXT_FIELDS, *(f"identity.{k}" for k in IDENTITY_FIELDS))})
        form["terlapor_inspektorat"] = raw.get("terlapor_inspektorat") == "1"
        form["identity_mode"] = "rahasia" if raw.get("identity_mode") == "rahasia" else "anonim"
        key = raw.get("idempotency_key") or ""
        form["idempotency_key"] = key if IDEMPOTENCY_KEY.fullmatch(key) else ""
        uploads = _uploads(files)
        notices = [visit.t("attach_again")] if uploads else []

        if expired:
            return self._portal_form(visit, form, 403, general=[visit.t("expired")], notices=notices)
        report, errors = _validate_report(visit, form)
        if errors:
            return self._portal_form(visit, form, 400, errors=errors, notices=notices)
        wait = kit.limiter.hit("report", visit.client())
        if wait is not None:
            return self._portal_form(visit, form, 429, general=[visit.t("rate_limited", minutes=int(wait // 60) + 1)],
                                     notices=notices, headers={"Retry-After": str(int(wait) + 1)})
        if uploads:  # a refused file is answered before anything is registered
            refused = self._portal_check_evidence(uploads)
            if refused is not None:
                status, fields = refused
                return self._portal_form(visit, form, status, errors=_file_errors(visit, fields), notices=notices)
        try:
            response = self._register(dict(report), form["idempotency_key"] or None, channel="web",
                                      assisted_by=None)
        except HttpError as err:
            if err.fields:
                errors = {path: [visit.pick(m) for m in messages] for path, messages in err.fields.items()}
                return self._portal_form(visit, form, err.status, errors=errors, notices=notices)
            if err.code == "idempotency_key_reused":
                form["idempotency_key"] = ""
                return self._portal_form(visit, form, err.status, general=[visit.t("key_reused")], notices=notices)
            first = visit.t("busy_title" if err.status == 503 else "error_title") + "."
            return self._portal_form(visit, form, err.status, general=[first, visit.t("busy_kept")],
                                     notices=notices)
        out = json.loads(response.get_data())
        try:  # nothing after the registration may cost the reporter the receipt page
            evidence_notes = self._portal_report_evidence(visit, out["receipt"], uploads) if uploads else []
        except Exception as exc:
            log.error("evidence with a new report failed: %s", type(exc).__name__)
            evidence_notes = [visit.t("evidence_later")]
        try:
            tenant_name = kit.tenant_names(kit.catalogue(self.cases)).get(out["tenant"], out["tenant"])
        except HttpError:
            tenant_name = out["tenant"]
        slip = visit.t("slip_text", number=out["registration_number"], receipt=out["receipt"])
        try:
            return kit.render(
                visit, "tanda_terima.html", 201, page="lapor", registration_number=out["registration_number"],
                receipt=out["receipt"], tenant_name=tenant_name, anonymous=out["anonymous"],
                evidence_notes=evidence_notes, csrf=kit.csrf.issue(""), switch_url=None,
                download_href="data:text/plain;charset=utf-8," + urllib.parse.quote(slip),
                download_name="tanda-terima-" + out["registration_number"].replace("/", "-") + ".txt")
        except Exception as exc:  # the receipt exists only in this response: never lose it to a page error
            log.error("receipt page failed: %s", type(exc).__name__)
            from .slip import printable_slip

            return printable_slip(out, 201)

    @http("GET", "/tanda-terima")
    @portal_page
    def portal_receipt_info(self, visit):
        return self.portal.render(visit, "info.html", title=visit.t("receipt_once_title"),
                                  paragraphs=[visit.t("receipt_once_1"), visit.t("receipt_once_2")])

    @http("GET", "/status")
    @portal_page
    def portal_status(self, visit):
        notices = []
        ok = visit.request.args.get("ok")
        if ok in ("pesan", "bukti"):
            notices.append(visit.t("message_sent" if ok == "pesan" else "evidence_sent"))
        if visit.session is None:
            general = [visit.t("session_ended")] if visit.session_expired else []
            return self._portal_login(visit, general=general)
        return self._portal_case(visit, notices=notices)

    @http("POST", "/status")
    @portal_page
    def portal_status_open(self, visit):
        from .service import answer_no_sooner  # service imports this module

        kit = self.portal
        form, _ = _read_form(visit, 8 * 1024)
        if _guard(visit, form, ""):
            return self._portal_login(visit, 403, general=[visit.t("expired")])
        try:
            typed = _value(form, "receipt").strip()
            receipt = ReceiptSchema().load({"receipt": typed} if typed else {})["receipt"]
        except ValidationError as err:
            errors = {"receipt": [visit.pick(m) for m in bilingual_errors(err.messages).get("receipt", [])]}
            return self._portal_login(visit, 400, errors=errors)
        wait = kit.limiter.hit("receipt", visit.client())
        if wait is not None:
            response = self._portal_login(visit, 429, general=[visit.t("rate_limited", minutes=int(wait // 60) + 1)])
            response.headers["Retry-After"] = str(int(wait) + 1)
            return response
        with answer_no_sooner():
            receipt_hash = tpool.execute(self.secrets.receipts.lookup_hash, receipt)
            del receipt
            view = self._portal_rpc(self.cases.reporter_view, receipt_hash)
        if view is None:
            return self._portal_login(visit, 404, errors={"receipt": [visit.t("unknown_receipt")]})
        visit.session = kit.sessions.start(receipt_hash)
        return kit.redirect(visit.url("/status"))

    @http("POST", "/status/pesan")
    @portal_page
    def portal_status_message(self, visit):
        form, _ = _read_form(visit, 96 * 1024)
        text = _value(form, "text")
        if visit.session is None:
            # only a same-site request carries the (SameSite=Strict) expired cookie:
            # a cross-site POST gets no echo of what it sent
            return self._portal_login(visit, 401, general=[visit.t("session_ended")],
                                      unsent_text=text if visit.had_cookie else "")
        if _guard(visit, form, "s:" + visit.session.sid):
            return self._portal_case(visit, 403, general=[visit.t("expired")], reply_text=text)
        try:
            body = _ReplySchema().load({"text": text} if text.strip() else {})
        except ValidationError as err:
            errors = {"text": [visit.pick(m) for m in bilingual_errors(err.messages).get("text", [])]}
            return self._portal_case(visit, 400, errors=errors, reply_text=text)
        result = self._portal_rpc(self.cases.reporter_message, visit.session.receipt_hash, body["text"])
        error = result.get("error")
        if error == "not_found":
            visit.session = None
            return self._portal_login(visit, 404, general=[visit.t("session_ended")], unsent_text=text)
        if error == "case_closed":
            return self._portal_case(visit, 409, general=[visit.t("case_closed")])
        if error:
            log.error("cases refused a reporter message: %s", error)
            return self._portal_case(visit, 500, general=[visit.t("error_text")], reply_text=text)
        return self.portal.redirect(visit.url("/status", ok="pesan"))

    @http("POST", "/status/bukti")
    @portal_page
    def portal_status_evidence(self, visit):
        kit = self.portal
        form, files = _read_form(visit, kit.upload_limit + 64 * 1024, uploads=True)
        if visit.session is None:
            return self._portal_login(visit, 401, general=[visit.t("session_ended")])
        if _guard(visit, form, "s:" + visit.session.sid):
            return self._portal_case(visit, 403, general=[visit.t("expired"), visit.t("attach_again")])
        uploads = _uploads(files)
        if not uploads:
            return self._portal_case(visit, 400, errors={"file": [visit.pick(
                {"id": "Lampirkan minimal satu berkas.", "en": "Attach at least one file."})]})
        outcome = self._portal_store_evidence(visit.session.receipt_hash, uploads)
        if outcome is None:
            return self._portal_case(visit, 503, general=[visit.t("evidence_unavailable")])
        status, errors, _ = outcome
        if errors:
            return self._portal_case(visit, status, errors=_file_errors(visit, errors))
        return kit.redirect(visit.url("/status", ok="bukti"))

    @http("POST", "/keluar")
    @portal_page
    def portal_sign_out(self, visit):
        form, _ = _read_form(visit, 8 * 1024)
        if visit.session is not None:
            _guard(visit, form, "s:" + visit.session.sid)  # an expired token still signs out
        visit.session = None
        return self.portal.render(visit, "info.html", title=visit.t("signed_out_title"),
                                  paragraphs=[visit.t("signed_out_text")])

    @http("GET", "/static/<path:name>")
    def portal_static(self, request, name):
        found = self.portal.static.get(name)
        if found is None:
            return Response("not found", status=404, content_type="text/plain; charset=utf-8", headers=HTML_HEADERS)
        data, content_type, _ = found
        headers = {**HTML_HEADERS, "Cache-Control": "public, max-age=86400"}
        return Response(data, status=200, content_type=content_type, headers=headers)


def _file_errors(visit: Visit, fields: dict) -> dict[str, list[str]]:
    """The evidence module's ``file`` / ``file.N`` errors, on the one file field."""
    out: list[str] = []
    for messages in fields.values():
        out.extend(visit.pick(m) if isinstance(m, dict) else str(m) for m in messages)
    return {"file": out}


def _validate_report(visit: Visit, form) -> tuple[dict | None, dict[str, list[str]]]:
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
