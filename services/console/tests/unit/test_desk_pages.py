"""Enrolment, password change, administration and disclosure pages over a
fake officer API answering as its contract says (peluit_contracts
officer_accounts, disclosure): bad input beside its field in the officer's
language with the entry kept, nothing sent that the contract refuses."""

from __future__ import annotations

import re

import pytest

from peluit_contracts import disclosure as disclosure_contract
from peluit_contracts import officer_accounts as accounts
from peluit_contracts import officer_api

from .replies import ADMIN_ID, AUDITOR_ID, officer_item, valid

CASE_ID = "0b9c6c1e-8a3f-4f1e-9a57-8a3e7c1b2f01"
RID = "5f0b7a52-7c11-4c1e-9d4f-0c0b3f3f2a10"


def disclosure_item(**extra) -> dict:
    return valid(disclosure_contract.DisclosureListItem, {
        "request_id": RID, "case_id": CASE_ID, "registration_number": "WBS/35.73/2026/000001", "tenant": "35.73",
        "subject": "identity", "original_ref": None, "legal_basis": "court_order", "status": "pending",
        "requested_by": {"officer_id": ADMIN_ID, "username": "dewi.irban", "roles": ["investigator"],
                         "tenant": "35.73"},
        "reason": "Perintah PN Malang", "requested_at": "2026-12-01T01:00:00+00:00",
        "expires_at": "2026-12-08T01:00:00+00:00", "view_until": None, **extra})


def settings_reply(**extra) -> dict:
    return valid(accounts.TenantSettings, {
        "code": "35.73", "name": "Inspektorat Kota Malang", "deadline_pack": "permenpan_2025",
        "information_request_days": None, "disclosure_notice": True, "retention_years": 5,
        "content_retention_years": 5, "disclosure_approvals": 1, "categories": [{"code": "pungli", "label_id": "Pungutan liar", "label_en": "Illegal levies", "active": True}],
        "holidays": [{"date": "2027-01-02", "name": "Cuti bersama"}], "packs": ["permenpan_2025", "lapor"],
        **extra})


@pytest.fixture
def on(browser):
    return browser


def sent_to(transport, path: str) -> list:
    return [c[4] for c in transport.calls if c[0] == "POST" and c[1] == path]


def test_enrolment_shows_the_officers_own_secret_as_a_qr_code_then_signs_in(on, transport, officer_login):
    uri = "otpauth://totp/Peluit:sari?secret=JBSWY3DPEHPK3PXP&issuer=Peluit"
    transport.routes[("POST", "/api/v1/officer/enrolment")] = {
        "enrolment_token": "enrol.tok.en", "totp_secret": "JBSWY3DPEHPK3PXP", "totp_uri": uri, "expires_in": 600}
    first = on.get("/daftar")
    step2 = on.post("/daftar", {"csrf": on.csrf(first.text), "username": "sari", "enrolment_code": "ABCD-EFGH"})
    assert step2.status_code == 200 and on.cookie is None  # still no cookie
    assert '<img src="data:image/svg+xml' in step2.text and "JBSWY3DPEHPK3PXP" in step2.text and "<script" not in step2.text
    assert "enrol.tok.en" not in step2.text  # travels sealed
    sent = [c for c in transport.calls if c[1] == "/api/v1/officer/enrolment"][0][4]
    assert sent == {"username": "sari", "enrolment_code": "ABCDEFGH"}
    sealed = re.search(r'name="sealed" value="([^"]+)"', step2.text).group(1)
    weak = on.post("/daftar/selesai", {"csrf": on.csrf(step2.text), "sealed": sealed, "password": "pendek",
                                      "password_again": "lain", "totp": "123456", "email": "sari di kantor"})
    assert weak.status_code == 400 and 'id="f-password-error"' in weak.text and 'id="f-password_again-error"' in \
        weak.text and "data:image/svg+xml" in weak.text
    assert 'id="f-email-error"' in weak.text and 'value="sari di kantor"' in weak.text  # the address, kept
    forged = on.post("/daftar/selesai", {"csrf": on.csrf(step2.text), "sealed": "x" + sealed[1:], "password": "p",
                                        "password_again": "p", "totp": "1"})
    assert forged.status_code == 400 and not [c for c in transport.calls if c[1].endswith("/complete")]
    transport.routes[("POST", "/api/v1/officer/enrolment/complete")] = officer_login()
    done = on.post("/daftar/selesai", {"csrf": on.csrf(step2.text), "sealed": sealed,
                                      "password": "kata-sandi-panjang", "password_again": "kata-sandi-panjang",
                                      "totp": "123456", "email": "sari@malangkota.go.id"})
    assert done.status_code == 303 and on.cookie is not None
    complete = [c for c in transport.calls if c[1].endswith("/enrolment/complete")][0][4]
    assert complete == {"enrolment_token": "enrol.tok.en", "password": "kata-sandi-panjang", "totp": "123456",
                        "email": "sari@malangkota.go.id"}


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
    item = disclosure_item()
    transport.routes[("GET", "/api/v1/disclosure-requests")] = {"items": [item]}
    page = on.get("/pengungkapan")
    assert "Perintah PN" in page.text and "Perintah pengadilan" in page.text
    assert "diminta oleh dewi.irban" in page.text and "officer_id" not in page.text
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


