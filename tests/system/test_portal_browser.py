"""The portal in headless Chromium (Debian's package, driven by Playwright;
nothing downloads a browser): a reporter files a report with an attachment,
keeps the receipt, opens the status page, reads the Inspektorat's question and
answers it, in Bahasa Indonesia and in English; the form works with
JavaScript off; no page scrolls sideways at 320 px (WCAG 1.4.10). axe-core
checks every page (no serious or critical violation); screenshots stay in
test-artifacts/browser/."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import re
import shutil
import subprocess
import sys
import zoneinfo
from pathlib import Path

import eventlet
import pytest
import requests

from peluit_local.system import REPO
from peluit_local.testing import admin_connect, eventually, publish_statistics

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
AXE = REPO / "tests" / "browser" / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = REPO / "test-artifacts" / "browser"
STEPS = Path(__file__).with_name("portal_browser.py")

if not (Path(CHROMIUM).exists() and AXE.exists()):
    if os.environ.get("CI"):
        raise RuntimeError("CI must run the browser test: chromium and axe-core are missing (see .ci/run)")
    pytest.skip("chromium or axe-core missing (make browser-deps installs them)", allow_module_level=True)


def browser(*args: str) -> dict:
    # a clean process: Playwright hangs under eventlet's monkey-patching (this process has it)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PELUIT_")}
    out = subprocess.run([sys.executable, str(STEPS), *args], capture_output=True, text=True, timeout=180, env=env)
    assert out.returncode == 0, out.stderr[-4000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def photo(path: Path) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 40, 40)).save(buf, "JPEG")
    path.write_bytes(buf.getvalue())
    return str(path)


@pytest.mark.parametrize("lang", ["id", "en"])
def test_reporter_files_keeps_the_receipt_and_answers_a_question(system, login, tmp_path, lang):
    base = system.url("intake")

    def keep_publishing():  # the report filed in the browser reaches the statistics page (once a day otherwise)
        while True:
            eventlet.sleep(2)
            try:
                publish_statistics(system)
            except subprocess.CalledProcessError:
                pass  # reporting not caught up yet: the next round

    publisher = eventlet.spawn(keep_publishing)
    try:
        filed = browser("file", base, lang, str(SHOTS), str(AXE), photo(tmp_path / "bukti.jpg"))
    finally:
        publisher.kill()
    assert filed["html_lang"] == lang
    assert re.fullmatch(r"\d{4}-\d{4}-\d{4}-\d{4}", filed["receipt"])
    assert filed["cookies"] == []  # no cookie before a receipt is entered

    with admin_connect(system, "cases") as conn:
        case_id = str(eventually(lambda: conn.execute(
            "SELECT case_id FROM peluit.case_index WHERE registration_number = %s",
            (filed["number"],)).fetchone())[0])
    sari = login("sari.penelaah")
    url = f"{system.url('cases')}/api/v1/cases/{case_id}"
    assert len(requests.get(url, headers=sari, timeout=10).json().get("evidence", [])) == 1
    question = f"Berapa jumlah uang yang diminta? ({lang})"
    for cmd, body in (("start-verification", {}),
                      ("request-information", {"question": question, "due_on": "2026-12-31"})):
        version = requests.get(url, headers=sari, timeout=10).json()["version"]
        assert requests.post(f"{url}/{cmd}", json=body, headers={**sari, "If-Match": f'"{version}"'},
                             timeout=10).status_code == 200

    answered = browser("answer", base, lang, str(SHOTS), str(AXE), filed["receipt"], question,
                       "Rp 150.000 per KTP, dibayar tunai.")
    assert answered["question_shown"] == 1
    cookies = answered["cookies"]
    assert len(cookies) == 1 and cookies[0]["httpOnly"] and cookies[0]["sameSite"] == "Strict"
    assert filed["violations"] + answered["violations"] == []
    doc = eventually(lambda: (d := requests.get(url, headers=sari, timeout=10).json())["status"]["code"]
                     == "verifikasi" and d)
    assert doc["messages"][-1]["from"] == "pelapor" and "150.000" in doc["messages"][-1]["text"]


def test_the_form_works_without_javascript(system):
    out = browser("nojs", system.url("intake"), str(SHOTS))
    assert re.fullmatch(r"\d{4}-\d{4}-\d{4}-\d{4}", out["receipt"])


@pytest.mark.parametrize("lang", ["id", "en"])
def test_no_page_scrolls_sideways_at_320_px(system, tmp_path, lang):
    year = str(dt.datetime.now(zoneinfo.ZoneInfo("Asia/Jakarta")).year)
    out = browser("reflow", system.url("intake"), lang, str(SHOTS), str(AXE), photo(tmp_path / "bukti.jpg"), year)
    assert set(out["widths"]) == {"home", "lapor", "tanda-terima", "receipt-info", "status-entry", "status",
                                  "statistik", "statistik-tenant"}
    assert {name: width for name, width in out["widths"].items() if width > 320} == {}
    assert out["charts"] >= 1 and out["tables"] == out["charts"]  # a table beside every chart
    assert out["violations"] == []
