"""Auditor replay and tamper evidence against the running services.

Reports are filed and worked on over HTTP; the cases service chains every
event (trigger) and signs checkpoints (timer, 1 s in tests); an auditor with
a grant exports a bundle over HTTP and an operator with the CLI, and the
offline verifier (its console script, as a subprocess) says "intact".

Tampering goes through real SQL on the real ``cases_events`` table of the
shared system, inside a transaction on an administrator connection: the
bundle is exported from that same connection with the service's own export
code (``peluit_cases.audit.iter_bundle``), and the transaction is rolled back
before the verifier runs. So every tamper is seen by the export exactly as a
committed one would be, and none leaks into the other tests of the session.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from peluit_cases import audit, chain
from peluit_local import bootstrap
from peluit_local.testing import admin_connect, enrol, eventually, sample_report, submit
from peluit_chain import checkpoint_message, content_digest, event_hash, event_hash_v2, format_time, key_id

VERIFY = shutil.which("peluit-verify", path=str(Path(sys.executable).parent)) or "peluit-verify"


def new_case(system, tenant="35.73") -> str:
    out = submit(system, sample_report(tenant=tenant), key=str(uuid.uuid4())).json()
    with admin_connect(system, "cases") as conn:
        row = eventually(lambda: conn.execute("SELECT case_id FROM peluit.case_index WHERE registration_number = %s",
                                              (out["registration_number"],)).fetchone())
    assert row, "the case index follows the log"
    return str(row[0])


def command(system, headers, case_id, name, body, version):
    resp = requests.post(f"{system.url('cases')}/api/v1/cases/{case_id}/{name}", json=body, timeout=15,
                         headers={**headers, "If-Match": f'"{version}"'})
    assert resp.status_code == 200, resp.text
    return resp.json()


def get(system, headers, path, **params):
    return requests.get(f"{system.url('cases')}/api/v1/cases/{path}", headers=headers, params=params, timeout=15)


def new_auditor(system, login, name) -> dict:
    """A fresh auditor (no other test grants it anything), enrolled and signed in once."""
    username = f"{name}.{uuid.uuid4().hex[:6]}"
    created = requests.post(system.url("cases") + "/api/v1/officers", headers=login("prov.admin"), timeout=10, json={
        "tenant": "35", "username": username, "display_name": name, "roles": ["auditor"]})
    assert created.status_code == 201, created.text
    return enrol(system, username, created.json()["enrolment_code"])


@pytest.fixture(scope="module")
def audited(system, staff, login):
    """Three cases of 35.73 with some history, an auditor granted 35.73 and one without a grant."""
    sari = login("sari.penelaah")
    a, b, c = new_case(system), new_case(system), new_case(system)
    command(system, sari, a, "start-verification", {}, 1)
    command(system, sari, b, "start-verification", {}, 1)
    command(system, sari, a, "add-note", {"text": "Dokumen pencairan diminta dari Dinas Sosial"}, 2)
    auditor, outsider = new_auditor(system, login, "tamper.auditor"), new_auditor(system, login, "tamper.outsider")
    grant = requests.post(system.url("cases") + "/api/v1/audit-grants", headers=login("prov.admin"), timeout=10,
                          json={"officer_id": auditor["id"], "tenant": "35.73", "days": 7,
                                "reason": "Audit jejak kasus 2026"})
    assert grant.status_code == 201
    return {"cases": (a, b, c), "auditor": auditor, "outsider": outsider}


def public_key(system) -> Path:
    return system.keys_dir / "auditors" / "checkpoint.pub"


def verify(path: Path, *keys: Path) -> subprocess.CompletedProcess:
    args = [VERIFY, str(path)]
    for key in keys:
        args += ["--public-key", str(key)]
    return subprocess.run(args, capture_output=True, text=True, timeout=60)


def http_bundle(system, audited, case_id) -> dict:
    """The case's bundle once a checkpoint covers all of the case's events."""
    headers = audited["auditor"]["headers"]

    def covered():
        resp = get(system, headers, f"{case_id}/audit-bundle")
        if resp.status_code != 200:
            return None
        bundle = resp.json()
        versions = [e["originator_version"] for e in bundle["events"] if e.get("originator_id") == case_id]
        case_version = get(system, headers, case_id).json()["version"]
        return bundle if versions and max(versions) == case_version else None

    bundle = eventually(covered, timeout=30, interval=0.5)
    assert bundle, "a checkpoint covers the case within the test interval (1 s)"
    return bundle


def case_rows(conn, case_id) -> list[tuple[int, int]]:
    return conn.execute("SELECT notification_id, originator_version FROM peluit.cases_events"
                        " WHERE originator_id = %s ORDER BY originator_version", (case_id,)).fetchall()


# -- export and verify -------------------------------------------------------------


def test_auditor_and_operator_exports_verify_intact(system, audited, login, tmp_path):
    a = audited["cases"][0]
    bundle = http_bundle(system, audited, a)
    assert bundle["format"] == "peluit-audit-bundle/1" and bundle["scope"]["case_id"] == a
    # other cases appear only as links of the chain
    stubs = [e for e in bundle["events"] if "state" not in e]
    assert stubs and all(set(e) == {"notification_id", "prev_log_hash", "event_hash", "hash_version", "originator_id",
                                    "originator_version", "prev_aggregate_hash", "content_digest"} for e in stubs)
    assert all("state" not in e and "topic" not in e for e in stubs)  # what the hash needs, never the content
    path = tmp_path / "case.json"
    path.write_text(json.dumps(bundle))
    ok = verify(path, public_key(system))
    assert ok.returncode == 0 and ok.stdout.startswith("intact:"), ok.stdout + ok.stderr
    unpinned = verify(path)
    assert unpinned.returncode == 3 and "without --public-key" in unpinned.stderr and "intact" not in unpinned.stdout

    # the operator's CLI: the whole log, and one case
    for extra, name in (([], "log.json"), (["--case", audited["cases"][1]], "b.json")):
        out = tmp_path / name
        subprocess.run([sys.executable, "-m", "peluit_cases.admin", "export-bundle", *extra, "--out", str(out)],
                       env=system.env("cases"), check=True, timeout=120, capture_output=True)
        result = verify(out, public_key(system))
        assert result.returncode == 0 and result.stdout.startswith("intact:"), result.stdout + result.stderr
    whole = json.loads((tmp_path / "log.json").read_text())
    assert whole["scope"] == {"kind": "log"} and whole["genesis"] is True
    assert all("state" in e for e in whole["events"])

    # the checkpoints left the database on the integration stream: a witness's copy is a --since for the auditor
    from peluit_common.streams import read_stream

    held = [json.loads(m.body) for m in read_stream(system.amqp_uri, "first", idle_timeout=0.5)]
    # (the timer goes on signing: later ones than the export are on the stream too)
    held = [e for e in held if e["type"] == "chain.checkpoint" and e["data"]["position"] <= whole["range"]["last"]]
    last = held[-1]["data"]["position"] if held else 0
    assert held and [e["data"] for e in held] == [c for c in whole["checkpoints"] if c["position"] <= last]
    since = tmp_path / "since.json"
    since.write_text(json.dumps(held[0]))
    extends = subprocess.run([VERIFY, str(tmp_path / "log.json"), "--public-key", str(public_key(system)),
                              "--since", str(since)], capture_output=True, text=True, timeout=60)
    assert extends.returncode == 0 and extends.stdout.startswith("intact:"), extends.stdout + extends.stderr

    # only auditors with a grant; every attempt is in the case's access log
    assert get(system, login("sari.penelaah"), f"{a}/audit-bundle").status_code == 403
    assert get(system, audited["outsider"]["headers"], f"{a}/audit-bundle").status_code == 404
    log = get(system, audited["auditor"]["headers"], f"{a}/timeline").json()["access_log"]
    assert any(e["action"] == "audit_bundle" and e["officer_id"] == audited["auditor"]["id"] and e["allowed"]
               for e in log)
    assert any(e["action"] == "audit_bundle" and e["officer_id"] == audited["outsider"]["id"] and not e["allowed"]
               for e in log)


def tampered_export(system, case_id, tamper, tmp_path, name) -> Path:
    """Run ``tamper(conn)`` in a transaction, export with the service's code from
    that transaction, roll back; the bundle file shows what a committed tamper would."""
    path = tmp_path / name
    with psycopg.connect(bootstrap.admin_dsn(system.dbname("cases"))) as conn:
        try:
            conn.execute("SET LOCAL search_path = peluit")  # audit_grant etc. are unqualified; the chain is not
            tamper(conn)
            path.write_text("".join(audit.iter_bundle(conn, uuid.UUID(case_id))))
        finally:
            conn.rollback()
    return path


def test_sql_edit_delete_reorder_and_rehash_are_each_named(system, audited, tmp_path):
    a = audited["cases"][0]
    http_bundle(system, audited, a)  # a checkpoint covers every event of case a
    key = public_key(system)
    with admin_connect(system, "cases") as conn:
        (v1, _), (v2, _), (v3, _) = case_rows(conn, a)[:3]
        predecessor_of_v3 = conn.execute("SELECT max(notification_id) FROM peluit.cases_events"
                                         " WHERE notification_id < %s", (v3,)).fetchone()[0]

    def edit(conn):
        # the note's text is ciphertext (``content``): the edit changes who wrote it
        conn.execute("UPDATE peluit.cases_events SET state = convert_to(replace(convert_from(state, 'UTF8'),"
                     " 'sari.penelaah', 'budi.kabmalang'), 'UTF8') WHERE notification_id = %s", (v3,))

    edited = verify(tampered_export(system, a, edit, tmp_path, "edit.json"), key)
    assert edited.returncode == 1
    assert edited.stdout.startswith(f"TAMPERED: Peristiwa diubah: notifikasi {v3} (agregat/kasus {a}, versi 3) / "
                                    f"Altered event: notification {v3} (aggregate/case {a}, version 3)"), edited.stdout

    def delete(conn):
        conn.execute("DELETE FROM peluit.cases_events WHERE notification_id = %s", (v2,))

    deleted = verify(tampered_export(system, a, delete, tmp_path, "delete.json"), key)
    assert deleted.returncode == 1
    first = deleted.stdout.splitlines()[0]
    after = json.loads((tmp_path / "delete.json").read_text())["events"]
    next_nid = min(e["notification_id"] for e in after if e["notification_id"] > v2)
    # the first problem is the gap, or (when a checkpoint happened to sign exactly that event) its lost head
    assert (f"Missing event(s) before notification {next_nid} " in first
            or f"Checkpoint head not found in chain: no event at notification {v2}" in first), first
    assert f"Missing event(s) before notification {next_nid} " in deleted.stdout
    assert "Broken per-aggregate chain" in deleted.stdout and f"aggregate/case {a}, version 3" in deleted.stdout

    def reorder(conn):
        conn.execute("UPDATE peluit.cases_events SET notification_id = -1 WHERE notification_id = %s", (v2,))
        conn.execute("UPDATE peluit.cases_events SET notification_id = %s WHERE notification_id = %s", (v2, v3))
        conn.execute("UPDATE peluit.cases_events SET notification_id = %s WHERE notification_id = -1", (v3,))

    reordered = verify(tampered_export(system, a, reorder, tmp_path, "reorder.json"), key)
    assert reordered.returncode == 1
    # version 3 now stands at version 2's place, but was chained after the event before its own old place
    linked = v3 if predecessor_of_v3 == v2 else predecessor_of_v3  # v2's old row now stands at v3
    assert reordered.stdout.startswith(
        f"TAMPERED: Urutan berubah: notifikasi {v2} (agregat/kasus {a}, versi 3) dirantai setelah notifikasi {linked},"
    ), reordered.stdout
    assert f"Reordered: notification {v2} (aggregate/case {a}, version 3) was chained after" in reordered.stdout

    def rehash(conn):
        # an attacker with database access edits, then recomputes every hash after it
        edit(conn)
        assert conn.execute("SELECT to_regproc('peluit.peluit_chain_relink')").fetchone() == (None,)  # not installed
        conn.execute(chain.relink_function("peluit"))  # so the attacker writes it
        conn.execute("SELECT pg_temp.peluit_chain_relink(%s)", (v3,))

    rehashed_path = tampered_export(system, a, rehash, tmp_path, "rehash.json")
    rehashed = verify(rehashed_path, key)
    covering = min(c["position"] for c in json.loads(rehashed_path.read_text())["checkpoints"]
                   if c["position"] >= v3)
    assert rehashed.returncode == 1
    assert f"Checkpoint head at position {covering} does not match the chain" in rehashed.stdout.splitlines()[0], \
        rehashed.stdout

    # nothing of it stayed: the real table still verifies
    again = tmp_path / "again.json"
    again.write_text(json.dumps(http_bundle(system, audited, a)))
    assert verify(again, key).returncode == 0


def test_forged_checkpoints_are_refused(system, audited, tmp_path):
    a = audited["cases"][1]
    intact = http_bundle(system, audited, a)
    key = public_key(system)
    newest = max(c["position"] for c in intact["checkpoints"])

    def forge(conn):
        conn.execute("UPDATE peluit.chain_checkpoint SET signature = set_byte(signature, 0, get_byte(signature, 0) # 1)"
                     " WHERE position = %s", (newest,))

    forged = verify(tampered_export(system, a, forge, tmp_path, "forged.json"), key)
    assert forged.returncode == 1
    assert f"Checkpoint signature invalid at position {newest} (wrong signature" in forged.stdout, forged.stdout

    # a whole bundle rewritten and re-signed with the forger's own key: only the auditor's key exposes it
    forger = Ed25519PrivateKey.generate()
    forger_public = forger.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    bundle = json.loads(json.dumps(intact))
    events, previous, by_agg = bundle["events"], None, {}
    target = next(e for e in events if e.get("originator_id") == a and e["originator_version"] == 1)
    target["state"] = base64.b64encode(base64.b64decode(target["state"]).replace(b'"korupsi"', b'"pungli"')).decode()
    for e in events:
        if previous is not None:
            e["prev_log_hash"] = previous
        if "originator_id" in e:  # full events and (hash version 2) other cases' stubs: all recomputed
            prev_agg = by_agg.get((e["originator_id"], e["originator_version"] - 1), e["prev_aggregate_hash"])
            e["prev_aggregate_hash"] = prev_agg
            digest = (bytes.fromhex(e["content_digest"]) if "content_digest" in e
                      else content_digest(e["topic"], base64.b64decode(e["state"])))
            if e.get("hash_version") == 2:
                e["event_hash"] = event_hash_v2(bytes.fromhex(e["prev_log_hash"]), bytes.fromhex(prev_agg),
                                                e["notification_id"], e["originator_id"], e["originator_version"],
                                                digest).hex()
            else:
                e["event_hash"] = event_hash(bytes.fromhex(e["prev_log_hash"]), bytes.fromhex(prev_agg),
                                             e["notification_id"], e["originator_id"], e["originator_version"],
                                             e["topic"], base64.b64decode(e["state"])).hex()
            by_agg[(e["originator_id"], e["originator_version"])] = e["event_hash"]
        previous = e["event_hash"]
    kid = key_id(forger_public)
    signed_at = format_time(datetime.now(timezone.utc))
    head = events[-1]
    bundle["public_keys"] = {kid: forger_public.hex()}
    bundle["checkpoints"] = [{"position": head["notification_id"], "head_hash": head["event_hash"],
                              "signed_at": signed_at, "key_id": kid, "signature": forger.sign(checkpoint_message(
                                  head["notification_id"], bytes.fromhex(head["event_hash"]), signed_at, kid)).hex()}]
    path = tmp_path / "reforged.json"
    path.write_text(json.dumps(bundle))
    assert verify(path).returncode == 3  # without a key: not "intact"
    fooled = subprocess.run([VERIFY, str(path), "--no-key"], capture_output=True, text=True, timeout=60)
    assert fooled.returncode == 0 and "without --public-key" in fooled.stderr  # why --no-key must be asked for
    caught = verify(path, key)
    assert caught.returncode == 1 and "signed by a key you did not give" in caught.stdout, caught.stdout


# -- time travel ------------------------------------------------------------------------


def test_auditor_reads_a_case_as_of_a_moment_between_two_commands(system, audited, login):
    case_id = new_case(system)
    auditor, outsider = audited["auditor"]["headers"], audited["outsider"]["headers"]
    time.sleep(0.05)
    between = datetime.now(timezone.utc)
    time.sleep(0.05)
    command(system, login("sari.penelaah"), case_id, "start-verification", {}, 1)

    then = get(system, auditor, case_id, as_of=between.isoformat())
    assert then.status_code == 200, then.text
    assert then.json()["status"]["code"] == "diterima" and then.json()["version"] == 1
    assert then.json()["as_of"] == between.isoformat() and len(then.json()["history"]) == 1
    now = get(system, auditor, case_id, as_of=datetime.now(timezone.utc).isoformat())
    assert now.json()["status"]["code"] == "verifikasi"
    # the same moment in Jakarta time is the same moment
    jakarta = between.astimezone(timezone(timedelta(hours=7))).isoformat()
    assert get(system, auditor, case_id, as_of=jakarta).json()["version"] == 1
    assert get(system, auditor, case_id, as_of="2020-01-01T00:00:00+07:00").status_code == 404  # not registered yet
    for bad in ("kemarin", "2026-12-02T08:00:00", ""):
        refused = get(system, auditor, case_id, as_of=bad)
        assert refused.status_code == 400, bad
        message = refused.json()["error"]["fields"]["as_of"][0]
        assert message["id"].startswith("as_of harus") and message["en"].startswith("as_of must")
    assert get(system, outsider, case_id, as_of=between.isoformat()).status_code == 404  # no grant

    line = get(system, auditor, f"{case_id}/timeline").json()
    assert [e["type"] for e in line["events"]] == ["Case.Registered", "Case.VerificationStarted"]
    assert line["events"][1]["actor"]["officer_id"] is not None
    with admin_connect(system, "cases") as conn:
        stored = dict(conn.execute("SELECT notification_id, encode(event_hash, 'hex') FROM peluit.cases_events"
                                   " WHERE originator_id = %s", (case_id,)).fetchall())
    assert {e["notification_id"]: e["event_hash"] for e in line["events"]} == stored
    reads = [(e["officer_id"], e["action"], e["allowed"]) for e in line["access_log"]]
    assert (audited["auditor"]["id"], "read_as_of", True) in reads
    assert (audited["outsider"]["id"], "read_as_of", False) in reads
    assert (audited["auditor"]["id"], "timeline", True) in reads
