"""The reporter portal on intake (:8000) against the running services: pages in
both languages with every security header and no cookie, the whole flow with
plain HTTP (form -> receipt -> status with one session cookie -> an officer's
question -> the reporter's answer -> sign out), CSRF refusals that store
nothing, errors tied to fields, reporter text shown escaped, and the public
statistics page (what reporting publishes; a 503 page while it is away)."""

from __future__ import annotations

import datetime as dt
import html
import io
import re
import secrets
import uuid
from zoneinfo import ZoneInfo

import requests
from markupsafe import escape

from peluit_local.testing import admin_connect, count_cases, eventually, hits_outside_the_vault, publish_statistics

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
HEADERS = {"Content-Security-Policy": CSP, "Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
           "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY"}
# a marker User-Agent: it must not reach any log
AGENT = f"PortalTest/{uuid.uuid4().hex}"
RECEIPT_RE = r"\d{4}-\d{4}-\d{4}-\d{4}"


def browser() -> requests.Session:
    session = requests.Session()
    session.headers["User-Agent"] = AGENT
    return session


def assert_secure_page(resp, cookie: bool = False):
    for name, value in HEADERS.items():
        assert resp.headers.get(name) == value, (resp.url, name, resp.headers.get(name))
    assert resp.headers["Content-Type"].startswith("text/html")
    if not cookie:
        assert "Set-Cookie" not in resp.headers, resp.url


def hidden(page: str, name: str) -> str:
    found = re.search(rf'name="{re.escape(name)}" value="([^"]*)"', page)
    assert found, name
    return html.unescape(found.group(1))


def report_fields(page: str, **overrides) -> dict:
    fields = {
        "lang": hidden(page, "lang"), "csrf": hidden(page, "csrf"), "idempotency_key": hidden(page, "idempotency_key"),
        "tenant": "35.73", "category": "korupsi",
        "what": "Dana hibah kelompok tani dipotong 20% oleh pejabat dinas",
        "where": "Dinas Pertanian Kota Malang", "when": "Oktober 2026",
        "who": "Kepala Seksi Bantuan", "how": "Potongan diminta tunai saat pencairan",
        "identity_mode": "anonim",
    }
    fields.update(overrides)
    return {k: v for k, v in fields.items() if v is not None}


def post_report(session, base, fields, lang="id", **kwargs):
    # multipart like a browser, with the file field left empty
    return session.post(f"{base}/lapor?lang={lang}", data=fields, files={"file": ("", b"", "application/octet-stream")},
                        timeout=30, allow_redirects=False, **kwargs)


def png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


def case_id_of(system, number: str) -> str:
    with admin_connect(system, "cases") as conn:
        row = eventually(lambda: conn.execute(
            "SELECT case_id FROM peluit.case_index WHERE registration_number = %s", (number,)).fetchone())
    assert row, number
    return str(row[0])


def officer(system, headers, case_id, name, body, version):
    return requests.post(f"{system.url('cases')}/api/v1/cases/{case_id}/{name}", json=body, timeout=15,
                         headers={**headers, "If-Match": f'"{version}"'})


