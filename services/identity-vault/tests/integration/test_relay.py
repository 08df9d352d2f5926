"""The contact relay against a real local SMTP server (aiosmtpd, own process)
and the real PostgreSQL: the template reaches the reporter's own address
once per idempotency key, and nothing else learns it."""

from __future__ import annotations

import json
import mailbox
import secrets
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from uuid import uuid4

import pytest

from peluit_common.testing import free_port
from peluit_contracts.reports import case_id_for
from peluit_vault import identities, relay, retention
from peluit_vault.keyring import Keyring
from peluit_vault.relay import SmtpSettings, send_template, template_text

KEK = Keyring([secrets.token_bytes(32)])



@pytest.fixture
def smtp_server(tmp_path):
    port = free_port()
    maildir = tmp_path / "mail"
    proc = subprocess.Popen([sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}",
                             "-c", "aiosmtpd.handlers.Mailbox", str(maildir)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    yield port, maildir
    proc.terminate()
    proc.wait(10)


def test_templated_mail_reaches_the_server_without_case_content(smtp_server):
    port, maildir = smtp_server
    message_id = send_template(SmtpSettings("127.0.0.1", port, "wbs@peluit.invalid"), "pelapor@example.id",
                               "new_message", "case-1:7")
    box = mailbox.Maildir(str(maildir))
    messages = list(box)
    assert len(messages) == 1
    msg = messages[0]
    assert msg["To"] == "pelapor@example.id" and msg["Message-ID"] == message_id
    assert "case-1.7" in message_id
    assert msg["Subject"] == template_text("new_message")[0]
    body = msg.get_payload(decode=True).decode()
    assert "tanda terima" in body and "WBS/" not in body


def reporter(conn, **identity) -> str:
    """Store an identity; returns the case id cases derives for its submission."""
    submission_id = secrets.token_hex(32)
    identities.store_identity(conn, KEK, submission_id, "35.73", json.dumps({"name": "Siti", **identity}).encode())
    return str(case_id_for(submission_id))


def test_the_relay_mails_the_reporter_once_per_key_and_keeps_no_address(conn, inspect, smtp_server):
    port, maildir = smtp_server
    smtp = SmtpSettings("127.0.0.1", port, "wbs@peluit.invalid")
    address = f"p{secrets.token_hex(6)}@example.id"
    case_id = reporter(conn, email=address)
    assert relay.relay_to_reporter(conn, KEK, smtp, case_id, "new_message", f"{case_id}:1") == "sent"
    assert relay.relay_to_reporter(conn, KEK, smtp, case_id, "new_message", f"{case_id}:1") == "sent"  # redelivered
    assert relay.relay_to_reporter(conn, KEK, smtp, case_id, "case_closed", f"{case_id}:2") == "sent"
    mails = list(mailbox.Maildir(str(maildir)))
    assert sorted(m["Subject"] for m in mails) == sorted(template_text(t)[0] for t in ("new_message", "case_closed"))
    assert {m["To"] for m in mails} == {address}

    # anonymous, no e-mail given, or shredded: nothing is sent, and the answer says which
    assert relay.relay_to_reporter(conn, KEK, smtp, str(uuid4()), "new_message", "anonymous:1") == "no_contact_channel"
    phone_only = reporter(conn, phone="+62 812 0000 0000")
    assert relay.relay_to_reporter(conn, KEK, smtp, phone_only, "new_message", "phone:1") == "no_contact_channel"
    now = datetime.now(timezone.utc)
    retention.record_case_closed(conn, case_id, now - timedelta(days=366 * 6))
    assert retention.shred_expired(conn, now)["identity"] == 1
    assert relay.relay_to_reporter(conn, KEK, smtp, case_id, "new_message", f"{case_id}:3") == "erased"
    assert len(list(mailbox.Maildir(str(maildir)))) == 2
    log = " ".join(r[0] for r in inspect.execute("SELECT t::text FROM relay_log t"))
    assert address not in log and address.split("@")[0] not in log


def test_an_unreachable_mail_server_records_nothing_so_a_retry_sends(conn, inspect, smtp_server):
    port, maildir = smtp_server
    case_id = reporter(conn, email=f"p{secrets.token_hex(6)}@example.id")
    down = SmtpSettings("127.0.0.1", free_port(), "wbs@peluit.invalid", timeout=2)
    with pytest.raises(OSError):
        relay.relay_to_reporter(conn, KEK, down, case_id, "new_message", f"{case_id}:1")
    assert inspect.execute("SELECT count(*) FROM relay_log WHERE case_id = %s", (case_id,)).fetchone()[0] == 0
    up = SmtpSettings("127.0.0.1", port, "wbs@peluit.invalid")
    assert relay.relay_to_reporter(conn, KEK, up, case_id, "new_message", f"{case_id}:1") == "sent"
    assert len(list(mailbox.Maildir(str(maildir)))) == 1