def sign_in_as(on, transport, officer_login, roles, tenant="35.73"):
    transport.routes[("POST", "/api/v1/officer/login")] = officer_login(roles=roles, tenant=tenant)
    out = on.post("/masuk", {"csrf": on.csrf(on.get("/masuk").text), "username": "sari", "password": "x" * 12,
                             "totp": "123456"})
    assert out.status_code == 303


def test_enrolment_refusals_keep_the_username_and_say_why(on, transport):
    first = on.get("/daftar?lang=en")
    empty = on.post("/daftar", {"csrf": on.csrf(first.text), "lang": "en", "username": "", "enrolment_code": ""})
    assert empty.status_code == 400 and 'id="f-username-error"' in empty.text and "This field is required" in empty.text
    transport.routes[("POST", "/api/v1/officer/enrolment")] = (401, {"error": {"code": "invalid_enrolment",
                                                                               "message": {"id": "Kode tidak berlaku",
                                                                                           "en": "Code not valid"}}})
    wrong = on.post("/daftar", {"csrf": on.csrf(first.text), "lang": "en", "username": "budi",
                                "enrolment_code": "ABCD"})
    assert wrong.status_code == 401 and "Code not valid" in wrong.text and 'value="budi"' in wrong.text
    assert on.cookie is None


def test_password_change_checks_first_then_says_what_the_api_refused(on, transport, officer_login):
    sign_in_as(on, transport, officer_login, ("penelaah",))
    page = on.get("/akun/kata-sandi")
    bad = on.post("/akun/kata-sandi", {"csrf": on.csrf(page.text), "current_password": "",
                                       "new_password": "pendek", "new_password_again": "lain", "totp": "1"})
    assert bad.status_code == 400 and not sent_to(transport, "/api/v1/officer/password")
    for name in ("current_password", "new_password", "new_password_again"):
        assert f'id="f-{name}-error"' in bad.text, name
    transport.routes[("POST", "/api/v1/officer/password")] = (400, {"error": {
        "code": "invalid", "message": {"id": "Periksa", "en": "Check"},
        "fields": {"new_password": [{"id": "Kata sandi ini terlalu umum", "en": "Too common"}]}}})
    long = "kata-sandi-yang-baru-sekali"
    common = on.post("/akun/kata-sandi", {"csrf": on.csrf(page.text), "current_password": "lama-sekali-x",
                                          "new_password": long, "new_password_again": long, "totp": "123456"})
    assert common.status_code == 400 and "Kata sandi ini terlalu umum" in common.text
    transport.routes[("POST", "/api/v1/officer/password")] = officer_login()
    done = on.post("/akun/kata-sandi", {"csrf": on.csrf(page.text), "current_password": "lama-sekali-x",
                                        "new_password": long, "new_password_again": long, "totp": "123456"})
    assert done.status_code == 200 and "Kata sandi Anda telah diubah" in done.text


