"""Attachments that come by e-mail or WhatsApp go through the portal's evidence
path: type by content, limits, metadata stripped for officers, the untouched
original sealed to the vault. A refused attachment never loses the report; the
reporter is told (bilingually) which one and why. A canary in a file name and
in an EXIF/PDF author field appears nowhere outside the vault in clear
(databases, logs, metrics, broker messages, replies)."""

from __future__ import annotations

import io
import json
import mailbox
import re
import secrets
import time
from email.message import EmailMessage
from email.utils import make_msgid

import pikepdf
import requests
from PIL import ExifTags, Image

from peluit_common.testing import authored_pdf, gps_photo
from peluit_intake.whatsapp import sign
from peluit_local.testing import (admin_connect, count_cases, encodings, eventually, hits_outside_the_vault,
                                  smtp_client)

RECEIPT = re.compile(r"\b\d{4}-\d{4}-\d{4}-\d{4}\b")
NUMBER = re.compile(r"WBS/[\d.]+/\d{4}/\d{6}")
WEBHOOK = "/api/v1/channels/whatsapp/webhook"
HTML = b"<!DOCTYPE html><html><body><script>alert('x')</script></body></html>"


def case_of(system, number) -> str:
    with admin_connect(system, "cases") as conn:
        row = eventually(lambda: conn.execute(
            "SELECT case_id FROM peluit.case_index WHERE registration_number = %s", (number,)).fetchone())
    assert row, "the case index follows the log"
    return str(row[0])


def officer_copies(system, login, case_id) -> tuple[list, dict, bytes]:
    sari = login("sari.penelaah")
    doc = requests.get(f"{system.url('cases')}/api/v1/cases/{case_id}", headers=sari, timeout=10)
    assert doc.status_code == 200, doc.text
    copies, replies = {}, [doc.content]
    for item in doc.json()["evidence"]:
        got = requests.get(system.url("cases") + item["download"], headers=sari, timeout=10)
        assert got.status_code == 200, got.text
        copies[item["mime"]] = got.content
        replies.append(got.content)
    return doc.json()["evidence"], copies, b"\n".join(replies)


def vault_originals(system, case_id) -> list:
    with admin_connect(system, "identity-vault") as conn:
        return conn.execute("SELECT mime, size FROM peluit.evidence_original WHERE case_id = %s ORDER BY mime",
                            (case_id,)).fetchall()


def assert_no_gps(jpeg: bytes) -> None:
    with Image.open(io.BytesIO(jpeg)) as img:
        assert dict(img.getexif()) == {} and img.getexif().get_ifd(ExifTags.IFD.GPSInfo) == {}
        assert img.size == (64, 48)


# -- e-mail -------------------------------------------------------------------------------

def test_mail_attachments_become_stripped_evidence_and_a_refused_one_keeps_the_report(system, login):
    marker = "Canary" + secrets.token_hex(10)
    address = f"a{secrets.token_hex(6)}@example.id"
    photo = gps_photo(marker)
    assert marker.encode() in photo
    msg = EmailMessage()
    msg["From"] = address
    msg["To"] = "wbs+35.73@peluit.invalid"
    msg["Subject"] = "[pungli] Pungutan di loket perizinan"
    msg["Message-ID"] = make_msgid(domain="example.id")
    msg.set_content("Petugas loket perizinan meminta uang pelicin. Foto kuitansi terlampir.\n"
                    "Di mana: Mal Pelayanan Publik Kota Malang\n")
    msg.add_attachment(photo, maintype="image", subtype="jpeg", filename=f"IMG_{marker}.jpg")
    msg.add_attachment(HTML, maintype="image", subtype="jpeg", filename="bukan-foto.jpg")  # lies about its type
    before = count_cases(system)

    with smtp_client(system) as client:
        assert client.send_message(msg) == {}  # 250: the report and its evidence are durable
    assert count_cases(system) == before + 1

    replies = [m for m in mailbox.Maildir(str(system.mail_dir), create=False) if m["To"] == address]
    assert len(replies) == 1
    body = replies[0].get_payload(decode=True).decode()
    number = NUMBER.search(body).group(0)
    assert "1 lampiran tercatat" in body and "1 attachment(s) were recorded" in body
    assert "Jenis berkas ke-2 tidak diizinkan" in body and "File 2 is of a type that is not accepted" in body
    assert marker not in body and "bukan-foto" not in body

    case_id = case_of(system, number)
    items, copies, officer_replies = officer_copies(system, login, case_id)
    assert [(i["label"], i["mime"]) for i in items] == [("lampiran-1.jpg", "image/jpeg")]
    assert_no_gps(copies["image/jpeg"])
    assert marker.encode() not in copies["image/jpeg"]
    assert vault_originals(system, case_id) == [("image/jpeg", len(photo))]  # the original, sealed

    status = requests.post(system.url("intake") + "/api/v1/reports/status",
                           json={"receipt": RECEIPT.search(body).group(0)}, timeout=15)
    assert [e["label"] for e in status.json()["evidence"]] == ["lampiran-1.jpg"]
    assert hits_outside_the_vault(system, [marker, address], officer_replies + status.content) == []
    assert any(p in msg.as_bytes() for p in encodings(marker))  # sanity: the search finds it in the mail


