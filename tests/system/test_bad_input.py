"""Bad input: a clear bilingual 4xx, never a 500, and nothing written anywhere.

docs/testing.md "Bad input" checklist: each bad input per channel -> the test that sends it.
Every refusal is checked to be bilingual and to leave no case, no identity and no
evidence (``snapshot``); the channel's equivalent of a 4xx is an SMTP 5xx with an
Indonesian / English text, or a 4xx webhook answer (WhatsApp's own error channel).

bad input             | reporter API (JSON, evidence)              | portal forms                                  | e-mail (SMTP)                                | WhatsApp webhook
----------------------|--------------------------------------------|-----------------------------------------------|----------------------------------------------|------------------------------------------
oversized body        | test_body_over_the_limit_is_413;           | test_portal_refuses_oversized_wrong_type_     | test_mail_bad_input_is_refused_with_a_       | test_whatsapp_bad_input_is_refused_and_
                      | test_evidence.py::test_bad_files_are_...   |   and_malformed_bodies (413 before reading)   |   bilingual_5xx_and_stores_nothing (552)     |   changes_nothing (413); media over the
                      |   (413 file / upload)                      |                                               |                                              |   limit: services/intake/tests
wrong content type    | test_wrong_content_type_is_415;            | test_portal_refuses_oversized_wrong_type_...  | test_mail_bad_input_... (a PDF as the body:  | test_whatsapp_bad_input_... (form body:
                      | test_bad_files_... (HTML named .jpg: 415)  |   (JSON/text body: 403, no form token)        |   550 empty report; HTML named .jpg:         |   400); test_intake_channel_evidence.py
                      |                                            |                                               |   test_intake_channel_evidence.py)           |   (HTML as a document: refused reply)
malformed JSON/body   | test_malformed_json_is_400;                | test_portal_refuses_oversized_wrong_type_...  | test_mail_bad_input_... (multipart without   | test_whatsapp_bad_input_... (signed
                      | test_malformed_multipart_is_400            |   (broken multipart: 4xx)                     |   its parts: 550; bad sender: 550)           |   garbage 400, wrong schema 400)
HTML/script in text   | test_html_in_text_is_stored_as_text_and_   | test_portal.py::test_missing_fields_come_back | test_mail_bad_input_... (script dropped,     | test_whatsapp_bad_input_... (kept as
                      |   returned_as_json                         |   _tied_... / ::test_the_whole_flow_... (escaped) |   text kept)                               |   text, returned only as JSON)
path tricks in names  | test_path_tricks_in_file_names_become_     | test_path_tricks_in_file_names_... (portal    | test_mail_bad_input_... (attachment          | test_whatsapp_bad_input_... (media id
                      |   plain_labels; bad_tenant_code (../35)    |   upload); test_portal.py (/static/../)       |   "../../etc/passwd": generic label)         |   "../../me": 400, file name: never kept)
duplicated submission | test_report_flow.py::test_idempotency_key_ | test_portal.py::test_the_whole_flow_without_  | test_channels.py::test_a_mail_becomes_a_     | test_channels.py::test_a_signed_whatsapp_
                      |   replays_...; test_evidence.py (re-upload)|   javascript (send pressed twice)             |   case_... (same Message-ID: one case)       |   conversation_... (retried webhook)
unknown route/method  | test_unknown_paths_and_wrong_methods_are_bilingual_json_with_the_headers (intake and every other service)
"""

from __future__ import annotations

import html as html_lib
import json
import re
import uuid

import pytest
import requests

from peluit_local.testing import admin_connect, eventually, sample_report, smtp_client, stored_counts, submit


def post_raw(system, data: bytes, content_type="application/json", headers=None):
    h = {"Content-Type": content_type, **(headers or {})}
    return requests.post(system.url("intake") + "/api/v1/reports", data=data, headers=h, timeout=15)


