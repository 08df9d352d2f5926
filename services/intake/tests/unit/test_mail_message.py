"""The e-mail channel's plain parts: addresses and settings, parsing a mail
and mapping it to 5W+1H, the idempotency key."""

from __future__ import annotations

import json
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from functools import partial

import pytest

from peluit_intake import mail_message as mm
from peluit_intake.mail_settings import MailSettings, resolve_tenant

CATEGORIES = {"korupsi", "pungli", "pengadaan", "lainnya"}
SETTINGS = MailSettings(max_bytes=64 * 1024, timeout=5, addresses={"wbs@malangkota.go.id": "35.73"})


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
    assert resolve_tenant(address, SETTINGS) == tenant


def test_settings_from_env(monkeypatch):
    monkeypatch.setenv("PELUIT_MAIL_LISTEN", "127.0.0.1:2525")
    monkeypatch.setenv("PELUIT_MAIL_DOMAINS", "wbs.jatimprov.go.id, Peluit.Invalid")
    monkeypatch.setenv("PELUIT_MAIL_ADDRESSES", "WBS@surabaya.go.id=35.78")
    s = MailSettings.from_env()
    assert s.listen == ("127.0.0.1", 2525)
    assert s.domains == {"wbs.jatimprov.go.id", "peluit.invalid"}
    assert resolve_tenant("wbs@surabaya.go.id", s) == "35.78"
    monkeypatch.setenv("PELUIT_MAIL_ADDRESSES", "wbs@surabaya.go.id=Surabaya")
    with pytest.raises(Exception, match="PELUIT_MAIL_ADDRESSES"):
        MailSettings.from_env()
    monkeypatch.delenv("PELUIT_MAIL_ADDRESSES")
    monkeypatch.delenv("PELUIT_MAIL_LISTEN")
    assert MailSettings.from_env().listen is None  # off unless configured


# -- parsing and mapping ----------------------------------------------------------------

def test_plain_mail_maps_to_5w1h_with_the_category_tag(mail):
    parsed = mm.parse_mail(mail().as_bytes())
    assert parsed.from_addr == "budi@example.id" and parsed.from_name == "Budi Santoso"
    assert parsed.message_id == "<abc123@example.id>" and not parsed.automatic and not parsed.attachments
    mapped = mm.map_report(parsed, CATEGORIES)
    assert mapped.category == "pungli"
    assert mapped.fields == {"what": "Pungutan liar di kelurahan\n\nPetugas meminta uang Rp 50.000 untuk surat.",
                             "where": mm.NOT_STATED, "when": mm.NOT_STATED}
    assert mapped.missing_where_when and not mapped.truncated


def test_unknown_tag_is_other_and_stays_in_the_text(mail):
    mapped = mm.map_report(mm.parse_mail(mail(subject="Re: [rahasia] Laporan").as_bytes()), CATEGORIES)
    assert mapped.category == "lainnya"
    assert mapped.fields["what"].startswith("[rahasia] Laporan\n\n")


def test_labelled_lines_fill_the_fields_and_the_signature_is_dropped(mail):
    body = ("Saya ingin melaporkan.\n"
            "Apa: Mark-up harga laptop 40%\n"
            "Di mana: Dinas Pendidikan Kota Malang\n"
            "Kapan: Maret 2026\n"
            "Siapa: PPK pengadaan\n"
            "Bagaimana: Harga di kontrak jauh di atas\n"
            "harga pasar.\n"
            "-- \n"
            "Budi Santoso\nNIP 198001012005011001\n")
    mapped = mm.map_report(mm.parse_mail(mail(subject="[pengadaan] Mark-up", body=body).as_bytes()), CATEGORIES)
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
    parsed = mm.parse_mail(outer.as_bytes())
    assert parsed.body == "Kepala seksi menerima suap.\n\nDi kantor & di rumah."
    assert parsed.attachments
    assert "alert" not in parsed.body and "p{}" not in parsed.body


def test_missing_subject_uses_the_body_only(mail):
    parsed = mm.parse_mail(mail(subject=None, body="Ada pungutan liar di loket KTP.").as_bytes())
    assert parsed.subject == ""
    assert mm.map_report(parsed, CATEGORIES).fields["what"] == "Ada pungutan liar di loket KTP."


@pytest.mark.parametrize("charset", ["iso-8859-1", "windows-1252"])
def test_non_utf8_charsets_are_decoded(charset):
    text = "Pengadaan kafé: uang «tunai» diminta"
    msg = MIMEText(text, "plain", charset)
    msg["From"] = "a@example.id"
    msg["Subject"] = "=?iso-8859-1?q?Laporan_caf=E9?="
    parsed = mm.parse_mail(msg.as_bytes())
    assert parsed.body == text
    assert parsed.subject == "Laporan café"


def test_unknown_charset_falls_back_without_losing_the_report():
    raw = (b"From: a@example.id\r\nSubject: x\r\nContent-Type: text/plain; charset=x-unknown-8\r\n"
           b"Content-Transfer-Encoding: 8bit\r\n\r\nUang diminta di loket \xe9\xe8\r\n")
    parsed = mm.parse_mail(raw)
    assert parsed.body.startswith("Uang diminta di loket")


def test_control_characters_are_removed_and_headers_may_be_broken():
    raw = (b"From: not an address\r\nSubject: =?utf-8?b?broken\r\nAuto-Submitted: auto-replied\r\n\r\n"
           b"isi\x00 dengan\x07 kontrol\x0c karakter\r\n")
    parsed = mm.parse_mail(raw)
    assert parsed.body == "isi dengan kontrol karakter"
    assert parsed.from_addr is None and parsed.automatic


def test_long_text_overflows_into_how_and_is_cut_last(mail):
    body = "a" * 7000
    mapped = mm.map_report(mm.parse_mail(mail(subject=None, body=body).as_bytes()), CATEGORIES)
    assert len(mapped.fields["what"]) == 5000 and mapped.fields["what"].endswith(mm.CUT_MARK)
    assert mapped.fields["how"].startswith(mm.CONTINUED) and not mapped.truncated
    how_text = mapped.fields["how"][len(mm.CONTINUED):]
    assert mapped.fields["what"][:-len(mm.CUT_MARK)] + how_text == body
    huge = mm.map_report(mm.parse_mail(mail(subject=None, body="b" * 12000).as_bytes()), CATEGORIES)
    assert huge.truncated and len(huge.fields["how"]) == 5000


def test_idempotency_key_depends_on_sender_and_message_id():
    key = partial(mm.idempotency_key, b"k" * 32)
    assert key("a@x.id", "<1@x>", b"raw") == key("A@X.ID", "<1@x>", b"other raw")
    assert key("a@x.id", "<1@x>", b"raw") != key("b@x.id", "<1@x>", b"raw")
    assert key("a@x.id", None, b"raw") == key("a@x.id", None, b"raw") != key("a@x.id", None, b"raw2")
    assert len(key("a@x.id", None, b"raw")) == 64
