"""Unit tests of the e-mail and WhatsApp channels: mail parsing and mapping,
the SMTP server's protocol handling (over real green sockets, with smtplib as
the client), the receipt reply (sent to a real local SMTP server), the
webhook signature, the conversation state machine and its retry rules."""

from __future__ import annotations

import contextlib
import json
import smtplib
import socket
from email.message import EmailMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from functools import partial

import eventlet
import pytest
from marshmallow import ValidationError
from werkzeug.datastructures import MultiDict

from peluit_common.web import HttpError
from peluit_intake import mail_intake as mi
from peluit_intake import whatsapp as wa

CATEGORIES = {"korupsi", "pungli", "pengadaan", "lainnya"}
SETTINGS = mi.MailSettings(max_bytes=64 * 1024, timeout=5, addresses={"wbs@malangkota.go.id": "35.73"})


# -- a real SMTP server on green sockets ---------------------------------------------

@contextlib.contextmanager
def smtp_server(deliver, settings=SETTINGS, resolve=None):
    listener = eventlet.listen(("127.0.0.1", 0))
    sessions = []
    resolve = resolve or partial(mi.resolve_tenant, settings=settings)

    def serve():
        while True:
            conn, _ = listener.accept()
            session = mi.SmtpSession(conn, settings, resolve, deliver)
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
        return mi.OK
    return got, deliver


def mail(subject="[pungli] Pungutan liar di kelurahan", body="Petugas meminta uang Rp 50.000 untuk surat.",
         sender="Budi Santoso <budi@example.id>", **headers) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "wbs+35.73@peluit.invalid"
    if subject is not None:
        msg["Subject"] = subject
    msg["Message-ID"] = "<abc123@example.id>"
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg


# -- SMTP protocol ---------------------------------------------------------------------

def test_a_message_is_delivered_with_envelope_tenant_and_unstuffed_dots():
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
    small = mi.MailSettings(max_bytes=1000, timeout=5)
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
    with smtp_server(lambda env: mi.TEMPORARY) as port, smtplib.SMTP("127.0.0.1", port, timeout=5) as client:
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
        assert raw.cmd("MAIL FROM:<a@example.id>")[0] == 503  # no EHLO yet
        assert raw.cmd("HELO")[0] == 501
        assert raw.cmd("HELO c")[0] == 250
        assert raw.cmd("DATA")[0] == 503
        assert raw.cmd("RCPT TO:<wbs+35.73@peluit.invalid>")[0] == 503
        assert raw.cmd("MAIL FROM:a@example.id")[0] == 501
        assert raw.cmd("MAIL FROM:<a@example.id> FOO=bar")[0] == 555
        assert raw.cmd("MAIL FROM:<a@example.id> SIZE=10 BODY=8BITMIME")[0] == 250
        assert raw.cmd("MAIL FROM:<b@example.id>")[0] == 503  # nested
        assert raw.cmd("DATA")[0] == 554  # no recipient
        assert raw.cmd("VRFY wbs")[0] == 252
        assert raw.cmd("EXPN list")[0] == 502
        assert raw.cmd("STARTTLS")[0] == 502
        assert raw.cmd("XYZZY")[0] == 500
        assert raw.cmd("NOOP")[0] == 250
        assert raw.cmd("RSET")[0] == 250
        assert raw.cmd("RCPT TO:<wbs+35.73@peluit.invalid>")[0] == 503  # RSET ended the transaction
        assert raw.cmd("X" * 3000)[0] == 500  # over-long line, then the session goes on
        assert raw.cmd("NOOP")[0] == 250
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
        codes = [raw.cmd("BOGUS")[0] for _ in range(mi.MAX_BAD_COMMANDS)]
        assert codes == [500] * mi.MAX_BAD_COMMANDS
        assert raw.reply()[0] == 421
        assert raw.reply()[0] is None  # closed
        raw.close()


def test_idle_and_overlong_sessions_are_closed_with_421():
    with smtp_server(collect()[1], mi.MailSettings(timeout=0.3)) as port:
        raw = Raw(port)
        assert raw.reply()[0] == 421 and raw.reply()[0] is None  # idle past the command timeout
        raw.close()
    with smtp_server(collect()[1], mi.MailSettings(timeout=5, session_seconds=1.2)) as port:
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

    @mi.inbound_mail
    def receive(self, envelope):
        if b"boom" in envelope.data:
            raise RuntimeError("the worker failed")
        MailOnly.received.append(envelope.tenant)
        return mi.OK


def test_each_message_runs_in_a_nameko_worker_and_stop_closes_the_listener(monkeypatch):
    from nameko.containers import ServiceContainer

    monkeypatch.setenv("PELUIT_MAIL_LISTEN", "127.0.0.1:0")
    container = ServiceContainer(MailOnly, config={})
    container.start()
    try:
        listener = next(ext for ext in container.subextensions if isinstance(ext, mi.SmtpListener))
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


# -- addresses -------------------------------------------------------------------------

