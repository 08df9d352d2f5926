"""The console's page machinery, apart from nameko: the ``Kit`` every page
shares (settings, API transport, templates and catalogues, session cookies,
static files) and ``Page``, one request as a page handler sees it (language,
session, the officer's API client, the form, rendering, links).

A handler is a plain function ``handler(page, **path_values)`` returning a
``View`` (template + context) or a ``Response`` (a redirect, a download).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import time
import urllib.parse
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path

from babel.dates import format_date, format_datetime
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from peluit_common.pages import LANGUAGES, choose_language, jinja_environment
from peluit_common.web import SECURITY_HEADERS
from peluit_contracts.i18n import text

from . import i18n, rules
from .api import Api, HttpTransport, Transport
from .session import COOKIE, COOKIE_TLS, SessionCookies, SignInTokens
from .settings import Settings
from .texts import T

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                           "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
HTML_HEADERS = {**SECURITY_HEADERS, "Content-Security-Policy": CONTENT_SECURITY_POLICY,
                "Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Resource-Policy": "same-origin",
                "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()"}
STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}
FORM_LIMIT = 256 * 1024
VALUE_LIMIT = 20_000  # characters kept of any one form value (the contracts' limits are lower)


class PageError(Exception):
    """A page-level refusal by the console itself: ``code`` names its text in the catalogue."""

    def __init__(self, status: int, code: str):
        super().__init__(code)
        self.status, self.code = status, code


@dataclass
class View:
    template: str
    context: dict = field(default_factory=dict)
    status: int = 200


class Kit:
    """Everything the pages share; tests build one with a fake transport."""

    _catalogue: tuple | None = None  # (when, intake's public tenant catalogue): configuration, kept minutes

    def __init__(self, settings: Settings, transport: Transport | None = None, clock=time.time):
        self.settings, self.clock = settings, clock
        self.transport = transport or HttpTransport()
        self.translations = i18n.CATALOGUE.load()
        self.cookies = SessionCookies(settings.session_key, settings.idle_seconds, clock)
        self.sign_in_tokens = SignInTokens(settings.session_key, clock=clock)
        self.timezone = zoneinfo.ZoneInfo(settings.timezone)
        self.static = {}
        for path in sorted(STATIC.iterdir()):
            if path.suffix in STATIC_TYPES:
                data = path.read_bytes()
                self.static[path.name] = (data, STATIC_TYPES[path.suffix], hashlib.sha256(data).hexdigest()[:10])
        self.envs = {lang: jinja_environment(TEMPLATES, self.translations[lang], static=self.static_url)
                     for lang in LANGUAGES}

    def api(self, token: str | None) -> Api:
        s = self.settings
        return Api({"cases": s.cases_url, "reporting": s.reporting_url, "intake": s.intake_url}, self.transport,
                   token, call_seconds=s.call_seconds, download_seconds=s.download_seconds)

    def static_url(self, name: str) -> str:
        return f"/static/{name}?v={self.static[name][2]}"

    def gettext(self, lang: str, msgid: str, **params) -> str:
        out = self.translations[lang].gettext(msgid)
        return out % params if params else out


class Page:
    """One request: the language, the session (None before sign-in or after
    it ended), the officer's API client, the form once read."""

    def __init__(self, kit: Kit, request):
        self.kit, self.request = kit, request
        self.lang = choose_language(request.args.get("lang"))
        self.tls = kit.settings.secure_cookie or request.headers.get("X-Forwarded-Proto", "").lower() == "https"
        self.cookie_name = COOKIE_TLS if self.tls else COOKIE
        raw = request.cookies.get(self.cookie_name)
        self.had_cookie = raw is not None
        self.session = kit.cookies.open(raw) if raw else None
        self.session_ended = self.had_cookie and self.session is None
        self.api = kit.api(self.session.token if self.session else None)
        self.form: MultiDict = MultiDict()

    # -- who -----------------------------------------------------------------------------

    @property
    def officer(self):
        return self.session.officer if self.session else None

    def sign_in(self, login: dict) -> None:
        self.session = self.kit.cookies.start(login)
        self.api = self.kit.api(self.session.token)

    def sign_out(self) -> None:
        self.session = None
        self.api = self.kit.api(None)

    # -- texts and links --------------------------------------------------------------------

    def t(self, key: str, **params) -> str:
        return self.kit.gettext(self.lang, T[key], **params)

    def pick(self, bilingual) -> str:
        if not isinstance(bilingual, dict):
            return str(bilingual or "")
        return bilingual.get(self.lang) or bilingual.get("id") or ""

    def message(self, code: str) -> str:
        return self.pick(text(code))

    def url(self, path: str, **params) -> str:
        query = urllib.parse.urlencode({"lang": self.lang, **{k: v for k, v in params.items() if v not in (None, "")}})
        return f"{path}?{query}"

    def switch_url(self) -> str:
        """This page in the other language (a GET keeps its query)."""
        other = "en" if self.lang == "id" else "id"
        params = {k: v for k, v in self.request.args.items(multi=True) if k != "lang"} \
            if self.request.method == "GET" else {}
        return f"{self.request.path}?{urllib.parse.urlencode([('lang', other), *params.items()])}"

    def redirect(self, path: str, **params) -> Response:
        return Response("", status=303, headers={**HTML_HEADERS, "Location": self.url(path, **params)})

    # -- forms ------------------------------------------------------------------------------

    def read_form(self, limit: int = FORM_LIMIT) -> MultiDict:
        """The posted form, capped before anything is read; the language it names wins."""
        request = self.request
        if request.content_length is None:
            raise PageError(411, "console_form_refused")
        if request.content_length > limit:
            raise PageError(413, "console_form_too_large")
        request.max_content_length = limit
        request.max_form_memory_size = limit
        request.max_form_parts = 200
        request._get_file_stream = lambda *args, **kwargs: io.BytesIO()  # never a temporary file
        try:
            self.form = request.form
        except HTTPException:
            raise PageError(413, "console_form_too_large") from None
        self.lang = choose_language(self.form.get("lang"), request.args.get("lang"))
        return self.form

    def value(self, name: str) -> str:
        return (self.form.get(name) or "")[:VALUE_LIMIT]

    def values(self, *names: str) -> dict:
        return {name: self.value(name) for name in names}

    def field_errors(self, fields: dict) -> dict[str, list[str]]:
        """An API's (or a contract schema's) bilingual field messages, in this page's language."""
        out: dict[str, list[str]] = {}
        for path, messages in (fields or {}).items():
            out.setdefault(str(path), []).extend(
                self.pick(m) for m in (messages if isinstance(messages, list) else [messages]))
        return out

    # -- formatting -------------------------------------------------------------------------

    def moment(self, value: str | None) -> dict:
        """{"iso", "text"} of an ISO time, in the console's time zone."""
        if not value:
            return {"iso": "", "text": ""}
        try:
            when = dt.datetime.fromisoformat(str(value))
        except ValueError:
            return {"iso": str(value), "text": str(value)}
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.timezone.utc)
        pattern = "d MMM y, HH.mm" if self.lang == "id" else "d MMM y, HH:mm"
        return {"iso": when.isoformat(), "text": format_datetime(when, pattern, tzinfo=self.kit.timezone,
                                                                 locale=self.lang)}

    def day(self, value: str | None) -> str:
        if not value:
            return ""
        try:
            return format_date(dt.date.fromisoformat(str(value)[:10]), "d MMM y", locale=self.lang)
        except ValueError:
            return str(value)

    def status_label(self, code: str | None) -> str:
        return self.pick(text(f"status_{code}")) if code else ""

    # -- responses ------------------------------------------------------------------------

    def render(self, view: View) -> Response:
        officer = self.officer
        context = {
            "lang": self.lang, "page": "", "notices": [], "errors": {}, "general": [], "officer": officer,
            "nav": rules.navigation(officer) if officer else [],
            "url": self.url, "switch_url": self.switch_url(),
            "csrf": self.session.csrf if self.session else None, "current": self.request.path,
            "t": self.t, "pick": self.pick, "error_prefix": "", "idle_minutes": self.kit.settings.idle_seconds // 60,
        }
        context.update(view.context)
        context["has_errors"] = bool(context["errors"] or context["general"])
        html = self.kit.envs[self.lang].get_template(view.template).render(**context)
        return Response(html, status=view.status, content_type="text/html; charset=utf-8", headers=HTML_HEADERS)

    def finish(self, response: Response) -> Response:
        """The session cookie re-sealed with a fresh last-activity time, or removed."""
        if self.session is not None:
            response.set_cookie(self.cookie_name, self.kit.cookies.seal(self.session), path="/", secure=self.tls,
                                httponly=True, samesite="Strict")
        elif self.had_cookie:
            response.delete_cookie(self.cookie_name, path="/", secure=self.tls, httponly=True, samesite="Strict")
        return response


def static(kit: Kit, name: str) -> Response:
    found = kit.static.get(name)
    if found is None:
        return Response("not found", status=404, content_type="text/plain; charset=utf-8", headers=HTML_HEADERS)
    data, content_type, _ = found
    return Response(data, status=200, content_type=content_type,
                    headers={**HTML_HEADERS, "Cache-Control": "public, max-age=86400, immutable"})
