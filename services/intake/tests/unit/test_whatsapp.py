"""The WhatsApp channel without a network or a database: the webhook
signature and payload, the conversation state machine, the settings (one
message end to end over the store: tests/integration/test_whatsapp_messages.py)."""

from __future__ import annotations


import pytest
from marshmallow import ValidationError
from werkzeug.datastructures import MultiDict

from peluit_common.web import HttpError
from peluit_contracts.i18n import message
from peluit_intake import whatsapp as wa
from peluit_intake import whatsapp_conversation as wc


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
        step = wc.advance(conv, text, catalogue)
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
    assert conv.step == "tenant" and steps[1].replies[0] == wc.INVALID_CHOICE
    conv, steps = converse("2", "abc", conv=conv)
    assert conv.step == "category" and steps[1].replies[0] == wc.INVALID_CHOICE
    conv, steps = converse("1", "terlalu", conv=conv)  # what: 7 characters
    assert conv.step == "what" and "10" in steps[1].replies[0]
    conv, steps = converse("Dana hibah dipotong 20%", "x" * 501, conv=conv)
    assert conv.step == "where" and "500" in steps[1].replies[0]
    conv, steps = converse("Dinas", "Kemarin", "-", "mungkin", conv=conv)
    assert conv.step == "confirm" and steps[-1].replies == [wc.PROMPT_CONFIRM] and not steps[-1].submit


def test_cancel_at_any_step_and_no_at_confirmation():
    for n in range(1, 7):
        answers = ["halo", "2", "1", "Dana hibah dipotong 20%", "Dinas", "Kemarin"][:n]
        conv, steps = converse(*answers, "BATAL")
        assert conv is None and steps[-1].replies == [wc.CANCELLED]
    conv, steps = converse("halo", "2", "1", "Dana hibah dipotong 20%", "Dinas", "Kemarin", "-", "tidak")
    assert conv is None and steps[-1].replies == [wc.CANCELLED]


def test_non_text_messages_do_not_advance():
    conv, _ = converse("halo", "2")
    step = wc.advance(conv, None, catalogue)
    assert step.conversation == conv and step.replies == [wc.TEXT_ONLY]


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