@pytest.mark.parametrize("address,tenant", [
    ("wbs+35.73@peluit.invalid", "35.73"),
    ("WBS+35@PELUIT.INVALID", "35"),
    ("wbs@malangkota.go.id", "35.73"),
    ("wbs@peluit.invalid", None),
    ("wbs+35.733@peluit.invalid", None),
    ("other+35.73@peluit.invalid", None),
    ("wbs+35.73@example.org", None),
    ("nonsense", None),
])
def test_resolve_tenant(address, tenant):
    assert mi.resolve_tenant(address, SETTINGS) == tenant


def test_settings_from_env(monkeypatch):
    monkeypatch.setenv("PELUIT_MAIL_LISTEN", "127.0.0.1:2525")
    monkeypatch.setenv("PELUIT_MAIL_DOMAINS", "wbs.jatimprov.go.id, Peluit.Invalid")
    monkeypatch.setenv("PELUIT_MAIL_ADDRESSES", "WBS@surabaya.go.id=35.78")
    s = mi.MailSettings.from_env()
    assert s.listen == ("127.0.0.1", 2525)
    assert s.domains == {"wbs.jatimprov.go.id", "peluit.invalid"}
    assert mi.resolve_tenant("wbs@surabaya.go.id", s) == "35.78"
    monkeypatch.setenv("PELUIT_MAIL_ADDRESSES", "wbs@surabaya.go.id=Surabaya")
    with pytest.raises(Exception, match="PELUIT_MAIL_ADDRESSES"):
        mi.MailSettings.from_env()
    monkeypatch.delenv("PELUIT_MAIL_ADDRESSES")
    monkeypatch.delenv("PELUIT_MAIL_LISTEN")
    assert mi.MailSettings.from_env().listen is None  # off unless configured


# -- parsing and mapping ----------------------------------------------------------------

def test_plain_mail_maps_to_5w1h_with_the_category_tag():
    parsed = mi.parse_mail(mail().as_bytes())
    assert parsed.from_addr == "budi@example.id" and parsed.from_name == "Budi Santoso"
    assert parsed.message_id == "<abc123@example.id>" and not parsed.automatic and not parsed.attachments
    mapped = mi.map_report(parsed, CATEGORIES)
    assert mapped.category == "pungli"
    assert mapped.fields == {"what": "Pungutan liar di kelurahan\n\nPetugas meminta uang Rp 50.000 untuk surat.",
                             "where": mi.NOT_STATED, "when": mi.NOT_STATED}
    assert mapped.missing_where_when and not mapped.truncated


def test_unknown_tag_is_other_and_stays_in_the_text():
    mapped = mi.map_report(mi.parse_mail(mail(subject="Re: [rahasia] Laporan").as_bytes()), CATEGORIES)
    assert mapped.category == "lainnya"
    assert mapped.fields["what"].startswith("[rahasia] Laporan\n\n")


def test_labelled_lines_fill_the_fields_and_the_signature_is_dropped():
    body = ("Saya ingin melaporkan.\n"
            "Apa: Mark-up harga laptop 40%\n"
            "Di mana: Dinas Pendidikan Kota Malang\n"
            "Kapan: Maret 2026\n"
            "Siapa: PPK pengadaan\n"
            "Bagaimana: Harga di kontrak jauh di atas\n"
            "harga pasar.\n"
            "-- \n"
            "Budi Santoso\nNIP 198001012005011001\n")
    mapped = mi.map_report(mi.parse_mail(mail(subject="[pengadaan] Mark-up", body=body).as_bytes()), CATEGORIES)
    assert mapped.category == "pengadaan"
    assert mapped.fields == {
        "what": "Mark-up\n\nSaya ingin melaporkan.\n\nMark-up harga laptop 40%",
        "where": "Dinas Pendidikan Kota Malang", "when": "Maret 2026", "who": "PPK pengadaan",
        "how": "Harga di kontrak jauh di atas\nharga pasar."}
    assert not mapped.missing_where_when
    assert "198001012005011001" not in json.dumps(mapped.fields)


def test_multipart_with_html_only_and_an_attachment():
    outer = MIMEMultipart("mixed")
    outer["From"] = "warga@example.id"
    outer["Subject"] = "Laporan"
    outer.attach(MIMEText("<html><head><style>p{}</style><script>alert(1)</script></head><body>"
                          "<p>Kepala&nbsp;seksi menerima <b>suap</b>.</p><p>Di kantor &amp; di rumah.</p>"
                          "</body></html>", "html", "utf-8"))
    photo = MIMEText("not really an image", "plain")
    photo.add_header("Content-Disposition", "attachment", filename="bukti.jpg")
    outer.attach(photo)
    parsed = mi.parse_mail(outer.as_bytes())
    assert parsed.body == "Kepala seksi menerima suap.\n\nDi kantor & di rumah."
    assert parsed.attachments
    assert "alert" not in parsed.body and "p{}" not in parsed.body


def test_missing_subject_uses_the_body_only():
    parsed = mi.parse_mail(mail(subject=None, body="Ada pungutan liar di loket KTP.").as_bytes())
    assert parsed.subject == ""
    assert mi.map_report(parsed, CATEGORIES).fields["what"] == "Ada pungutan liar di loket KTP."


