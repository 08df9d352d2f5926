"""The console's pages over a fake officer API: the sign-in wall, the
guard on every form, one page for each way an API says no, the work queue
and the case page with its command forms (refusals beside the fields, a 409
with what changed), in both languages, with the headers every page carries."""

from __future__ import annotations

import logging
import re

import pytest

from peluit_console.web import CONTENT_SECURITY_POLICY

CASE_ID = "0b9c6c1e-8a3f-4f1e-9a57-8a3e7c1b2f01"  # the fake API's case (conftest.case_document)
CASE = f"/api/v1/cases/{CASE_ID}"


def text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def last_call(transport, path: str):
    return [c for c in transport.calls if c[1] == path][-1]


def refusal(status, code, fields=None, **extra):
    body = {"error": {"code": code, "message": {"id": f"ditolak {code}", "en": f"refused {code}"}}, **extra}
    if fields:
        body["error"]["fields"] = fields
    return (status, body)


# -- the wall, the guard, the headers ------------------------------------------------------------


def test_pages_carry_the_policy_and_no_cookie_before_sign_in(browser):
    page = browser.get("/masuk")
    assert page.status_code == 200 and browser.cookie is None
    assert page.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert page.headers["Cache-Control"] == "no-store" and page.headers["X-Frame-Options"] == "DENY"
    assert '<html lang="id">' in page.text and "<script" not in page.text and " style=" not in page.text
    assert browser.get("/antrean").status_code == 303


def test_sign_in_checks_the_form_first_and_keeps_the_username(browser, transport):
    page = browser.get("/masuk?lang=en")
    bad = browser.post("/masuk", {"csrf": browser.csrf(page.text), "username": "Sari.Penelaah", "password": "x",
                                  "totp": "12ab", "lang": "en"})
    assert bad.status_code == 400 and 'value="sari.penelaah"' in bad.text and 'id="f-totp-error"' in bad.text
    assert not [c for c in transport.calls if c[1].endswith("/login")] and browser.cookie is None
    transport.routes[("POST", "/api/v1/officer/login")] = refusal(401, "invalid_credentials")
    wrong = browser.post("/masuk", {"csrf": browser.csrf(page.text), "username": "sari", "password": "x" * 12,
                                    "totp": "123456", "lang": "en"})
    assert wrong.status_code == 401 and "refused invalid_credentials" in wrong.text and browser.cookie is None


def test_sign_in_goes_back_only_to_a_page_of_this_console(browser, transport, officer_login):
    transport.routes[("POST", "/api/v1/officer/login")] = officer_login()
    page = browser.get("/masuk")
    for target, expected in (("/kasus/abc?lang=id", "/kasus/abc?lang=id"), ("//evil.example/x", "/antrean?lang=id"),
                             ("https://evil.example", "/antrean?lang=id"), ("/\\evil", "/antrean?lang=id")):
        browser.cookie = None
        out = browser.post("/masuk", {"csrf": browser.csrf(page.text), "username": "sari", "password": "x" * 12,
                                      "totp": "123456", "next": target})
        assert out.status_code == 303 and out.headers["Location"] == expected, target


def test_a_form_without_this_sessions_token_or_from_elsewhere_changes_nothing(signed_in, transport, doc):
    browser = signed_in()
    transport.routes[("GET", CASE)] = doc()
    page = browser.get(f"/kasus/{CASE_ID}")
    token = browser.csrf(page.text)
    for data, headers in (({"version": "1"}, {}), ({"version": "1", "csrf": "forged"}, {}),
                          ({"version": "1", "csrf": token}, {"Sec-Fetch-Site": "cross-site"}),
                          ({"version": "1", "csrf": token}, {"Sec-Fetch-Site": "same-site"})):
        out = browser.post(f"/kasus/{CASE_ID}/perintah/start-verification", data, headers=headers)
        assert out.status_code == 403
    assert not [c for c in transport.calls if c[0] == "POST" and "/perintah" not in c[1] and "start-verification"
                in c[1]]


