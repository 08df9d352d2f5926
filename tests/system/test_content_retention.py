"""Case content ends with its retention period, across the real services.

A content canary goes into a report (intake), the reporter's dialogue, an
officer's note and reason, and an evidence file. It is in clear in no
database, log or broker message; a DBA with every row of the cases database
and no KEK file reads none of it. Then the case ends and the clock runs past
the tenant's retention (``peluit-cases end-content --now``): decrypting every
event, snapshot and evidence copy with everything the cases process has (its
KEK file) finds no canary; the case's history says so; the evidence copy is
410; statistics and ``peluit-verify`` are unchanged.
"""

from __future__ import annotations

import io
import json
import secrets
import subprocess
import sys
import uuid

import requests

from peluit_cases import content
from peluit_cases.application import CasesApplication
from peluit_common.keyring import Keyring
from peluit_common.testing import eventsourcing_env_for
from peluit_local.testing import admin_connect, encodings, hits_outside_the_vault, sample_report, submit, table_dump

from .test_tamper_evidence import VERIFY, public_key


def cases_app(system) -> CasesApplication:
    """The event store as the cases process opens it: its database and its KEK file."""
    env = {**eventsourcing_env_for(system.dbname("cases"), schema="peluit"), "CREATE_TABLE": "n"}
    keyring = Keyring.parse((system.keys_dir / "cases" / "content-kek.key").read_text())
    return CasesApplication(env=env, content_keyring=keyring)


def everything_decrypted(system) -> bytes:
    """Every event and snapshot of the cases store and every evidence copy, opened with the process's keys."""
    app = cases_app(system)
    try:
        out = []
        stored = app.recorder.select_notifications(start=1, limit=1_000_000)
        for event in app.mapper.to_domain_events(stored):
            out.append(repr(vars(event)))
        with admin_connect(system, "cases") as conn:
            ids = [r[0] for r in conn.execute("SELECT DISTINCT originator_id FROM peluit.cases_snapshots").fetchall()]
            blobs = conn.execute("SELECT case_id, evidence_id, item_id, bytes FROM peluit.evidence_blob").fetchall()
        for case_id in ids:
            out.extend(repr(vars(s)) for s in app.snapshots.get(case_id))
        for case_id, evidence_id, item_id, data in blobs:
            opened = content.open_blob(app, case_id, evidence_id, item_id, bytes(data)) if item_id else bytes(data)
            out.append(repr(opened))
        return "\n".join(out).encode()
    finally:
        app.close()


def officer(system, headers, case_id, name, body):
    version = requests.get(f"{system.url('cases')}/api/v1/cases/{case_id}", headers=headers,
                           timeout=10).json()["version"]
    resp = requests.post(f"{system.url('cases')}/api/v1/cases/{case_id}/{name}", json=body,
                         headers={**headers, "If-Match": f'"{version}"'}, timeout=15)
    assert resp.status_code == 200, resp.text
    return resp


def statistics(system, headers, tenant="35.73") -> dict:
    reply = requests.get(system.url("reporting") + "/api/v1/stats", params={"tenant": tenant}, headers=headers,
                         timeout=20)
    assert reply.status_code == 200, reply.text
    return {k: v for k, v in reply.json().items() if k not in ("computed_at", "generated_at", "position")}


