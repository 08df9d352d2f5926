"""The e-mail channel over real sockets: the SMTP server's protocol handling
(smtplib and a byte-exact client against ``SmtpSession`` on green sockets),
each message in a nameko worker, and one message end to end with the
application faked and the receipt reply sent to a local SMTP server."""

from __future__ import annotations

import contextlib
import os
import socket
from functools import partial

import eventlet
import pytest
import smtplib

from peluit_intake import errors
from peluit_intake import mail_intake as mi
from peluit_intake import mail_server as ms
from peluit_intake.mail_message import parse_mail
from peluit_intake.mail_settings import MailSettings, resolve_tenant

SETTINGS = MailSettings(max_bytes=64 * 1024, timeout=5, addresses={"wbs@malangkota.go.id": "35.73"})


# -- a real SMTP server on green sockets ---------------------------------------------

@contextlib.contextmanager
def smtp_server(deliver, settings=SETTINGS, resolve=None):
    listener = eventlet.listen(("127.0.0.1", 0))
    sessions = []
    resolve = resolve or partial(resolve_tenant, settings=settings)

    def serve():
        while True:
            conn, _ = listener.accept()
            session = ms.SmtpSession(conn, settings, resolve, deliver)
            sessions.append(eventlet.spawn(session.run))

    server = eventlet.spawn(serve)
    try:
        yield listener.getsockname()[1]
    finally:
        server.kill()
        for gt in sessions:
            gt.kill()
        listener.close()