def test_a_new_officer_is_checked_by_the_contract_before_any_call(on, transport, officer_login):
    sign_in_as(on, transport, officer_login, ("tenant_admin",))
    transport.routes[("GET", "/api/v1/officers")] = valid(accounts.OfficerList, {
        "items": [officer_item(roles=("penelaah",), username="sari.penelaah")], "page": 1, "per_page": 25, "total": 1})
    page = on.get("/admin/petugas?lang=en")
    bad = on.post("/admin/petugas", {"csrf": on.csrf(page.text), "lang": "en", "tenant": "35.73",
                                     "username": "Budi Santoso", "display_name": "", "email": "bukan-surel"})
    assert bad.status_code == 400 and not sent_to(transport, "/api/v1/officers")[1:]
    assert [c for c in transport.calls if c[0] == "POST" and c[1] == "/api/v1/officers"] == []
    for name in ("username", "display_name", "email", "roles"):
        assert f'id="f-{name}-error"' in bad.text, name
    assert 'value="Budi Santoso"' in bad.text and 'value="bukan-surel"' in bad.text  # the entry kept
    assert "This field is required" in bad.text  # in the officer's language


def test_officer_actions_and_a_reset_factor_code_shown_once(on, transport, officer_login):
    sign_in_as(on, transport, officer_login, ("tenant_admin",))
    officer = officer_item(roles=("penelaah",), username="sari.penelaah", tenant="35.73")
    transport.routes[("GET", "/api/v1/officers")] = {"items": [officer], "page": 1, "per_page": 25, "total": 1}
    page = on.get("/admin/petugas")
    base = f"/api/v1/officers/{AUDITOR_ID}"
    transport.routes[("POST", base + "/roles")] = officer
    out = on.post(f"/admin/petugas/{AUDITOR_ID}/roles", {"csrf": on.csrf(page.text),
                                                         "roles": ["penelaah", "inspektur", "raja"]})
    assert out.status_code == 200 and sent_to(transport, base + "/roles") == [{"roles": ["penelaah", "inspektur"]}]
    assert "permintaan berikutnya" in out.text
    transport.routes[("POST", base + "/reset-factor")] = valid(accounts.FactorReset, {
        **officer, "enrolled": False, "enrolment_code": "K7M2Q9X4T8R3W6Y5Z2P4",
        "enrolment_expires_at": "2026-12-07T10:00:00+00:00"})
    reset = on.post(f"/admin/petugas/{AUDITOR_ID}/reset-factor", {"csrf": on.csrf(page.text)})
    assert "K7M2Q9X4T8R3W6Y5Z2P4" in reset.text and "7 Des 2026, 17.00" in reset.text
    assert "K7M2Q9X4T8R3W6Y5Z2P4" not in on.get("/admin/petugas").text
    transport.routes[("POST", base + "/deactivate")] = (403, {"error": {"code": "forbidden", "message": {
        "id": "Tidak boleh menonaktifkan diri sendiri", "en": "not yourself"}}})
    refused = on.post(f"/admin/petugas/{AUDITOR_ID}/deactivate", {"csrf": on.csrf(page.text)})
    assert refused.status_code == 403 and "Tidak boleh menonaktifkan diri sendiri" in refused.text
    assert on.post(f"/admin/petugas/{AUDITOR_ID}/hapus", {"csrf": on.csrf(page.text)}).status_code == 404


