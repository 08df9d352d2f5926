"""The vault's contact relay and retention clock across real processes: an
officer's message reaches the reporter's mailbox through the vault alone; an
ended case starts the retention clock; rotation and shredding keep the canary
quiet."""

from __future__ import annotations

import mailbox
import secrets
import subprocess
import sys
import uuid

import requests

from peluit_local.testing import admin_connect, eventually, sample_report, submit


def officer_command(system, headers, case_id, name, body):
    version = requests.get(f"{system.url('cases')}/api/v1/cases/{case_id}", headers=headers,
                           timeout=10).json()["version"]
    return requests.post(f"{system.url('cases')}/api/v1/cases/{case_id}/{name}", json=body,
                         headers={**headers, "If-Match": f'"{version}"'}, timeout=15)


def case_id_of(system, number):
    with admin_connect(system, "cases") as conn:
        row = eventually(lambda: conn.execute(
            "SELECT case_id FROM peluit.case_index WHERE registration_number = %s", (number,)).fetchone())
    return str(row[0])


def test_officer_message_reaches_the_reporter_only_through_the_vault(system, login):
    marker = secrets.token_hex(8)
    address = f"p{marker}@example.id"
    out = submit(system, sample_report(identity={"email": address}), key=str(uuid.uuid4())).json()
    anonymous = submit(system, sample_report(), key=str(uuid.uuid4())).json()
    sari = login("sari.penelaah")
    for number in (out["registration_number"], anonymous["registration_number"]):
        assert officer_command(system, sari, case_id_of(system, number), "message-reporter",
                               {"text": "Mohon cek status laporan Anda."}).status_code == 200

    def delivered():
        box = mailbox.Maildir(str(system.mail_dir), create=False) if system.mail_dir.exists() else []
        return [m for m in box if m["To"] == address]

    mails = eventually(delivered, timeout=20)
    assert len(mails) == 1
    body = mails[0].get_payload(decode=True).decode()
    assert "tanda terima" in body and out["registration_number"] not in body and "Mohon cek" not in body
    with admin_connect(system, "notifications") as conn:
        outcomes = eventually(lambda: dict(conn.execute(
            "SELECT c.registration_number, r.outcome FROM peluit.reporter_notification r"
            " JOIN peluit.officer_notification c ON c.case_id = r.case_id").fetchall()), timeout=20)
        assert eventually(lambda: dict(conn.execute(
            "SELECT c.registration_number, r.outcome FROM peluit.reporter_notification r"
            " JOIN peluit.officer_notification c ON c.case_id = r.case_id").fetchall()).get(
            anonymous["registration_number"]) == "no_contact_channel", timeout=20)
        assert outcomes.get(out["registration_number"]) == "sent"
    # the address exists in clear only in the mailbox: not in the notifications DB, not on the broker
    with admin_connect(system, "notifications") as conn:
        dump = " ".join(r[0] for r in conn.execute(
            "SELECT t::text FROM peluit.reporter_notification t").fetchall())
    assert marker not in dump
    assert not any(marker.encode() in blob for blob in system.tap.drain())


def test_an_ended_case_starts_the_retention_clock_and_shredding_erases(system, login):
    out = submit(system, sample_report(identity={"name": "Akan Dihapus"}), key=str(uuid.uuid4())).json()
    case_id = case_id_of(system, out["registration_number"])
    sari = login("sari.penelaah")
    assert officer_command(system, sari, case_id, "reject", {"reason": "Bukan kewenangan"}).status_code == 200
    with admin_connect(system, "identity-vault") as conn:
        closed = eventually(lambda: (conn.execute(
            "SELECT case_closed_at FROM peluit.reporter WHERE case_id = %s", (case_id,)).fetchone() or (None,))[0],
            timeout=20)
        assert closed is not None
    # run the clock forward: six years later the default 5-year retention has passed
    env = system.env("identity-vault")
    subprocess.run([sys.executable, "-m", "peluit_vault.admin", "shred-expired", "--now", "2033-01-01T00:00:00+00:00"],
                   env=env, check=True, capture_output=True)
    with admin_connect(system, "identity-vault") as conn:
        row = conn.execute("SELECT wrapped_dek, shredded_at FROM peluit.reporter WHERE case_id = %s",
                           (case_id,)).fetchone()
        assert row[0] is None and row[1] is not None
        assert conn.execute("SELECT count(*) FROM peluit.vault_audit WHERE action = 'identity_shredded'"
                            " AND detail->>'case_id' = %s", (case_id,)).fetchone()[0] == 1
