"""The officers' console against the running system, over HTTP as a browser
speaks it (the browser itself: test_console_browser.py): the tenant wall
through edited URLs, the privacy canary for everything the console answers
and logs, the session cookie and the security headers, CSRF and cross-site
refusals that change nothing, and bad input kept on the same page."""

from __future__ import annotations

import re
import secrets
import uuid

import requests

from peluit_local.testing import (OFFICER_PASSWORD, admin_connect, direct_officer, encodings, eventually, new_case,
                                  next_totp, sample_report, submit)

SAME = {"Sec-Fetch-Site": "same-origin"}


def csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def version(html: str) -> str:
    return re.search(r'name="version" value="(\d+)"', html).group(1)


def events_of(system, case_id: str) -> int:
    with admin_connect(system, "cases") as conn:
        return conn.execute("SELECT count(*) FROM peluit.cases_events WHERE originator_id = %s",
                            (case_id,)).fetchone()[0]


def main_text(html: str) -> str:
    """The page's main content, as text (the header names the officer)."""
    body = html.split('<main id="isi"', 1)[1].split("</main>", 1)[0]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))


def test_no_cookie_before_sign_in_and_a_sealed_strict_one_after(system, console_login):
    base = system.url("console")
    first = requests.get(base + "/masuk", timeout=10)
    assert first.status_code == 200 and "Set-Cookie" not in first.headers
    policy = first.headers["Content-Security-Policy"]
    assert policy == ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                      "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
    assert first.headers["Cache-Control"] == "no-store" and first.headers["X-Frame-Options"] == "DENY"
    assert first.headers["X-Content-Type-Options"] == "nosniff" and first.headers["Referrer-Policy"] == "no-referrer"
    assert "<script" not in first.text and "style=" not in first.text
    # unsigned visitors meet the sign-in page, whatever they ask for
    away = requests.get(base + "/antrean", timeout=10, allow_redirects=False)
    assert away.status_code == 303 and away.headers["Location"].startswith("/masuk?")
    browser = console_login("sari.penelaah")
    cookie = next(c for c in browser.cookies)
    assert cookie.name == "peluit_konsol" and cookie.has_nonstandard_attr("HttpOnly")
    assert cookie.get_nonstandard_attr("SameSite") == "Strict" and cookie.path == "/"
    assert "eyJ" not in cookie.value  # the token is sealed, not merely encoded
    # a changed cookie is no session
    jar = requests.Session()
    jar.cookies.set("peluit_konsol", cookie.value[:-4] + "AAAA")
    assert jar.get(base + "/antrean", timeout=10, allow_redirects=False).status_code == 303


def test_sign_out_drops_the_cookie_and_the_session(system, console_login):
    browser = console_login("sari.penelaah")
    queue = browser.get(system.url("console") + "/antrean", timeout=10)
    out = browser.post(system.url("console") + "/keluar", data={"csrf": csrf(queue.text)}, headers=SAME, timeout=10)
    assert out.status_code == 200 and "peluit_konsol" not in browser.cookies
    assert out.headers["Set-Cookie"].startswith("peluit_konsol=;") and 'id="f-username"' in out.text
    # the old cookie replayed would still hold a token until it expires: ending it at the officer API
    # (POST /api/v1/officer/logout) comes with the accounts work


def test_an_officer_of_another_tenant_meets_the_same_page_as_for_a_missing_case(system, console_login):
    case_id, _ = new_case(system, tenant="35.73")
    own_id, _ = new_case(system, tenant="35.07")
    budi = console_login("budi.kabmalang")
    base = system.url("console")
    missing = str(uuid.uuid4())
    for suffix in ("", "/riwayat", "/bundel-audit", f"/bukti/{uuid.uuid4()}", f"/bukti/{uuid.uuid4()}/pratinjau"):
        theirs = budi.get(f"{base}/kasus/{case_id}{suffix}", timeout=10)
        absent = budi.get(f"{base}/kasus/{missing}{suffix}", timeout=10)
        assert theirs.status_code == absent.status_code == 404, suffix
        assert main_text(theirs.text) == main_text(absent.text), suffix
        assert "WBS/35.73" not in theirs.text
    assert budi.get(f"{base}/kasus/{own_id}", timeout=10).status_code == 200
    queue = budi.get(base + "/antrean?per_page=100", timeout=10)
    assert case_id not in queue.text and own_id in queue.text
    # a command posted to the other tenant's case changes nothing there
    before = events_of(system, case_id)
    page = budi.get(f"{base}/kasus/{own_id}", timeout=10)
    refused = budi.post(f"{base}/kasus/{case_id}/perintah/start-verification", headers=SAME, timeout=10,
                        data={"csrf": csrf(page.text), "version": "1", "seen_at": ""})
    assert refused.status_code == 404 and events_of(system, case_id) == before


