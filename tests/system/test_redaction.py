"""Redaction with a sealed original, every service running: a canary passage
redacted from a report (and from a note and a reporter's message) appears in clear nowhere outside the
vault afterwards (no database, log, metric, broker message, export, statistic
or reply); an un-redaction is a dual-control disclosure that gives back the
passage with the salt that proves the event's fingerprint; insiders cannot
redact or un-redact."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import requests
from nacl.public import PrivateKey, SealedBox

from peluit_local.testing import admin_connect, eventually, hits_outside_the_vault, sample_report, submit

REDACTED, UNAVAILABLE = "[disamarkan]", "[dihapus]"


def _url(system, case_id: str, tail: str = "") -> str:
    return f"{system.url('cases')}/api/v1/cases/{case_id}{tail}"


def _case(system, headers, case_id, **params) -> requests.Response:
    return requests.get(_url(system, case_id), headers=headers, params=params, timeout=15)


def _redact(system, headers, case_id, body, version: int | None = None) -> requests.Response:
    version = version or _case(system, headers, case_id).json()["version"]
    return requests.post(_url(system, case_id, "/redactions"), json=body, timeout=20,
                         headers={**headers, "If-Match": f'"{version}"'})


def test_a_redacted_canary_is_in_clear_nowhere_outside_the_vault(system, staff, login, fresh_totp, tmp_path):
    canary = f"Kanari{secrets.token_hex(10)}"
    passage = f"saya {canary}, staf keuangan bagian anggaran"
    out = submit(system, sample_report(what=f"Dana hibah dipotong 20%; {passage}, melihatnya sendiri"),
                 key=secrets.token_hex(16))
    assert out.status_code == 201, out.text
    receipt = out.json()["receipt"]
    with admin_connect(system, "cases") as conn:
        case_id = str(eventually(lambda: conn.execute(
            "SELECT case_id FROM peluit.case_index WHERE registration_number = %s",
            (out.json()["registration_number"],)).fetchone())[0])
    tono, sari, agus = login("tono.penerima"), login("sari.penelaah"), login("agus.inspektur")
    wrote = requests.post(system.url("intake") + "/api/v1/reports/messages", timeout=15,
                          json={"receipt": receipt, "text": f"Tambahan: nama saya {canary}, mohon dirahasiakan"})
    assert wrote.status_code == 201, wrote.text
    note = requests.post(_url(system, case_id, "/add-note"), json={"text": f"Pelapor menyebut diri {canary}"},
                         headers={**sari, "If-Match": f'"{_case(system, sari, case_id).json()["version"]}"'},
                         timeout=15)
    assert note.status_code == 200, note.text
    before = _case(system, sari, case_id)
    assert canary in before.text  # officers read it until it is redacted
    moment_before = datetime.now(timezone.utc).isoformat()
    note_version = next(h for h in before.json()["history"] if h["kind"] == "note")["event_version"]
    message_version = next(m for m in before.json()["messages"] if canary in m["text"])["event_version"]

    # insiders: another tenant, a role that may not, a recused officer
    body = {"target": {"kind": "report", "field": "what"}, "passages": [canary], "reason": "Nama pelapor"}
    seen = before.json()["version"]
    assert _redact(system, login("budi.kabmalang"), case_id, body, seen).status_code == 404
    assert _redact(system, login("dewi.irban"), case_id, body, seen).status_code == 403
    assert _redact(system, agus, case_id, body, seen).status_code == 403

    # before: the passage crossed the broker only on its way into cases (intake's register_report)
    seen = system.tap.drain()
    carriers = [seen[i + 1] for i in range(0, len(seen) - 2, 3) if canary.encode() in seen[i]]
    assert carriers and all(b"cases.register_report" in c or b"cases.reporter_message" in c for c in carriers)
    earlier = seen[:]
    seen.clear()  # from here on the search below sees only what the redaction and after sent

    # a penerima redacts the report, a penelaah the note; then the penelaah widens the report's
    first = _redact(system, tono, case_id, body)
    assert first.status_code == 200, first.text
    noted = _redact(system, sari, case_id, {"target": {"kind": "note", "version": note_version},
                                            "passages": [canary], "reason": "Nama pelapor"})
    assert noted.status_code == 200, noted.text
    told = _redact(system, tono, case_id, {"target": {"kind": "message", "version": message_version},
                                           "passages": [canary], "reason": "Nama pelapor dalam pesan"})
    assert told.status_code == 200, told.text
    wider = _redact(system, sari, case_id, {"target": {"kind": "report", "field": "what"},
                                            "passages": [f"saya {REDACTED}, staf keuangan bagian anggaran"],
                                            "reason": "Jabatan mengungkap pelapor"})
    assert wider.status_code == 200, wider.text
    again = _redact(system, sari, case_id, {**body, "passages": [REDACTED]})
    assert again.status_code == 422 and again.json()["error"]["code"] == "nothing_to_redact"

    replies = [first.content, noted.content, told.content, wider.content, again.content]
    after = _case(system, sari, case_id)
    doc = after.json()
    assert doc["report"]["what"] == f"Dana hibah dipotong 20%; {REDACTED}, melihatnya sendiri"
    assert f"Pelapor menyebut diri {REDACTED}" in after.text
    assert f"Tambahan: nama saya {REDACTED}, mohon dirahasiakan" in after.text
    steps = [h for h in doc["history"] if h["kind"] == "redacted"]
    assert [s["actor"]["username"].split(".")[0] for s in steps] == ["tono", "sari", "tono", "sari"]
    as_of = _case(system, sari, case_id, as_of=moment_before)  # what was there then: gone, never the passage
    assert as_of.status_code == 200 and as_of.json()["report"]["what"] == UNAVAILABLE
    replies += [after.content, as_of.content,
                requests.get(_url(system, case_id, "/timeline"), headers=sari, timeout=15).content,
                requests.post(system.url("intake") + "/api/v1/reports/status", json={"receipt": receipt},
                              timeout=15).content,
                requests.get(system.url("reporting") + "/api/v1/stats", headers=agus, timeout=20,
                             params={"tenant": "35.73"}).content]
    # the auditor's export of the case (once a signed checkpoint covers it)
    grant = requests.post(system.url("cases") + "/api/v1/audit-grants", headers=login("prov.admin"), timeout=15,
                          json={"officer_id": staff["yuni.auditor"]["id"], "tenant": "35.73", "days": 1,
                                "reason": "Pemeriksaan penyamaran laporan"})
    assert grant.status_code == 201, grant.text
    yuni = login("yuni.auditor")

    def covered():  # a signed checkpoint covers every event of the case, redactions included
        got = requests.get(_url(system, case_id, "/audit-bundle"), headers=yuni, timeout=30)
        versions = [e["originator_version"] for e in got.json().get("events", [])
                    if e.get("originator_id") == case_id] if got.status_code == 200 else []
        return got if versions and max(versions) == doc["version"] else None

    bundle = eventually(covered, timeout=60, interval=0.5)
    assert bundle is not None
    replies.append(bundle.content)
    (tmp_path / "case.json").write_bytes(bundle.content)  # the chain (over ciphertext) still verifies
    checked = subprocess.run([shutil.which("peluit-verify", path=str(Path(sys.executable).parent)) or "peluit-verify",
                              str(tmp_path / "case.json"), "--public-key",
                              str(system.keys_dir / "auditors" / "checkpoint.pub")],
                             capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0 and checked.stdout.startswith("intact:"), checked.stdout + checked.stderr
    with admin_connect(system, "reporting") as conn:  # the case went on to the read models
        assert eventually(lambda: conn.execute("SELECT count(*) FROM peluit.case_summary WHERE "
                                               "registration_number = %s",
                                               (out.json()["registration_number"],)).fetchone()[0])

    try:
        assert hits_outside_the_vault(system, [canary], b"\n".join(replies)) == []
    finally:
        system.tap.seen[:0] = earlier  # the session's record stays whole for other tests

    # the vault holds the passages (encrypted at rest; the search above covered its tables too)
    refs = [p["original_ref"] for r in (first, noted, told, wider) for p in r.json()["passages"]]
    with admin_connect(system, "identity-vault") as conn:
        kept = conn.execute("SELECT original_ref, case_id::text FROM peluit.evidence_original "
                            "WHERE original_ref = ANY(%s)", (refs,)).fetchall()
    assert sorted(kept) == sorted((ref, case_id) for ref in refs)

    # un-redaction: dual control. A penelaah may not ask; one inspektur asks and cannot approve alone
    ref, recorded = first.json()["passages"][0]["original_ref"], first.json()["passages"][0]["hmac"]
    ask = {"reason": "Perintah pengadilan untuk membuka bagian yang disamarkan", "legal_basis": "court_order"}
    url = _url(system, case_id, f"/redactions/{ref}/disclosure-requests")
    assert requests.post(url, json=ask, headers=sari, timeout=15).status_code == 403
    assert requests.post(url, json=ask, headers=login("budi.kabmalang"), timeout=15).status_code == 404
    assert requests.post(_url(system, case_id, "/redactions/" + "x" * 32 + "/disclosure-requests"), json=ask,
                         headers=agus, timeout=15).status_code == 404
    filed = requests.post(url, json=ask, headers=agus, timeout=15)
    assert filed.status_code == 201, filed.text
    request_id = filed.json()["request_id"]
    self_approval = requests.post(f"{system.url('cases')}/api/v1/disclosure-requests/{request_id}/approve",
                                  json={"totp": fresh_totp("agus.inspektur")}, headers=login("agus.inspektur"),
                                  timeout=15)
    assert self_approval.status_code == 403
    client = PrivateKey.generate()
    key = base64.b64encode(bytes(client.public_key)).decode()
    early = requests.post(f"{system.url('cases')}/api/v1/disclosure-requests/{request_id}/view",
                          json={"public_key": key}, headers=login("agus.inspektur"), timeout=15)
    assert early.status_code == 409
    wati = login("wati.inspektur")
    approved = requests.post(f"{system.url('cases')}/api/v1/disclosure-requests/{request_id}/approve",
                             json={"totp": fresh_totp("wati.inspektur")}, headers=wati, timeout=15)
    assert approved.status_code == 200, approved.text
    view = requests.post(f"{system.url('cases')}/api/v1/disclosure-requests/{request_id}/view",
                         json={"public_key": key}, headers=login("agus.inspektur"), timeout=15)
    assert view.status_code == 200, view.text
    opened = json.loads(SealedBox(client).decrypt(base64.b64decode(view.json()["sealed_original"])))
    assert opened["passage"] == canary and opened["case_id"] == case_id
    # the auditor's proof: the event's fingerprint is the passage's HMAC under the sealed salt
    assert hmac.compare_digest(hmac.new(bytes.fromhex(opened["salt"]), canary.encode(), hashlib.sha256).hexdigest(),
                               recorded)
    assert hashlib.sha256(canary.encode()).hexdigest() not in after.text  # no bare hash to brute-force
    # the case still reads redacted: an un-redaction shows one officer, it changes no record
    assert _case(system, sari, case_id).json()["report"]["what"] == doc["report"]["what"]