def test_audit_grants_pick_an_auditor_and_check_the_days(on, transport, officer_login):
    sign_in_as(on, transport, officer_login, ("province_admin",), tenant="35")
    transport.routes[("GET", "/api/v1/officers")] = {"items": [officer_item()], "page": 1, "per_page": 100,
                                                     "total": 1}
    grant = valid(accounts.Grant, {"id": 7, "officer_id": AUDITOR_ID, "username": "rina.auditor", "tenant": "35.73",
                                   "reason": "Audit tahunan", "granted_by": ADMIN_ID,
                                   "created_at": "2026-12-01T01:00:00+00:00",
                                   "expires_at": "2026-12-31T01:00:00+00:00", "revoked_at": None})
    transport.routes[("GET", "/api/v1/audit-grants")] = {"items": [grant]}
    page = on.get("/admin/hibah-audit")
    assert f'<option value="{AUDITOR_ID}"' in page.text and "31 Des 2026" in page.text
    bad = on.post("/admin/hibah-audit", {"csrf": on.csrf(page.text), "officer_id": AUDITOR_ID, "tenant": "35.73",
                                         "days": "400", "reason": ""})
    assert bad.status_code == 400 and 'id="f-days-error"' in bad.text and 'id="f-reason-error"' in bad.text
    assert not sent_to(transport, "/api/v1/audit-grants")
    transport.routes[("POST", "/api/v1/audit-grants")] = (201, valid(officer_api.GrantReply, {
        "id": 8, "officer_id": AUDITOR_ID, "tenant": "35.73", "days": 30}))
    ok = on.post("/admin/hibah-audit", {"csrf": on.csrf(page.text), "officer_id": AUDITOR_ID, "tenant": "35.73",
                                        "days": "30", "reason": "Audit tahunan"})
    assert ok.status_code == 201 and sent_to(transport, "/api/v1/audit-grants") == [
        {"officer_id": AUDITOR_ID, "tenant": "35.73", "days": 30, "reason": "Audit tahunan"}]
    transport.routes[("POST", "/api/v1/audit-grants/7/revoke")] = {**grant, "revoked_at": "2026-12-02T01:00:00+00:00"}
    assert on.post("/admin/hibah-audit/7/cabut", {"csrf": on.csrf(page.text)}).status_code == 200


def test_tenant_settings_keep_a_bad_entry_beside_its_field(on, transport, officer_login):
    sign_in_as(on, transport, officer_login, ("tenant_admin",))
    path = "/api/v1/tenants/35.73"
    transport.routes[("GET", path + "/settings")] = settings_reply()
    page = on.get("/admin/pengaturan")
    assert "Cuti bersama" in page.text and "Pungutan liar" in page.text
    bad = on.post("/admin/pengaturan/settings", {"csrf": on.csrf(page.text), "deadline_pack": "lapor",
                                                  "information_request_days": "", "retention_years": "500"})
    assert bad.status_code == 400 and 'id="f-retention_years-error"' in bad.text and 'value="500"' in bad.text
    assert not sent_to(transport, path + "/settings")
    too_many = on.post("/admin/pengaturan/settings", {"csrf": on.csrf(page.text), "deadline_pack": "lapor",
                                                       "retention_years": "5", "disclosure_approvals": "9"})
    assert too_many.status_code == 400 and 'id="f-disclosure_approvals-error"' in too_many.text
    assert not sent_to(transport, path + "/settings")
    content = on.post("/admin/pengaturan/settings", {"csrf": on.csrf(page.text), "deadline_pack": "lapor",
                                                      "retention_years": "5", "content_retention_years": "0"})
    assert content.status_code == 400 and 'id="f-content_retention_years-error"' in content.text
    assert 'id="f-content_retention_years"' in page.text and 'value="5"' in page.text
    assert not sent_to(transport, path + "/settings")
    transport.routes[("POST", path + "/settings")] = settings_reply(deadline_pack="lapor")
    ok = on.post("/admin/pengaturan/settings", {"csrf": on.csrf(page.text), "deadline_pack": "lapor",
                                                 "information_request_days": "14", "retention_years": "5",
                                                 "content_retention_years": "3"})
    assert ok.status_code == 200 and sent_to(transport, path + "/settings") == [
        {"deadline_pack": "lapor", "information_request_days": 14, "retention_years": 5, "content_retention_years": 3,
         "disclosure_notice": False}]
    holiday = on.post("/admin/pengaturan/holidays", {"csrf": on.csrf(page.text), "date": "2027-02-30", "name": ""})
    assert holiday.status_code == 400 and 'id="f-date-error"' in holiday.text and 'id="f-name-error"' in holiday.text
    category = on.post("/admin/pengaturan/categories", {"csrf": on.csrf(page.text), "code": "Parkir Liar",
                                                        "label_id": "Parkir liar", "label_en": ""})
    assert category.status_code == 400 and 'id="f-code-error"' in category.text and "Parkir Liar" in category.text
    assert not sent_to(transport, path + "/holidays") and not sent_to(transport, path + "/categories")
    assert on.post("/admin/pengaturan/lain", {"csrf": on.csrf(page.text)}).status_code == 404