# -- WhatsApp -----------------------------------------------------------------------------

def app_secret(system) -> bytes:
    return (system.keys_dir / "intake" / "whatsapp-app-secret.key").read_text().strip().encode()


def signed_post(system, path, raw: bytes, content_type="application/json"):
    return requests.post(system.url("intake") + path, data=raw, timeout=30, headers={
        "Content-Type": content_type, "X-Hub-Signature-256": sign(app_secret(system), raw)})


def put_media(system, data: bytes) -> str:
    resp = signed_post(system, "/api/v1/channels/whatsapp/dev-media", data, "application/octet-stream")
    assert resp.status_code == 201, resp.text
    return resp.json()["id"]


def message(phone, kind, body):
    return {"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [{
        "field": "messages", "value": {
            "messaging_product": "whatsapp", "metadata": {"phone_number_id": "106540352242922"},
            "messages": [{"from": phone, "id": "wamid." + secrets.token_urlsafe(24),
                          "timestamp": str(int(time.time())), "type": kind, kind: body}]}}]}]}


def test_whatsapp_media_become_stripped_evidence_under_the_same_limits(system, login):
    marker = "Canary" + secrets.token_hex(10)
    phone = "628" + "".join(secrets.choice("0123456789") for _ in range(10))
    photo, pdf = gps_photo(marker), authored_pdf(marker)
    before = count_cases(system)
    seen: list[bytes] = []

    def say(kind, body):
        resp = signed_post(system, WEBHOOK, json.dumps(message(phone, kind, body)).encode())
        assert resp.status_code == 200, resp.text
        return [m["text"] for m in resp.json()["outbound"]]

    unsigned = requests.post(system.url("intake") + "/api/v1/channels/whatsapp/dev-media", data=b"x", timeout=10)
    assert unsigned.status_code == 401
    greeting = say("image", {"id": put_media(system, photo), "mime_type": "image/jpeg", "caption": marker})
    assert "Lampiran ke-1 diterima" in greeting[-1]
    tenant = next(line for line in greeting[-2].splitlines() if "(35.73)" in line).split(".", 1)[0]
    categories = say("text", {"body": tenant})[-1]
    say("text", {"body": next(line for line in categories.splitlines() if "Pungutan liar" in line).split(".", 1)[0]})
    refused = say("document", {"id": put_media(system, HTML), "filename": "laporan.pdf"})
    assert refused[0].startswith("Jenis berkas ke-2 tidak diizinkan") and "File 2" in refused[0]
    taken = say("document", {"id": put_media(system, pdf), "filename": f"Kuitansi {marker}.pdf",
                             "mime_type": "application/pdf"})
    assert "Lampiran ke-2 diterima" in taken[0]
    assert "Lampiran ke-3 tidak dapat diambil" in say("image", {"id": "1234567890"})[0]  # unknown media id
    for answer in ("Petugas meminta pungutan Rp 200.000 untuk izin usaha", "Mal Pelayanan Publik", "Kemarin", "-"):
        say("text", {"body": answer})
    assert count_cases(system) == before  # nothing stored before the reporter confirms
    final = say("text", {"body": "YA"})
    number = NUMBER.search(final[0]).group(0)
    assert "2 lampiran tercatat" in final[1] and "2 attachment(s) recorded" in final[1]
    assert count_cases(system) == before + 1

    case_id = case_of(system, number)
    items, copies, officer_replies = officer_copies(system, login, case_id)
    assert [(i["label"], i["mime"]) for i in items] == [("lampiran-1.jpg", "image/jpeg"),
                                                       ("lampiran-2.pdf", "application/pdf")]
    assert_no_gps(copies["image/jpeg"])
    with pikepdf.open(io.BytesIO(copies["application/pdf"])) as stripped:
        assert "/Info" not in stripped.trailer
    assert all(marker.encode() not in c for c in copies.values())
    assert vault_originals(system, case_id) == [("application/pdf", len(pdf)), ("image/jpeg", len(photo))]

    seen.append(officer_replies)
    assert hits_outside_the_vault(system, [marker, phone], b"\n".join(seen)) == []