def test_pages_in_both_languages_carry_the_headers_and_set_no_cookie(system):
    base = system.url("intake")
    s = browser()
    descriptions = set()
    for path in ("/", "/lapor", "/status", "/tanda-terima", "/statistik"):
        for lang, other in (("id", "en"), ("en", "id")):
            resp = s.get(base + path, params={"lang": lang}, timeout=15)
            assert resp.status_code == 200, (path, lang)
            assert_secure_page(resp)
            page = resp.text
            described = re.findall(r'<meta name="description" content="([^"]{60,})">', page)
            assert len(described) == 1, (path, lang)
            descriptions.add(described[0])
            assert f'<html lang="{lang}">' in page
            assert f'lang={other}"' in page or f"lang={other}&amp;" in page  # the visible switch
            for href in re.findall(r'(?:href|action)="(/[^"]*)"', page):
                assert href.startswith("/static/") or f"lang={lang}" in href or f"lang={other}" in href, href
            assert "<script>" not in page and "http://" not in page and "https://" not in page
    assert s.cookies.get_dict() == {}
    assert len(descriptions) == 10  # each page its own, in each language (the receipt note: the portal's own)
    default = s.get(base + "/", timeout=15)
    assert '<html lang="id">' in default.text and "Buat laporan" in default.text
    english = s.get(base + "/", params={"lang": "en"}, timeout=15).text
    assert "Make a report" in english and "Anonymous" in english and "Confidential" in english
    form = s.get(base + "/lapor", params={"lang": "id"}, timeout=15).text
    for name in ("tenant", "category", "what", "where", "when", "who", "how", "terlapor_inspektorat", "file",
                 "identity.name", "identity.email"):
        field_id = "f-" + name.replace(".", "-").replace("_", "-")
        assert f'id="{field_id}"' in form and f'for="{field_id}"' in form, name
    assert "Inspektorat Kota Malang" in form and "Pungutan liar" in form
    css = s.get(base + "/static/portal.css", timeout=15)
    assert css.status_code == 200 and css.headers["Content-Type"].startswith("text/css")
    assert css.headers["X-Content-Type-Options"] == "nosniff" and "Set-Cookie" not in css.headers
    assert s.get(base + "/static/../service.py", timeout=15).status_code == 404


def test_the_statistics_page_shows_what_reporting_publishes_and_a_503_while_it_is_away(system):
    base, s = system.url("intake"), browser()
    year = dt.datetime.now(ZoneInfo("Asia/Jakarta")).year
    assert post_report(s, base, report_fields(s.get(f"{base}/lapor", timeout=15).text)).status_code == 201

    def same_figures():
        publish_statistics(system)  # once reporting has the report: published once a day otherwise
        cells = requests.get(system.url("reporting") + "/api/v1/public/stats", params={"tenant": "35.73", "year": year},
                             timeout=10).json()["counts"]
        resp = s.get(f"{base}/statistik", params={"tenant": "35.73", "year": year, "lang": "en"}, timeout=15)
        shown = [html.unescape(n) for n in re.findall(r'<td class="num">([^<]*)</td>', resp.text)]
        same = cells and sorted(shown) == sorted(str(c["count"]) for c in cells)
        return (resp, cells) if same else None
    found = eventually(same_figures, timeout=30)
    assert found, "the page shows exactly the published cells (no totals)"
    resp, cells = found
    assert_secure_page(resp)
    categories = len({c["category"] for c in cells})
    assert resp.text.count('<svg xmlns="http://www.w3.org/2000/svg" class="chart"') == categories
    assert resp.text.count('<table class="chart-table">') == categories

    system.stop("reporting")
    try:
        for lang, title in (("id", "Statistik belum dapat ditampilkan saat ini"),
                            ("en", "The statistics cannot be shown right now")):
            away = s.get(f"{base}/statistik", params={"tenant": "35.73", "lang": lang}, timeout=30)
            assert away.status_code == 503 and f"<h1>{title}</h1>" in away.text
            assert away.headers["Retry-After"] == "60"
            assert_secure_page(away)
        assert s.get(f"{base}/lapor", timeout=15).status_code == 200  # reporting away stops nothing else
    finally:
        system.start("reporting")
        system.wait_ready("reporting")


