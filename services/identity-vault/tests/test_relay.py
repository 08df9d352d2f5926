"""The SMTP adapter against a real local SMTP server (aiosmtpd, own process)."""

from __future__ import annotations

import mailbox
import socket
import subprocess
import sys
import time

import pytest

from peluit_vault.relay import SmtpSettings, send_template, template_text


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_server(tmp_path):
    port = _free_port()
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