def assert_bilingual(resp, status: int, code: str):
    assert resp.status_code == status, resp.text
    err = resp.json()["error"]
    assert err["code"] == code
    assert err["message"]["id"] and err["message"]["en"]
    for messages in err.get("fields", {}).values():
        for m in messages:
            assert m["id"] and m["en"] and m["id"] != m["en"]
    return err


CASES = {
    "missing_required": ({"tenant": "35.73", "category": "korupsi"}, {"what", "where", "when"}),
    "wrong_types": (sample_report(what=12345, when=["x"]), {"what", "when"}),
    "too_short": (sample_report(what="pendek"), {"what"}),
    "too_long": (sample_report(where="x" * 501), {"where"}),
    "nul_byte": (sample_report(who="Kepala\u0000Bidang"), {"who"}),
    "bad_tenant_code": (sample_report(tenant="../35"), {"tenant"}),
    "bad_identity": (sample_report(identity={"nik": "123", "email": "not-an-email", "phone": "call me"}),
                     {"identity.nik", "identity.email", "identity.phone"}),
    "empty_identity": (sample_report(identity={}), {"identity"}),
    "unknown_field": (sample_report(password="x"), {"password"}),
    "identity_not_object": (sample_report(identity="Budi"), {"identity"}),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_invalid_fields_get_a_field_by_field_400_and_write_nothing(system, name):
    body, fields = CASES[name]
    before = stored_counts(system)
    err = assert_bilingual(submit(system, body, key=str(uuid.uuid4())), 400, "validation_failed")
    assert fields <= set(err["fields"]), err["fields"]
    assert stored_counts(system) == before


@pytest.mark.parametrize("raw", [b'{"tenant": "35.73"', b"[1, 2, 3]", b"\xff\xfe", b"", b"null", b'"text"'])
def test_malformed_json_is_400(system, raw):
    before = stored_counts(system)
    assert_bilingual(post_raw(system, raw), 400, "malformed_json")
    assert stored_counts(system) == before


def test_body_over_the_limit_is_413(system):
    before = stored_counts(system)
    big = json.dumps(sample_report(what="x" * (70 * 1024))).encode()
    assert_bilingual(post_raw(system, big), 413, "payload_too_large")
    # also when the client does not announce the length (chunked)
    chunked = requests.post(system.url("intake") + "/api/v1/reports", data=iter([big[:40000], big[40000:]]),
                            headers={"Content-Type": "application/json"}, timeout=15)
    assert_bilingual(chunked, 413, "payload_too_large")
    assert stored_counts(system) == before


def test_wrong_content_type_is_415(system):
    assert_bilingual(post_raw(system, b"tenant=35.73", "application/x-www-form-urlencoded"),
                     415, "unsupported_media_type")


def test_unknown_tenant_and_category_are_422(system):
    before = stored_counts(system)
    assert_bilingual(submit(system, sample_report(tenant="99.99")), 422, "unknown_tenant")
    err = assert_bilingual(submit(system, sample_report(category="tidak-ada")), 422, "unknown_category")
    assert set(err["fields"]) == {"category"}
    # with identity too: the vault must not keep an orphan identity
    assert_bilingual(submit(system, sample_report(tenant="99.99", identity={"name": "Orphan"})), 422,
                     "unknown_tenant")
    assert stored_counts(system) == before


def test_bad_idempotency_key_is_400(system):
    before = stored_counts(system)
    err = assert_bilingual(submit(system, sample_report(), key="short"), 400, "validation_failed")
    assert "Idempotency-Key" in err["fields"]
    assert stored_counts(system) == before


def test_html_in_text_is_stored_as_text_and_returned_as_json(system):
    resp = submit(system, sample_report(what="<script>alert(1)</script> pungli di loket"), key=str(uuid.uuid4()))
    assert resp.status_code == 201
    assert resp.headers["Content-Type"].startswith("application/json")
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Cache-Control"] == "no-store"


def test_bad_status_requests(system):
    url = system.url("intake") + "/api/v1/reports/status"
    assert_bilingual(requests.post(url, json={"receipt": "1234"}, timeout=10), 400, "validation_failed")
    assert_bilingual(requests.post(url, json={}, timeout=10), 400, "validation_failed")
    assert_bilingual(requests.post(url, data=b"{", headers={"Content-Type": "application/json"}, timeout=10),
                     400, "malformed_json")


# -- werkzeug's own answers on every service's port ------------------------------------------

SECURITY = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
            "X-Frame-Options": "DENY"}