def test_a_post_after_the_session_ended_says_so_and_sends_nothing(signed_in, transport, clock, doc):
    browser = signed_in()
    transport.routes[("GET", CASE)] = doc()
    token = browser.csrf(browser.get(f"/kasus/{CASE_ID}").text)
    clock.now += 901
    out = browser.post(f"/kasus/{CASE_ID}/perintah/add-note", {"csrf": token, "version": "1", "text": "catatan"})
    assert out.status_code == 401 and "Sesi Anda telah berakhir" in out.text and "tidak terkirim" in out.text
    assert browser.cookie is None
    assert not [c for c in transport.calls if c[1].endswith("/add-note")]


def test_the_api_ending_the_session_signs_the_officer_out(signed_in, transport):
    browser = signed_in()
    transport.routes[("GET", "/api/v1/cases")] = refusal(401, "session_ended")
    out = browser.get("/antrean")
    assert out.status_code == 401 and 'id="f-username"' in out.text and browser.cookie is None


@pytest.mark.parametrize("answer, status, words", [
    ((503, {}), 503, ["Layanan sedang tidak dapat dihubungi"]),
    ((500, {"error": {"code": "internal_error"}}), 503, ["Layanan sedang tidak dapat dihubungi"]),
    (refusal(403, "forbidden"), 403, ["ditolak forbidden", "tidak berwenang"]),
    (refusal(404, "not_found"), 404, ["tidak ditemukan"]),
])
def test_each_refusal_of_the_api_is_a_page_in_the_officers_language(signed_in, transport, answer, status, words):
    browser = signed_in()
    transport.routes[("GET", CASE)] = answer
    out = browser.get(f"/kasus/{CASE_ID}")
    assert out.status_code == status
    for word in words:
        assert word in out.text
    assert browser.cookie is not None  # still signed in


def test_a_bug_is_a_page_that_names_nothing(signed_in, transport, caplog, monkeypatch):
    browser = signed_in()
    from peluit_console.pages import queue

    def broken(*args, **kwargs):
        raise KeyError("Budi Santoso 3573010101010001")
    monkeypatch.setattr(queue, "_row", broken)
    transport.routes[("GET", "/api/v1/cases")] = {"items": [{"case_id": CASE_ID}], "page": 1, "per_page": 25,
                                                  "total": 1}
    with caplog.at_level(logging.ERROR):
        out = browser.get("/antrean")
    assert out.status_code == 500 and "Terjadi kesalahan pada konsol" in out.text
    assert "Budi" not in out.text and "Budi" not in caplog.text and "KeyError" in caplog.text


def test_a_token_near_its_end_is_renewed_and_a_system_without_renewal_carries_on(signed_in, transport, clock,
                                                                                 officer_login):
    browser = signed_in()
    transport.routes[("GET", "/api/v1/cases")] = {"items": [], "page": 1, "per_page": 25, "total": 0}
    clock.now += 700  # 200 s left of the token: the console asks for a fresh one
    assert browser.get("/antrean").status_code == 200  # none to be had (404): the session carries on
    transport.routes[("POST", "/api/v1/officer/token")] = {**officer_login(), "token": "new.to.ken"}
    clock.now += 60
    assert browser.get("/antrean").status_code == 200
    last = [c for c in transport.calls if c[1] == "/api/v1/cases"][-1]
    assert last[2]["Authorization"] == "Bearer new.to.ken"
    assert transport.calls[-1][1] == "/api/v1/officer/me/inbox" and transport.calls[-1][2] == last[2]  # the menu's


# -- the work queue ---------------------------------------------------------------------------------


