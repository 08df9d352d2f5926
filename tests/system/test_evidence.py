"""Evidence end to end: a reporter uploads a GPS-tagged photo and a PDF with
an author through intake with the receipt; officers of the tenant list and
download stripped copies (no GPS, no author), other tenants get 404 (recorded);
the untouched originals exist only in the vault, encrypted, and come out only
through dual-control disclosure sealed to the requester's key. A marker in the
EXIF and the PDF author is then searched in every table of every database,
every log, every broker message and every reply. A bad file (HTML named .jpg,
a zip bomb, an oversized file) is a bilingual 4xx and stores nothing anywhere."""

from __future__ import annotations

import base64
import hashlib
import io
import secrets
import uuid
import zipfile

import pikepdf
import requests
from nacl.public import PrivateKey, SealedBox
from PIL import ExifTags, Image

from peluit_common.testing import authored_pdf, gps_photo, png_bomb
from peluit_local.testing import (
    admin_connect,
    encodings,
    hits_outside_the_vault,
    new_case,
    put_on_team,
    stored_counts,
)



def zip_bomb() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/'
                   'package/2006/content-types"><Override PartName="/word/document.xml" ContentType="application/'
                   'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>')
        with z.open("word/document.xml", "w", force_zip64=True) as member:
            for _ in range(200):
                member.write(bytes(1_000_000))
    return out.getvalue()


# -- helpers ------------------------------------------------------------------------------

def upload(system, receipt, files, **kwargs) -> requests.Response:
    parts = [("file", f) for f in files]
    return requests.post(system.url("intake") + "/api/v1/reports/evidence", data={"receipt": receipt},
                         files=parts, timeout=60, **kwargs)


def assert_bilingual(resp, status: int, code: str) -> dict:
    assert resp.status_code == status, resp.text
    err = resp.json()["error"]
    assert err["code"] == code
    assert err["message"]["id"] and err["message"]["en"] and err["message"]["id"] != err["message"]["en"]
    for messages in err.get("fields", {}).values():
        for m in messages:
            assert m["id"] and m["en"] and m["id"] != m["en"]
    return err


def approve(system, login, fresh_totp, name, request_id) -> requests.Response:
    headers = login(name)  # first: a login takes a one-time code too, and steps only move forward
    return requests.post(f"{system.url('cases')}/api/v1/disclosure-requests/{request_id}/approve",
                         json={"totp": fresh_totp(name)}, headers=headers, timeout=15)


# -- the tests ----------------------------------------------------------------------------