def assert_secured(resp):
    for name, value in SECURITY.items():
        assert resp.headers.get(name) == value, (resp.url, name)
    assert "default-src 'none'" in resp.headers.get("Content-Security-Policy", ""), resp.url


def test_unknown_paths_and_wrong_methods_are_bilingual_json_with_the_headers(system):
    probes = [("intake", "GET", "/api/v1/nope"), ("intake", "GET", "/wp-admin/../../etc/passwd"),
              ("intake", "DELETE", "/api/v1/reports"), ("intake", "GET", "/api/v1/reports"),
              ("intake", "PUT", "/api/v1/channels/whatsapp/webhook"),
              ("cases", "GET", "/api/v1/nope"), ("cases", "PUT", "/api/v1/officer/login"),
              ("reporting", "GET", "/nope"), ("reporting", "DELETE", "/api/v1/public/stats")]
    before = stored_counts(system)
    for service, method, path in probes:
        resp = requests.request(method, system.url(service) + path, timeout=10, data=b"{}")
        expected = (404, "not_found") if "nope" in path or "passwd" in path else (
            405, "method_not_allowed")
        assert_bilingual(resp, *expected)
        assert resp.headers["Content-Type"].startswith("application/json"), (service, path)
        assert_secured(resp)
        if expected[0] == 405:
            assert resp.headers["Allow"], (service, path)
    # the vault and notifications serve nothing on a public port at all
    for service in ("identity-vault", "notifications"):
        with pytest.raises(requests.ConnectionError):
            requests.get(system.url(service) + "/api/v1/identities", timeout=10)
    # metrics and health live on the operations ports only, with the same headers
    for service in ("intake", "cases", "identity-vault", "notifications", "reporting"):
        assert_secured(requests.get(system.ops_url(service) + "/metrics", timeout=10))
        assert_secured(requests.get(system.ops_url(service) + "/health", timeout=10))
        assert requests.post(system.ops_url(service) + "/metrics", timeout=10).status_code == 405
    for service in ("intake", "cases", "reporting"):
        assert requests.get(system.url(service) + "/metrics", timeout=10).status_code == 404
    assert stored_counts(system) == before


# -- reporter API: multipart and file names ---------------------------------------------------

def new_receipt(system) -> str:
    resp = submit(system, sample_report(), key=str(uuid.uuid4()))
    assert resp.status_code == 201, resp.text
    return resp.json()["receipt"]


def tiny_png(shade: int = 0) -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (4, 4), (10, 200, shade)).save(out, "PNG")  # a different file per shade (no dedup)
    return out.getvalue()


