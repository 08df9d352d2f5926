"""The pages written against the plan's contract for backend pieces not in
this system yet: off (404) until their feature is switched on, then over a
fake API answering as the contract says."""

from __future__ import annotations

import dataclasses
import re

import pytest

from peluit_console.web import Kit

CASE_ID = "0b9c6c1e-8a3f-4f1e-9a57-8a3e7c1b2f01"


@pytest.fixture
def on(settings, transport, clock, browser):
    """The browser on a console with every awaited piece switched on."""
    browser.kit = Kit(dataclasses.replace(settings, features=frozenset({"accounts", "desk", "province_export"})),
                      transport, clock=clock)
    return browser


def test_every_awaiting_page_is_off_until_switched_on(browser, signed_in):
    assert browser.get("/daftar").status_code == 404
    signed_in(roles=("province_admin", "inspektur"), tenant="35")
    for path in ("/admin/petugas", "/admin/hibah-audit", "/admin/pengaturan", "/admin/log", "/pengungkapan",
                 "/akun/kata-sandi", f"/kasus/{CASE_ID}/pengungkapan", "/statistik/provinsi/unduh/pdf"):
        out = browser.get(path)
        assert out.status_code == 404 and "belum tersedia" in out.text, path


def test_enrolment_shows_the_officers_own_secret_as_a_qr_code_then_signs_in(on, transport, officer_login):
    uri = "otpauth://totp/Peluit:sari?secret=JBSWY3DPEHPK3PXP&issuer=Peluit"
    transport.routes[("POST", "/api/v1/officer/enrolment")] = {
        "enrolment_token": "enrol.tok.en", "totp_secret": "JBSWY3DPEHPK3PXP", "totp_uri": uri, "expires_in": 600}
    first = on.get("/daftar")
    step2 = on.post("/daftar", {"csrf": on.csrf(first.text), "username": "sari", "enrolment_code": "ABCD-EFGH"})
    assert step2.status_code == 200 and on.cookie is None  # still no cookie
    assert "<svg" in step2.text and "JBSWY3DPEHPK3PXP" in step2.text and "<script" not in step2.text
    assert "enrol.tok.en" not in step2.text  # travels sealed
    sent = [c for c in transport.calls if c[1] == "/api/v1/officer/enrolment"][0][4]
    assert sent == {"username": "sari", "enrolment_code": "ABCDEFGH"}
    sealed = re.search(r'name="sealed" value="([^"]+)"', step2.text).group(1)
    weak = on.post("/daftar/selesai", {"csrf": on.csrf(step2.text), "sealed": sealed, "password": "pendek",
                                      "password_again": "lain", "totp": "123456"})
    assert weak.status_code == 400 and 'id="f-password-error"' in weak.text and 'id="f-password_again-error"' in \
        weak.text and "<svg" in weak.text
    forged = on.post("/daftar/selesai", {"csrf": on.csrf(step2.text), "sealed": "x" + sealed[1:], "password": "p",
                                        "password_again": "p", "totp": "1"})
    assert forged.status_code == 400 and not [c for c in transport.calls if c[1].endswith("/complete")]
    transport.routes[("POST", "/api/v1/officer/enrolment/complete")] = officer_login()
    done = on.post("/daftar/selesai", {"csrf": on.csrf(step2.text), "sealed": sealed,
                                      "password": "kata-sandi-panjang", "password_again": "kata-sandi-panjang",
                                      "totp": "123456"})
    assert done.status_code == 303 and on.cookie is not None
    complete = [c for c in transport.calls if c[1].endswith("/enrolment/complete")][0][4]
    assert complete == {"enrolment_token": "enrol.tok.en", "password": "kata-sandi-panjang", "totp": "123456"}


def test_a_new_officers_enrolment_code_is_shown_once_on_the_page_that_made_it(on, transport, officer_login):
    transport.routes[("POST", "/api/v1/officer/login")] = officer_login(roles=("tenant_admin",))
    on.post("/masuk", {"csrf": on.csrf(on.get("/masuk").text), "username": "sari", "password": "x" * 12,
                       "totp": "123456"})
    transport.routes[("GET", "/api/v1/officers")] = {"items": [], "page": 1, "per_page": 25, "total": 0}
    transport.routes[("POST", "/api/v1/officers")] = (201, {
        "officer_id": "o-9", "username": "budi", "tenant": "35.73", "roles": ["penelaah"],
        "enrolment_code": "K7M2Q9X4T8R3W6Y5Z2P4", "enrolment_expires_at": "2026-12-07T10:00:00+07:00"})
    page = on.get("/admin/petugas")
    made = on.post("/admin/petugas", {"csrf": on.csrf(page.text), "tenant": "35.73", "username": "budi",
                                      "display_name": "Budi", "roles": "penelaah"})
    assert made.status_code == 201 and "K7M2Q9X4T8R3W6Y5Z2P4" in made.text
    assert "K7M2Q9X4T8R3W6Y5Z2P4" not in on.get("/admin/petugas").text
    transport.routes[("POST", "/api/v1/officers")] = (403, {"error": {"code": "forbidden", "message": {
        "id": "Peran Anda tidak berwenang", "en": "not allowed"}}})
    refused = on.post("/admin/petugas", {"csrf": on.csrf(page.text), "tenant": "35.07", "username": "x.y",
                                         "display_name": "X", "roles": "province_admin"})
    assert refused.status_code == 403 and "x.y" in refused.text  # the entry kept on the same page