def test_forms_from_elsewhere_change_nothing(system, console_login):
    case_id, _ = new_case(system)
    sari = console_login("sari.penelaah")
    url = f"{system.url('console')}/kasus/{case_id}"
    page = sari.get(url, timeout=10)
    before = events_of(system, case_id)
    body = {"csrf": csrf(page.text), "version": version(page.text), "seen_at": ""}
    cross = sari.post(url + "/perintah/start-verification", data=body, headers={"Sec-Fetch-Site": "cross-site"},
                      timeout=10)
    forged = sari.post(url + "/perintah/start-verification", data={**body, "csrf": "x" * 32}, headers=SAME,
                       timeout=10)
    assert cross.status_code == forged.status_code == 403
    assert "<pre" not in cross.text and "Traceback" not in cross.text
    assert events_of(system, case_id) == before
    done = sari.post(url + "/perintah/start-verification", data=body, headers=SAME, timeout=10)
    assert done.status_code == 200 and events_of(system, case_id) == before + 1


def test_bad_input_is_shown_beside_the_field_with_the_entry_kept(system, console_login):
    case_id, _ = new_case(system)
    sari = console_login("sari.penelaah")
    url = f"{system.url('console')}/kasus/{case_id}"
    page = sari.get(url, timeout=10)
    sari.post(url + "/perintah/start-verification", headers=SAME, timeout=10,
              data={"csrf": csrf(page.text), "version": version(page.text), "seen_at": ""})
    page = sari.get(url + "?lang=en", timeout=10)
    before = events_of(system, case_id)
    typed = "Berapa jumlah uang yang diminta " + secrets.token_hex(4)
    bad = sari.post(url + "/perintah/request-information", headers=SAME, timeout=10, data={
        "csrf": csrf(page.text), "version": version(page.text), "seen_at": "", "lang": "en",
        "question": typed, "due_on": "31-12-2026"})
    assert bad.status_code == 400 and typed in bad.text
    assert 'aria-invalid="true"' in bad.text and 'id="f-request-information-due_on-error"' in bad.text
    assert events_of(system, case_id) == before
    # a stale version: what changed is shown, the entry kept, nothing recorded twice
    stale = sari.post(url + "/perintah/reject", headers=SAME, timeout=10, data={
        "csrf": csrf(page.text), "version": "1", "seen_at": "2000-01-01T00:00:00+00:00", "lang": "en",
        "reason": "Bukan kewenangan " + typed})
    assert stale.status_code == 409 and "Bukan kewenangan " + typed in stale.text
    assert "What changed since you opened the case" in stale.text and "Verification started" in stale.text
    assert events_of(system, case_id) == before
    # the assisted intake form keeps what was typed too
    tono = console_login("tono.penerima")
    form = tono.get(system.url("console") + "/laporan-langsung", timeout=10)
    short = tono.post(system.url("console") + "/laporan-langsung", headers=SAME, timeout=10, data={
        "csrf": csrf(form.text), "channel": "walk_in", "tenant": "35.73", "category": "korupsi", "what": "pendek",
        "where": "Balai Kota", "when": "kemarin", "identity_mode": "anonim"})
    assert short.status_code == 400 and "Balai Kota" in short.text and 'id="f-what-error"' in short.text