@pytest.mark.parametrize("charset", ["iso-8859-1", "windows-1252"])
def test_non_utf8_charsets_are_decoded(charset):
    text = "Pengadaan kafé: uang «tunai» diminta"
    msg = MIMEText(text, "plain", charset)
    msg["From"] = "a@example.id"
    msg["Subject"] = "=?iso-8859-1?q?Laporan_caf=E9?="
    parsed = mi.parse_mail(msg.as_bytes())
    assert parsed.body == text
    assert parsed.subject == "Laporan café"


def test_unknown_charset_falls_back_without_losing_the_report():
    raw = (b"From: a@example.id\r\nSubject: x\r\nContent-Type: text/plain; charset=x-unknown-8\r\n"
           b"Content-Transfer-Encoding: 8bit\r\n\r\nUang diminta di loket \xe9\xe8\r\n")
    parsed = mi.parse_mail(raw)
    assert parsed.body.startswith("Uang diminta di loket")


def test_control_characters_are_removed_and_headers_may_be_broken():
    raw = (b"From: not an address\r\nSubject: =?utf-8?b?broken\r\nAuto-Submitted: auto-replied\r\n\r\n"
           b"isi\x00 dengan\x07 kontrol\x0c karakter\r\n")
    parsed = mi.parse_mail(raw)
    assert parsed.body == "isi dengan kontrol karakter"
    assert parsed.from_addr is None and parsed.automatic


def test_long_text_overflows_into_how_and_is_cut_last():
    body = "a" * 7000
    mapped = mi.map_report(mi.parse_mail(mail(subject=None, body=body).as_bytes()), CATEGORIES)
    assert len(mapped.fields["what"]) == 5000 and mapped.fields["what"].endswith(mi.CUT_MARK)
    assert mapped.fields["how"].startswith(mi.CONTINUED) and not mapped.truncated
    how_text = mapped.fields["how"][len(mi.CONTINUED):]
    assert mapped.fields["what"][:-len(mi.CUT_MARK)] + how_text == body
    huge = mi.map_report(mi.parse_mail(mail(subject=None, body="b" * 12000).as_bytes()), CATEGORIES)
    assert huge.truncated and len(huge.fields["how"]) == 5000


def test_idempotency_key_depends_on_sender_and_message_id():
    key = partial(mi.idempotency_key, b"k" * 32)
    assert key("a@x.id", "<1@x>", b"raw") == key("A@X.ID", "<1@x>", b"other raw")
    assert key("a@x.id", "<1@x>", b"raw") != key("b@x.id", "<1@x>", b"raw")
    assert key("a@x.id", None, b"raw") == key("a@x.id", None, b"raw") != key("a@x.id", None, b"raw2")
    assert len(key("a@x.id", None, b"raw")) == 64


# -- one message end to end (register faked; replies through a real SMTP server) ----------

class FakeIntake:
    def __init__(self, error=None):
        self.calls, self.error = [], error

    def register(self, report, key):
        self.calls.append((report, key))
        if self.error:
            raise self.error
        return {"registration_number": "WBS/35.73/2026/000007", "receipt": "1234-5678-9012-3456",
                "replayed": len(self.calls) > 1}


def mail_sink(deliver):
    """A local SMTP server standing in for the outbound mail server: it takes any recipient."""
    return smtp_server(deliver, resolve=lambda address: "sink")


def run_mail(envelope, intake, sink_port, **kw):
    settings = mi.MailSettings(reply_port=sink_port, reply_timeout=5, portal_url="https://wbs.example.id")
    return mi.process_mail(envelope, settings=settings, secret=b"s" * 32,
                           categories_of=lambda t: CATEGORIES if t == "35.73" else None,
                           tenant_name=lambda t: "Inspektorat Kota Malang", register=intake.register, **kw)


def test_a_mail_becomes_a_sealed_identity_report_and_the_reply_carries_the_receipt():
    replies, deliver = collect()
    intake = FakeIntake()
    raw = mail().as_bytes()
    with mail_sink(deliver) as sink:
        assert run_mail(mi.Envelope("bounce@example.id", "35.73", raw), intake, sink) == mi.OK
        assert run_mail(mi.Envelope("bounce@example.id", "35.73", raw), intake, sink) == mi.OK  # retried
    (report, key), (_, key2) = intake.calls
    assert key == key2
    assert report["identity"] == {"email": "budi@example.id", "name": "Budi Santoso"}
    assert report["category"] == "pungli" and report["tenant"] == "35.73"
    assert len(replies) == 2 and replies[0].sender == "wbs-noreply@peluit.invalid"
    reply = mi.parse_mail(replies[0].data)
    assert "1234-5678-9012-3456" in reply.body and "WBS/35.73/2026/000007" in reply.body
    assert "Tanda terima" in reply.body and "Receipt" in reply.body and "https://wbs.example.id" in reply.body
    assert "Rp 50.000" not in reply.body  # no report text in the mailbox
    headers = replies[0].data.decode()
    assert "To: budi@example.id" in headers and "In-Reply-To: <abc123@example.id>" in headers
    assert "Auto-Submitted: auto-replied" in headers
    assert mi.parse_mail(replies[1].data).message_id == reply.message_id  # same Message-ID on a resend