def test_the_one_time_view_passes_on_the_browsers_key_and_the_sealed_reply_only(on, transport, officer_login):
    transport.routes[("POST", "/api/v1/officer/login")] = officer_login(roles=("investigator",))
    on.post("/masuk", {"csrf": on.csrf(on.get("/masuk").text), "username": "sari", "password": "x" * 12,
                       "totp": "123456"})
    rid = "5f0b7a52-7c11-4c1e-9d4f-0c0b3f3f2a10"
    view = on.get(f"/pengungkapan/{rid}/lihat")
    assert view.status_code == 200 and '<script src="/static/disclosure.js' in view.text
    assert "<script>" not in view.text and "JavaScript" in view.text
    reply = {"request_id": rid, "format": "x25519-hkdf-sha256-aes-256-gcm", "ephemeral_public_key": "A" * 43 + "=",
             "nonce": "bm9uY2Vub25jZQ==", "ciphertext": "c2VhbGVk", "reporter_ref": "never-passed-on"}
    transport.routes[("POST", f"/api/v1/disclosure-requests/{rid}/view")] = reply
    key = "B" * 43 + "="
    opened = on.post(f"/pengungkapan/{rid}/buka", {"csrf": on.csrf(view.text), "public_key": key})
    assert opened.status_code == 200 and opened.headers["Content-Type"].startswith("application/json")
    assert "never-passed-on" not in opened.text and "c2VhbGVk" in opened.text
    sent = [c for c in transport.calls if c[1].endswith("/view")][0][4]
    assert sent == {"public_key": key, "format": "x25519-hkdf-sha256-aes-256-gcm"}
    assert on.post(f"/pengungkapan/{rid}/buka", {"csrf": on.csrf(view.text), "public_key": "x"}).status_code == 400
    assert on.post(f"/pengungkapan/{rid}/buka", {"public_key": key}).status_code == 403


def test_inspekturs_approve_with_a_fresh_code_on_the_list_page(on, transport, officer_login):
    transport.routes[("POST", "/api/v1/officer/login")] = officer_login(roles=("inspektur",))
    on.post("/masuk", {"csrf": on.csrf(on.get("/masuk").text), "username": "sari", "password": "x" * 12,
                       "totp": "123456"})
    rid = "5f0b7a52-7c11-4c1e-9d4f-0c0b3f3f2a10"
    item = {"request_id": rid, "case_id": CASE_ID, "registration_number": "WBS/35.73/2026/000001",
            "legal_basis": "court_order", "status": "pending", "requested_by": "dewi", "reason": "Perintah PN",
            "requested_at": "2026-12-01T01:00:00+00:00", "expires_at": "2026-12-08T01:00:00+00:00",
            "view_until": None}
    transport.routes[("GET", "/api/v1/disclosure-requests")] = {"items": [item]}
    page = on.get("/pengungkapan")
    assert "Perintah PN" in page.text and "Perintah pengadilan" in page.text
    transport.routes[("POST", f"/api/v1/disclosure-requests/{rid}/approve")] = (403, {"error": {
        "code": "totp_invalid", "message": {"id": "Kode OTP salah", "en": "wrong code"}}})
    wrong = on.post(f"/pengungkapan/{rid}/setujui", {"csrf": on.csrf(page.text), "totp": "000000"})
    assert wrong.status_code == 403 and "Kode OTP salah" in wrong.text
    transport.routes[("POST", f"/api/v1/disclosure-requests/{rid}/approve")] = {**item, "status": "approved"}
    assert on.post(f"/pengungkapan/{rid}/setujui", {"csrf": on.csrf(page.text), "totp": "123456"}).status_code == 200
    # a tenant that needs two approvers: the first approval says it is one of two
    transport.routes[("POST", f"/api/v1/disclosure-requests/{rid}/approve")] = {
        **item, "status": "pending", "approvals": 1, "approvals_required": 2}
    partial = on.post(f"/pengungkapan/{rid}/setujui", {"csrf": on.csrf(page.text), "totp": "123456"})
    assert partial.status_code == 200 and "1 dari 2" in partial.text