def test_evidence_is_stripped_for_officers_and_sealed_in_the_vault(system, staff, login, fresh_totp):
    marker = "Canary" + secrets.token_hex(10)
    case_id, receipt = new_case(system)
    photo, pdf = gps_photo(marker), authored_pdf(marker)
    assert marker.encode() in photo and marker.encode() in pdf  # the originals really carry it
    replies: list[bytes] = []

    resp = upload(system, receipt, [(f"Laporan_{marker}_IMG_20261012.jpg", photo, "image/jpeg"),
                                    ("kuitansi.pdf", pdf, "application/pdf")])
    assert resp.status_code == 201, resp.text
    replies.append(resp.content)
    accepted = resp.json()["evidence"]
    assert [(e["label"], e["mime"], e["size"]) for e in accepted] == [
        ("lampiran-1.jpg", "image/jpeg", len(photo)), ("lampiran-2.pdf", "application/pdf", len(pdf))]
    assert resp.json()["message"]["id"] and resp.json()["message"]["en"]
    # a retried upload is idempotent: no second copy anywhere
    before = stored_counts(system)
    again = upload(system, receipt, [(f"Laporan_{marker}_IMG_20261012.jpg", photo, "image/jpeg"),
                                     ("kuitansi.pdf", pdf, "application/pdf")])
    assert again.status_code == 201 and stored_counts(system) == before

    # the reporter sees what they attached, by generic label (their file names went sealed to the vault)
    status = requests.post(system.url("intake") + "/api/v1/reports/status", json={"receipt": receipt}, timeout=10)
    assert [e["label"] for e in status.json()["evidence"]] == ["lampiran-1.jpg", "lampiran-2.pdf"]
    replies.append(status.content)

    # officers of the tenant: metadata in the case document, stripped copies to download
    sari = login("sari.penelaah")
    doc = requests.get(f"{system.url('cases')}/api/v1/cases/{case_id}", headers=sari, timeout=10)
    assert doc.status_code == 200
    replies.append(doc.content)
    items = doc.json()["evidence"]
    assert [(i["label"], i["mime"]) for i in items] == [("lampiran-1.jpg", "image/jpeg"),
                                                       ("lampiran-2.pdf", "application/pdf")]
    assert any(h["kind"] == "evidence_added" for h in doc.json()["history"])
    copies = {}
    for item in items:
        got = requests.get(system.url("cases") + item["download"], headers=sari, timeout=10)
        assert got.status_code == 200, got.text
        assert got.headers["Content-Type"].startswith(item["mime"])
        assert got.headers["Content-Disposition"].startswith("attachment;")
        assert item["label"] in requests.utils.unquote(got.headers["Content-Disposition"])
        assert got.headers["X-Content-Type-Options"] == "nosniff"
        assert got.headers["Content-Security-Policy"] == "sandbox"
        assert got.headers["Cache-Control"] == "no-store"
        assert hashlib.sha256(got.content).hexdigest() == item["sha256"] and len(got.content) == item["size"]
        replies.append(got.content)
        copies[item["mime"]] = got.content
    with Image.open(io.BytesIO(copies["image/jpeg"])) as img:
        assert dict(img.getexif()) == {} and img.getexif().get_ifd(ExifTags.IFD.GPSInfo) == {}
        assert img.size == (64, 48)
    with pikepdf.open(io.BytesIO(copies["application/pdf"])) as stripped:
        assert "/Info" not in stripped.trailer and "/Metadata" not in stripped.Root
    assert marker.encode() not in copies["image/jpeg"] + copies["application/pdf"]

    # another tenant: 404 like a missing case, and the attempt is recorded
    budi = login("budi.kabmalang")
    for path in (items[0]["download"], f"/api/v1/cases/{case_id}/evidence/{uuid.uuid4()}"):
        other = requests.get(system.url("cases") + path, headers=budi, timeout=10)
        assert other.status_code == 404
        replies.append(other.content)
    unknown = requests.get(f"{system.url('cases')}/api/v1/cases/{case_id}/evidence/{uuid.uuid4()}", headers=sari,
                           timeout=10)
    assert unknown.status_code == 404
    assert requests.get(system.url("cases") + items[0]["download"], timeout=10).status_code == 401
    with admin_connect(system, "cases") as conn:
        rows = conn.execute("SELECT convert_from(state, 'UTF8')::jsonb FROM peluit.cases_events WHERE topic LIKE %s",
                            ("%AccessLog.Accessed",)).fetchall()
    downloads = [r[0] for r in rows if r[0]["action"] == "evidence_download"]
    assert any(e["officer_id"] == staff["sari.penelaah"]["id"] and e["allowed"] for e in downloads)
    assert any(e["officer_id"] == staff["budi.kabmalang"]["id"] and not e["allowed"] for e in downloads)

    # the originals: in the vault only, encrypted, bound to the case
    with admin_connect(system, "identity-vault") as conn:
        originals = conn.execute("SELECT original_ref, case_id::text, mime, size FROM peluit.evidence_original "
                                 "WHERE case_id = %s ORDER BY size", (case_id,)).fetchall()
    assert sorted((m, s) for _, _, m, s in originals) == sorted([("image/jpeg", len(photo)),
                                                                  ("application/pdf", len(pdf))])
    assert {r[0] for r in originals} == {i["original_ref"] for i in items}

    # dual control for an original: an investigator asks, another inspektur approves with a fresh
    # TOTP code, the requester's own key opens the one view; byte for byte the reporter's file
    put_on_team(system, login("agus.inspektur"), case_id, [staff["dewi.irban"]["id"]])  # the team asks
    dewi = login("dewi.irban")
    jpeg_item = items[0]
    filed = requests.post(f"{system.url('cases')}/api/v1/cases/{case_id}/evidence/{jpeg_item['evidence_id']}"
                          "/disclosure-requests", headers=dewi, timeout=15,
                          json={"reason": "Perintah pengadilan untuk memeriksa foto asli", "legal_basis": "court_order"})
    assert filed.status_code == 201, filed.text
    assert filed.json()["subject"] == "evidence" and filed.json()["status"] == "pending"
    request_id = filed.json()["request_id"]
    refused = requests.post(f"{system.url('cases')}/api/v1/cases/{case_id}/evidence/{jpeg_item['evidence_id']}"
                            "/disclosure-requests", headers=sari, timeout=15,
                            json={"reason": "Bukan investigator tetapi ingin melihat", "legal_basis": "court_order"})
    assert refused.status_code == 403
    client = PrivateKey.generate()
    key = base64.b64encode(bytes(client.public_key)).decode()
    early = requests.post(f"{system.url('cases')}/api/v1/disclosure-requests/{request_id}/view", headers=dewi,
                          json={"public_key": key}, timeout=15)
    assert early.status_code == 409
    approved = approve(system, login, fresh_totp, "agus.inspektur", request_id)
    assert approved.status_code == 200, approved.text
    view = requests.post(f"{system.url('cases')}/api/v1/disclosure-requests/{request_id}/view", headers=dewi,
                         json={"public_key": key}, timeout=15)
    assert view.status_code == 200, view.text
    replies.append(view.content)
    assert view.json()["subject"] == "evidence" and view.json()["original_ref"] == jpeg_item["original_ref"]
    assert SealedBox(client).decrypt(base64.b64decode(view.json()["sealed_original"])) == photo
    # and the file name the reporter's phone gave it, which no officer saw as a label
    assert SealedBox(client).decrypt(base64.b64decode(view.json()["sealed_name"])) == \
        f"Laporan_{marker}_IMG_20261012.jpg".encode()
    events = requests.get(f"{system.url('cases')}/api/v1/disclosure-events?tenant=35.73",
                          headers=login("agus.inspektur"), timeout=15)
    mine = [e for e in events.json()["events"] if e["request_id"] == request_id]
    assert [e["type"] for e in mine][:1] == ["requested"] and mine[0]["subject"] == "evidence"
    assert "viewed" in [e["type"] for e in mine]
    replies.append(events.content)

    # the marker: nowhere in clear or encoded, outside the sealed and encrypted originals
    # the tap saw the (sealed) files go by
    assert hits_outside_the_vault(system, [marker], b"\n".join(replies), min_broker_bytes=len(photo)) == []
    # sanity: the search would have found it in what the reporter sent
    assert any(p in resp.request.body for p in encodings(marker))


