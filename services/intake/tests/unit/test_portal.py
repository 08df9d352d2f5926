"""The portal's parts without nameko: CSRF tokens, the session blob, the
language choice, the catalogues and the templates, and the
handlers that answer before any RPC (refusals, limits, sign-out)."""

from __future__ import annotations

import base64
import os
import re
from collections import defaultdict
from pathlib import Path

import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from peluit_intake import i18n
from peluit_intake import portal
from peluit_intake.portal import validate_report
from peluit_intake.portal_pages import CONTENT_SECURITY_POLICY, PortalKit, Visit, serve
from peluit_intake.portal_security import (
    CsrfTokens,
    SessionBlobs,
    portal_subkey,
)
from peluit_intake.receipts import ReceiptKeys

PACKAGE = Path(i18n.__file__).resolve().parents[1]
HASH = "ab" * 32


class Clock:
    def __init__(self, now: float = 1_790_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


# -- keys ---------------------------------------------------------------------------


def test_portal_subkeys_are_distinct_from_each_other_and_from_the_receipt_keys():
    secret = os.urandom(32)
    keys = {portal_subkey(secret, label) for label in ("csrf", "session", "ratelimit")}
    assert len(keys) == 3 and all(len(k) == 32 for k in keys)
    receipt_keys = {ReceiptKeys._subkey(secret, label) for label in
                    (b"submission", b"receipt", b"fingerprint", b"receipt-pepper", b"receipt-salt")}
    assert not keys & receipt_keys
    assert portal_subkey(secret, "csrf") == portal_subkey(secret, "csrf")
    with pytest.raises(ValueError):
        portal_subkey(b"short", "csrf")


# -- CSRF ---------------------------------------------------------------------------


def test_csrf_token_checks_with_its_binding_only():
    clock = Clock()
    tokens = CsrfTokens(os.urandom(32), max_age=7200, clock=clock)
    anonymous = tokens.issue("")
    bound = tokens.issue("s:abc")
    assert tokens.check(anonymous, "") == "ok"
    assert tokens.check(bound, "s:abc") == "ok"
    assert tokens.check(bound, "s:abd") == "invalid"  # another session's token
    assert tokens.check(anonymous, "s:abc") == "invalid"  # an unbound token for a session form
    assert tokens.check(bound, "") == "invalid"
    assert tokens.issue("") != anonymous  # a fresh nonce each time


def test_csrf_token_expires_and_refuses_tampering_and_garbage():
    clock = Clock()
    key = os.urandom(32)
    tokens = CsrfTokens(key, max_age=7200, clock=clock)
    token = tokens.issue("")
    clock.now += 7200
    assert tokens.check(token, "") == "ok"
    clock.now += 1
    assert tokens.check(token, "") == "expired"
    clock.now -= 7201 + 3600  # issued "in the future": forged or a broken clock
    assert tokens.check(token, "") == "invalid"

    clock.now += 3600
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    for index in (0, 17, 30):
        flipped = bytearray(raw)
        flipped[index] ^= 1
        forged = base64.urlsafe_b64encode(bytes(flipped)).rstrip(b"=").decode()
        assert tokens.check(forged, "") == "invalid"
    # moving the issue time forward (to revive an old token) breaks the MAC
    later = bytes(raw[:16]) + (int(clock.now) + 100).to_bytes(8, "big") + bytes(raw[24:])
    assert tokens.check(base64.urlsafe_b64encode(later).rstrip(b"=").decode(), "") == "invalid"
    for garbage in (None, "", "x", "!!!!", "A" * 5000, token[:-2]):
        assert tokens.check(garbage, "") == "invalid"
    assert CsrfTokens(os.urandom(32), clock=clock).check(token, "") == "invalid"  # another deployment's key


# -- session ------------------------------------------------------------------------


def test_session_blob_round_trips_and_hides_the_lookup_hash():
    clock = Clock()
    blobs = SessionBlobs(os.urandom(32), idle=1800, clock=clock)
    session = blobs.start(HASH)
    blob = blobs.seal(session)
    assert HASH not in blob and HASH.encode() not in base64.urlsafe_b64decode(blob + "=" * (-len(blob) % 4))
    assert len(blob) < 400  # comfortably one cookie
    opened = blobs.open(blob)
    assert opened is not None
    assert opened.receipt_hash == HASH and opened.sid == session.sid
    assert blobs.seal(session) != blob  # fresh nonce every time


def test_session_blob_expires_after_thirty_minutes_idle_and_is_renewed_by_use():
    clock = Clock()
    blobs = SessionBlobs(os.urandom(32), idle=1800, absolute=8 * 3600, clock=clock)
    blob = blobs.seal(blobs.start(HASH))
    clock.now += 1799
    renewed = blobs.seal(blobs.open(blob))  # the request re-issues the cookie
    clock.now += 1000
    assert blobs.open(blob) is None  # the old blob is refused: idle too long
    session = blobs.open(renewed)
    assert session is not None and session.last_seen == int(clock.now) - 1000
    clock.now += 1801
    assert blobs.open(renewed) is None


def test_session_blob_has_an_absolute_lifetime_too():
    clock = Clock()
    blobs = SessionBlobs(os.urandom(32), idle=1800, absolute=3600, clock=clock)
    blob = blobs.seal(blobs.start(HASH))
    for _ in range(3):
        clock.now += 1500
        session = blobs.open(blob)
        if session is None:
            break
        blob = blobs.seal(session)
    assert session is None  # kept busy, it still ends after an hour


def test_session_blob_refuses_tampering_other_keys_and_garbage():
    clock = Clock()
    key = os.urandom(32)
    blobs = SessionBlobs(key, clock=clock)
    blob = blobs.seal(blobs.start(HASH))
    raw = bytearray(base64.urlsafe_b64decode(blob + "=" * (-len(blob) % 4)))
    for index in (0, 24, len(raw) // 2, len(raw) - 1):
        flipped = bytearray(raw)
        flipped[index] ^= 0x01
        assert blobs.open(base64.urlsafe_b64encode(bytes(flipped)).rstrip(b"=").decode()) is None
    assert SessionBlobs(os.urandom(32), clock=clock).open(blob) is None
    for garbage in (None, "", "abc", "=" * 10, "A" * 2000, blob[:-4]):
        assert blobs.open(garbage) is None


# -- language -------------------------------------------------------------------------


def test_language_is_indonesian_unless_english_is_asked_for_explicitly():
    assert i18n.choose_language() == "id"
    assert i18n.choose_language(None, None) == "id"
    assert i18n.choose_language("en") == "en"
    assert i18n.choose_language("fr", "en") == "en"
    for other in ("EN", "en-US", "", "id;en", "../en"):
        assert i18n.choose_language(other) == "id"


def request(path="/", method="GET", query=None, **kwargs) -> Request:
    return Request(EnvironBuilder(path=path, method=method, query_string=query, **kwargs).get_environ())


@pytest.fixture(scope="module")
def kit():
    return PortalKit(os.urandom(32))


def test_every_link_carries_the_language_and_the_switch_names_the_other(kit):
    for lang, other in (("id", "en"), ("en", "id")):
        visit = Visit(kit, request("/lapor", query={"lang": lang, "tenant": "35.73"}))
        assert visit.lang == lang
        assert visit.url("/status") == f"/status?lang={lang}"
        assert visit.switch_url() == f"/lapor?lang={other}&tenant=35.73"
        html = kit.render(visit, "home.html").get_data(as_text=True)
        assert f'<html lang="{lang}">' in html
        switch = visit.switch_url().replace("&", "&amp;")
        assert f'href="{switch}"' in html
        for href in re.findall(r'href="(/[^"]*)"', html):
            if not href.startswith("/static/") and href != switch:
                assert f"lang={lang}" in href, href
    assert Visit(kit, request("/", query={"lang": "xx"})).lang == "id"


# -- catalogues -----------------------------------------------------------------------


def test_every_template_and_portal_string_is_translated_in_both_catalogues():
    template = i18n.extract()
    ids = {m.id for m in template if m.id}
    assert len(ids) > 100
    for lang in i18n.LANGUAGES:
        assert i18n.missing(lang, template) == [], lang
    # messages.pot is what the sources hold today (run `python -m peluit_intake.i18n extract`)
    with i18n.POT.open("rb") as fp:
        from babel.messages.pofile import read_po

        pot = {m.id for m in read_po(fp) if m.id}
    assert pot == ids


def test_translations_keep_their_placeholders_and_indonesian_differs():
    catalog = i18n.read_catalogue("id")
    english = i18n.read_catalogue("en")
    different = 0
    for message in catalog:
        if not message.id:
            continue
        assert sorted(re.findall(r"%\(\w+\)s", message.id)) == sorted(re.findall(r"%\(\w+\)s", message.string))
        assert message.string.count("<strong>") == message.id.count("<strong>")
        assert english.get(message.id).string == message.id
        different += message.string != message.id
    assert different > 100


def test_templates_hold_no_inline_script_or_style_and_no_hard_coded_prose():
    for path in sorted((PACKAGE / "templates").glob("*.html")):
        source = path.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)", source), path.name
        assert not re.search(r"\sstyle=|<style|\son[a-z]+=", source), path.name
        # text between tags is a variable, a gettext call or a trans block, never bare words
        stripped = re.sub(r"{%\s*trans\s*%}.*?{%\s*endtrans\s*%}", "", source, flags=re.S)
        stripped = re.sub(r"{#.*?#}|{{.*?}}|{%.*?%}", "", stripped, flags=re.S)
        words = [w for w in re.findall(r">([^<>]+)<", stripped) if re.search(r"[A-Za-z]{3,}", w)]
        words = [w.strip(" ·\n") for w in words]
        assert set(words) <= {"Peluit", "English", "Bahasa Indonesia"}, (path.name, words)


def test_every_template_renders_in_both_languages(kit):
    catalogue = {"tenants": [
        {"code": "35", "name": "Inspektorat Provinsi Jawa Timur", "parent": None,
         "categories": [{"code": "korupsi", "name": {"id": "Korupsi", "en": "Corruption"}}]},
        {"code": "35.73", "name": "Inspektorat Kota Malang", "parent": "35",
         "categories": [{"code": "lainnya", "name": {"id": "Lainnya", "en": "Other"}},
                        {"code": "korupsi", "name": {"id": "Korupsi", "en": "Corruption"}}]}]}
    descriptions: dict[str, set[str]] = {}
    for lang, word in (("id", "Laporan"), ("en", "Report")):
        visit = Visit(kit, request("/", query={"lang": lang}))
        tenants, categories = kit.form_choices(catalogue, lang, None)
        assert [t["code"] for t in tenants] == ["35", "35.73"]  # the province first
        assert categories[-1]["code"] == "lainnya" and categories[0]["tenants"] == "35 35.73"
        pages = {
            "home.html": {},
            "lapor.html": {"form": defaultdict(str, identity_mode="anonim"), "tenants": tenants,
                           "categories": categories, "csrf": "t", "idempotency_key": "k" * 43},
            "tanda_terima.html": {"registration_number": "WBS/35.73/2026/000001", "receipt": "1234-5678-9012-3456",
                                  "tenant_name": "Inspektorat Kota Malang", "anonymous": True,
                                  "evidence_notes": [], "csrf": "t", "download_href": "data:,", "download_name": "x"},
            "status_masuk.html": {"csrf": "t", "unsent_text": ""},
            "status.html": {"registration_number": "WBS/35.73/2026/000001", "tenant_name": "X", "status_label": "S",
                            "information_due": "", "timeline": [], "messages": [], "open": True,
                            "reply_text": ""},
            "info.html": {"title": "T", "paragraphs": []},
            "error.html": {"title": "T", "paragraphs": [], "back": "/"},
            "statistik.html": {"form": {"tenant": "", "year": "2026"}, "years": [("2026", "2026")],
                               "tenants": [(t["code"], t["name"]) for t in tenants],
                               "tenant": None, "year": 2026, "charts": None, "listed": [], "rule": "R",
                               "threshold": 5, "tenant_name": ""},
        }
        for name, context in pages.items():
            response = kit.render(visit, name, **context)
            html = response.get_data(as_text=True)
            assert html.startswith("<!doctype html>") and f'lang="{lang}"' in html, name
            description = re.findall(r'<meta name="description" content="([^"<>]{60,})">', html)
            assert len(description) == 1, name
            descriptions.setdefault(name, set()).add(description[0])
            assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
            assert "Set-Cookie" not in response.headers
            if name in ("lapor.html", "status.html", "tanda_terima.html"):
                assert word in html, (name, lang)
    # a description per page and language (the info and error pages share the portal's own)
    assert all(len(texts) == 2 for texts in descriptions.values())
    assert len({text for texts in descriptions.values() for text in texts}) == 2 * (len(descriptions) - 1)


# -- validation -----------------------------------------------------------------------


def form(**values) -> defaultdict:
    base = {"tenant": "35.73", "category": "korupsi", "what": "Dana hibah dipotong dua puluh persen",
            "where": "Dinas Sosial", "when": "Oktober 2026", "identity_mode": "anonim",
            "terlapor_inspektorat": False}
    base.update(values)
    return defaultdict(str, base)


def test_report_form_validation_speaks_the_visit_language_and_respects_the_identity_choice(kit):
    visit_id = Visit(kit, request("/lapor"))
    visit_en = Visit(kit, request("/lapor", query={"lang": "en"}))
    report, errors = validate_report(visit_id, form())
    assert errors == {} and "identity" not in report and report["terlapor_inspektorat"] is False

    report, errors = validate_report(visit_id, form(what="", where=""))
    assert report is None and errors["what"] == ["Wajib diisi."] and errors["where"] == ["Wajib diisi."]
    _, errors = validate_report(visit_en, form(what="short"))
    assert errors == {"what": ["At least 10 characters."]}

    # anonymous chosen but a name typed: ask, never send or drop it silently
    _, errors = validate_report(visit_en, form(**{"identity.name": "Budi"}))
    assert list(errors) == ["identity"] and "anonymous" in errors["identity"][0]
    _, errors = validate_report(visit_id, form(identity_mode="rahasia"))
    assert list(errors) == ["identity"]
    report, errors = validate_report(visit_id, form(identity_mode="rahasia", **{"identity.email": "budi@example.id"}))
    assert errors == {} and report["identity"] == {"email": "budi@example.id"}
    _, errors = validate_report(visit_en, form(identity_mode="rahasia", **{"identity.nik": "123"}))
    assert errors == {"identity.nik": ["NIK must be exactly 16 digits."]}


# -- handlers that answer before any RPC ------------------------------------------------


def call(handler, kit, req):
    """A page whose handler must answer before any use case: no application to reach."""
    return serve(kit, req, getattr(portal, handler), None)


def test_pages_carry_every_security_header_and_no_cookie(kit):
    response = call("home", kit, request("/", query={"lang": "en"}))
    assert response.status_code == 200
    for name, value in {"Content-Security-Policy": CONTENT_SECURITY_POLICY, "Cache-Control": "no-store",
                        "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff",
                        "X-Frame-Options": "DENY"}.items():
        assert response.headers[name] == value
    assert "Set-Cookie" not in response.headers
    assert "Make a report" in response.get_data(as_text=True)


def test_a_post_without_a_genuine_token_or_from_another_site_is_refused(kit):
    for data, headers in (({"receipt": "1234567812345678"}, {}),
                          ({"receipt": "1234567812345678", "csrf": "forged"}, {}),
                          ({"receipt": "1234567812345678", "csrf": kit.csrf.issue("")},
                           {"Sec-Fetch-Site": "cross-site"})):
        response = call("status_open", kit, request("/status", "POST", data=data, headers=headers))
        assert response.status_code == 403
        assert "Set-Cookie" not in response.headers
        assert "1234567812345678" not in response.get_data(as_text=True)


def test_an_oversized_body_is_refused_before_it_is_read(kit):
    response = call("report_submit", kit, request(
        "/lapor", "POST", query={"lang": "en"}, data={"what": "x"},
        environ_overrides={"CONTENT_LENGTH": str(kit.upload_limit + 10**7)}))
    assert response.status_code == 413
    assert "The upload is too large" in response.get_data(as_text=True)


def test_receipt_checks_are_rate_limited_before_any_hash_or_rpc(kit):
    limit, _ = kit.throttle.limits["receipt"]
    environ = {"REMOTE_ADDR": "192.0.2.55"}
    for _ in range(limit):
        assert kit.throttle.hit("receipt", "192.0.2.55") is None
    response = call("status_open", kit, request(
        "/status", "POST", data={"receipt": "1234-5678-1234-5678", "csrf": kit.csrf.issue(""), "lang": "en"},
        environ_overrides=environ))
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    assert "Too many attempts" in response.get_data(as_text=True)


def test_a_bad_receipt_format_is_answered_in_place_without_a_cookie(kit):
    response = call("status_open", kit, request(
        "/status", "POST", data={"receipt": "WBS/35.73/2026/000001", "csrf": kit.csrf.issue("")}))
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and "Set-Cookie" not in response.headers
    assert 'aria-invalid="true"' in html and 'href="#f-receipt"' in html and "f-receipt-error" in html
    assert "WBS/35.73/2026/000001" not in html  # the typed value is not echoed


def test_an_expired_or_forged_cookie_is_removed_and_sign_out_clears_a_live_one(kit):
    stale = call("home", kit, request("/", headers={"Cookie": "peluit_sesi=forged"}))
    assert "peluit_sesi=;" in stale.headers["Set-Cookie"] and "Max-Age=0" in stale.headers["Set-Cookie"]

    session = kit.sessions.start(HASH)
    cookie = {"Cookie": "peluit_sesi=" + kit.sessions.seal(session)}
    live = call("home", kit, request("/", headers=cookie))
    set_cookie = live.headers["Set-Cookie"]
    assert set_cookie.startswith("peluit_sesi=") and "Max-Age=1800" in set_cookie
    assert "HttpOnly" in set_cookie and "SameSite=Strict" in set_cookie and "Path=/" in set_cookie
    assert "Secure" not in set_cookie
    assert "Keluar" in live.get_data(as_text=True)  # the sign-out button

    refused = call("sign_out", kit, request("/keluar", "POST", headers=cookie,
                                                       data={"csrf": kit.csrf.issue("")}))
    assert refused.status_code == 403  # an unbound token cannot end a session
    out = call("sign_out", kit, request("/keluar", "POST", headers=cookie,
                                                   data={"csrf": kit.csrf.issue("s:" + session.sid)}))
    assert out.status_code == 200
    assert "peluit_sesi=;" in out.headers["Set-Cookie"] and "Max-Age=0" in out.headers["Set-Cookie"]


def test_over_tls_the_cookie_is_secure_and_host_prefixed(kit):
    session = kit.sessions.start(HASH)
    blob = kit.sessions.seal(session)
    response = call("home", kit, request(
        "/", headers={"X-Forwarded-Proto": "https", "Cookie": "__Host-peluit_sesi=" + blob}))
    set_cookie = response.headers["Set-Cookie"]
    assert set_cookie.startswith("__Host-peluit_sesi=") and "; Secure" in set_cookie


def test_static_files_are_served_with_their_types_and_nothing_else(kit):
    css = portal.static(kit, "portal.css")
    assert css.status_code == 200 and css.mimetype == "text/css"
    assert css.headers["X-Content-Type-Options"] == "nosniff"
    for name in ("../portal.py", "portal.py", "i18n/id/LC_MESSAGES/messages.po", "nothing.css"):
        assert portal.static(kit, name).status_code == 404