def test_the_whole_flow_without_javascript(system, login):
    base = system.url("intake")
    s = browser()
    before = count_cases(system)
    form = s.get(f"{base}/lapor?lang=id", timeout=15)
    resp = post_report(s, base, report_fields(form.text))
    assert resp.status_code == 201, resp.text[:2000]
    assert_secure_page(resp)
    receipt = re.search(rf'class="receipt" id="receipt">({RECEIPT_RE})<', resp.text).group(1)
    number = re.search(r'class="number">(WBS/35\.73/\d{4}/\d{6})<', resp.text).group(1)
    assert "tidak dapat dipulihkan" in resp.text
    assert count_cases(system) == before + 1
    # pressing "send" again (same form, same key) gives the same receipt, not a second case
    again = post_report(s, base, report_fields(form.text))
    assert again.status_code == 201 and receipt in again.text and count_cases(system) == before + 1

    # open the report: exactly one cookie, HttpOnly and SameSite=Strict, not holding the receipt
    opened = s.post(f"{base}/status?lang=id", data={"lang": "id", "csrf": hidden(resp.text, "csrf"),
                                                     "receipt": receipt}, timeout=15, allow_redirects=False)
    assert opened.status_code == 303 and opened.headers["Location"] == "/status?lang=id"
    cookies = opened.raw.headers.getlist("Set-Cookie")
    assert len(cookies) == 1, cookies
    cookie = cookies[0]
    assert cookie.startswith("peluit_sesi=")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie and "Max-Age=1800" in cookie
    assert "Secure" not in cookie  # plain HTTP here; over TLS it is Secure and __Host- prefixed
    assert receipt.replace("-", "") not in cookie and receipt not in cookie
    assert list(s.cookies.get_dict()) == ["peluit_sesi"]

    view = s.get(f"{base}/status?lang=id", timeout=15)
    assert view.status_code == 200
    assert_secure_page(view, cookie=True)
    assert number in view.text and "Laporan diterima dan terdaftar" in view.text
    assert '<ol class="timeline">' in view.text and "WIB" in view.text
    assert receipt not in view.text

    # the Inspektorat asks; the reporter reads the question on the status page and answers it
    case_id = case_id_of(system, number)
    sari = login("sari.penelaah")
    assert officer(system, sari, case_id, "start-verification", {}, 1).status_code == 200
    due = (dt.date.today() + dt.timedelta(days=14)).isoformat()
    assert officer(system, sari, case_id, "request-information",
                   {"question": "Mohon sebutkan tanggal pencairan dana.", "due_on": due}, 2).status_code == 200
    view = s.get(f"{base}/status?lang=id", timeout=15)
    assert "Mohon sebutkan tanggal pencairan dana." in view.text and "Pertanyaan" in view.text
    assert "Menunggu informasi tambahan dari pelapor" in view.text
    assert "sari" not in view.text  # no officer names

    answer = "Pencairan tanggal <b>12 Oktober</b> & <script>alert('x')</script>"
    sent = s.post(f"{base}/status/pesan?lang=id", data={"lang": "id", "csrf": hidden(view.text, "csrf"),
                                                         "text": answer}, timeout=15, allow_redirects=False)
    assert sent.status_code == 303, sent.text[:2000]
    view = s.get(base + sent.headers["Location"], timeout=15)
    assert "Pesan Anda telah dikirim kepada Inspektorat." in view.text
    assert str(escape(answer)) in view.text
    assert "<script>alert" not in view.text and "<b>12" not in view.text
    assert "Sedang diverifikasi" in view.text  # the answer put the case back into verification

    # a form token is tied to its session: another session (same receipt) cannot use it
    other = browser()
    entry = other.get(f"{base}/status", timeout=15).text
    assert other.post(f"{base}/status", data={"csrf": hidden(entry, "csrf"), "receipt": receipt},
                      timeout=15).status_code == 200
    forged = other.post(f"{base}/status/pesan", data={"csrf": hidden(view.text, "csrf"), "text": "x"}, timeout=15,
                        allow_redirects=False)
    assert forged.status_code == 403
    # and without any session a reply is not taken, and nothing is echoed
    bare = browser().post(f"{base}/status/pesan", data={"csrf": hidden(view.text, "csrf"), "text": "gema"},
                          timeout=15, allow_redirects=False)
    assert bare.status_code == 401 and "Set-Cookie" not in bare.headers and "gema" not in bare.text

    # sign out: the cookie is removed and the status page asks for a receipt again
    out = s.post(f"{base}/keluar?lang=id", data={"lang": "id", "csrf": hidden(view.text, "csrf")}, timeout=15)
    assert out.status_code == 200 and "Anda telah keluar" in out.text
    assert "Max-Age=0" in out.headers["Set-Cookie"]
    assert s.cookies.get_dict() == {}
    assert 'name="receipt"' in s.get(f"{base}/status?lang=id", timeout=15).text

    # nothing of the reporter's browser reached a log
    for path in system.log_dir.glob("*.log"):
        text = path.read_text(errors="replace")
        assert AGENT not in text and "12 Oktober" not in text and receipt not in text, path.name