def test_a_new_case_shows_as_unread_for_the_penerima_until_marked_read(system):
    """Through the whole chain: intake, cases, the domain event, notifications' fan-out, the officer API's
    inbox, the console's list and the menu's count; marking read in the console clears it. A penerima of
    its own (no wait for the shared officers' next one-time code, no other test's notices)."""
    officer = direct_officer(system, "35.73", ["penerima"], prefix="kotak")
    case_id, _ = new_case(system)
    base = system.url("console")
    tono = requests.Session()
    form = tono.get(base + "/masuk", timeout=10)
    signed_in = tono.post(base + "/masuk", headers=SAME, timeout=15, data={
        "csrf": csrf(form.text), "username": officer["username"], "password": OFFICER_PASSWORD,
        "totp": next_totp(officer)})
    assert signed_in.status_code == 200 and "/antrean" in signed_in.url
    listed = eventually(lambda: (lambda page: case_id in page.text and page)(
        tono.get(base + "/pemberitahuan?unread=1", timeout=10)), timeout=20)
    assert listed, "the new case reached the penerima's list"
    assert "Kasus baru" in listed.text and 'class="unread-count">(1 belum dibaca)' in listed.text
    done = tono.post(base + "/pemberitahuan/baca", data={"csrf": csrf(listed.text), "all": "1", "unread_only": "1"}, headers=SAME,
                     timeout=10)
    assert done.status_code == 200 and "Ditandai sudah dibaca" in done.text  # after the redirect
    assert case_id not in done.text and "unread-count" not in done.text


def test_the_console_never_answers_or_logs_an_identity(system, console_login):
    """A report's identity never reaches the console (the officer APIs never send it), so no page, download
    or log line of the console holds it; an identity typed into assisted intake passes through to intake
    and is neither answered nor logged."""
    marker = secrets.token_hex(12)
    nik = "35" + "".join(secrets.choice("0123456789") for _ in range(14))
    identity = {"name": f"Canary {marker}", "email": f"c{marker}@example.id", "nik": nik}
    sent = submit(system, sample_report(identity=identity), key=str(uuid.uuid4()))
    assert sent.status_code == 201
    with admin_connect(system, "cases") as conn:
        case_id = str(eventually(lambda: conn.execute(
            "SELECT case_id FROM peluit.case_index WHERE registration_number = %s",
            (sent.json()["registration_number"],)).fetchone())[0])
    base = system.url("console")
    replies: list[bytes] = []
    for name in ("sari.penelaah", "agus.inspektur", "rina.auditor", "prov.admin"):
        officer = console_login(name)
        for path in ("/antrean", f"/kasus/{case_id}", f"/kasus/{case_id}/riwayat", "/statistik",
                     "/statistik/provinsi", "/pengungkapan/log", "/statistik/unduh/csv", "/pemberitahuan"):
            replies.append(officer.get(base + path, timeout=20).content)
    tono = console_login("tono.penerima")
    form = tono.get(base + "/laporan-langsung", timeout=10)
    assisted_marker = secrets.token_hex(12)
    slip = tono.post(base + "/laporan-langsung", headers=SAME, timeout=20, data={
        "csrf": csrf(form.text), "channel": "phone", "tenant": "35.73", "category": "korupsi",
        "what": "Pungutan liar di loket pelayanan terpadu", "where": "Kecamatan Klojen", "when": "Desember 2026",
        "identity_mode": "rahasia", "identity.name": f"Penelepon {assisted_marker}",
        "identity.phone": "0812" + "".join(secrets.choice("0123456789") for _ in range(8)),
        "idempotency_key": secrets.token_urlsafe(32)})
    assert slip.status_code == 201 and re.search(r"\d{4}-\d{4}-\d{4}-\d{4}", slip.text)
    replies.append(slip.content)
    log = (system.log_dir / "console.log").read_bytes()
    metrics = requests.get(system.ops_url("console") + "/metrics", timeout=5).content
    assert b"peluit_entrypoint_duration_seconds" in metrics
    for needle in (marker, nik, assisted_marker):
        for blob in (*replies, log, metrics):
            assert not any(p in blob for p in encodings(needle)), needle
    # nor a token or the cookie in the log
    assert b"Bearer" not in log and b"peluit_konsol" not in log and b"eyJ" not in log
