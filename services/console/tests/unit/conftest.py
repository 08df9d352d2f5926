"""The console's pages without nameko and without the other services: a
``Kit`` over a fake transport that answers as the documented APIs do, and
requests built with werkzeug's test tools."""

from __future__ import annotations

import json
import os
import re
import urllib.parse

import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from peluit_console.api import Reply
from peluit_console.dispatch import serve
from peluit_console.routes import ROUTES
from peluit_console.settings import Settings
from peluit_console.web import Kit

CASE_ID = "0b9c6c1e-8a3f-4f1e-9a57-8a3e7c1b2f01"
OFFICER_ID = "11111111-2222-4333-8444-555555555555"


class Clock:
    def __init__(self, now: float = 1_790_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


class FakeTransport:
    """Answers ``(method, path)`` from ``routes`` (a reply body, or (status, body[, headers]));
    records every call (method, path, headers, params, body)."""

    def __init__(self):
        self.routes: dict = {}
        self.calls: list = []

    def __call__(self, method, url, *, headers, params, body, timeout):
        path = urllib.parse.urlsplit(url).path
        self.calls.append((method, path, headers, params, json.loads(body) if body else None))
        answer = self.routes.get((method, path))
        if answer is None:
            return Reply(404, {}, json.dumps({"error": {"code": "not_found", "message": {"id": "x", "en": "x"}}})
                         .encode())
        if callable(answer):
            answer = answer(params, json.loads(body) if body else None)
        if not isinstance(answer, tuple):
            answer = (200, answer)
        status, payload, *rest = answer
        headers_out = rest[0] if rest else {"Content-Type": "application/json"}
        content = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return Reply(status, headers_out, content)


def login_reply(roles=("penelaah",), tenant="35.73", officer_id=OFFICER_ID, username="sari.penelaah") -> dict:
    return {"token": "aaa.bbb.ccc", "token_type": "Bearer", "expires_in": 900,
            "officer": {"id": officer_id, "tenant": tenant, "roles": list(roles), "username": username}}


CATALOGUE = {"tenants": [
    {"code": "35", "name": "Inspektorat Provinsi Jawa Timur", "parent": None,
     "categories": [{"code": "korupsi", "name": {"id": "Korupsi", "en": "Corruption"}}]},
    {"code": "35.73", "name": "Inspektorat Kota Malang", "parent": "35",
     "categories": [{"code": "korupsi", "name": {"id": "Korupsi", "en": "Corruption"}},
                    {"code": "pungli", "name": {"id": "Pungutan liar", "en": "Illegal levies"}}]},
    {"code": "35.07", "name": "Inspektorat Kabupaten Malang", "parent": "35", "categories": []},
]}


def case_document(status="diterima", version=1, **extra) -> dict:
    doc = {
        "case_id": CASE_ID, "version": version, "registration_number": "WBS/35.73/2026/000001",
        "origin_tenant": "35.73", "handling_tenant": "35.73",
        "status": {"code": status, "label": {"id": "Label " + status, "en": "Label " + status}},
        "category": "korupsi", "channel": "web", "anonymous": True,
        "report": {"what": "Dana hibah dipotong 20% oleh pejabat dinas", "where": "Dinas Sosial", "when": "2026",
                   "who": "Kabid", "how": "tunai", "terlapor_inspektorat": False},
        "history": [{"at": "2026-12-01T01:00:00+00:00", "kind": "registered", "actor": {"id": "system"},
                     "status": "diterima", "reason": None, "reporter_visible": True}],
        "messages": [], "investigation": None, "findings": None, "recommendations": [], "forwarded_to": None,
        "information_due": None, "evidence": [], "registered_at": "2026-12-01T01:00:00+00:00",
        "updated_at": "2026-12-01T01:00:00+00:00",
    }
    doc.update(extra)
    return doc


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def transport():
    fake = FakeTransport()
    fake.routes[("GET", "/api/v1/tenants")] = CATALOGUE
    return fake


@pytest.fixture
def settings():
    return Settings(cases_url="http://cases", reporting_url="http://reporting", intake_url="http://intake",
                    session_key=os.urandom(32))


@pytest.fixture
def kit(settings, transport, clock):
    return Kit(settings, transport, clock=clock)


ROUTE_TABLE = {(r.method, r.path): r for r in ROUTES}


class Browser:
    """Requests to the console's pages as a browser would send them (one cookie jar)."""

    def __init__(self, kit: Kit):
        self.kit, self.cookie = kit, None

    def request(self, method: str, path: str, data: dict | None = None, headers: dict | None = None):
        from werkzeug.routing import Map, Rule

        split = urllib.parse.urlsplit(path)
        adapter = Map([Rule(p, endpoint=(m, p), methods=[m]) for m, p in ROUTE_TABLE]).bind("console.test")
        endpoint, values = adapter.match(split.path, method=method)
        sent = dict(headers or {})
        if self.cookie:
            sent["Cookie"] = self.cookie
        builder = EnvironBuilder(path=split.path, query_string=split.query, method=method, headers=sent,
                                 data=data if data is not None else None, environ_base={"REMOTE_ADDR": "192.0.2.10"})
        response = serve(self.kit, Request(builder.get_environ()), ROUTE_TABLE[endpoint], **values)
        for header in response.headers.getlist("Set-Cookie"):
            value = header.split(";", 1)[0].split("=", 1)[1]
            self.cookie = None if "Max-Age=0" in header or not value else f"peluit_konsol={value}"
        data = response.get_data()
        response.text = data.decode("utf-8", "replace")
        return response

    def get(self, path: str, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path: str, data: dict, **kwargs):
        return self.request("POST", path, data=data, **kwargs)

    def csrf(self, html: str) -> str:
        return re.search(r'name="csrf" value="([^"]+)"', html).group(1)

    def sign_in(self, transport: FakeTransport, reply: dict | None = None):
        transport.routes[("POST", "/api/v1/officer/login")] = reply or login_reply()
        page = self.get("/masuk")
        return self.post("/masuk", {"csrf": self.csrf(page.text), "username": "sari.penelaah",
                                    "password": "kata-sandi-panjang", "totp": "123456"})


@pytest.fixture
def browser(kit):
    return Browser(kit)


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.fixture
def doc():
    """doc(status, **fields) -> a case document as the officer API sends it."""
    return case_document


@pytest.fixture
def officer_login():
    """officer_login(roles, tenant, ...) -> a login reply of the officer API."""
    return login_reply


@pytest.fixture
def signed_in(browser, transport):
    """signed_in(roles=..., tenant=...) -> the browser, signed in as such an officer."""
    def sign_in(roles=("penelaah",), tenant="35.73", officer_id=OFFICER_ID):
        response = browser.sign_in(transport, login_reply(roles, tenant, officer_id))
        assert response.status_code == 303, response.text[:500]
        return browser
    return sign_in