def test_bad_files_are_refused_bilingually_and_store_nothing(system):
    case_id, receipt = new_case(system)
    photo = gps_photo("x")
    html = b"<!DOCTYPE html><html><body><script>alert('x')</script></body></html>"
    before = stored_counts(system)

    err = assert_bilingual(upload(system, receipt, [("nama-pelapor.jpg", html, "image/jpeg")]), 415,
                           "unsupported_type")
    assert set(err["fields"]) == {"file.1"} and err["fields"]["file.1"][0]["code"] == "unsupported_type"
    assert "alert(" not in repr(err) and "nama-pelapor" not in repr(err)  # neither content nor name echoed
    # a good photo next to a bad file: all or nothing
    err = assert_bilingual(upload(system, receipt, [("ok.jpg", photo, "image/jpeg"), ("x.jpg", html, "image/jpeg")]),
                           415, "unsupported_type")
    assert set(err["fields"]) == {"file.2"}
    err = assert_bilingual(upload(system, receipt, [("laporan.docx", zip_bomb(), "application/octet-stream")]),
                           422, "zip_bomb")
    assert set(err["fields"]) == {"file.1"}
    assert_bilingual(upload(system, receipt, [("besar.txt", b"a" * 10_000_001, "text/plain")]), 413,
                     "file_too_large")
    assert_bilingual(upload(system, receipt, [(f"{n}.jpg", photo, "image/jpeg") for n in range(6)]), 413,
                     "too_many_files")
    assert_bilingual(upload(system, receipt, [("", b"", "application/octet-stream")]), 400, "no_file")  # empty input
    assert_bilingual(upload(system, "1234", [("ok.jpg", photo, "image/jpeg")]), 400, "validation_failed")
    # a wrong receipt: 404, the vault never sees the file
    assert_bilingual(upload(system, "0000-0000-0000-0000", [("ok.jpg", photo, "image/jpeg")]), 404, "not_found")
    assert_bilingual(requests.post(system.url("intake") + "/api/v1/reports/evidence", json={"receipt": receipt},
                                   timeout=10), 415, "unsupported_media_type")
    big = requests.post(system.url("intake") + "/api/v1/reports/evidence", timeout=60,
                        data=b"x" * 26_100_000, headers={"Content-Type": "multipart/form-data; boundary=b"})
    assert_bilingual(big, 413, "payload_too_large")
    unknown = requests.post(system.url("intake") + "/api/v1/reports/evidence", data={"receipt": receipt, "x": "1"},
                            files=[("file", ("a.txt", b"halo", "text/plain"))], timeout=10)
    assert set(assert_bilingual(unknown, 400, "validation_failed")["fields"]) == {"x"}

    assert stored_counts(system) == before
    with admin_connect(system, "cases") as conn:
        assert conn.execute("SELECT count(*) FROM peluit.evidence_blob WHERE case_id = %s",
                            (case_id,)).fetchone()[0] == 0


def test_a_decompression_bomb_ends_one_sandboxed_worker_and_intake_keeps_serving(system):
    """A PNG that decodes to 144 MB (the system's sandbox allows 256 MB per worker, the
    parsers need more) is refused with a bilingual 422; the next upload and status answer at once."""
    _, receipt = new_case(system)
    resp = upload(system, receipt, [("foto.png", png_bomb(), "image/png")])
    err = assert_bilingual(resp, 422, "unsafe_file")
    assert list(err["fields"]) == ["file.1"]
    ok = upload(system, receipt, [("catatan.txt", b"bukti transfer", "text/plain")])
    assert ok.status_code == 201, ok.text
    status = requests.post(system.url("intake") + "/api/v1/reports/status", json={"receipt": receipt}, timeout=10)
    assert status.status_code == 200 and [e["label"] for e in status.json()["evidence"]] == ["lampiran-1.txt"]