def test_malformed_multipart_is_400(system):
    receipt = new_receipt(system)
    before = stored_counts(system)
    url = system.url("intake") + "/api/v1/reports/evidence"
    for content_type, body in (("multipart/form-data", b"--x\r\n"),  # no boundary at all
                               ("multipart/form-data; boundary=" + "b" * 300, b"x"),
                               ("multipart/form-data; boundary=zz",
                                b"--zz\r\nContent-Disposition: form-data; name=\"receipt\"\r\n\r\n" + receipt.encode()
                                + b"\r\n--zz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"")):
        resp = requests.post(url, data=body, headers={"Content-Type": content_type}, timeout=15)
        assert resp.status_code == 400, (content_type, resp.text)
        assert_bilingual(resp, 400, resp.json()["error"]["code"])
    assert stored_counts(system) == before


def test_path_tricks_in_file_names_become_plain_labels(system):
    """Reporter API and portal upload: a file name is never a label (officers see
    ``lampiran-<n>.<ext>``) nor a path; nothing is written under it anywhere."""
    receipt = new_receipt(system)
    names = ["../../../etc/passwd", "..\\..\\Windows\\win.ini", "/var/lib/postgresql/x.png", "....//....//a.png",
             "%2e%2e%2fb.png"]
    resp = requests.post(system.url("intake") + "/api/v1/reports/evidence", data={"receipt": receipt}, timeout=30,
                         files=[("file", (n, tiny_png(i), "image/png")) for i, n in enumerate(names)])
    assert resp.status_code == 201, resp.text
    labels = [e["label"] for e in resp.json()["evidence"]]
    for label in labels:
        assert "/" not in label and "\\" not in label and not label.startswith(".") and label.endswith(".png")
    assert labels == [f"lampiran-{n}.png" for n in range(1, 6)]

    # the portal's status page takes the same path
    base = system.url("intake")
    s = browser()
    page = s.get(f"{base}/status", timeout=15).text
    view = s.post(f"{base}/status", data={"csrf": hidden(page, "csrf"), "receipt": receipt}, timeout=15)
    assert view.status_code == 200
    added = s.post(f"{base}/status/bukti?lang=id", data={"lang": "id", "csrf": hidden(view.text, "csrf")},
                   files=[("file", ("../../../../tmp/portal.png", tiny_png(99), "image/png"))], timeout=60,
                   allow_redirects=False)
    assert added.status_code == 303, added.text[:2000]
    status = requests.post(base + "/api/v1/reports/status", json={"receipt": receipt}, timeout=15).json()
    assert "lampiran-6.png" in [e["label"] for e in status["evidence"]]


# -- portal forms ---------------------------------------------------------------------------

def browser() -> requests.Session:
    return requests.Session()


def hidden(page: str, name: str) -> str:
    found = re.search(rf'name="{re.escape(name)}" value="([^"]*)"', page)
    assert found, name
    return html_lib.unescape(found.group(1))


def report_fields(page: str) -> dict:
    return {"lang": hidden(page, "lang"), "csrf": hidden(page, "csrf"),
            "idempotency_key": hidden(page, "idempotency_key"), **{
                k: v for k, v in sample_report(what="Dana hibah kelompok tani dipotong 20%").items()},
            "identity_mode": "anonim"}


def assert_secure_page(resp):
    assert_secured_page_headers(resp)
    assert resp.headers["Content-Type"].startswith("text/html")


def assert_secured_page_headers(resp):
    for name, value in SECURITY.items():
        assert resp.headers.get(name) == value, (resp.url, name)
    assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]

def raw_http(system, request: bytes) -> bytes:
    import socket

    port = int(system.url("intake").rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        sock.sendall(request)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
            if b"</html>" in b"".join(chunks):
                break
    return b"".join(chunks)


def test_portal_refuses_oversized_wrong_type_and_malformed_bodies(system):
    base = system.url("intake")
    before = stored_counts(system)
    # oversized: refused from the announced length, before a byte of the body is read
    for path in ("/lapor", "/status/pesan", "/status/bukti", "/status"):
        answer = raw_http(system, (f"POST {path}?lang=en HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; "
                                   "boundary=b\r\nContent-Length: 999999999\r\nConnection: close\r\n\r\n").encode())
        head = answer.split(b"\r\n", 1)[0]
        assert head.startswith(b"HTTP/1.1 413"), (path, head)
        assert b"Content-Security-Policy" in answer and b'<html lang="en">' in answer
    s = browser()
    form = s.get(f"{base}/lapor", timeout=15).text
    fields = report_fields(form)
    # wrong content type: JSON or plain text instead of a form carries no form token -> 403
    for body, ctype in ((json.dumps(fields).encode(), "application/json"), (b"tenant=35.73", "text/plain")):
        resp = s.post(f"{base}/lapor", data=body, headers={"Content-Type": ctype}, timeout=15)
        assert resp.status_code == 403, resp.text[:500]
        assert_secure_page(resp)
    # malformed multipart: the parts cannot be read, so neither can the token
    broken = s.post(f"{base}/lapor", data=b"--b\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n"
                    + fields["csrf"].encode(), headers={"Content-Type": "multipart/form-data; boundary=b"}, timeout=15)
    assert 400 <= broken.status_code < 500, broken.status_code
    assert_secure_page(broken)
    assert "Dana hibah" not in broken.text
    assert stored_counts(system) == before


# -- e-mail -----------------------------------------------------------------------------------

def send_raw(system, sender: str, data: bytes) -> tuple[int, str]:
    with smtp_client(system) as client:
        client.ehlo("test")
        assert client.mail(sender)[0] == 250
        assert client.rcpt("wbs+35.73@peluit.invalid")[0] == 250
        code, text = client.data(data)
    return code, text.decode()


def assert_bilingual_smtp(code: int, text: str, expected: int):
    assert code == expected, (code, text)
    assert " / " in text, text  # Bahasa Indonesia / English


def test_mail_bad_input_is_refused_with_a_bilingual_5xx_and_stores_nothing(system, login):
    from email.message import EmailMessage
    from email.utils import make_msgid

    from peluit_local.testing import admin_connect as connect

    before = stored_counts(system)
    sender = f"x{uuid.uuid4().hex[:8]}@example.id"
    # oversized: announced (SIZE) and actual
    with smtp_client(system) as client:
        client.ehlo("test")
        code, text = client.mail(sender, options=["SIZE=999999999"])
        assert_bilingual_smtp(code, text.decode(), 552)
    code, text = send_raw(system, sender, b"Subject: besar\r\n\r\n" + b"x" * 1000 + (b"y" * 998 + b"\r\n") * 10600)
    assert_bilingual_smtp(code, text, 552)
    # wrong content type: the "report" is a PDF with no text at all
    pdf = EmailMessage()
    pdf["From"], pdf["To"], pdf["Message-ID"] = sender, "wbs+35.73@peluit.invalid", make_msgid()
    pdf.set_content(b"%PDF-1.4 binary", maintype="application", subtype="pdf")
    assert_bilingual_smtp(*send_raw(system, sender, pdf.as_bytes()), 550)
    # malformed: a multipart whose parts never come, and a sender that cannot be answered
    broken = (f"From: {sender}\r\nTo: wbs+35.73@peluit.invalid\r\nMIME-Version: 1.0\r\n"
              "Content-Type: multipart/mixed; boundary=\"never\"\r\n\r\nno parts here\r\n").encode()
    assert_bilingual_smtp(*send_raw(system, sender, broken), 550)
    assert_bilingual_smtp(*send_raw(system, "x@localhost", b"Subject: Laporan pungli di kantor\r\n\r\nisi"), 550)
    assert stored_counts(system) == before

    # HTML/script and path tricks: the report is kept as text, the attachment under a generic label
    html = EmailMessage()
    html["From"], html["To"], html["Message-ID"] = sender, "wbs+35.73@peluit.invalid", make_msgid()
    html["Subject"] = "[pungli] Pungutan <b>liar</b>"
    html.set_content("<html><body><p>Petugas meminta uang pelicin.</p><script>alert('x')</script>"
                     "<p>Di mana: Kelurahan Oro-oro Dowo</p></body></html>", subtype="html")
    html.add_attachment(b"bukti transfer Rp 200.000", maintype="text", subtype="plain",
                        filename="../../../etc/passwd")
    code, _ = send_raw(system, sender, html.as_bytes())
    assert code == 250
    import mailbox

    reply = [m for m in mailbox.Maildir(str(system.mail_dir), create=False) if m["To"] == sender]
    number = re.search(r"WBS/[\d.]+/\d{4}/\d{6}", reply[0].get_payload(decode=True).decode()).group(0)
    with connect(system, "cases") as conn:
        case_id = eventually(lambda: conn.execute("SELECT case_id FROM peluit.case_index WHERE "
                                                  "registration_number = %s", (number,)).fetchone())[0]
    doc = requests.get(f"{system.url('cases')}/api/v1/cases/{case_id}", headers=login("sari.penelaah"),
                       timeout=10).json()
    assert doc["channel"] == "email" and "alert(" not in json.dumps(doc["report"])
    assert "Petugas meminta uang pelicin." in doc["report"]["what"]
    assert [e["label"] for e in doc["evidence"]] == ["lampiran-1.txt"]


# -- WhatsApp ---------------------------------------------------------------------------------

def wa_post(system, raw: bytes, content_type="application/json"):
    from peluit_intake.whatsapp import sign

    secret = (system.keys_dir / "intake" / "whatsapp-app-secret.key").read_text().strip().encode()
    return requests.post(system.url("intake") + "/api/v1/channels/whatsapp/webhook", data=raw, timeout=30,
                         headers={"Content-Type": content_type, "X-Hub-Signature-256": sign(secret, raw)})


def wa_message(phone: str, kind: str, body: dict) -> dict:
    return {"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages", "value": {
        "messages": [{"from": phone, "id": "wamid." + uuid.uuid4().hex, "type": kind, kind: body}]}}]}]}


