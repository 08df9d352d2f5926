"""The console in headless Chromium (Debian's package, driven by Playwright):
one case from the work queue to selesai handled by three officers (the first
with the keyboard alone) and the tenant wall through edited URLs; then a
newcomer's enrolment and a dual-control disclosure opened in the browser,
with the identity canary; on every page axe-core with no serious or critical
violation, no sideways scrolling at 320 px, and a photo at 1280 and 390 px in
test-artifacts/console/."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from peluit_common.testing import gps_photo
from peluit_local.system import REPO
from peluit_local.testing import hits_outside_the_vault, new_case

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
    result = browser_steps("flow", system, case_id, other_id, json.dumps(people))
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
    assert result["wall_edited_url"] == 404  # and the other way round, 35.73 to a 35.07 case


def browser_steps(mode: str, system, *args: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PELUIT_")}
    out = subprocess.run([sys.executable, str(STEPS), mode, system.url("console"), str(SHOTS), str(AXE), *args],
                         capture_output=True, text=True, timeout=600, env=env)
    assert out.returncode == 0, out.stderr[-4000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_enrolment_then_a_disclosure_opened_in_the_browser_and_nowhere_else(system, staff, login, usernames,
                                                                            totp_for_another_process, tmp_path):
    """A new investigator enrols with the administrator's code (own password, own TOTP from the QR
    page), asks for a reporter's identity and an attachment's original, two inspekturs approve with
    fresh codes, and both are opened by WebCrypto in the investigator's browser: neither the
    identity nor the original's hidden metadata appears in any database, log, broker message or
    console answer outside the vault (the sealed replies are all the console saw)."""
    reserve, used = totp_for_another_process
    marker = secrets.token_hex(10)
    nik = "35" + "".join(secrets.choice("0123456789") for _ in range(14))
    case_id, receipt = new_case(system, tenant="35.73", identity={"name": f"Saksi {marker}", "nik": nik})
    photo_marker = "Canary" + secrets.token_hex(10)
    photo = gps_photo(photo_marker)  # the original's metadata carries it; the officers' copy is stripped
    attached = requests.post(system.url("intake") + "/api/v1/reports/evidence", data={"receipt": receipt},
                             files=[("file", ("foto-kuitansi.jpg", photo, "image/jpeg"))], timeout=60)
    assert attached.status_code == 201, attached.text
    newcomer = {"username": f"baru.{secrets.token_hex(3)}", "password": "kata-sandi-pilihan-sendiri-x"}
    invited = requests.post(f"{system.url('cases')}/api/v1/officers", headers=login("prov.admin"), timeout=10, json={
        "tenant": "35.73", "username": newcomer["username"], "display_name": "Penyidik Baru",
        "roles": ["investigator"]})
    assert invited.status_code == 201, invited.text
    newcomer["code"] = invited.json()["enrolment_code"]
    names = {"wati": "wati.inspektur", "hadi": "hadi.kepala", "prov": "prov.admin"}
    people = {}
    for short, name in names.items():
        secret, step = reserve(name)
        people[short] = {"username": usernames(name), "password": PASSWORD, "secret": secret, "step": step}
    bodies = tmp_path / "console-answers.bin"
    result = browser_steps("desk", system, case_id, json.dumps(people), json.dumps(newcomer), str(bodies))
    for short, step in result["steps"].items():
        used(names[short], step)

    assert result["enrolled_as"] == newcomer["username"]
    assert result["qr_image"].startswith("data:image/svg+xml")
    assert f"Saksi {marker}" in result["opened"] and nik in result["opened"]  # opened in the browser
    assert result["original_sha256"] == hashlib.sha256(photo).hexdigest()  # the original, byte for byte
    assert result["approved"] == [1, 1]
    assert result["second_open"].startswith("Tidak dapat dibuka.") and "sudah dilihat" in result["second_open"]
    assert result["violations"] == [] and result["reflow"] == []
    for page in result["pages"]:
        assert (SHOTS / f"{page}-1280.png").exists() and (SHOTS / f"{page}-390.png").exists()
    answers = bodies.read_bytes()
    assert b'"ciphertext"' in answers and len(answers) > 20_000  # the console's answers were all kept
    assert hits_outside_the_vault(system, [marker, nik, photo_marker], answers) == []
