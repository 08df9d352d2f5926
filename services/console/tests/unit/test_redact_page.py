"""The redaction form on the case page: shown to penerima and penelaah only,
never on a case as of a moment; its body as the officer API takes it; a
refusal and an overtaken version keep the entry."""

from __future__ import annotations

from .test_pages import CASE, CASE_ID, refusal

MESSAGE = {"at": "2026-12-01T02:00:00+00:00", "from": "pelapor", "kind": "message", "event_version": 4,
           "text": "Saya Bambang, staf keuangan"}
NOTE = {"at": "2026-12-01T03:00:00+00:00", "kind": "note", "actor": {"officer_id": "o", "username": "sari"},
        "status": "diterima", "reason": None, "reporter_visible": False, "text": "Bambang", "event_version": 5}


def _page(browser, transport, doc, **extra):
    transport.routes[("GET", CASE)] = doc(messages=[MESSAGE], history=doc()["history"] + [NOTE], **extra)
    return browser.get(f"/kasus/{CASE_ID}")


def test_the_form_offers_each_text_to_penerima_and_penelaah_only(signed_in, transport, doc):
    browser = signed_in(roles=("penerima",))
    page = _page(browser, transport, doc)
    assert 'id="redact-form"' in page.text
    for value in ("report:what", "report:who", "message:4", "note:5"):
        assert f'value="{value}"' in page.text
    transport.routes[("GET", CASE)] = doc(as_of="2026-12-01T05:00:00+00:00")
    assert 'id="redact-form"' not in browser.get(f"/kasus/{CASE_ID}?as_of=2026-12-01T12:00").text
    for roles in (("investigator",), ("inspektur",), ("auditor",)):
        browser.cookie = None
        assert 'id="redact-form"' not in _page(signed_in(roles=roles), transport, doc).text, roles


def test_the_form_becomes_the_apis_body_and_the_page_says_it_is_done(signed_in, transport, doc):
    browser = signed_in()
    token = browser.csrf(_page(browser, transport, doc).text)
    transport.routes[("POST", CASE + "/redactions")] = {"case_id": CASE_ID, "version": 2, "status": "diterima",
                                                        "passages": []}
    out = browser.post(f"/kasus/{CASE_ID}/samarkan", {"csrf": token, "version": "1", "target": "message:4",
                                                     "passage": "Bambang", "reason": "nama pelapor"})
    assert out.status_code == 303 and "ok=redact" in out.headers["Location"]
    _method, _path, headers, _params, body = [c for c in transport.calls if c[1] == CASE + "/redactions"][-1]
    assert headers["If-Match"] == '"1"'
    assert body == {"target": {"kind": "message", "version": 4}, "passages": ["Bambang"], "reason": "nama pelapor"}
    assert "aslinya tersegel" in browser.get(f"/kasus/{CASE_ID}?ok=redact").text


def test_an_empty_or_forged_entry_is_not_sent_and_a_refusal_keeps_it(signed_in, transport, doc):
    browser = signed_in()
    token = browser.csrf(_page(browser, transport, doc).text)
    out = browser.post(f"/kasus/{CASE_ID}/samarkan", {"csrf": token, "version": "1", "target": "evil:1",
                                                     "passage": "", "reason": "r"})
    assert out.status_code == 400 and '<details class="command" id="redact-form" open>' in out.text
    assert not [c for c in transport.calls if c[1] == CASE + "/redactions"]
    transport.routes[("POST", CASE + "/redactions")] = refusal(422, "passage_not_found")
    out = browser.post(f"/kasus/{CASE_ID}/samarkan", {"csrf": token, "version": "1", "target": "report:what",
                                                     "passage": "Sutrisno", "reason": "nama"})
    assert out.status_code == 422 and "ditolak passage_not_found" in out.text and "Sutrisno" in out.text
    transport.routes[("POST", CASE + "/redactions")] = refusal(409, "stale_version", current_version=3)
    out = browser.post(f"/kasus/{CASE_ID}/samarkan", {"csrf": token, "version": "1", "target": "report:what",
                                                     "passage": "Sutrisno", "reason": "nama"})
    assert out.status_code == 409 and "Sutrisno" in out.text