def test_the_flow_in_english_with_a_confidential_identity(system):
    base = system.url("intake")
    s = browser()
    form = s.get(f"{base}/lapor?lang=en", timeout=15).text
    assert "Send report" in form
    fields = report_fields(form, identity_mode="rahasia", **{"identity.name": "Budi Santoso",
                                                              "identity.email": "budi@example.id"})
    resp = post_report(s, base, fields, lang="en")
    assert resp.status_code == 201, resp.text[:2000]
    assert "Your report has been received" in resp.text and "cannot be recovered" in resp.text
    assert "Confidential (sealed to the identity vault)" in resp.text
    assert "Budi Santoso" not in resp.text
    receipt = re.search(rf'class="receipt" id="receipt">({RECEIPT_RE})<', resp.text).group(1)
    opened = s.post(f"{base}/status", data={"lang": "en", "csrf": hidden(resp.text, "csrf"), "receipt": receipt},
                    timeout=15)
    assert opened.status_code == 200 and '<html lang="en">' in opened.text
    assert "Report received and registered" in opened.text and "Write to the Inspektorat" in opened.text


def test_a_post_without_or_with_a_wrong_csrf_token_is_refused_and_stores_nothing(system):
    base = system.url("intake")
    s = browser()
    form = s.get(f"{base}/lapor", timeout=15).text
    before = count_cases(system)
    good = report_fields(form)
    for fields, headers in (({k: v for k, v in good.items() if k != "csrf"}, {}),
                            ({**good, "csrf": "AAAA" + good["csrf"][4:]}, {}),
                            ({**good, "csrf": "bukan-token"}, {}),
                            (good, {"Sec-Fetch-Site": "cross-site"})):
        resp = post_report(s, base, fields, headers=headers)
        assert resp.status_code == 403
        assert_secure_page(resp)
        assert "Dana hibah" not in resp.text
    wrong = s.post(f"{base}/status", data={"receipt": "1234-5678-9012-3456"}, timeout=15, allow_redirects=False)
    assert wrong.status_code == 403 and "Set-Cookie" not in wrong.headers
    assert count_cases(system) == before
    assert s.cookies.get_dict() == {}


def test_missing_fields_come_back_tied_to_their_fields_in_the_chosen_language(system):
    base = system.url("intake")
    s = browser()
    before = count_cases(system)
    injected = '"><script>alert(1)</script><img src=x onerror=alert(2)>'
    for lang, required in (("id", "Wajib diisi."), ("en", "This field is required.")):
        form = s.get(f"{base}/lapor?lang={lang}", timeout=15).text
        resp = post_report(s, base, report_fields(form, what="", when="", where=injected,
                                                  identity_mode="rahasia", **{"identity.name": "Rina"}), lang=lang)
        assert resp.status_code == 400
        assert_secure_page(resp)
        page = resp.text
        assert f'<html lang="{lang}">' in page
        for field in ("what", "when"):
            fid = f"f-{field}"
            tag = re.search(rf'<textarea id="{fid}"[^>]*>|<input[^>]*id="{fid}"[^>]*>', page).group(0)
            assert 'aria-invalid="true"' in tag and f"{fid}-error" in tag
            error = re.search(rf'<p class="error-message" id="{fid}-error">(.*?)</p>', page, re.S).group(1)
            assert required in error
            assert f'href="#{fid}"' in page  # the summary at the top links to the field
        assert 'class="error-summary"' in page and 'role="alert"' in page
        # what was typed is kept, escaped; identity too (only in this response)
        assert "<script>alert(1)" not in page and "<img src=x" not in page
        assert str(escape(injected)) in page
        assert 'value="Rina"' in page
        assert 'value="rahasia" data-reveals="identity-fields" checked' in page
        assert "Set-Cookie" not in resp.headers
    english = s.get(f"{base}/lapor?lang=en", timeout=15).text
    resp = post_report(s, base, report_fields(english, tenant="99.99"), lang="en")
    assert resp.status_code == 422 and "No Inspektorat is registered under this code." in resp.text
    assert count_cases(system) == before