def test_temporary_failures_are_451_and_permanent_ones_550():
    replies, deliver = collect()
    with mail_sink(deliver) as sink:
        busy = FakeIntake(HttpError(503, "unavailable", {}))
        assert run_mail(mi.Envelope("a@example.id", "35.73", mail().as_bytes()), busy, sink).code == 451
        reused = FakeIntake(HttpError(422, "idempotency_key_reused", {}))
        assert run_mail(mi.Envelope("a@example.id", "35.73", mail().as_bytes()), reused, sink).code == 550
        unknown = FakeIntake()
        assert run_mail(mi.Envelope("a@example.id", "99.99", mail().as_bytes()), unknown, sink).code == 550
        empty = FakeIntake()
        assert run_mail(mi.Envelope("a@example.id", "35.73", mail(subject=None, body="hai").as_bytes()),
                        empty, sink) == mi.EMPTY_REPORT
        bad_sender = FakeIntake()
        assert run_mail(mi.Envelope("a@example.id", "35.73", mail(sender="x@localhost").as_bytes()),
                        bad_sender, sink) == mi.BAD_SENDER
        assert empty.calls == [] and unknown.calls == [] and bad_sender.calls == []
    assert replies == []


def test_reply_that_cannot_be_sent_defers_the_mail_after_registering():
    intake = FakeIntake()
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    assert run_mail(mi.Envelope("a@example.id", "35.73", mail().as_bytes()), intake, dead) == mi.TEMPORARY
    assert len(intake.calls) == 1  # registered (durable); the retry replays and sends the receipt


def test_bounces_and_auto_replies_make_no_case_and_no_reply():
    intake = FakeIntake()
    replies, deliver = collect()
    with mail_sink(deliver) as sink:
        assert run_mail(mi.Envelope("", "35.73", mail().as_bytes()), intake, sink) == mi.DISCARDED
        vacation = mail(Auto_Submitted="auto-replied").as_bytes()
        assert run_mail(mi.Envelope("a@example.id", "35.73", vacation), intake, sink) == mi.DISCARDED
    assert intake.calls == [] and replies == []


def test_an_unusable_display_name_is_dropped_not_the_report():
    intake = FakeIntake()
    with mail_sink(collect()[1]) as sink:
        raw = mail(sender='"' + "N" * 300 + '" <budi@example.id>').as_bytes()
        assert run_mail(mi.Envelope("a@example.id", "35.73", raw), intake, sink) == mi.OK
    assert intake.calls[0][0]["identity"] == {"email": "budi@example.id"}


def with_attachments(*files):
    msg = mail()
    for name, data, ctype in files:
        maintype, subtype = ctype.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg.as_bytes()


def test_attachments_go_to_evidence_and_refused_ones_are_named_in_the_reply():
    intake, calls = FakeIntake(), []

    def attach(receipt, files):
        calls.append((receipt, files))
        return [{"n": 2, "code": "unsupported_type", "id": "Jenis berkas ke-2 tidak diizinkan.",
                 "en": "File 2 is of a type that is not accepted."}]

    replies, deliver = collect()
    raw = with_attachments(("foto.jpg", b"\xff\xd8\xffjpeg", "image/jpeg"), ("x.html", b"<html>", "text/html"))
    with mail_sink(deliver) as sink:
        assert run_mail(mi.Envelope("a@example.id", "35.73", raw), intake, sink, attach=attach) == mi.OK
    (receipt, files), = calls
    assert receipt == "1234-5678-9012-3456"
    assert files == [("foto.jpg", b"\xff\xd8\xffjpeg"), ("x.html", b"<html>")]
    body = mi.parse_mail(replies[0].data).body
    assert "1 lampiran tercatat" in body and "1 attachment(s) were recorded" in body
    assert "Jenis berkas ke-2 tidak diizinkan." in body and "File 2 is of a type that is not accepted." in body
    assert "foto.jpg" not in body and "x.html" not in body


def test_evidence_that_cannot_be_stored_defers_the_mail_and_a_closed_case_keeps_the_report():
    raw = with_attachments(("a.txt", b"bukti transfer", "text/plain"))
    replies, deliver = collect()
    with mail_sink(deliver) as sink:
        def down(receipt, files):
            raise HttpError(503, "unavailable", {"id": "sibuk", "en": "busy"})
        intake = FakeIntake()
        assert run_mail(mi.Envelope("a@example.id", "35.73", raw), intake, sink, attach=down) == mi.TEMPORARY
        assert len(intake.calls) == 1 and replies == []  # the retry replays the case and the evidence

        def closed(receipt, files):
            raise HttpError(409, "case_closed", {"id": "Kasus sudah ditutup.", "en": "The case is closed."})
        assert run_mail(mi.Envelope("a@example.id", "35.73", raw), FakeIntake(), sink, attach=closed) == mi.OK
    body = mi.parse_mail(replies[0].data).body
    assert "Kasus sudah ditutup." in body and "The case is closed." in body and "Tanda terima" in body


# -- WhatsApp: signature -------------------------------------------------------------------

SECRET = b"app-secret-0123456789"
BODY = b'{"object": "whatsapp_business_account", "entry": []}'