PHOTO = {"evidence_id": "5c0d8a4e-3f6b-4d59-9a57-8a3e7c1b2f09", "label": "lampiran-1.jpg", "mime": "image/jpeg",
         "size": 2000, "sha256": "ab" * 32, "original_ref": "r" * 32, "added_at": "2026-12-01T01:00:00+00:00",
         "download": "/x"}
PDF = {**PHOTO, "evidence_id": "5c0d8a4e-3f6b-4d59-9a57-8a3e7c1b2f0a", "label": "lampiran-2.pdf",
       "mime": "application/pdf"}


def test_an_evidence_copy_form_sends_a_region_or_a_page(signed_in, transport, doc):
    browser = signed_in()
    page = _page(browser, transport, doc, evidence=[PHOTO, PDF])
    assert 'id="redact-evidence-1"' in page.text and 'id="redact-evidence-2"' in page.text
    token = browser.csrf(page.text)
    for item in (PHOTO, PDF):
        transport.routes[("POST", f"{CASE}/evidence/{item['evidence_id']}/redactions")] = {
            "case_id": CASE_ID, "version": 2, "status": "diterima", "passages": []}
    out = browser.post(f"/kasus/{CASE_ID}/bukti/{PHOTO['evidence_id']}/samarkan", {
        "csrf": token, "version": "1", "x": "10", "y": "5", "width": "40", "height": "20", "reason": "Wajah"})
    assert out.status_code == 303
    out = browser.post(f"/kasus/{CASE_ID}/bukti/{PDF['evidence_id']}/samarkan",
                       {"csrf": token, "version": "1", "page": "2", "reason": "Tanda tangan"})
    assert out.status_code == 303
    sent = [c for c in transport.calls if c[1].endswith("/redactions")]
    assert [c[4] for c in sent] == [{"region": {"x": 10, "y": 5, "width": 40, "height": 20}, "reason": "Wajah"},
                                    {"page": 2, "reason": "Tanda tangan"}]
    assert all(c[2]["If-Match"] == '"1"' for c in sent)
    bad = browser.post(f"/kasus/{CASE_ID}/bukti/{PHOTO['evidence_id']}/samarkan", {
        "csrf": token, "version": "1", "x": "-1", "y": "5", "width": "0", "height": "20", "reason": "Wajah"})
    assert bad.status_code == 400 and '<details class="command" id="redact-evidence-1" open>' in bad.text
    assert len([c for c in transport.calls if c[1].endswith("/redactions")]) == 2


def test_a_redacted_passage_can_be_asked_for_under_dual_control(signed_in, transport, doc):
    browser = signed_in(roles=("investigator",))
    step = {"at": "2026-12-01T04:00:00+00:00", "kind": "redacted", "status": "diterima", "reason": "Nama",
            "reporter_visible": False, "actor": {"officer_id": "o", "username": "tono"},
            "target": {"kind": "report", "field": "what"},
            "passages": [{"start": 0, "end": 7, "hmac": "00" * 32, "original_ref": "P" * 32}]}
    transport.routes[("GET", CASE)] = doc(history=doc()["history"] + [step])
    assert f"/kasus/{CASE_ID}/pengungkapan" in browser.get(f"/kasus/{CASE_ID}").text
    page = browser.get(f"/kasus/{CASE_ID}/pengungkapan")
    assert f'value="redaction:{"P" * 32}"' in page.text
    transport.routes[("POST", f"{CASE}/redactions/{'P' * 32}/disclosure-requests")] = (201, {
        "request_id": "0b9c6c1e-8a3f-4f1e-9a57-8a3e7c1b2f0b", "case_id": CASE_ID, "status": "pending"})
    out = browser.post(f"/kasus/{CASE_ID}/pengungkapan", {
        "csrf": browser.csrf(page.text), "subject": f"redaction:{'P' * 32}", "legal_basis": "court_order",
        "reason": "Perintah pengadilan membuka bagian"})
    assert out.status_code == 303
    assert [c for c in transport.calls if c[1] == f"{CASE}/redactions/{'P' * 32}/disclosure-requests"]
