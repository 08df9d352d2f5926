"""The console's one client of the documented HTTP APIs: the officer API
(cases), the statistics API (reporting) and the reporter API's assisted
intake (intake), always with the officer's own bearer token.

Every call has a deadline; every answer that is not a success becomes one
typed exception, so pages decide by type: ``SignedOut`` (401), ``Forbidden``
(403), ``NotFound`` (404), ``Conflict`` (409, with its body), ``Refused``
(any other 4xx, with the field-by-field bilingual messages) and
``Unavailable`` (5xx, no answer in time, no connection, an unreadable reply).
Nothing here logs a body, a token or a query string.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import quote

import requests

from peluit_contracts.i18n import message

log = logging.getLogger(__name__)

JSON = "application/json"


@dataclass
class ApiError(Exception):
    """A refusal or failure of an API call: the status, the API's stable
    ``code``, its bilingual ``message`` and ``fields`` (path -> messages)."""

    status: int
    code: str
    message: dict = field(default_factory=dict)
    fields: dict = field(default_factory=dict)
    body: dict = field(default_factory=dict)

    def __str__(self) -> str:  # a code, never a text the API or a user wrote
        return f"{self.status} {self.code}"


class SignedOut(ApiError):
    """401: the token is missing, invalid, expired, or the session ended."""


class Forbidden(ApiError):
    """403: the role may not do this (or a step-up code was wrong)."""


class NotFound(ApiError):
    """404: missing, or outside the officer's tenant (the API does not say which)."""


class Conflict(ApiError):
    """409: someone changed the case first (``stale_version``) or the step is decided."""

    @property
    def current_version(self) -> int | None:
        value = self.body.get("current_version")
        return value if isinstance(value, int) else None

    @property
    def changes(self) -> list | None:
        value = self.body.get("changes")
        return value if isinstance(value, list) else None


class Refused(ApiError):
    """Any other 4xx: bad input (field by field) or a refused workflow step."""


class Unavailable(ApiError):
    """5xx, no answer within the deadline, no connection, or a reply we cannot read."""


BY_STATUS = {401: SignedOut, 403: Forbidden, 404: NotFound, 409: Conflict}


def unavailable(service: str) -> Unavailable:
    return Unavailable(503, "unavailable", message("console_unavailable"), body={"service": service})


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict
    content: bytes

    def json(self):
        return json.loads(self.content.decode("utf-8"))


@dataclass(frozen=True)
class Download:
    """A file the console passes through to the officer as it came."""

    content: bytes
    content_type: str
    disposition: str | None


class Transport(Protocol):
    def __call__(self, method: str, url: str, *, headers: dict, params: dict | None, body: bytes | None,
                 timeout: float) -> Reply: ...


class HttpTransport:
    """``requests`` with one connection pool per process (green under nameko's
    monkey-patching); ``timeout`` bounds the connection and every read, and
    the whole call is abandoned past it as well (``deadline``)."""

    def __init__(self):
        self.session = requests.Session()
        self.session.trust_env = False  # no proxy from the environment between the console and the APIs

    def __call__(self, method, url, *, headers, params, body, timeout) -> Reply:
        started = time.monotonic()
        with self.session.request(method, url, headers=headers, params=params, data=body,
                                  timeout=(min(3.0, timeout), timeout), allow_redirects=False, stream=True) as resp:
            chunks, size = [], 0
            for chunk in resp.iter_content(64 * 1024):
                chunks.append(chunk)
                size += len(chunk)
                if time.monotonic() - started > timeout:
                    raise requests.Timeout("deadline")
                if size > 64 * 1024 * 1024:
                    raise requests.ConnectionError("reply too large")
            return Reply(resp.status_code, dict(resp.headers), b"".join(chunks))