def test_signature_valid():
    assert wa.check_signature(SECRET, BODY, wa.sign(SECRET, BODY)) == "ok"
    assert wa.check_signature(SECRET, BODY, wa.sign(SECRET, BODY).upper().replace("SHA256", "sha256")) == "ok"


def test_signature_tampered_body():
    assert wa.check_signature(SECRET, BODY.replace(b"[]", b"[{}]"), wa.sign(SECRET, BODY)) == "invalid"


def test_signature_wrong_secret():
    assert wa.check_signature(SECRET, BODY, wa.sign(b"another secret", BODY)) == "invalid"


@pytest.mark.parametrize("header", [None, "", "sha256=", "sha1=" + "0" * 40, "sha256=xyz", "0" * 64,
                                    "sha256=" + "0" * 63])
def test_signature_missing_or_malformed_header(header):
    assert wa.check_signature(SECRET, BODY, header) == "missing"


def test_verification_handshake():
    settings = wa.WhatsAppSettings(enabled=True, app_secret=SECRET, verify_token="tok-123")
    ok = wa.verification(settings, MultiDict({"hub.mode": "subscribe", "hub.verify_token": "tok-123",
                                              "hub.challenge": "1158201444"}))
    assert ok.status_code == 200 and ok.get_data() == b"1158201444"
    for args in ({"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
                 {"hub.mode": "unsubscribe", "hub.verify_token": "tok-123", "hub.challenge": "1"},
                 {"hub.mode": "subscribe", "hub.verify_token": "tok-123", "hub.challenge": "<script>"}):
        with pytest.raises(HttpError) as err:
            wa.verification(settings, MultiDict(args))
        assert err.value.status == 403
    with pytest.raises(HttpError) as err:
        wa.verification(wa.WhatsAppSettings(enabled=False), MultiDict({}))
    assert err.value.status == 404


def payload(*messages, statuses=False):
    value = {"messaging_product": "whatsapp", "metadata": {"phone_number_id": "1"}, "messages": list(messages)}
    if statuses:
        value = {"messaging_product": "whatsapp", "statuses": [{"id": "wamid.s", "status": "delivered"}]}
    return {"object": "whatsapp_business_account",
            "entry": [{"id": "WABA", "changes": [{"field": "messages", "value": value}]}]}


def text_msg(body, mid, phone="6281234567890"):
    return {"from": phone, "id": mid, "timestamp": "1700000000", "type": "text", "text": {"body": body}}


def test_webhook_payloads_are_parsed_leniently_but_validated():
    got = wa.inbound_messages(payload(text_msg("halo", "wamid.1"),
                                      {"from": "6281234567890", "id": "wamid.2", "type": "image",
                                       "image": {"id": "x"}}))
    assert [(m.message_id, m.text) for m in got] == [("wamid.1", "halo"), ("wamid.2", None)]
    assert wa.inbound_messages(payload(statuses=True)) == []
    with pytest.raises(ValidationError):
        wa.inbound_messages({"object": "page", "entry": []})
    with pytest.raises(ValidationError):
        wa.inbound_messages(payload({"from": "not-a-number", "id": "x", "type": "text", "text": {"body": "x"}}))


# -- WhatsApp: the conversation ---------------------------------------------------------------

TENANTS = [
    {"code": "35", "name": "Inspektorat Provinsi Jawa Timur", "categories": []},
    {"code": "35.73", "name": "Inspektorat Kota Malang", "categories": [
        {"code": "korupsi", "name": {"id": "Korupsi", "en": "Corruption"}},
        {"code": "pungli", "name": {"id": "Pungutan liar", "en": "Illegal levies"}}]},
]


def catalogue():
    return TENANTS


def converse(*texts, conv=None):
    steps = []
    for text in texts:
        step = wa.advance(conv, text, catalogue)
        steps.append(step)
        conv = step.conversation
    return conv, steps


def test_the_guided_conversation_reaches_confirmation_and_submits():
    conv, steps = converse("halo", "2", "2", "Pungutan Rp 50.000 untuk KTP", "Kantor Kelurahan Oro-oro Dowo",
                           "Senin lalu", "-", "YA")
    assert "Inspektorat Kota Malang (35.73)" in steps[0].replies[1] and "CANCEL" in steps[0].replies[0]
    assert "2. Pungutan liar / Illegal levies" in steps[1].replies[0]
    assert "Apa yang terjadi" in steps[2].replies[0]
    assert "Inspektorat Kota Malang" in steps[6].replies[0] and "YES" in steps[6].replies[1]
    assert steps[-1].submit and steps[-1].replies == []
    assert conv.report() == {"tenant": "35.73", "category": "pungli", "what": "Pungutan Rp 50.000 untuk KTP",
                             "where": "Kantor Kelurahan Oro-oro Dowo", "when": "Senin lalu"}
    assert "Pungutan" not in repr(conv)


def test_who_is_kept_when_given():
    conv, _ = converse("halo", "2", "1", "Dana hibah dipotong 20%", "Dinas Sosial", "Oktober", "Kabid Bansos")
    assert conv.step == "confirm" and dict(conv.answers)["who"] == "Kabid Bansos"


def test_invalid_answers_repeat_the_question():
    conv, steps = converse("halo", "9")
    assert conv.step == "tenant" and steps[1].replies[0] == wa.INVALID_CHOICE
    conv, steps = converse("2", "abc", conv=conv)
    assert conv.step == "category" and steps[1].replies[0] == wa.INVALID_CHOICE
    conv, steps = converse("1", "terlalu", conv=conv)  # what: 7 characters
    assert conv.step == "what" and "10" in steps[1].replies[0]
    conv, steps = converse("Dana hibah dipotong 20%", "x" * 501, conv=conv)
    assert conv.step == "where" and "500" in steps[1].replies[0]
    conv, steps = converse("Dinas", "Kemarin", "-", "mungkin", conv=conv)
    assert conv.step == "confirm" and steps[-1].replies == [wa.PROMPT_CONFIRM] and not steps[-1].submit


def test_cancel_at_any_step_and_no_at_confirmation():
    for n in range(1, 7):
        answers = ["halo", "2", "1", "Dana hibah dipotong 20%", "Dinas", "Kemarin"][:n]
        conv, steps = converse(*answers, "BATAL")
        assert conv is None and steps[-1].replies == [wa.CANCELLED]
    conv, steps = converse("halo", "2", "1", "Dana hibah dipotong 20%", "Dinas", "Kemarin", "-", "tidak")
    assert conv is None and steps[-1].replies == [wa.CANCELLED]


def test_non_text_messages_do_not_advance():
    conv, _ = converse("halo", "2")
    step = wa.advance(conv, None, catalogue)
    assert step.conversation == conv and step.replies == [wa.TEXT_ONLY]


def test_store_expires_idle_conversations_and_remembers_message_ids():
    now = [1000.0]
    store = wa.ConversationStore(ttl=60, seen_ttl=120, clock=lambda: now[0])
    key = store.key("phone", "6281234567890")
    assert "6281234567890" not in key and key == store.key("phone", "6281234567890")
    assert wa.ConversationStore().key("phone", "6281234567890") != key  # per-process key
    store.put(key, wa.Conversation())
    now[0] += 59
    assert store.get(key) == (wa.Conversation(), False)
    now[0] += 2
    assert store.get(key) == (None, True) and len(store) == 0
    store.mark_seen("m")
    now[0] += 119
    assert store.seen("m")
    now[0] += 2
    assert not store.seen("m")


class Outbox(wa.RecordingWhatsApp):
    def __init__(self, fail=False):
        super().__init__()
        self.fail = fail

    def send_text(self, to, text):
        if self.fail:
            raise OSError("graph api down")
        super().send_text(to, text)


def test_handle_message_is_idempotent_per_message_id_and_commits_only_after_sending():
    store, intake = wa.ConversationStore(), FakeIntake()
    deps = dict(store=store, secret=b"w" * 32, catalogue=catalogue, register=intake.register)

    def send(body, mid, outbox=None):
        outbox = outbox or Outbox()
        return wa.handle_message(wa.Inbound("6281234567890", mid, body), outbound=outbox, **deps), outbox

    assert send("halo", "m1")[0] == "advanced"
    assert send("halo", "m1")[0] == "duplicate"  # Meta's retry: no second greeting, no advance
    with pytest.raises(wa.TemporaryFailure):
        send("2", "m2", Outbox(fail=True))  # reply not sent: nothing committed
    outcome, outbox = send("2", "m2")  # the retry does the step
    assert outcome == "advanced" and "Pungutan liar" in outbox.sent[0]["text"]
    for mid, text in [("m3", "2"), ("m4", "Pungutan Rp 50.000 untuk KTP"), ("m5", "Kelurahan"),
                      ("m6", "Senin"), ("m7", "-")]:
        send(text, mid)
    intake.error = HttpError(503, "unavailable", {})
    with pytest.raises(wa.TemporaryFailure):
        send("ya", "m8")  # cases down: the conversation waits at confirmation
    intake.error = None
    outcome, outbox = send("ya", "m8")
    assert outcome == "replayed"  # the same idempotency key as the failed attempt
    assert intake.calls[0][1] == intake.calls[1][1]
    report = intake.calls[1][0]
    assert report["identity"] == {"phone": "+6281234567890"} and report["category"] == "pungli"
    assert "1234-5678-9012-3456" in outbox.sent[-1]["text"] and outbox.sent[-1]["to"] == "6281234567890"
    assert store.get(store.key("phone", "6281234567890")) == (None, False)  # dropped after registration
    assert send("ya", "m8")[0] == "duplicate" and len(intake.calls) == 2


def test_process_webhook_answers_503_when_a_message_must_be_retried():
    store = wa.ConversationStore()
    msgs = [wa.Inbound("6281111111111", "a1", "halo"), wa.Inbound("6282222222222", "b1", "halo")]

    def flaky_catalogue():
        raise wa.TemporaryFailure("catalogue")
    status, outcomes = wa.process_webhook(msgs, store=store, outbound=Outbox(), secret=b"w" * 32,
                                          catalogue=flaky_catalogue, register=FakeIntake().register)
    assert status == 503 and outcomes == ["deferred", "deferred"]
    outbox = Outbox()
    status, outcomes = wa.process_webhook(msgs, store=store, outbound=outbox, secret=b"w" * 32,
                                          catalogue=catalogue, register=FakeIntake().register)
    assert status == 200 and outcomes == ["advanced", "advanced"]
    assert {m["to"] for m in outbox.sent} == {"6281111111111", "6282222222222"}
    response = wa.webhook_response(status, outbox)
    assert json.loads(response.get_data())["outbound"] == outbox.sent


def test_settings_create_dev_secrets_and_refuse_record_mode_in_production(monkeypatch, tmp_path):
    monkeypatch.setenv("PELUIT_KEYS_DIR", str(tmp_path))
    monkeypatch.delenv("PELUIT_WHATSAPP_APP_SECRET_FILE", raising=False)
    monkeypatch.delenv("PELUIT_WHATSAPP_VERIFY_TOKEN_FILE", raising=False)
    monkeypatch.delenv("PELUIT_WHATSAPP_OUTBOUND", raising=False)
    monkeypatch.setenv("PELUIT_ENV", "development")
    s = wa.WhatsAppSettings.from_env()
    assert s.enabled and s.outbound == "record"
    assert (tmp_path / "whatsapp-app-secret.key").stat().st_mode & 0o777 == 0o600
    assert wa.WhatsAppSettings.from_env().app_secret == s.app_secret  # created once
    monkeypatch.setenv("PELUIT_ENV", "production")
    assert not wa.WhatsAppSettings.from_env().enabled  # off unless configured
    monkeypatch.setenv("PELUIT_WHATSAPP_APP_SECRET_FILE", str(tmp_path / "whatsapp-app-secret.key"))
    monkeypatch.setenv("PELUIT_WHATSAPP_VERIFY_TOKEN_FILE", str(tmp_path / "whatsapp-verify-token.key"))
    monkeypatch.setenv("PELUIT_WHATSAPP_OUTBOUND", "record")
    with pytest.raises(Exception, match="development and tests only"):
        wa.WhatsAppSettings.from_env()


# -- WhatsApp: media -------------------------------------------------------------------------

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 16  # enough for the fake attach; real checks run in check_each below


class FakeAttach:
    def __init__(self, refuse=(), error=None):
        self.calls, self.refuse, self.error = [], set(refuse), error

    def __call__(self, receipt, files):
        self.calls.append((receipt, files))
        if self.error:
            raise self.error
        return [{"n": n, "code": "corrupt_file", "id": f"Berkas ke-{n} rusak.", "en": f"File {n} is damaged."}
                for n in sorted(self.refuse)]


def media_msg(media_id, mid, kind="image", phone="6281234567890", **extra):
    return {"from": phone, "id": mid, "type": kind, kind: {"id": media_id, "mime_type": "image/jpeg", **extra}}


def test_media_messages_are_parsed_with_their_id_and_path_tricks_are_refused():
    got = wa.inbound_messages(payload(media_msg("1234567890", "w1"),
                                      media_msg("abc_DEF-1", "w2", kind="document", filename="KTP Budi.pdf")))
    assert [(m.message_id, m.text, m.media_id) for m in got] == [("w1", None, "1234567890"), ("w2", None, "abc_DEF-1")]
    assert "KTP" not in repr(got)
    for bad in ("../../me/accounts", "a/b", "", "x" * 129, "1?fields=url"):
        with pytest.raises(ValidationError):
            wa.inbound_messages(payload(media_msg(bad, "w3")))
    with pytest.raises(ValidationError):  # the number is anchored at both ends too
        wa.inbound_messages(payload(text_msg("halo", "w4", phone="6281234567890; DROP")))


def test_media_before_confirmation_is_checked_at_once_and_attached_after_registration(monkeypatch):
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "JPEG")
    photo = buf.getvalue()
    monkeypatch.setenv("PELUIT_EVIDENCE_MAX_FILES", "2")
    store, intake, attach, media = wa.ConversationStore(), FakeIntake(), FakeAttach(refuse={2}), wa.RecordingMedia()
    deps = dict(store=store, secret=b"w" * 32, catalogue=catalogue, register=intake.register, media=media,
                attach=attach)

    def send(mid, body=None, media_id=None):
        outbox = Outbox()
        outcome = wa.handle_message(wa.Inbound("6281234567890", mid, body, media_id), outbound=outbox, **deps)
        return outcome, [m["text"] for m in outbox.sent]

    first = media.put(photo)
    outcome, texts = send("m1", media_id=first)  # media as the very first message: greeted, and kept
    assert texts[0] == wa.WELCOME and "Pilih Inspektorat" in texts[1] and "Lampiran ke-1 diterima" in texts[2]
    assert send("m1", media_id=first)[0] == "duplicate"
    for mid, body in [("m2", "2"), ("m3", "2")]:
        send(mid, body)
    texts = send("m4", media_id=media.put(b"<html><script>x</script></html>"))[1]
    assert texts == [wa.evidence.REFUSALS["unsupported_type"][1].format(n=2) + "\n"
                     + wa.evidence.REFUSALS["unsupported_type"][2].format(n=2)]
    assert "Lampiran ke-2 diterima" in send("m5", media_id=media.put(b"bukti transfer Rp 5 juta"))[1][0]
    texts = send("m6", media_id=media.put(b"satu berkas lagi"))[1]
    assert "ke-3" in texts[0] and "File 3" in texts[0]  # over the per-report limit of 2
    assert wa.MEDIA_UNAVAILABLE.format(n=3) == send("m7", media_id="unknown")[1][0]
    for mid, body in [("m8", "Pungutan Rp 50.000 untuk KTP"), ("m9", "Kelurahan"), ("m10", "Senin"), ("m11", "-")]:
        send(mid, body)
    assert attach.calls == []  # nothing stored before the report exists
    outcome, texts = send("m12", "ya")
    assert outcome == "registered" and "1234-5678-9012-3456" in texts[0]
    (receipt, files), = attach.calls
    assert receipt == "1234-5678-9012-3456" and files == [(None, photo), (None, b"bukti transfer Rp 5 juta")]
    assert "1 lampiran tercatat" in texts[1] and "Berkas ke-2 rusak." in texts[2] and "File 2 is damaged." in texts[2]