def test_the_queue_offers_todays_filters_and_shows_deadlines_and_counts_once_the_api_sends_them(signed_in,
                                                                                                 transport):
    browser = signed_in()
    item = {"case_id": CASE_ID, "registration_number": "WBS/35.73/2026/000001", "status": "verifikasi",
            "category": "korupsi", "channel": "web", "handling_tenant": "35.73",
            "registered_at": "2026-12-01T01:00:00+00:00", "updated_at": "2026-12-01T02:00:00+00:00"}
    transport.routes[("GET", "/api/v1/cases")] = {"items": [item], "page": 1, "per_page": 25, "total": 1}
    today = browser.get("/antrean?status=verifikasi&channel=web")
    assert today.status_code == 200 and 'name="channel"' not in today.text and ">Tenggat<" not in today.text
    assert last_call(transport, "/api/v1/cases")[3] == {"status": "verifikasi", "per_page": 25, "channel": "web"}
    deadline = {"rule": "verifikasi", "due_at": "2026-12-05T10:00:00+00:00", "approaching_at": None,
                "state": "breached"}
    transport.routes[("GET", "/api/v1/cases")] = {"items": [{**item, "deadline": deadline}], "page": 1,
                                                  "per_page": 25, "total": 1, "counts": {"verifikasi": 1}}
    later = browser.get("/antrean?lang=en")
    assert 'name="channel"' in later.text and 'name="deadline"' in later.text and 'name="sort"' in later.text
    assert 'class="badge badge--breached">Breached<' in later.text and "Cases per status" in later.text


def test_a_bad_filter_is_shown_and_left_out(signed_in, transport):
    browser = signed_in()
    transport.routes[("GET", "/api/v1/cases")] = {"items": [], "page": 1, "per_page": 25, "total": 0}
    out = browser.get("/antrean?status=bogus&number=<script>")
    assert out.status_code == 400 and 'id="f-status-error"' in out.text and "<script>" not in out.text
    assert last_call(transport, "/api/v1/cases")[3] == {"per_page": 25}


# -- the case page ------------------------------------------------------------------------------------


def test_the_case_page_shows_the_forms_the_api_allows(signed_in, transport, doc):
    browser = signed_in(roles=("penelaah",))
    transport.routes[("GET", CASE)] = doc("verifikasi", allowed_commands=["add-note", "accept"])
    out = browser.get(f"/kasus/{CASE_ID}")
    forms = re.findall(r'id="cmd-([a-z-]+)"', out.text)
    assert forms == ["accept", "add-note"]
    transport.routes[("GET", CASE)] = doc("verifikasi")  # no list from the API: no form (cases decides)
    assert re.findall(r'id="cmd-([a-z-]+)"', browser.get(f"/kasus/{CASE_ID}").text) == []


def test_a_command_is_checked_before_it_is_sent_and_the_entry_kept(signed_in, transport, doc):
    browser = signed_in()
    transport.routes[("GET", CASE)] = doc("verifikasi")
    token = browser.csrf(browser.get(f"/kasus/{CASE_ID}").text)
    out = browser.post(f"/kasus/{CASE_ID}/perintah/request-information",
                       {"csrf": token, "version": "2", "question": "Kapan tepatnya?", "due_on": "besok"})
    assert out.status_code == 400 and "Kapan tepatnya?" in out.text
    assert 'id="f-request-information-due_on-error"' in out.text and 'href="#f-request-information-due_on"' in out.text
    assert '<details class="command" id="cmd-request-information" open>' in out.text
    assert not [c for c in transport.calls if c[0] == "POST" and c[1].endswith("/request-information")]


def test_the_apis_field_messages_land_beside_the_fields(signed_in, transport, doc):
    browser = signed_in(roles=("inspektur",))
    transport.routes[("GET", CASE)] = doc("penelaahan")
    transport.routes[("POST", CASE + "/start-investigation")] = refusal(
        400, "validation_failed", {"team.0": [{"id": "Kode tidak valid.", "en": "Not a valid code."}]})
    token = browser.csrf(browser.get(f"/kasus/{CASE_ID}").text)
    out = browser.post(f"/kasus/{CASE_ID}/perintah/start-investigation", {
        "csrf": token, "version": "3", "team_text": "bukan-id", "plan": "Rencana", "due_on": "2027-01-31"})
    assert out.status_code == 400 and "Kode tidak valid." in out.text and "bukan-id" in out.text
    sent = [c for c in transport.calls if c[1].endswith("/start-investigation")]
    assert sent == [] or sent[0][2]["If-Match"] == '"3"'