class Api:
    """The APIs as one officer (``token``) sees them. ``bases`` maps a
    service name (cases, reporting, intake) to its base URL."""

    def __init__(self, bases: dict[str, str], transport: Transport, token: str | None = None,
                 call_seconds: float = 10.0, download_seconds: float = 60.0):
        self.bases, self.transport, self.token = bases, transport, token
        self.call_seconds, self.download_seconds = call_seconds, download_seconds

    # -- the one request path ------------------------------------------------------------

    def request(self, service: str, method: str, path: str, *, params: dict | None = None, body=None,
                headers: dict | None = None, download: bool = False) -> Reply:
        sent = {"Accept": "*/*" if download else JSON}
        if self.token:
            sent["Authorization"] = f"Bearer {self.token}"
        data = None
        if body is not None:
            sent["Content-Type"] = JSON
            data = json.dumps(body, ensure_ascii=False, default=str).encode()
        sent.update(headers or {})
        query = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        timeout = self.download_seconds if download else self.call_seconds
        try:
            reply = self.transport(method, self.bases[service] + path, headers=sent, params=query or None,
                                   body=data, timeout=timeout)
        except (requests.RequestException, OSError) as exc:
            # the type only: an exception text may quote a URL with a query
            log.warning("%s did not answer: %s", service, type(exc).__name__)
            raise unavailable(service) from None
        if reply.status < 400:
            return reply
        raise self._error(service, reply)

    def _error(self, service: str, reply: Reply) -> ApiError:
        if reply.status >= 500 or reply.status < 400:
            log.warning("%s answered %d", service, reply.status)
            return unavailable(service)
        try:
            body = reply.json()
            error = body["error"]
            code = str(error["code"])
        except (ValueError, KeyError, TypeError):
            body, error, code = {}, {}, "bad_request"
        text = error.get("message") if isinstance(error.get("message"), dict) else message("bad_request")
        fields = error.get("fields") if isinstance(error.get("fields"), dict) else {}
        kind = BY_STATUS.get(reply.status, Refused)
        return kind(reply.status, code, text, fields, body if isinstance(body, dict) else {})

    def get(self, service: str, path: str, **params):
        return _json(service, self.request(service, "GET", path, params=params))

    def post(self, service: str, path: str, body: dict | None = None, *, headers: dict | None = None,
             params: dict | None = None):
        reply = self.request(service, "POST", path, body=body if body is not None else {}, headers=headers,
                             params=params)
        return _json(service, reply) if reply.content else {}

    def download(self, service: str, path: str, *, method: str = "GET", params: dict | None = None, body=None,
                 headers: dict | None = None) -> Download:
        reply = self.request(service, method, path, params=params, body=body, headers=headers, download=True)
        lowered = {k.lower(): v for k, v in reply.headers.items()}
        return Download(reply.content, lowered.get("content-type", "application/octet-stream"),
                        lowered.get("content-disposition"))

    # -- sign-in and the session (cases) --------------------------------------------------

    def login(self, username: str, password: str, totp: str, client: str | None = None) -> dict:
        """``client``: the browser's address, so cases throttles failed sign-ins
        per browser, not per console (cases trusts it behind PELUIT_CASES_PROXY_HOPS)."""
        headers = {"X-Forwarded-For": client} if client else None
        return self.post("cases", "/api/v1/officer/login", {"username": username, "password": password,
                                                            "totp": totp}, headers=headers)

    def refresh(self) -> dict:
        """A fresh token while the session is valid (accounts' ``POST /officer/token``)."""
        return self.post("cases", "/api/v1/officer/token")

    def logout(self) -> None:
        self.request("cases", "POST", "/api/v1/officer/logout", body={})

    # -- cases -------------------------------------------------------------------------

    def cases(self, **filters) -> dict:
        return self.get("cases", "/api/v1/cases", **filters)

    def case(self, case_id: str, as_of: str | None = None) -> dict:
        return self.get("cases", f"/api/v1/cases/{_segment(case_id)}", as_of=as_of)

    def timeline(self, case_id: str) -> dict:
        return self.get("cases", f"/api/v1/cases/{_segment(case_id)}/timeline")

    def command(self, case_id: str, name: str, body: dict, version: int) -> dict:
        return self.post("cases", f"/api/v1/cases/{_segment(case_id)}/{_segment(name)}", body,
                         headers={"If-Match": f'"{int(version)}"'})

    def redact(self, case_id: str, body: dict, version: int) -> dict:
        return self.post("cases", f"/api/v1/cases/{_segment(case_id)}/redactions", body,
                         headers={"If-Match": f'"{int(version)}"'})

    def redact_evidence(self, case_id: str, evidence_id: str, body: dict, version: int) -> dict:
        return self.post("cases", f"/api/v1/cases/{_segment(case_id)}/evidence/{_segment(evidence_id)}/redactions",
                         body, headers={"If-Match": f'"{int(version)}"'})

    def evidence(self, case_id: str, evidence_id: str) -> Download:
        return self.download("cases", f"/api/v1/cases/{_segment(case_id)}/evidence/{_segment(evidence_id)}")

    def audit_bundle(self, case_id: str) -> Download:
        return self.download("cases", f"/api/v1/cases/{_segment(case_id)}/audit-bundle")

    def disclosure_events(self, tenant: str) -> dict:
        return self.get("cases", "/api/v1/disclosure-events", tenant=tenant)

    def request_disclosure(self, case_id: str, reason: str, legal_basis: str, evidence_id: str | None = None,
                           original_ref: str | None = None) -> dict:
        """The identity, an attachment's original (``evidence_id``) or a redacted passage (``original_ref``)."""
        path = f"/api/v1/cases/{_segment(case_id)}"
        if evidence_id:
            path += f"/evidence/{_segment(evidence_id)}"
        elif original_ref:
            path += f"/redactions/{_segment(original_ref)}"
        return self.post("cases", path + "/disclosure-requests", {"reason": reason, "legal_basis": legal_basis})

    def grant_audit(self, officer_id: str, tenant: str, days: int, reason: str) -> dict:
        return self.post("cases", "/api/v1/audit-grants", {"officer_id": officer_id, "tenant": tenant, "days": days,
                                                           "reason": reason})

    # -- statistics (reporting) --------------------------------------------------------

    def tenant_stats(self, tenant: str | None, start: str | None, end: str | None) -> dict:
        return self.get("reporting", "/api/v1/stats", tenant=tenant, **{"from": start, "to": end})

    def province_stats(self, province: str | None, start: str | None, end: str | None) -> dict:
        return self.get("reporting", "/api/v1/stats/province", province=province, **{"from": start, "to": end})

    def stats_export(self, fmt: str, tenant: str | None, year: int | None, province: bool = False) -> Download:
        if province:
            return self.download("reporting", f"/api/v1/stats/province/export.{_segment(fmt)}",
                                 params={"province": tenant, "year": year})
        return self.download("reporting", f"/api/v1/stats/export.{_segment(fmt)}",
                             params={"tenant": tenant, "year": year})

    # -- intake ------------------------------------------------------------------------

    def tenants(self) -> dict:
        """The public catalogue: tenants and their categories (no token needed)."""
        return self.get("intake", "/api/v1/tenants")

    def assisted_report(self, body: dict, idempotency_key: str) -> Download:
        """The printable slip (HTML) of a report typed in for a walk-in, letter or phone reporter."""
        return self.download("intake", "/api/v1/assisted-reports", method="POST", params={"format": "html"},
                             body=body, headers={"Idempotency-Key": idempotency_key})


def _json(service: str, reply: Reply):
    """A success's JSON; anything else is a service we cannot read (a proxy's page, a wrong URL)."""
    try:
        return reply.json()
    except (ValueError, UnicodeDecodeError):
        log.warning("%s answered something that is not JSON", service)
        raise unavailable(service) from None


def _segment(value: str) -> str:
    """One path segment, whatever was typed into a URL."""
    return quote(str(value), safe="")
