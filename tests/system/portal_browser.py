"""Browser steps for test_portal_browser.py, run as a separate process:
Playwright's sync API hangs in a process that eventlet has monkey-patched
(the test process is). Each step prints one JSON object.

    python portal_browser.py file   BASE LANG SHOTS AXE EVIDENCE
    python portal_browser.py answer BASE LANG SHOTS AXE RECEIPT QUESTION ANSWER
    python portal_browser.py nojs   BASE SHOTS
    python portal_browser.py reflow BASE LANG SHOTS AXE EVIDENCE YEAR
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


def axe(page, axe_path: str, name: str) -> list:
    page.add_script_tag(path=axe_path)
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [{"page": name, "id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:3]}
            for v in result["violations"] if v["impact"] in ("serious", "critical")]


def shot(page, shots: str, name: str) -> None:
    Path(shots).mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(Path(shots) / f"{name}.png"), full_page=True)


def file_report(b, base, lang, shots, axe_path, evidence) -> dict:
    context = b.new_context(bypass_csp=True)  # only so axe-core can be injected; the CSP itself is tested in test_portal.py
    page = context.new_page()
    out = {"violations": []}
    page.goto(f"{base}/?lang={lang}")
    out["html_lang"] = page.locator("html").get_attribute("lang")
    out["violations"] += axe(page, axe_path, f"home-{lang}")
    shot(page, shots, f"1-home-{lang}")
    page.goto(f"{base}/lapor?lang={lang}&tenant=35.73")
    out["violations"] += axe(page, axe_path, f"form-{lang}")
    fill_report(page, "35.73", "pungli", "Petugas loket meminta uang tambahan untuk mempercepat KTP",
                "Kantor Kecamatan Klojen", "November 2026")
    page.set_input_files("input[name=file]", evidence)
    shot(page, shots, f"2-form-{lang}")
    page.click("form button[type=submit]")
    out["receipt"] = page.inner_text("#receipt").strip()
    out["number"] = re.search(r"WBS/35\.73/\d{4}/\d{6}", page.content()).group(0)
    out["violations"] += axe(page, axe_path, f"receipt-{lang}")
    shot(page, shots, f"3-receipt-{lang}")
    out["cookies"] = context.cookies()
    context.close()
    return out


def answer(b, base, lang, shots, axe_path, receipt, question, text) -> dict:
    context = b.new_context(bypass_csp=True)  # only so axe-core can be injected; the CSP itself is tested in test_portal.py
    page = context.new_page()
    out = {"violations": []}
    page.goto(f"{base}/status?lang={lang}")
    out["violations"] += axe(page, axe_path, f"status-entry-{lang}")
    page.fill("#f-receipt", receipt)
    page.click("form button[type=submit]")
    out["question_shown"] = page.get_by_text(question).count()
    out["cookies"] = context.cookies()
    out["violations"] += axe(page, axe_path, f"status-{lang}")
    shot(page, shots, f"4-status-{lang}")
    page.fill("#f-text", text)
    page.click("form:has(#f-text) button[type=submit]")
    shot(page, shots, f"5-answered-{lang}")
    context.close()
    return out


def fill_report(page, tenant: str, category: str, what: str, where: str, when: str) -> None:
    page.select_option("#f-tenant", tenant)
    page.select_option("#f-category", category)
    page.fill("#f-what", what)
    page.fill("#f-where", where)
    page.fill("#f-when", when)


def no_js(b, base, shots) -> dict:
    context = b.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{base}/lapor?tenant=35.07")
    fill_report(page, "35.07", "korupsi", "Pengadaan alat tulis digelembungkan dua kali lipat", "Sekretariat Daerah",
                "2026")
    page.click("form button[type=submit]")
    receipt = page.inner_text("#receipt").strip()
    shot(page, shots, "6-receipt-no-js")
    context.close()
    return {"receipt": receipt}


def reflow(b, base, lang, shots, axe_path, evidence, year) -> dict:
    """Every portal page at 320 px wide (WCAG 1.4.10): its scroll width, a
    screenshot, and axe-core on the statistics pages."""
    context = b.new_context(viewport={"width": 320, "height": 640}, bypass_csp=True)  # bypass: axe only
    page = context.new_page()
    out = {"widths": {}, "violations": []}

    def measure(name: str) -> None:
        out["widths"][name] = page.evaluate("document.documentElement.scrollWidth")
        shot(page, shots, f"reflow-320-{name}-{lang}")

    for name, path in (("home", "/"), ("receipt-info", "/tanda-terima"), ("status-entry", "/status")):
        page.goto(f"{base}{path}?lang={lang}")
        measure(name)
    page.goto(f"{base}/lapor?lang={lang}&tenant=35.73")
    page.set_input_files("input[name=file]", evidence)
    measure("lapor")
    fill_report(page, "35.73", "korupsi", "Pengadaan laptop sekolah digelembungkan tiga kali lipat", "Dinas Pendidikan",
                "Maret 2026")
    page.click("form.report-form button[type=submit]")
    receipt = page.inner_text("#receipt").strip()
    measure("tanda-terima")
    page.goto(f"{base}/status?lang={lang}")
    page.fill("#f-receipt", receipt)
    page.click("form:has(#f-receipt) button[type=submit]")
    page.wait_for_selector("h1")
    measure("status")
    page.goto(f"{base}/statistik?lang={lang}")
    measure("statistik")
    out["violations"] += axe(page, axe_path, f"statistik-{lang}")
    for _ in range(60):  # the report just filed reaches the public counts once reporting has followed the log
        page.goto(f"{base}/statistik?lang={lang}&tenant=35.73&year={year}")
        if page.locator("svg.chart").count():
            break
        page.wait_for_timeout(500)
    out["charts"] = page.locator("svg.chart").count()
    out["tables"] = page.locator("table.chart-table").count()
    measure("statistik-tenant")
    out["violations"] += axe(page, axe_path, f"statistik-tenant-{lang}")
    context.close()
    return out


def main(argv: list[str]) -> None:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        try:
            step, rest = argv[0], argv[1:]
            result = {"file": file_report, "answer": answer, "nojs": no_js, "reflow": reflow}[step](b, *rest)
        finally:
            b.close()
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