def test_a_command_overtaken_by_someone_else_shows_what_changed_and_the_entry(signed_in, transport, doc):
    browser = signed_in()
    current = doc("verifikasi", version=3, history=doc()["history"] + [
        {"at": "2026-12-02T01:00:00+00:00", "kind": "verification_started", "status": "verifikasi",
         "actor": {"officer_id": "x", "username": "agus.inspektur", "roles": ["inspektur"]}, "reason": None,
         "reporter_visible": True}])
    transport.routes[("GET", CASE)] = current
    transport.routes[("POST", CASE + "/reject")] = refusal(409, "stale_version", current_version=3)
    token = browser.csrf(browser.get(f"/kasus/{CASE_ID}").text)
    out = browser.post(f"/kasus/{CASE_ID}/perintah/reject", {
        "csrf": token, "version": "1", "seen_at": "2026-12-01T01:00:00+00:00", "reason": "Bukan kewenangan kami"})
    assert out.status_code == 409 and "Bukan kewenangan kami" in out.text
    changed = out.text.split('id="changes-title"')[1].split("</section>")[0]
    assert "agus.inspektur" in changed and "Terdaftar" not in changed
    assert 'name="version" value="3"' in out.text  # deciding again is against the case as it is now
    transport.routes[("POST", CASE + "/reject")] = refusal(409, "stale_version", changes=[
        {"at": "2026-12-03T01:00:00+00:00", "kind": "note", "status": "verifikasi", "text": "catatan",
         "actor": {"officer_id": "y", "username": "wati"}, "reason": None, "reporter_visible": False}])
    out = browser.post(f"/kasus/{CASE_ID}/perintah/reject", {"csrf": token, "version": "1", "reason": "Alasan"})
    changed = out.text.split('id="changes-title"')[1].split("</section>")[0]
    assert "wati" in changed and "agus.inspektur" not in changed


def test_findings_with_a_pp94_sanction_become_the_apis_body(signed_in, transport, doc):
    browser = signed_in(roles=("inspektur",))
    transport.routes[("GET", CASE)] = doc("investigasi")
    transport.routes[("POST", CASE + "/record-findings")] = {"case_id": CASE_ID, "version": 5,
                                                              "status": "tindak_lanjut"}
    token = browser.csrf(browser.get(f"/kasus/{CASE_ID}").text)
    out = browser.post(f"/kasus/{CASE_ID}/perintah/record-findings", {
        "csrf": token, "version": "4", "outcome": "terbukti", "summary": "Terbukti.",
        "recommendations.0.kind": "sanksi_disiplin", "recommendations.0.sanction": "sedang/pemotongan_tukin_25_persen",
        "recommendations.0.months": "6", "recommendations.0.details": "Potong tukin",
        "recommendations.1.kind": "pemulihan_kerugian", "recommendations.1.details": "Kembalikan",
        "recommendations.1.amount": "1.500.000"})
    assert out.status_code == 303 and out.headers["Location"].endswith("ok=record-findings")
    body = [c for c in transport.calls if c[1].endswith("/record-findings")][0][4]
    assert body == {"outcome": "terbukti", "summary": "Terbukti.", "recommendations": [
        {"kind": "sanksi_disiplin", "details": "Potong tukin",
         "sanction": {"level": "sedang", "type": "pemotongan_tukin_25_persen", "months": 6}},
        {"kind": "pemulihan_kerugian", "details": "Kembalikan", "amount": 1500000}]}