def test_whatsapp_bad_input_is_refused_and_changes_nothing(system, login):
    phone = "6285" + uuid.uuid4().int.__str__()[:9]
    before = stored_counts(system)
    big = json.dumps(wa_message(phone, "text", {"body": "x" * 300_000})).encode()
    assert_bilingual(wa_post(system, big), 413, "payload_too_large")
    form = b"object=whatsapp_business_account&entry=1"
    assert_bilingual(wa_post(system, form, "application/x-www-form-urlencoded"), 400, "malformed_json")
    assert_bilingual(wa_post(system, b'{"object": "whatsapp_business_account", "entry": ['), 400, "malformed_json")
    for bad in (wa_message("62812abc", "text", {"body": "halo"}),
                wa_message(phone, "image", {"id": "../../me/accounts"}),
                wa_message(phone, "document", {"id": "1?fields=url", "filename": "../../etc/passwd"}),
                {"object": "page", "entry": []}):
        err = assert_bilingual(wa_post(system, json.dumps(bad).encode()), 400, "validation_failed")
        assert "../" not in json.dumps(err)  # nothing of the input echoed
    assert stored_counts(system) == before

    # HTML/script in the guided answers: kept as text, never rendered
    def say(text):
        resp = wa_post(system, json.dumps(wa_message(phone, "text", {"body": text})).encode())
        assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("application/json")
        return [m["text"] for m in resp.json()["outbound"]]

    menu = say("halo")[-1]
    say(next(line for line in menu.splitlines() if "(35.73)" in line).split(".", 1)[0])
    say("1")
    script = "<script>alert('x')</script> pungutan di loket"
    for answer in (script, "Kantor <b>Kecamatan</b>", "Kemarin", "-"):
        say(answer)
    number = re.search(r"WBS/[\d.]+/\d{4}/\d{6}", say("YA")[-1]).group(0)
    with admin_connect(system, "cases") as conn:
        case_id = eventually(lambda: conn.execute("SELECT case_id FROM peluit.case_index WHERE registration_number"
                                                  " = %s", (number,)).fetchone())[0]
    doc = requests.get(f"{system.url('cases')}/api/v1/cases/{case_id}", headers=login("sari.penelaah"), timeout=10)
    assert doc.headers["Content-Type"].startswith("application/json")
    assert doc.json()["report"]["what"] == script  # text, as the reporter typed it; pages escape it