def test_the_change_log_names_who_and_what(on, transport, officer_login):
    sign_in_as(on, transport, officer_login, ("tenant_admin",))
    change = valid(accounts.AdminChange, {"id": 1, "at": "2026-12-01T01:00:00+00:00", "officer_id": ADMIN_ID,
                                          "username": "admin.demo", "tenant": "35.73", "kind": "roles_changed",
                                          "subject": AUDITOR_ID, "details": {}})
    cli = {**change, "id": 2, "officer_id": None, "username": None, "kind": "officer_created"}
    transport.routes[("GET", "/api/v1/admin-changes")] = {"items": [change, cli], "page": 1, "per_page": 25,
                                                          "total": 2}
    page = on.get("/admin/log")
    assert "admin.demo" in page.text and "peran diubah" in page.text and "baris perintah" in page.text


def test_a_disclosure_request_is_checked_first_and_an_original_goes_to_its_own_path(on, transport, officer_login, doc):
    sign_in_as(on, transport, officer_login, ("investigator",))
    evidence = [{"evidence_id": "e-1", "label": "kuitansi.jpg", "mime": "image/jpeg", "size": 10, "sha256": "ab"}]
    transport.routes[("GET", f"/api/v1/cases/{CASE_ID}")] = doc(anonymous=True, evidence=evidence)
    assert "pengungkapan" in on.get(f"/kasus/{CASE_ID}").text  # originals of an anonymous report too
    page = on.get(f"/kasus/{CASE_ID}/pengungkapan")
    assert 'value="identity"' in page.text and "disabled" in page.text and "kuitansi.jpg" in page.text
    bad = on.post(f"/kasus/{CASE_ID}/pengungkapan", {"csrf": on.csrf(page.text), "subject": "e-1",
                                                     "legal_basis": "", "reason": "pendek"})
    assert bad.status_code == 400 and "Wajib diisi" in bad.text and 'id="f-reason-error"' in bad.text
    assert ">pendek</textarea>" in bad.text and not [c for c in transport.calls if c[0] == "POST"
                                                      and "disclosure" in c[1]]
    path = f"/api/v1/cases/{CASE_ID}/evidence/e-1/disclosure-requests"
    transport.routes[("POST", path)] = (201, {"request_id": RID, "status": "pending"})
    ok = on.post(f"/kasus/{CASE_ID}/pengungkapan", {"csrf": on.csrf(page.text), "subject": "e-1",
                                                    "legal_basis": "court_order", "reason": "Perintah PN Malang 12"})
    assert ok.status_code == 303 and sent_to(transport, path) == [{"reason": "Perintah PN Malang 12",
                                                                    "legal_basis": "court_order"}]
    transport.routes[("GET", "/api/v1/disclosure-requests")] = {"items": [disclosure_item(
        subject="evidence", status="approved", view_until="2026-12-01T02:00:00+00:00")]}
    mine = on.get("/pengungkapan")
    assert "berkas asli lampiran" in mine.text and "disetujui" in mine.text and f"/pengungkapan/{RID}/lihat" in mine.text


def test_the_province_laporan_berkala_passes_through_as_it_came(on, transport, officer_login):
    sign_in_as(on, transport, officer_login, ("province_admin",), tenant="35")
    transport.routes[("GET", "/api/v1/stats/province/export.pdf")] = (200, b"%PDF-1.7 x", {
        "Content-Type": "application/pdf", "Content-Disposition": 'attachment; filename="laporan-35-2026.pdf"'})
    got = on.get("/statistik/provinsi/unduh/pdf?province=35&year=2026")
    assert got.status_code == 200 and got.data == b"%PDF-1.7 x" and "laporan-35-2026.pdf" in got.headers[
        "Content-Disposition"]
    assert [c[3] for c in transport.calls if c[1].endswith("export.pdf")] == [{"province": "35", "year": 2026}]
    assert on.get("/statistik/provinsi/unduh/exe").status_code == 404


