"""Browser steps for test_console_browser.py, run as a separate process
(Playwright's sync API hangs under eventlet's monkey-patching, which the test
process has). Prints one JSON object.

    python console_browser.py flow BASE SHOTS AXE CASE_ID OTHER_CASE_ID PEOPLE_JSON
    python console_browser.py desk BASE SHOTS AXE CASE_ID PEOPLE_JSON NEWCOMER_JSON BODIES_FILE

PEOPLE_JSON: {name: {"username", "password", "secret", "step"}} for sari (penelaah,
keyboard only), agus (inspektur), dewi (investigator), tono (penerima), prov
(province) and budi (another kota); for ``desk`` wati (inspektur) and prov.
NEWCOMER_JSON: {"username", "code", "password"} of an investigator who enrols.
Every page met is checked with axe-core (serious and critical violations are
returned), for reflow at 320 px (no sideways scrolling) and photographed at
1280 and 390 px. ``desk`` writes every answer of the console to BODIES_FILE
(the canary searches them).
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
import uuid
from pathlib import Path

import pyotp
from playwright.sync_api import sync_playwright

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
OUT: dict = {"violations": [], "reflow": [], "pages": [], "statuses": [], "focus_outline": None, "steps": {}}


def code(who: dict) -> str:
    """A one-time code at the step reserved for us, or a later one if that passed (the server takes
    the current step +-1 and only steps after the officer's last); the test learns the step used."""
    while True:
        now = int(time.time()) // 30
        step = max(who["step"], now - 1)
        if step <= now + 1:
            break
        time.sleep(1)
    who["step"] = step + 1
    OUT["steps"][who["short"]] = step
    return pyotp.TOTP(who["secret"]).at(step * 30)


class Run:
    def __init__(self, browser, base: str, shots: str, axe_path: str):
        self.browser, self.base, self.shots, self.axe_path = browser, base, Path(shots), axe_path
        self.shots.mkdir(parents=True, exist_ok=True)

    def context(self):
        # bypass_csp only so that axe-core can be injected; the CSP itself is tested in test_console.py
        context = self.browser.new_context(bypass_csp=True, viewport={"width": 1280, "height": 900})
        return context, context.new_page()

    def check(self, page, name: str, photos: bool = True) -> None:
        """axe at 1280 px, a photo at 1280 and 390 px, no sideways scrolling at 320 px."""
        if photos:
            OUT["pages"].append(name)
        page.add_script_tag(path=self.axe_path)
        result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
        OUT["violations"] += [{"page": name, "id": v["id"], "impact": v["impact"],
                               "nodes": [n["target"] for n in v["nodes"]][:3]}
                              for v in result["violations"] if v["impact"] in ("serious", "critical")]
        if photos:
            page.screenshot(path=str(self.shots / f"{name}-1280.png"), full_page=True)
            page.set_viewport_size({"width": 390, "height": 844})
            page.screenshot(path=str(self.shots / f"{name}-390.png"), full_page=True)
        page.set_viewport_size({"width": 320, "height": 700})
        wide = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        if wide > 0:
            culprits = page.evaluate("""() => [...document.querySelectorAll('body *')]
                .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
                .slice(0, 5).map(e => e.tagName + '.' + e.className + '#' + e.id)""")
            OUT["reflow"].append({"page": name, "overflow_px": wide, "elements": culprits})
        page.set_viewport_size({"width": 1280, "height": 900})

    def sign_in(self, page, who: dict) -> None:
        page.goto(f"{self.base}/masuk")
        page.fill("#f-username", who["username"])
        page.fill("#f-password", who["password"])
        page.fill("#f-totp", code(who))
        page.click("form button[type=submit]")
        page.wait_for_url("**/antrean**")

    def status(self, page) -> str:
        return page.inner_text(".status-line .badge").strip()

    def command(self, page, name: str, fill=None) -> None:
        page.click(f"#cmd-{name} > summary")
        if fill:
            fill(page)
        page.click(f"#cmd-{name} form button[type=submit]")
        page.wait_for_load_state()


def tab_to(page, script: str, limit: int = 200) -> bool:
    """Press Tab until ``script`` (a predicate on document.activeElement) holds."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(f"(el => {script})(document.activeElement)"):
            return True
    return False


def keyboard_sign_in_and_first_command(run: Run, page, who: dict, case_id: str) -> None:
    """Sign in, open a case from the work queue and verify it: keys only."""
    page.goto(f"{run.base}/masuk")
    assert tab_to(page, "el.id === 'f-username'")
    page.keyboard.type(who["username"])
    page.keyboard.press("Tab")
    page.keyboard.type(who["password"])
    page.keyboard.press("Tab")
    page.keyboard.type(code(who))
    page.keyboard.press("Enter")
    page.wait_for_url("**/antrean**")
    assert tab_to(page, f"el.tagName === 'A' && el.getAttribute('href').includes('{case_id}')")
    OUT["focus_outline"] = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/kasus/{case_id}**")
    assert tab_to(page, "el.tagName === 'SUMMARY' && el.parentElement.id === 'cmd-start-verification'")
    page.keyboard.press("Enter")
    assert tab_to(page, "el.tagName === 'BUTTON' && el.closest('#cmd-start-verification') !== null")
    page.keyboard.press("Enter")
    page.wait_for_url("**ok=start-verification**")
    OUT["keyboard_status"] = run.status(page)


def flow(run: Run, case_id: str, other_case_id: str, people: dict) -> None:
    base = run.base
    case_url = f"{base}/kasus/{case_id}"

    sari_ctx, sari = run.context()
    sari.goto(f"{base}/masuk")
    run.check(sari, "01-sign-in")
    sari.goto(f"{base}/masuk?lang=en")
    run.check(sari, "01-sign-in-en")
    keyboard_sign_in_and_first_command(run, sari, people["sari"], case_id)
    OUT["statuses"].append(run.status(sari))
    run.check(sari, "03-case-verifikasi")
    sari.goto(f"{base}/antrean")
    run.check(sari, "02-work-queue")
    OUT["wall_edited_url"] = sari.goto(f"{base}/kasus/{other_case_id}").status  # 35.73 editing to a 35.07 case
    sari.goto(case_url)
    run.command(sari, "reject")  # no reason: refused beside the field, nothing recorded
    OUT["reject_without_reason"] = sari.locator("#f-reject-reason-error").count()
    run.check(sari, "04-case-bad-input")
    sari.goto(case_url)
    run.command(sari, "accept", lambda p: p.fill("#f-accept-note", "Cukup untuk ditelaah."))
    OUT["statuses"].append(run.status(sari))
    sari.goto(case_url + "?lang=en")
    run.check(sari, "05-case-penelaahan-en")

    agus_ctx, agus = run.context()
    run.sign_in(agus, people["agus"])
    agus.goto(case_url)

    def investigation(p):
        p.check(f"input[name=team][value='{people['dewi']['id']}']")  # the tenant's investigators to pick from
        p.fill("#f-start-investigation-plan", "Wawancara petugas loket dan pemeriksaan kuitansi.")
        p.fill("#f-start-investigation-due_on", "2027-01-31")
    run.command(agus, "start-investigation", investigation)
    OUT["statuses"].append(run.status(agus))
    run.check(agus, "06-case-investigasi")

    dewi_ctx, dewi = run.context()
    run.sign_in(dewi, people["dewi"])
    dewi.goto(case_url)

    def findings(p):
        p.check("#f-outcome-terbukti")
        p.fill("#f-record-findings-summary", "Pungutan terbukti dari kuitansi dan keterangan saksi.")
        p.select_option("#f-record-findings-recommendations-0-kind", "sanksi_disiplin")
        p.select_option("#f-record-findings-recommendations-0-sanction", "ringan/teguran_tertulis")
        p.fill("#f-record-findings-recommendations-0-details", "Teguran tertulis kepada petugas loket.")
    run.command(dewi, "record-findings", findings)
    OUT["statuses"].append(run.status(dewi))
    run.check(dewi, "07-case-tindak-lanjut")

    agus.goto(case_url)

    def complete(p):
        p.select_option("#f-complete-recommendation-recommendation_id", "R1")
        p.fill("#f-complete-recommendation-note", "Teguran tertulis diberikan pada 2 Januari.")
    run.command(agus, "complete-recommendation", complete)

    def close(p):
        p.fill("#f-close-reason", "Rekomendasi telah ditindaklanjuti.")
        p.fill("#f-close-feedback", "Terima kasih. Laporan Anda terbukti dan telah ditindaklanjuti.")
    run.command(agus, "close", close)
    OUT["statuses"].append(run.status(agus))
    run.check(agus, "08-case-selesai")
    agus.goto(case_url + "/riwayat")
    run.check(agus, "09-timeline-hashes")
    agus.goto(f"{base}/pengungkapan/log")
    run.check(agus, "10-disclosure-log")
    agus.goto(f"{base}/statistik")
    run.check(agus, "11-statistics")
    agus.goto(f"{base}/kasus/{uuid.uuid4()}")
    run.check(agus, "12-not-found")
    for ctx in (sari_ctx, agus_ctx, dewi_ctx):
        ctx.close()

    prov_ctx, prov = run.context()
    run.sign_in(prov, people["prov"])
    prov.goto(f"{base}/statistik/provinsi")
    run.check(prov, "13-province-overview")
    prov_ctx.close()

    tono_ctx, tono = run.context()
    run.sign_in(tono, people["tono"])
    tono.goto(f"{base}/laporan-langsung")
    tono.fill("#f-what", "pendek")
    tono.click("main form button[type=submit]")
    run.check(tono, "14-assisted-intake-bad-input")
    tono.fill("#f-what", "Petugas meminta uang untuk surat keterangan")
    tono.fill("#f-where", "Kantor Kelurahan Oro-oro Dowo")
    tono.fill("#f-when", "Desember 2026")
    tono.select_option("#f-category", "pungli")
    tono.click("main form button[type=submit]")
    OUT["slip_receipt"] = tono.inner_text(".receipt").strip()
    tono.screenshot(path=str(run.shots / "15-assisted-slip-1280.png"), full_page=True)
    tono.goto(f"{base}/laporan-langsung")
    run.check(tono, "16-assisted-intake")
    tono.goto(f"{base}/pemberitahuan")  # the penerima has new-case notifications by now
    run.check(tono, "16a-notifications")
    tono.goto(f"{base}/pemberitahuan/pengaturan?lang=en")
    run.check(tono, "16b-notification-choices-en")
    tono.click(".signout button")
    run.check(tono, "17-signed-out")
    OUT["cookies_after_sign_out"] = len(tono_ctx.cookies())
    tono_ctx.close()

    budi_ctx, budi = run.context()
    run.sign_in(budi, people["budi"])
    texts = {}
    for label, url in (("theirs", f"{base}/kasus/{case_id}"), ("missing", f"{base}/kasus/{uuid.uuid4()}"),
                       ("theirs_timeline", f"{base}/kasus/{case_id}/riwayat"),
                       ("missing_timeline", f"{base}/kasus/{uuid.uuid4()}/riwayat")):
        response = budi.goto(url)
        texts[label] = (response.status, budi.inner_text("main"))
    budi.goto(f"{base}/kasus/{other_case_id}")
    texts["own"] = (200, budi.inner_text("h1"))
    OUT["wall"] = texts
    budi_ctx.close()


def enrol(run: Run, page, newcomer: dict) -> None:
    """The one-time code from the administrator, then the officer's own TOTP and password."""
    page.goto(f"{run.base}/masuk")
    page.click("a[href^='/daftar']")
    run.check(page, "20-enrol-code")
    page.fill("#f-username", newcomer["username"])
    page.fill("#f-enrolment_code", newcomer["code"])
    page.click("main form button[type=submit]")
    OUT["qr_image"] = page.locator(".qr img").get_attribute("src")[:26]
    secret = page.inner_text(".secret").strip()
    run.check(page, "21-enrol-own-totp")
    page.fill("#f-password", newcomer["password"])
    page.fill("#f-password_again", newcomer["password"])
    page.fill("#f-totp", pyotp.TOTP(secret).now())
    page.click("main form button[type=submit]")
    page.wait_for_url("**/antrean**")
    OUT["enrolled_as"] = page.inner_text(".who-name strong").strip()


def desk(run: Run, case_id: str, people: dict, newcomer: dict, bodies_file: str) -> None:
    """Enrolment, then dual-control disclosure opened in the browser, then the administration pages."""
    base, bodies = run.base, []

    def keep(response):
        if response.url.startswith(base) and "/static/" not in response.url:
            try:
                bodies.append(response.body())
            except Exception:  # noqa: BLE001 - a redirect has no body
                pass

    new_ctx, new = run.context()
    new_ctx.on("response", keep)
    enrol(run, new, newcomer)
    # reasons name this case: other tests' requests (the restore drill's, for one) wait in the same tenant
    reasons = {"identity": f"Perintah Pengadilan Negeri Malang untuk perlindungan saksi, kasus {case_id[:8]}.",
               "original": f"Perintah Pengadilan Negeri Malang: foto asli sebagai alat bukti, kasus {case_id[:8]}."}
    for subject, reason in reasons.items():
        new.goto(f"{base}/kasus/{case_id}")
        new.click(f"a[href^='/kasus/{case_id}/pengungkapan']")
        if subject == "identity":
            run.check(new, "22-disclosure-request")
        else:
            new.check("input[name=subject]:not([value=identity])")  # the attachment's original
        new.select_option("#f-legal_basis", "court_order")
        new.fill("#f-reason", reason)
        new.click("main form button[type=submit]")
        new.wait_for_url("**/pengungkapan?**")
    run.check(new, "23-disclosure-mine")

    # dual control: one inspektur approves the identity, another the original, each with a fresh code
    for short, what, reason in (("wati", "identitas pelapor", reasons["identity"]),
                                ("hadi", "berkas asli lampiran", reasons["original"])):
        ctx, inspektur = run.context()
        ctx.on("response", keep)
        run.sign_in(inspektur, people[short])
        inspektur.goto(f"{base}/pengungkapan")
        if short == "wati":
            run.check(inspektur, "24-disclosure-approvals")
        item = inspektur.locator("li", has_text=what).filter(has_text=reason)
        item.locator("input[name=totp]").fill(code(people[short]))
        item.locator("form[action*='/setujui'] button[type=submit]").click()
        inspektur.wait_for_load_state()
        OUT.setdefault("approved", []).append(inspektur.locator("main .notice").count())
        ctx.close()

    new.goto(f"{base}/pengungkapan")
    new.locator("li", has_text="identitas pelapor").locator("a[href*='/lihat']").click()
    run.check(new, "25-disclosure-view")  # before it is opened: no photo of an identity
    new.click("#open-disclosure")
    new.wait_for_selector("#disclosure-result:not([hidden])")
    OUT["opened"] = new.inner_text("#disclosure-result")
    run.check(new, "25-disclosure-opened", photos=False)  # axe and reflow, but no photo of an identity
    new.reload()
    new.click("#open-disclosure")
    new.wait_for_function("document.getElementById('disclosure-status').textContent.length > 20")
    OUT["second_open"] = new.inner_text("#disclosure-status")
    new.goto(f"{base}/pengungkapan")
    new.locator("li", has_text="berkas asli lampiran").locator("a[href*='/lihat']").click()
    new.click("#open-disclosure")
    with new.expect_download() as download:
        new.click("#disclosure-result a")
    OUT["original_sha256"] = hashlib.sha256(Path(download.value.path()).read_bytes()).hexdigest()
    new_ctx.close()

    prov_ctx, prov = run.context()
    run.sign_in(prov, people["prov"])
    for name, path in (("26-admin-officers", "/admin/petugas"), ("27-admin-grants", "/admin/hibah-audit"),
                       ("28-admin-settings", "/admin/pengaturan?tenant=35.73"), ("29-admin-log", "/admin/log"),
                       ("30-password-en", "/akun/kata-sandi?lang=en")):
        prov.goto(base + path)
        run.check(prov, name)
    prov_ctx.close()
    Path(bodies_file).write_bytes(b"\n".join(bodies))


def main(argv: list[str]) -> None:
    mode, base, shots, axe_path, *rest = argv
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        try:
            run = Run(browser, base, shots, axe_path)
            if mode == "flow":
                case_id, other_case_id, people = rest
                flow(run, case_id, other_case_id, _people(people))
            else:
                case_id, people, newcomer, bodies_file = rest
                desk(run, case_id, _people(people), json.loads(newcomer), bodies_file)
        finally:
            browser.close()
    print(json.dumps(OUT))


def _people(raw: str) -> dict:
    return {short: {**who, "short": short} for short, who in json.loads(raw).items()}


if __name__ == "__main__":
    main(sys.argv[1:])
