"""The portal's page machinery: the kit every page shares (translations,
templates, keys, limiter, static files), one request as a ``Visit``, the
wrapper that turns a handler's refusals and errors into pages (``serve``),
bounded form reading, the CSRF guard, and the three stateful pages (report
form, receipt entry, the report's own page). No nameko here: tests build a
``PortalKit`` directly.

Page texts are gettext messages (``i18n/``): ``T`` marks the ones used
from code, the templates hold the rest.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import logging
import secrets
import time
import urllib.parse
import zoneinfo
from pathlib import Path

from babel.dates import format_date, format_datetime
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup, escape
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from peluit_common.settings import env, env_float, env_int
from peluit_common.web import SECURITY_HEADERS
from peluit_contracts.i18n import message

from . import i18n
from .api import upload_body_limit
from .application import Intake
from .errors import Busy, IntakeError, ReceiptNotFound, Throttled, Unavailable
from .evidence_checks import Limits
from .portal_security import CsrfTokens, SessionBlobs, portal_subkey
from .throttle import Throttle

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


def breakable(value: str) -> Markup:
    """A registration number (one long word) that may wrap after each slash on a narrow screen."""
    return Markup("/<wbr>").join(escape(part) for part in str(value).split("/"))


class Refusal(Exception):
    """A page-level refusal: rendered as ``error.html`` with ``status``."""

    def __init__(self, status: int, title: str, *paragraphs: str, back: str = "/", headers: dict | None = None,
                 params: dict | None = None):
        super().__init__(title)
        self.status, self.title, self.paragraphs, self.back = status, title, paragraphs, back
        self.headers, self.params = headers or {}, params or {}


def _in_memory_stream(total_content_length=None, content_type=None, filename=None, content_length=None):
    """Uploads stay in memory (the body is capped before parsing): intake
    writes no reporter file to disk, not even a temporary one."""
    return io.BytesIO()


class PortalKit:
    """Everything the portal pages share: translations, templates, keys,
    limiter, static files. No nameko here, so tests build one directly."""

    def __init__(self, secret: bytes, *, clock=time.time, throttle: Throttle | None = None):
        self.translations = i18n.load_translations()
        self.envs = {lang: self._environment(lang) for lang in i18n.LANGUAGES}
        self.csrf = CsrfTokens(portal_subkey(secret, "csrf"), max_age=env_float("PELUIT_PORTAL_FORM_SECONDS", 7200),
                               clock=clock)
        self.sessions = SessionBlobs(portal_subkey(secret, "session"),
                                     idle=env_int("PELUIT_PORTAL_SESSION_IDLE_SECONDS", 1800), clock=clock)
        # intake's one throttle: the service's API, mail and WhatsApp count in this one too
        self.throttle = throttle or Throttle.from_env(portal_subkey(secret, "ratelimit"))
        self.timezone = zoneinfo.ZoneInfo(env("PELUIT_TIMEZONE", "Asia/Jakarta"))
        self.evidence_limits = Limits.from_env()  # shown in the forms' hints
        # the same body cap as the evidence API's, plus room for the report's text fields
        self.upload_limit = upload_body_limit(self.evidence_limits)
        self.static = {}
        for path in sorted(STATIC.iterdir()):
            if path.suffix in STATIC_TYPES:
                data = path.read_bytes()
                self.static[path.name] = (data, STATIC_TYPES[path.suffix], hashlib.sha256(data).hexdigest()[:10])
        self.clock = clock

    def _environment(self, lang: str) -> Environment:
        environment = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=True,
                                  undefined=StrictUndefined, extensions=["jinja2.ext.i18n"],
                                  trim_blocks=True, lstrip_blocks=True, auto_reload=False)
        environment.policies["ext.i18n.trimmed"] = True
        environment.filters["breakable"] = breakable
        environment.install_gettext_translations(self.translations[lang], newstyle=True)
        return environment

    def gettext(self, lang: str, message: str, **params) -> str:
        out = self.translations[lang].gettext(message)
        return out % params if params else out

    # -- tenants and categories ---------------------------------------------------

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
            "accept": ".jpg,.jpeg,.png,.pdf,.docx,.xlsx,.pptx,.odt,.ods,.txt,.mp3,.m4a",
        }
        base.update(context)
        base["has_errors"] = bool(base["errors"] or base["general"])
        html = self.envs[lang].get_template(template).render(**base)
        return Response(html, status=status, content_type="text/html; charset=utf-8", headers=HTML_HEADERS)

    def static_url(self, name: str) -> str:
        return f"/static/{name}?v={self.static[name][2]}"

    def redirect(self, location: str) -> Response:
        return Response("", status=303, headers={**HTML_HEADERS, "Location": location})


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
        for name in ("tenant", "year"):  # the form's preselected tenant; the statistics' choice
            if self.switchable and self.request.args.get(name):
                params[name] = self.request.args[name]
        return f"{self.request.path}?{urllib.parse.urlencode(params)}"

    def session_token(self) -> str | None:
        if self.session is None:
            return None
        return self.kit.csrf.issue("s:" + self.session.sid)

    def client(self) -> str:
        return self.kit.throttle.client(self.request.environ)

    def wait(self, bucket: str) -> float | None:
        """Count this visit's client in ``bucket``: None, or the seconds to wait."""
        return self.kit.throttle.hit(bucket, self.client())

    def throttled(self, bucket: str) -> Refusal | None:
        """The 429 page (with ``Retry-After``) when this client is over ``bucket``'s limit."""
        wait = self.wait(bucket)
        if wait is None:
            return None
        return Refusal(429, self.t("rate_limited", minutes=int(wait // 60) + 1), back=self.request.path,
                       headers={"Retry-After": str(int(wait) + 1)})

    def finish(self, response: Response) -> Response:
        """The session cookie, re-issued with a fresh last-seen on every
        request, or removed when it ended or was refused."""
        if self.session is not None:
            response.set_cookie(self.cookie_name, self.kit.sessions.seal(self.session), max_age=self.kit.sessions.idle,
                                path="/", secure=self.tls, httponly=True, samesite="Strict")
        elif self.had_cookie:
            response.delete_cookie(self.cookie_name, path="/", secure=self.tls, httponly=True, samesite="Strict")
        return response


def serve(kit: PortalKit, request, handler, *args) -> Response:
    """Run a portal handler on a ``Visit``: an HTML response with every
    security header out; refusals and errors become pages, never tracebacks."""
    visit = Visit(kit, request)
    try:
        refusal = visit.throttled("request")  # every page counts; the forms count again in their own bucket
        if refusal is not None:
            raise refusal
        response = handler(visit, *args)
    except Refusal as refusal:
        response = _refusal_page(kit, visit, refusal)
    except Throttled as err:
        response = _refusal_page(kit, visit, Refusal(429, visit.t("rate_limited", minutes=err.minutes),
                                                     headers={"Retry-After": str(err.retry_after)}))
    except IntakeError as err:
        busy = isinstance(err, (Unavailable, Busy))
        response = _refusal_page(kit, visit, Refusal(
            503 if busy else 500, visit.t("busy_title" if busy else "error_title"), visit.pick(message(err.text)),
            headers={"Retry-After": str(err.retry_after)} if isinstance(err, Busy) else None))
    except Exception as exc:
        log.error("portal page failed: %s", type(exc).__name__)
        try:
            response = _refusal_page(kit, visit, Refusal(500, visit.t("error_title"), visit.t("error_text")))
        except Exception:
            response = Response("500", status=500, content_type="text/plain; charset=utf-8", headers=HTML_HEADERS)
    return visit.finish(response)


def _refusal_page(kit: PortalKit, visit: Visit, refusal: Refusal) -> Response:
    response = kit.render(visit, "error.html", refusal.status, title=refusal.title,
                          paragraphs=list(refusal.paragraphs), back=refusal.back)
    response.headers.update(refusal.headers)
    return response


def read_form(visit: Visit, limit: int, uploads: bool = False):
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


def guard(visit: Visit, form, binding: str) -> bool:
    """Refuses a cross-site or unsigned POST; True if the token is genuine
    but too old (the caller re-renders its form with a fresh one)."""
    site = visit.request.headers.get("Sec-Fetch-Site")
    if site is not None and site not in ("same-origin", "none"):
        raise Refusal(403, visit.t("csrf_title"), visit.t("csrf_text"))
    verdict = visit.kit.csrf.check(form.get("csrf"), binding)
    if verdict == "invalid":
        raise Refusal(403, visit.t("csrf_title"), visit.t("csrf_text"))
    return verdict == "expired"


def form_value(form, name: str) -> str:
    return (form.get(name) or "")[:FORM_VALUE_MAX]


def chosen_files(files) -> list[tuple[str | None, bytes]]:
    """(file name, bytes) of every chosen file; a browser's empty file input is none."""
    out = []
    for part in files.getlist("file"):
        data = part.stream.read()
        if part.filename or data:
            out.append((part.filename, data))
    return out




def file_errors(visit: Visit, fields: dict) -> dict[str, list[str]]:
    """The evidence checks' ``file`` / ``file.N`` errors, on the one file field."""
    out: list[str] = []
    for messages in fields.values():
        out.extend(visit.pick(m) if isinstance(m, dict) else str(m) for m in messages)
    return {"file": out}


def tenant_names(intake: Intake) -> dict[str, str]:
    """For display only: empty while no catalogue can be had."""
    try:
        catalogue = intake.catalogue(stale_ok=True)
    except IntakeError:
        return {}
    return {t["code"]: t["name"] for t in catalogue["tenants"]}


# -- the stateful pages --------------------------------------------------------------

def form_page(visit: Visit, intake: Intake, form, status: int = 200, *, errors=None, general=(), notices=(),
              headers: dict | None = None) -> Response:
    """The report form with what was typed (never the files), its errors and a fresh token."""
    kit = visit.kit
    catalogue = intake.catalogue(stale_ok=True)  # cases re-checks every registration
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


def login_page(visit: Visit, status: int = 200, *, errors=None, general=(), unsent_text: str = "") -> Response:
    return visit.kit.render(visit, "status_masuk.html", status, page="status", errors=errors or {},
                            general=list(general), csrf=visit.kit.csrf.issue(""), unsent_text=unsent_text)


def case_page(visit: Visit, intake: Intake, status: int = 200, *, errors=None, general=(), notices=(),
              reply_text: str = "", headers: dict | None = None) -> Response:
    """The report's own page for the session's receipt; the session ends if the case is gone."""
    kit = visit.kit
    try:
        view = intake.status(visit.session.receipt_hash)
    except ReceiptNotFound:
        visit.session = None
        return login_page(visit, 404, general=[visit.t("session_ended")])
    names = tenant_names(intake)
    lang = visit.lang
    timeline = []
    for step in view.get("timeline", []):
        iso, when = kit.when(step.get("at"), lang)
        timeline.append({"iso": iso, "when": when, "label": visit.pick(step.get("label") or {})})
    messages = []
    for item in view.get("messages", []):
        iso, when = kit.when(item.get("at"), lang)
        messages.append({"iso": iso, "when": when, "text": item.get("text", ""),
                         "mine": item.get("from") == "pelapor", "kind": item.get("kind"),
                         "due": kit.day(item.get("due_on"), lang) if item.get("kind") == "question" else "",
                         "attachments": len(item.get("attachments") or [])})
    status_code = (view.get("status") or {}).get("code")
    response = kit.render(
        visit, "status.html", status, page="status", registration_number=view["registration_number"],
        tenant_name=names.get(view.get("tenant"), view.get("tenant", "")),
        status_label=visit.pick((view.get("status") or {}).get("label") or {}),
        information_due=kit.day(view.get("information_due"), lang), timeline=timeline, messages=messages,
        open=status_code not in ("selesai", "ditolak", "diarsipkan", "dilimpahkan"),
        errors=errors or {}, general=list(general), notices=list(notices), reply_text=reply_text)
    response.headers.update(headers or {})
    return response