def test_an_unknown_receipt_and_a_forged_cookie_open_nothing(system):
    base = system.url("intake")
    s = browser()
    page = s.get(f"{base}/status?lang=en", timeout=15).text
    miss = s.post(f"{base}/status", data={"lang": "en", "csrf": hidden(page, "csrf"),
                                          "receipt": "0000-0000-0000-0001"}, timeout=15, allow_redirects=False)
    assert miss.status_code == 404 and "Unknown receipt" in miss.text
    assert 'aria-invalid="true"' in miss.text and "Set-Cookie" not in miss.headers
    forged = requests.get(f"{base}/status?lang=en", headers={"Cookie": "peluit_sesi=" + "A" * 120}, timeout=15)
    assert forged.status_code == 200 and 'name="receipt"' in forged.text
    assert "Max-Age=0" in forged.headers["Set-Cookie"]


def test_evidence_with_the_report_and_later_on_the_status_page(system):
    base = system.url("intake")
    s = browser()
    before = count_cases(system)
    # a file refused by content is answered on the form, before anything is registered
    form = s.get(f"{base}/lapor?lang=en", timeout=15).text
    refused = s.post(f"{base}/lapor?lang=en", data=report_fields(form), timeout=30, files={
        "file": ("foto.png", b"<html><script>alert(1)</script></html>", "image/png")})
    assert refused.status_code == 415, refused.text[:2000]
    assert "File 1 is of a type that is not accepted" in refused.text
    assert 'id="f-file-error"' in refused.text and "attach them again" in refused.text
    assert count_cases(system) == before

    form = s.get(f"{base}/lapor?lang=id", timeout=15).text
    resp = s.post(f"{base}/lapor?lang=id", data=report_fields(form), timeout=60,
                  files={"file": ("kuitansi.png", png(), "image/png")})
    assert resp.status_code == 201, resp.text[:2000]
    assert "Berkas bukti diterima: 1." in resp.text
    assert count_cases(system) == before + 1
    receipt = re.search(rf'class="receipt" id="receipt">({RECEIPT_RE})<', resp.text).group(1)

    view = s.post(f"{base}/status", data={"csrf": hidden(resp.text, "csrf"), "receipt": receipt}, timeout=15)
    assert view.status_code == 200 and 'action="/status/bukti?lang=id"' in view.text
    added = s.post(f"{base}/status/bukti?lang=id", data={"lang": "id", "csrf": hidden(view.text, "csrf")},
                   files=[("file", ("a.png", png(), "image/png")), ("file", ("b.png", png(), "image/png"))],
                   timeout=60, allow_redirects=False)
    assert added.status_code == 303, added.text[:2000]
    assert "Bukti Anda telah diterima." in s.get(base + added.headers["Location"], timeout=15).text
    empty = s.post(f"{base}/status/bukti?lang=id", data={"lang": "id", "csrf": hidden(view.text, "csrf")},
                   files={"file": ("", b"", "application/octet-stream")}, timeout=15)
    assert empty.status_code == 400 and 'aria-invalid="true"' in empty.text


def test_the_privacy_canary_covers_the_portal(system):
    """Identity typed into the portal form is sealed at once: it appears in no
    table (the vault's included, in clear), log, broker message, metric or page."""
    marker = secrets.token_hex(12)
    nik = "35" + "".join(secrets.choice("0123456789") for _ in range(14))
    base = system.url("intake")
    s = browser()
    form = s.get(f"{base}/lapor", timeout=15).text
    resp = post_report(s, base, report_fields(form, identity_mode="rahasia", **{
        "identity.name": f"Canary {marker}", "identity.email": f"c{marker}@example.id", "identity.nik": nik,
        "identity.address": f"Jalan {marker} No. 7"}))
    assert resp.status_code == 201, resp.text[:2000]
    receipt = re.search(rf'class="receipt" id="receipt">({RECEIPT_RE})<', resp.text).group(1)
    number = re.search(r'class="number">(WBS/[^<]+)<', resp.text).group(1)
    opened = s.post(f"{base}/status", data={"csrf": hidden(resp.text, "csrf"), "receipt": receipt}, timeout=15)
    assert opened.status_code == 200 and number in opened.text
    with admin_connect(system, "reporting") as conn:
        assert eventually(lambda: conn.execute(
            "SELECT count(*) FROM peluit.case_summary WHERE registration_number = %s", (number,)).fetchone()[0])

    assert hits_outside_the_vault(system, [marker, nik], resp.content + opened.content) == []