def test_case_content_ends_with_retention_everywhere_at_once(system, login, tmp_path):
    canary = f"KANARI{secrets.token_hex(8)}"
    out = submit(system, sample_report(what=f"Dana hibah dipotong, kata {canary} report"), key=str(uuid.uuid4()))
    assert out.status_code == 201, out.text
    receipt, number = out.json()["receipt"], out.json()["registration_number"]
    said = requests.post(system.url("intake") + "/api/v1/reports/messages",
                         json={"receipt": receipt, "text": f"Tambahan {canary} dialog"}, timeout=10)
    assert said.status_code == 201, said.text
    upload = requests.post(system.url("intake") + "/api/v1/reports/evidence", data={"receipt": receipt},
                           files=[("file", ("catatan.txt", io.BytesIO(f"bukti {canary} evidence".encode()),
                                            "text/plain"))], timeout=60)
    assert upload.status_code in (200, 201), upload.text
    with admin_connect(system, "cases") as conn:
        case_id = str(conn.execute("SELECT case_id FROM peluit.case_index WHERE registration_number = %s",
                                   (number,)).fetchone()[0])
    sari = login("sari.penelaah")
    officer(system, sari, case_id, "add-note", {"text": f"Catatan {canary} note"})
    officer(system, sari, case_id, "start-verification", {})
    officer(system, sari, case_id, "reject", {"reason": f"Alasan {canary} reason"})
    doc = requests.get(f"{system.url('cases')}/api/v1/cases/{case_id}", headers=sari, timeout=10)
    assert canary in doc.text  # officers read the content while it is kept

    # before: in clear in no database, log or metric; a DBA without the KEK file reads nothing. (The RPCs
    # that carried it from intake to cases crossed the private broker: transient, and drained here.)
    assert [hit for hit in hits_outside_the_vault(system, [canary]) if hit[0] != "broker messages"] == []
    seen = len(system.tap.drain())
    kek = (system.keys_dir / "cases" / "content-kek.key").read_text().strip()
    dump = table_dump(system, "cases")
    assert not any(p in dump for p in encodings(kek[:32]))  # no part of the KEK is in the database
    assert canary.encode() in everything_decrypted(system)  # the decryption below does find what is there
    before = statistics(system, login("agus.inspektur"))

    # the clock runs forward past the default five years
    subprocess.run([sys.executable, "-m", "peluit_cases.admin", "end-content", "--now", "2033-01-01T00:00:00+00:00"],
                   env=system.env("cases"), check=True, timeout=120, capture_output=True)
    opened = everything_decrypted(system)
    assert canary.encode() not in opened and b"[dihapus]" in opened
    assert [hit for hit in hits_outside_the_vault(system, [canary]) if hit[0] != "broker messages"] == []
    since = b"\n".join(system.tap.drain()[seen:])  # no message since carried it (integration events included)
    assert not any(p in since for p in encodings(canary))
    doc = requests.get(f"{system.url('cases')}/api/v1/cases/{case_id}", headers=sari, timeout=10)
    assert doc.status_code == 200 and canary not in doc.text
    body = doc.json()
    assert body["registration_number"] == number and body["status"]["code"] == "ditolak"  # the skeleton stays
    assert "content_ended" in json.dumps(body)
    evidence = body["evidence"][0]["download"]
    gone = requests.get(system.url("cases") + evidence, headers=sari, timeout=10)
    assert gone.status_code == 410 and gone.json()["error"]["code"] == "content_ended"
    with admin_connect(system, "cases") as conn:
        assert conn.execute("SELECT wrapped FROM peluit.content_case_key WHERE case_id = %s",
                            (case_id,)).fetchone()[0] is None
    with admin_connect(system, "reporting") as conn:
        assert conn.execute("SELECT count(*) FROM peluit.case_summary WHERE case_id = %s",
                            (case_id,)).fetchone()[0] == 1  # statistics keep the case
    assert statistics(system, login("agus.inspektur")) == before

    # the hash chain over the ciphertext still verifies, with the ContentEnded event in it
    bundle = tmp_path / "log.json"

    def intact():
        subprocess.run([sys.executable, "-m", "peluit_cases.admin", "export-bundle", "--out", str(bundle)],
                       env=system.env("cases"), check=True, timeout=120, capture_output=True)
        return any(e.get("topic", "").endswith("Case.ContentEnded")
                   for e in json.loads(bundle.read_text())["events"])

    from peluit_local.testing import eventually

    assert eventually(intact, timeout=30), "a checkpoint covers the ContentEnded event"
    result = subprocess.run([VERIFY, str(bundle), "--public-key", str(public_key(system))], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.startswith("intact:"), result.stdout + result.stderr