def test_a_case_as_of_a_moment_is_read_only_and_asked_with_an_offset(signed_in, transport, doc):
    browser = signed_in(roles=("auditor",))
    transport.routes[("GET", CASE)] = doc("verifikasi", as_of="2026-12-02T01:00:00+00:00")
    out = browser.get(f"/kasus/{CASE_ID}?as_of=2026-12-02T08:00")
    assert last_call(transport, CASE)[3] == {"as_of": "2026-12-02T08:00:00+07:00"}
    assert out.status_code == 200 and 'id="cmd-' not in out.text and "seperti keadaannya pada" in out.text
    bad = browser.get(f"/kasus/{CASE_ID}?as_of=kemarin")
    assert 'id="f-as_of-error"' in bad.text


def test_evidence_previews_only_images_and_pdf_inline(signed_in, transport):
    browser = signed_in()
    path = f"{CASE}/evidence/e1"
    transport.routes[("GET", path)] = (200, b"\x89PNG", {"Content-Type": "image/png",
                                                       "Content-Disposition": 'attachment; filename="a.png"'})
    shown = browser.get(f"/kasus/{CASE_ID}/bukti/e1/pratinjau")
    assert shown.status_code == 200 and shown.headers["Content-Type"] == "image/png"
    assert shown.headers["Content-Disposition"] == "inline" and shown.headers["X-Content-Type-Options"] == "nosniff"
    saved = browser.get(f"/kasus/{CASE_ID}/bukti/e1")
    assert saved.headers["Content-Disposition"].startswith("attachment") and saved.headers[
        "Content-Security-Policy"] == "sandbox"
    transport.routes[("GET", path)] = (200, b"<html>", {"Content-Type": "text/html"})
    assert browser.get(f"/kasus/{CASE_ID}/bukti/e1/pratinjau").status_code == 404


def test_english_is_asked_for_and_kept_on_every_link(signed_in, transport, doc):
    browser = signed_in()
    transport.routes[("GET", CASE)] = doc("verifikasi", allowed_commands=["request-information", "add-note"])
    out = browser.get(f"/kasus/{CASE_ID}?lang=en")
    assert '<html lang="en">' in out.text and "Request information from the reporter" in out.text
    for href in re.findall(r'href="(/[^"]*)"', out.text):
        if not href.startswith("/static/") and "lang=id" not in href:
            assert "lang=en" in href, href
    assert out.text.count("<form") == out.text.count('name="lang" value="en"')
    assert f'href="/kasus/{CASE_ID}?lang=id"' in out.text


def test_statistics_draw_each_figure_as_a_chart_beside_its_table(signed_in, transport):
    browser = signed_in(roles=("inspektur",))
    timing = {"count": 1, "median_days": 2.0, "p90_days": 3.0}
    transport.routes[("GET", "/api/v1/stats")] = {
        "tenant": "35.73", "period": {"from": "2026-01", "to": "2026-12"}, "tenants": ["35.73"], "total": 3,
        "by_status": {"diterima": 2, "selesai": 1}, "by_category": {"korupsi": 3}, "by_channel": {"web": 3},
        "by_month": {"2026-11": 1, "2026-12": 2}, "timings": {"acknowledge": timing, "verify": timing, "close": timing},
        "deadlines": [], "breaches": [], "forwarded": [], "sanctions": []}
    out = browser.get("/statistik?from=2026-01&to=2026-12&lang=en")
    assert out.status_code == 200 and out.text.count('role="img"') == 4 and out.text.count("<table") >= 5
    assert "<title id=\"chart-category-title\">Cases by category</title>" in out.text and ">Corruption<" in out.text
    assert 'href="/statistik/unduh/csv?lang=en&amp;tenant=35.73&amp;year=2026"' in out.text
    assert last_call(transport, "/api/v1/stats")[3] == {"from": "2026-01", "to": "2026-12"}
    bad = browser.get("/statistik?from=2026-13")
    assert bad.status_code == 400 and 'id="f-from-error"' in bad.text