def test_an_auditor_reads_a_granted_tenants_requests_with_their_reasons(on, transport, officer_login):
    sign_in_as(on, transport, officer_login, ("auditor",), tenant="35")
    transport.routes[("GET", "/api/v1/disclosure-requests")] = lambda params, body: {
        "items": [disclosure_item()] if (params or {}).get("tenant") == "35.73" else []}
    page = on.get("/pengungkapan?tenant=35.73")
    assert "Perintah PN Malang" in page.text and "dewi.irban" in page.text and "menunggu keputusan" in page.text
    assert [c[3] for c in transport.calls if c[1] == "/api/v1/disclosure-requests"] == [
        {"mine": "true"}, {"tenant": "35.73"}]


def test_a_province_administrator_switches_between_the_provinces_inspektorats(on, transport, officer_login):
    sign_in_as(on, transport, officer_login, ("province_admin",), tenant="35")
    transport.routes[("GET", "/api/v1/officers")] = {"items": [], "page": 1, "per_page": 25, "total": 0}
    page = on.get("/admin/petugas?tenant=35.73")
    assert '<option value="35.07"' in page.text and '<option value="35.73" selected' in page.text
    assert [c[3]["tenant"] for c in transport.calls if c[1] == "/api/v1/officers"] == ["35.73"]
    transport.routes[("GET", "/api/v1/tenants/35.07/settings")] = settings_reply(code="35.07")
    assert '<option value="35.07" selected' in on.get("/admin/pengaturan?tenant=35.07").text


def test_the_case_page_asks_for_the_catalogue_and_the_team_only_when_a_form_needs_them(on, transport, officer_login,
                                                                                       doc):
    sign_in_as(on, transport, officer_login, ("inspektur",))
    transport.routes[("GET", "/api/v1/catalogue")] = {"tenants": [], "external_destinations": ["kpk"]}
    transport.routes[("GET", "/api/v1/officers")] = {"items": [officer_item(roles=("investigator",))], "page": 1,
                                                     "per_page": 100, "total": 1}

    def asked(status: str, **extra) -> set:
        transport.calls.clear()
        transport.routes[("GET", f"/api/v1/cases/{CASE_ID}")] = doc(status, **extra)
        assert on.get(f"/kasus/{CASE_ID}").status_code == 200
        return {c[1] for c in transport.calls} - {f"/api/v1/cases/{CASE_ID}", "/api/v1/tenants",
                                                  "/api/v1/officer/me/inbox"}  # the menu's unread count

    assert asked("penelaahan", allowed_commands=["start-investigation", "forward"]) == {
        "/api/v1/catalogue", "/api/v1/officers"}
    assert asked("tindak_lanjut", allowed_commands=["complete-recommendation", "close", "add-note"]) == set()
    assert asked("selesai", allowed_commands=[]) == set()


def test_a_refusal_without_a_reason_is_shown_beside_that_requests_field(on, transport, officer_login):
    sign_in_as(on, transport, officer_login, ("inspektur",))
    transport.routes[("GET", "/api/v1/disclosure-requests")] = {"items": [disclosure_item()]}
    page = on.get("/pengungkapan")
    bad = on.post(f"/pengungkapan/{RID}/tolak", {"csrf": on.csrf(page.text), "reason": "   "})
    assert bad.status_code == 400 and f'id="f-{RID}-reason-error"' in bad.text
    assert f'href="#f-{RID}-reason"' in bad.text and not sent_to(transport, f"/api/v1/disclosure-requests/{RID}/refuse")
    transport.routes[("POST", f"/api/v1/disclosure-requests/{RID}/refuse")] = (409, {"error": {
        "code": "already_decided", "message": {"id": "Sudah diputuskan", "en": "Already decided"}}})
    late = on.post(f"/pengungkapan/{RID}/tolak", {"csrf": on.csrf(page.text), "reason": "Dasar hukum kurang"})
    assert late.status_code == 409 and "Sudah diputuskan" in late.text and ">Dasar hukum kurang</textarea>" in late.text
