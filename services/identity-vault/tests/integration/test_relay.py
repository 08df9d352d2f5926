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
    # the same key gives the same Message-ID (a resend after a crash is recognisably the same mail), and the
    # key itself is not in it
    assert message_id == relay.stable_message_id("relay|case-1:7") and "case-1" not in message_id
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


def test_a_reporter_with_only_a_phone_number_gets_a_whatsapp_template_once(conn, inspect):
    from peluit_common.whatsapp import RecordingWhatsApp

    whatsapp, smtp = RecordingWhatsApp(), SmtpSettings("127.0.0.1", free_port(), "wbs@peluit.invalid", timeout=2)
    case_id = reporter(conn, phone="0812-3456-7890")
    for _ in range(2):  # the second is a redelivery: the relay log answers it
        assert relay.relay_to_reporter(conn, KEK, smtp, case_id, "case_closed", f"{case_id}:9", whatsapp) == "sent"
    assert whatsapp.sent == [{"to": "6281234567890", "template": "peluit_case_closed", "language": "id"}]
    # an address wins over a number (no SMTP server here: the mail is tried, so it fails and nothing is recorded)
    both = reporter(conn, phone="+6281299990000", email=f"p{secrets.token_hex(4)}@example.id")
    with pytest.raises(OSError):
        relay.relay_to_reporter(conn, KEK, smtp, both, "new_message", f"{both}:1", whatsapp)
    assert len(whatsapp.sent) == 1
    log = " ".join(r[0] for r in inspect.execute("SELECT t::text FROM relay_log t"))
    assert "3456" not in log and "9999" not in log


def test_the_cloud_api_gets_a_template_message_with_the_bearer_token():
    """The request as Meta's Cloud API takes it, against a local HTTP stand-in."""
    from http.server import BaseHTTPRequestHandler, HTTPServer

    import eventlet

    from peluit_common.whatsapp import OutboundWhatsApp

    seen = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            seen.append((self.path, self.headers["Authorization"],
                         json.loads(self.rfile.read(int(self.headers["Content-Length"])))))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = eventlet.spawn(server.serve_forever, 0.05)
    try:
        OutboundWhatsApp(f"http://127.0.0.1:{server.server_port}/v21.0", "1234", "tok").send_template(
            "6281234567890", "peluit_new_message", "id")
    finally:
        server.shutdown()
        thread.wait()
    assert seen == [("/v21.0/1234/messages", "Bearer tok", {
        "messaging_product": "whatsapp", "recipient_type": "individual", "to": "6281234567890", "type": "template",
        "template": {"name": "peluit_new_message", "language": {"code": "id"}}})]