class Raw:
    """A byte-exact SMTP client for what smtplib would not send."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.rfile = self.sock.makefile("rb")
        self.banner = self.reply()

    def reply(self):
        lines = []
        while True:
            line = self.rfile.readline()
            if not line:
                return None, b"".join(lines)
            lines.append(line)
            if line[3:4] != b"-":
                return int(line[:3]), b"".join(lines)

    def send(self, data: bytes):
        self.sock.sendall(data)

    def cmd(self, text: str):
        self.send(text.encode() + b"\r\n")
        return self.reply()

    def close(self):
        self.sock.close()


def collect():
    got = []

    def deliver(envelope):
        got.append(envelope)
        return ms.OK
    return got, deliver


# -- SMTP protocol ---------------------------------------------------------------------

def test_a_message_is_delivered_with_envelope_tenant_and_unstuffed_dots(mail):
    got, deliver = collect()
    with smtp_server(deliver) as port, smtplib.SMTP("127.0.0.1", port, timeout=5) as client:
        code, features = client.ehlo("client.example")
        assert code == 250 and b"SIZE" in features and b"PIPELINING" in features
        msg = mail(body="Baris pertama\n.baris yang diawali titik\n..dua titik\n")
        refused = client.send_message(msg, from_addr="bounce@example.id", to_addrs=["WBS+35.73@Peluit.Invalid"])
        assert refused == {}
    assert len(got) == 1
    env = got[0]
    assert env.sender == "bounce@example.id" and env.tenant == "35.73"
    assert b"\r\n.baris yang diawali titik\r\n..dua titik\r\n" in env.data
    assert "budi" not in repr(env)  # an envelope never shows its content


def test_explicit_address_map_and_unknown_recipients():
    got, deliver = collect()
    with smtp_server(deliver) as port, smtplib.SMTP("127.0.0.1", port, timeout=5) as client:
        client.ehlo("c")
        with pytest.raises(smtplib.SMTPRecipientsRefused) as err:
            client.sendmail("a@example.id", ["someone@elsewhere.example", "wbs+99@other.invalid",
                                             "wbs@peluit.invalid", "wbs+notacode@peluit.invalid"],
                            b"Subject: x\r\n\r\nx")
        assert {code for code, _ in err.value.recipients.values()} == {550}
        client.sendmail("a@example.id", ["wbs@malangkota.go.id"], b"Subject: x\r\n\r\nisi laporan")
    assert [e.tenant for e in got] == ["35.73"]


def test_one_tenant_per_transaction_the_other_is_deferred():
    got, deliver = collect()
    with smtp_server(deliver) as port, smtplib.SMTP("127.0.0.1", port, timeout=5) as client:
        client.ehlo("c")
        refused = client.sendmail("a@example.id", ["wbs+35.73@peluit.invalid", "wbs+35.73@PELUIT.invalid",
                                                   "wbs+35.07@peluit.invalid"], b"Subject: x\r\n\r\nx")
        assert refused == {"wbs+35.07@peluit.invalid": (452, refused["wbs+35.07@peluit.invalid"][1])}
    assert len(got) == 1 and got[0].tenant == "35.73"


def test_size_is_enforced_by_the_size_parameter_and_while_reading():
    got, deliver = collect()
    small = MailSettings(max_bytes=1000, timeout=5)
    with smtp_server(deliver, small) as port:
        with smtplib.SMTP("127.0.0.1", port, timeout=5) as client:
            client.ehlo("c")
            with pytest.raises(smtplib.SMTPSenderRefused) as err:
                client.sendmail("a@example.id", ["wbs+35.73@peluit.invalid"], b"x" * 2000)
            assert err.value.smtp_code == 552
        raw = Raw(port)  # no SIZE parameter: refused after reading, and the session goes on
        raw.cmd("EHLO c")
        assert raw.cmd("MAIL FROM:<a@example.id>")[0] == 250
        assert raw.cmd("RCPT TO:<wbs+35.73@peluit.invalid>")[0] == 250
        assert raw.cmd("DATA")[0] == 354
        raw.send(b"Subject: big\r\n\r\n" + (b"y" * 100 + b"\r\n") * 50 + b".\r\n")
        assert raw.reply()[0] == 552
        assert raw.cmd("NOOP")[0] == 250
        raw.close()
    assert got == []


def test_the_answer_to_data_is_the_delivery_outcome():
    with smtp_server(lambda env: ms.TEMPORARY) as port, smtplib.SMTP("127.0.0.1", port, timeout=5) as client:
        client.ehlo("c")
        with pytest.raises(smtplib.SMTPDataError) as err:
            client.sendmail("a@example.id", ["wbs+35.73@peluit.invalid"], b"Subject: x\r\n\r\nx")
        assert err.value.smtp_code == 451

    def broken(env):
        raise RuntimeError("boom")
    with smtp_server(broken) as port, smtplib.SMTP("127.0.0.1", port, timeout=5) as client:
        client.ehlo("c")
        with pytest.raises(smtplib.SMTPDataError) as err:
            client.sendmail("a@example.id", ["wbs+35.73@peluit.invalid"], b"Subject: x\r\n\r\nx")
        assert err.value.smtp_code == 451


def test_command_sequence_errors_and_harmless_commands():
    got, deliver = collect()
    with smtp_server(deliver) as port:
        raw = Raw(port)
        assert raw.banner[0] == 220
        for command, code in [
            ("MAIL FROM:<a@example.id>", 503),  # no EHLO yet
            ("HELO", 501),
            ("HELO c", 250),
            ("DATA", 503),
            ("RCPT TO:<wbs+35.73@peluit.invalid>", 503),
            ("MAIL FROM:a@example.id", 501),
            ("MAIL FROM:<a@example.id> FOO=bar", 555),
            ("MAIL FROM:<a@example.id> SIZE=10 BODY=8BITMIME", 250),
            ("MAIL FROM:<b@example.id>", 503),  # nested
            ("DATA", 554),  # no recipient
            ("VRFY wbs", 252),
            ("EXPN list", 502),
            ("STARTTLS", 502),
            ("XYZZY", 500),
            ("NOOP", 250),
            ("RSET", 250),
            ("RCPT TO:<wbs+35.73@peluit.invalid>", 503),  # RSET ended the transaction
            ("X" * 3000, 500),  # over-long line, then the session goes on
            ("NOOP", 250),
        ]:
            assert raw.cmd(command)[0] == code, command
        assert raw.cmd("QUIT")[0] == 221
        raw.close()
    assert got == []


def test_null_sender_is_accepted_by_the_protocol():
    got, deliver = collect()
    with smtp_server(deliver) as port:
        raw = Raw(port)
        raw.cmd("EHLO c")
        assert raw.cmd("MAIL FROM:<>")[0] == 250
        assert raw.cmd("RCPT TO:<wbs+35.73@peluit.invalid>")[0] == 250
        assert raw.cmd("DATA")[0] == 354
        raw.send(b"Subject: bounce\r\n\r\nundeliverable\r\n.\r\n")
        assert raw.reply()[0] == 250
        raw.close()
    assert got[0].sender == ""


def test_only_crlf_dot_crlf_ends_the_data_no_smuggling():
    got, deliver = collect()
    with smtp_server(deliver) as port:
        raw = Raw(port)
        raw.cmd("EHLO c")
        raw.cmd("MAIL FROM:<a@example.id>")
        raw.cmd("RCPT TO:<wbs+35.73@peluit.invalid>")
        assert raw.cmd("DATA")[0] == 354
        # "\n.\n" and "\n.\r\n" are not the end; a smuggled MAIL FROM stays message text
        raw.send(b"Subject: s\r\n\r\nisi\n.\nMAIL FROM:<evil@example>\r\nmore\n.\r\nstill data\r\n.\r\n")
        assert raw.reply()[0] == 250
        assert raw.cmd("NOOP")[0] == 250  # nothing else was taken as a command
        raw.close()
    assert len(got) == 1
    assert b"MAIL FROM:<evil@example>" in got[0].data and got[0].data.endswith(b"still data\r\n")


def test_pipelined_commands_get_their_answers_in_order():
    got, deliver = collect()
    with smtp_server(deliver) as port:
        raw = Raw(port)
        raw.cmd("EHLO c")
        raw.send(b"MAIL FROM:<a@example.id>\r\nRCPT TO:<nobody@example.org>\r\n"
                 b"RCPT TO:<wbs+35.73@peluit.invalid>\r\nDATA\r\n")
        assert [raw.reply()[0] for _ in range(4)] == [250, 550, 250, 354]
        raw.send(b"Subject: p\r\n\r\nbody\r\n.\r\nQUIT\r\n")
        assert [raw.reply()[0] for _ in range(2)] == [250, 221]
        raw.close()
    assert len(got) == 1


def test_too_many_bad_commands_close_the_connection():
    with smtp_server(collect()[1]) as port:
        raw = Raw(port)
        codes = [raw.cmd("BOGUS")[0] for _ in range(ms.MAX_BAD_COMMANDS)]
        assert codes == [500] * ms.MAX_BAD_COMMANDS
        assert raw.reply()[0] == 421
        assert raw.reply()[0] is None  # closed
        raw.close()


def test_idle_and_overlong_sessions_are_closed_with_421():
    with smtp_server(collect()[1], MailSettings(timeout=0.3)) as port:
        raw = Raw(port)
        assert raw.reply()[0] == 421 and raw.reply()[0] is None  # idle past the command timeout
        raw.close()
    with smtp_server(collect()[1], MailSettings(timeout=5, session_seconds=1.2)) as port:
        raw = Raw(port)
        for _ in range(3):  # never idle for long, but connected for longer than a session may last
            assert raw.cmd("NOOP")[0] == 250
            eventlet.sleep(0.2)
        assert raw.reply()[0] == 421
        raw.close()


class MailOnly:
    """A service with nothing but the e-mail entrypoint: the nameko plumbing."""

    name = "mail_only"
    received: list = []

    @ms.inbound_mail
    def receive(self, envelope):
        if b"boom" in envelope.data:
            raise RuntimeError("the worker failed")
        MailOnly.received.append(envelope.tenant)
        return ms.OK


def test_each_message_runs_in_a_nameko_worker_and_stop_closes_the_listener(monkeypatch):
    from nameko.containers import ServiceContainer

    monkeypatch.setenv("PELUIT_MAIL_LISTEN", "127.0.0.1:0")
    container = ServiceContainer(MailOnly, config={})
    container.start()
    try:
        listener = next(ext for ext in container.subextensions if isinstance(ext, ms.SmtpListener))
        with smtplib.SMTP("127.0.0.1", listener.port, timeout=5) as client:
            client.ehlo("c")
            client.sendmail("a@example.id", ["wbs+35.07@peluit.invalid"], b"Subject: x\r\n\r\nisi")
            with pytest.raises(smtplib.SMTPDataError) as err:
                client.sendmail("a@example.id", ["wbs+35.07@peluit.invalid"], b"Subject: x\r\n\r\nboom")
            assert err.value.smtp_code == 451  # the worker raised: the sender retries
        assert MailOnly.received == ["35.07"]
        port = listener.port
        idle = Raw(port)
    finally:
        container.stop()
    assert idle.reply()[0] is None  # an idle session ends with the container
    idle.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2)


# -- one message end to end (the application faked; replies through a real SMTP server) ---------

def mail_sink(deliver):
    """A local SMTP server standing in for the outbound mail server: it takes any recipient."""
    return smtp_server(deliver, resolve=lambda address: "sink")


def run_mail(envelope, intake, sink_port):
    settings = MailSettings(reply_port=sink_port, reply_timeout=5, portal_url="https://wbs.example.id")
    return mi.process_mail(envelope, settings=settings, secret=b"s" * 32, intake=intake)


def test_a_mail_becomes_a_sealed_identity_report_and_the_reply_carries_the_receipt(mail, fake_intake):
    replies, deliver = collect()
    intake = fake_intake()
    raw = mail().as_bytes()
    with mail_sink(deliver) as sink:
        assert run_mail(ms.Envelope("bounce@example.id", "35.73", raw), intake, sink) == ms.OK
        assert run_mail(ms.Envelope("bounce@example.id", "35.73", raw), intake, sink) == ms.OK  # retried
    (report, key, channel), (_, key2, _) = intake.calls
    assert key == key2 and channel == "email"
    assert report["identity"] == {"email": "budi@example.id", "name": "Budi Santoso"}
    assert report["category"] == "pungli" and report["tenant"] == "35.73"
    assert len(replies) == 2 and replies[0].sender == "wbs-noreply@peluit.invalid"
    reply = parse_mail(replies[0].data)
    assert "1234-5678-9012-3456" in reply.body and "WBS/35.73/2026/000007" in reply.body
    assert "Tanda terima" in reply.body and "Receipt" in reply.body and "https://wbs.example.id" in reply.body
    assert "Inspektorat Kota Malang" in reply.body
    assert "Rp 50.000" not in reply.body  # no report text in the mailbox
    headers = replies[0].data.decode()
    assert "To: budi@example.id" in headers and "In-Reply-To: <abc123@example.id>" in headers
    assert "Auto-Submitted: auto-replied" in headers
    assert parse_mail(replies[1].data).message_id == reply.message_id  # same Message-ID on a resend


def test_temporary_failures_are_451_and_permanent_ones_550(mail, fake_intake):
    replies, deliver = collect()
    with mail_sink(deliver) as sink:
        for error in (errors.Unavailable(), errors.BackendRefused()):
            busy = fake_intake(error)
            assert run_mail(ms.Envelope("a@example.id", "35.73", mail().as_bytes()), busy, sink).code == 451
        away = fake_intake()
        away.catalogue_error = errors.Unavailable()
        assert run_mail(ms.Envelope("a@example.id", "35.73", mail().as_bytes()), away, sink) == ms.TEMPORARY
        reused = fake_intake(errors.IdempotencyKeyReused())
        assert run_mail(ms.Envelope("a@example.id", "35.73", mail().as_bytes()), reused, sink) == mi.KEY_REUSED
        gone = fake_intake(errors.UnknownTenant())  # cases knows better than intake's copy of the catalogue
        assert run_mail(ms.Envelope("a@example.id", "35.73", mail().as_bytes()), gone, sink) == mi.UNKNOWN_TENANT
        unknown = fake_intake()
        assert run_mail(ms.Envelope("a@example.id", "99.99", mail().as_bytes()), unknown, sink) == mi.UNKNOWN_TENANT
        empty = fake_intake()
        assert run_mail(ms.Envelope("a@example.id", "35.73", mail(subject=None, body="hai").as_bytes()),
                        empty, sink) == mi.EMPTY_REPORT
        bad_sender = fake_intake()
        assert run_mail(ms.Envelope("a@example.id", "35.73", mail(sender="x@localhost").as_bytes()),
                        bad_sender, sink) == mi.BAD_SENDER
        assert empty.calls == [] and unknown.calls == [] and bad_sender.calls == [] and away.calls == []
    assert replies == []
    assert mi.UNKNOWN_TENANT.code == 550 and "5.1.1" in mi.UNKNOWN_TENANT.text


def test_reply_that_cannot_be_sent_defers_the_mail_after_registering(mail, fake_intake):
    intake = fake_intake()
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    assert run_mail(ms.Envelope("a@example.id", "35.73", mail().as_bytes()), intake, dead) == ms.TEMPORARY
    assert len(intake.calls) == 1  # registered (durable); the retry replays and sends the receipt


def test_bounces_and_auto_replies_make_no_case_and_no_reply(mail, fake_intake):
    intake = fake_intake()
    replies, deliver = collect()
    with mail_sink(deliver) as sink:
        assert run_mail(ms.Envelope("", "35.73", mail().as_bytes()), intake, sink) == mi.DISCARDED
        vacation = mail(Auto_Submitted="auto-replied").as_bytes()
        assert run_mail(ms.Envelope("a@example.id", "35.73", vacation), intake, sink) == mi.DISCARDED
    assert intake.calls == [] and replies == []


def test_an_unusable_display_name_is_dropped_not_the_report(mail, fake_intake):
    intake = fake_intake()
    with mail_sink(collect()[1]) as sink:
        raw = mail(sender='"' + "N" * 300 + '" <budi@example.id>').as_bytes()
        assert run_mail(ms.Envelope("a@example.id", "35.73", raw), intake, sink) == ms.OK
    assert intake.calls[0][0]["identity"] == {"email": "budi@example.id"}


def with_attachments(mail, *files):
    msg = mail()
    for name, data, ctype in files:
        maintype, subtype = ctype.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg.as_bytes()


def test_attachments_go_to_evidence_and_refused_ones_are_named_in_the_reply(mail, fake_intake):
    intake = fake_intake(refuse={2: "unsupported_type"})
    replies, deliver = collect()
    raw = with_attachments(mail, ("foto.jpg", b"\xff\xd8\xffjpeg", "image/jpeg"), ("x.html", b"<html>", "text/html"))
    with mail_sink(deliver) as sink:
        assert run_mail(ms.Envelope("a@example.id", "35.73", raw), intake, sink) == ms.OK
    (receipt, files), = intake.attached
    assert receipt == "1234-5678-9012-3456"
    assert files == [("foto.jpg", b"\xff\xd8\xffjpeg"), ("x.html", b"<html>")]
    body = parse_mail(replies[0].data).body
    assert "1 lampiran tercatat" in body and "1 attachment(s) were recorded" in body
    assert "Jenis berkas ke-2 tidak diizinkan." in body and "File 2 is of a type that is not accepted." in body
    assert "foto.jpg" not in body and "x.html" not in body


def test_evidence_that_cannot_be_stored_defers_the_mail_and_a_closed_case_keeps_the_report(mail, fake_intake):
    raw = with_attachments(mail, ("a.txt", b"bukti transfer", "text/plain"))
    replies, deliver = collect()
    with mail_sink(deliver) as sink:
        intake = fake_intake(attach_error=errors.Unavailable())
        assert run_mail(ms.Envelope("a@example.id", "35.73", raw), intake, sink) == ms.TEMPORARY
        assert len(intake.calls) == 1 and replies == []  # the retry replays the case and the evidence
        closed = fake_intake(attach_error=errors.CaseClosed("case_closed_evidence"))
        assert run_mail(ms.Envelope("a@example.id", "35.73", raw), closed, sink) == ms.OK
    body = parse_mail(replies[0].data).body
    assert "Kasus sudah ditutup; bukti tidak dapat ditambahkan." in body
    assert "The case is closed; evidence can no longer be added." in body and "Tanda terima" in body


def test_a_sender_over_its_limit_is_told_to_come_back_later_with_a_450(mail, fake_intake):
    from peluit_intake.throttle import Throttle

    replies, deliver = collect()
    intake = fake_intake()
    intake.throttle = Throttle(os.urandom(32), {"mail_sender": (1, 3600.0)})
    with mail_sink(deliver) as sink:
        assert run_mail(ms.Envelope("a@example.id", "35.73", mail().as_bytes()), intake, sink) == ms.OK
        again = run_mail(ms.Envelope("a@example.id", "35.73", mail(subject="[pungli] Lagi").as_bytes()),
                         intake, sink)
    assert again.code == 450 and again == mi.RATE_LIMITED and " / " in again.text  # Indonesian / English
    assert len(intake.calls) == 1 and len(replies) == 1  # nothing registered, nothing answered
