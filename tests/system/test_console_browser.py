"""The console in headless Chromium (Debian's package, driven by Playwright):
one case from the work queue to selesai handled by three officers (the first
with the keyboard alone), the tenant wall through edited URLs, axe-core with
no serious or critical violation on any page, no sideways scrolling at
320 px, and a photo of every page at 1280 and 390 px in
test-artifacts/console/."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from peluit_local.system import REPO
from peluit_local.testing import new_case

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
AXE = REPO / "tests" / "browser" / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = REPO / "test-artifacts" / "console"
STEPS = Path(__file__).with_name("console_browser.py")
PASSWORD = "kata-sandi-yang-panjang-sekali"

if not (Path(CHROMIUM).exists() and AXE.exists()):
    if os.environ.get("CI"):
        raise RuntimeError("CI must run the browser test: chromium and axe-core are missing (see .ci/run)")
    pytest.skip("chromium or axe-core missing (make browser-deps installs them)", allow_module_level=True)


def test_a_case_to_selesai_by_three_officers_accessible_on_every_page(system, staff, login, usernames,
                                                                     totp_for_another_process):
    reserve, used = totp_for_another_process
    case_id, _ = new_case(system, tenant="35.73")
    other_id, _ = new_case(system, tenant="35.07")
    names = {"sari": "sari.penelaah", "agus": "agus.inspektur", "dewi": "dewi.irban", "tono": "tono.penerima",
             "prov": "prov.admin", "budi": "budi.kabmalang"}
    people = {}
    for short, name in names.items():
        secret, step = reserve(name)
        people[short] = {"username": usernames(name), "password": PASSWORD, "secret": secret, "step": step,
                         "id": staff[name]["id"]}
    env = {k: v for k, v in os.environ.items() if not k.startswith("PELUIT_")}
    out = subprocess.run([sys.executable, str(STEPS), system.url("console"), str(SHOTS), str(AXE), case_id, other_id,
                          json.dumps(people)], capture_output=True, text=True, timeout=600, env=env)
    assert out.returncode == 0, out.stderr[-4000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    for short, step in result["steps"].items():
        used(names[short], step)

    # the case went the whole way, one officer after another
    assert result["keyboard_status"] == "Sedang diverifikasi"
    assert result["statuses"][-1] == "Selesai"
    assert result["reject_without_reason"] == 1
    doc = requests.get(f"{system.url('cases')}/api/v1/cases/{case_id}", headers=login("agus.inspektur"),
                       timeout=10).json()
    assert doc["status"]["code"] == "selesai"
    actors = {step["actor"].get("username") for step in doc["history"] if step["actor"].get("username")}
    assert {people[n]["username"] for n in ("sari", "agus", "dewi")} <= actors
    assert doc["recommendations"][0]["sanction"]["type"] == "teguran_tertulis"
    assert doc["messages"][-1]["kind"] == "feedback"

    # focus is visible, every page passes axe and reflows at 320 px, every page was photographed
    assert result["focus_outline"] not in (None, "none")
    assert result["violations"] == []
    assert result["reflow"] == []
    for page in result["pages"]:
        assert (SHOTS / f"{page}-1280.png").exists() and (SHOTS / f"{page}-390.png").exists()
    assert len(result["slip_receipt"].replace("-", "")) == 16
    assert result["cookies_after_sign_out"] == 0

    # the tenant wall: another kota's case is the same page as a case that does not exist
    wall = result["wall"]
    assert wall["theirs"] == wall["missing"] and wall["theirs"][0] == 404
    assert wall["theirs_timeline"] == wall["missing_timeline"] and wall["theirs_timeline"][0] == 404
    assert "WBS/35.07" in wall["own"][1]