def test_media_that_cannot_be_stored_defers_the_confirmation():
    store, intake, media = wa.ConversationStore(), FakeIntake(), wa.RecordingMedia()
    attach = FakeAttach(error=HttpError(503, "unavailable", {"id": "sibuk", "en": "busy"}))
    deps = dict(store=store, secret=b"w" * 32, catalogue=catalogue, register=intake.register, media=media,
                attach=attach)
    msgs = [("a1", "halo", None), ("a2", "2", None), ("a3", "1", None), ("a4", None, media.put(b"bukti teks")),
            ("a5", "Dana hibah dipotong 20%", None), ("a6", "Dinas", None), ("a7", "Kemarin", None), ("a8", "-", None)]
    for mid, body, media_id in msgs:
        wa.handle_message(wa.Inbound("6281234567890", mid, body, media_id), outbound=Outbox(), **deps)
    with pytest.raises(wa.TemporaryFailure):
        wa.handle_message(wa.Inbound("6281234567890", "a9", "ya"), outbound=Outbox(), **deps)
    attach.error = None
    outbox = Outbox()
    assert wa.handle_message(wa.Inbound("6281234567890", "a9", "ya"), outbound=outbox, **deps) == "replayed"
    assert len(attach.calls) == 2 and "1 lampiran tercatat" in outbox.sent[-1]["text"]


@contextlib.contextmanager
def graph_api(token="tok-1", file_size=None, status=200):
    """A local stand-in for the Graph API's media endpoints (real HTTP, real sockets)."""
    from http.server import BaseHTTPRequestHandler, HTTPServer

    seen = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            seen.append((self.path, self.headers.get("Authorization")))
            if self.headers.get("Authorization") != f"Bearer {token}":
                self.send_response(401)
                self.end_headers()
                return
            if self.path.startswith("/v21.0/"):
                if status != 200:
                    self.send_response(status)
                    self.end_headers()
                    return
                body = json.dumps({"url": f"http://127.0.0.1:{server.server_port}/cdn/x", "mime_type": "image/jpeg",
                                   "file_size": file_size or 5, "id": self.path.rsplit("/", 1)[1]}).encode()
            else:
                body = b"bytes"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = HTTPServer(("127.0.0.1", 0), Handler)
    gt = eventlet.spawn(server.serve_forever, 0.05)
    try:
        yield f"http://127.0.0.1:{server.server_port}/v21.0", seen
    finally:
        server.shutdown()
        server.server_close()
        gt.wait()


def test_graph_media_fetches_the_url_then_the_bytes_with_the_token():
    with graph_api() as (base, seen):
        assert wa.GraphMedia(base, "tok-1", timeout=5).fetch("123456", 100) == b"bytes"
        assert seen == [("/v21.0/123456", "Bearer tok-1"), ("/cdn/x", "Bearer tok-1")]
        with pytest.raises(wa.MediaGone):
            wa.GraphMedia(base, "wrong", timeout=5).fetch("123456", 100)
        with pytest.raises(wa.MediaGone):
            wa.GraphMedia(base, "tok-1", timeout=5).fetch("../me", 100)
        with pytest.raises(wa.MediaTooLarge):
            wa.GraphMedia(base, "tok-1", timeout=5).fetch("123456", 4)  # read bounded
    with graph_api(file_size=10_000_000) as (base, seen):
        with pytest.raises(wa.MediaTooLarge):
            wa.GraphMedia(base, "tok-1", timeout=5).fetch("123456", 1000)
        assert [p for p, _ in seen] == ["/v21.0/123456"]  # refused before the download
    with graph_api(status=404) as (base, _):
        with pytest.raises(wa.MediaGone):
            wa.GraphMedia(base, "tok-1", timeout=5).fetch("123456", 100)
    with graph_api(status=503) as (base, _):
        with pytest.raises(OSError):
            wa.GraphMedia(base, "tok-1", timeout=5).fetch("123456", 100)
