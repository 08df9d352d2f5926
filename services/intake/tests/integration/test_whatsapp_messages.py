"""One WhatsApp message end to end with the application faked (retries,
idempotency, media, refusals, the per-number limit) over the conversation
store on a database of its own (``wa_store``): what is committed, and when."""

from __future__ import annotations

import json
import os

import pytest

from peluit_contracts.i18n import message
from peluit_intake import errors
from peluit_intake import whatsapp as wa
from peluit_intake import whatsapp_conversation as wc
from peluit_intake import whatsapp_graph as wg

TENANTS = [
    {"code": "35", "name": "Inspektorat Provinsi Jawa Timur", "categories": []},
    {"code": "35.73", "name": "Inspektorat Kota Malang", "categories": [
        {"code": "korupsi", "name": {"id": "Korupsi", "en": "Corruption"}},
        {"code": "pungli", "name": {"id": "Pungutan liar", "en": "Illegal levies"}}]},
]


class Outbox(wg.RecordingWhatsApp):
    def __init__(self, fail=False):
        super().__init__()
        self.fail = fail

    def send_text(self, to, text):
        if self.fail:
            raise OSError("graph api down")
        super().send_text(to, text)


def test_handle_message_is_idempotent_per_message_id_and_commits_only_after_sending(fake_intake, wa_store):
    store, intake = wa_store, fake_intake(tenants=TENANTS)
    deps = dict(store=store, secret=b"w" * 32, intake=intake)

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
    intake.error = errors.Unavailable()
    with pytest.raises(wa.TemporaryFailure):
        send("ya", "m8")  # cases down: the conversation waits at confirmation
    intake.error = None
    outcome, outbox = send("ya", "m8")
    assert outcome == "replayed"  # the same idempotency key as the failed attempt
    assert intake.calls[0][1] == intake.calls[1][1] and intake.calls[1][2] == "whatsapp"
    report = intake.calls[1][0]
    assert report["identity"] == {"phone": "+6281234567890"} and report["category"] == "pungli"
    assert "1234-5678-9012-3456" in outbox.sent[-1]["text"] and outbox.sent[-1]["to"] == "6281234567890"
    assert store.peek("6281234567890") == (None, False)  # dropped after registration
    assert send("ya", "m8")[0] == "duplicate" and len(intake.calls) == 2


def test_process_webhook_answers_503_when_a_message_must_be_retried(fake_intake, wa_store):
    store, intake = wa_store, fake_intake(tenants=TENANTS)
    msgs = [wa.Inbound("6281111111111", "a1", "halo"), wa.Inbound("6282222222222", "b1", "halo")]
    intake.catalogue_error = errors.Unavailable()
    status, outcomes = wa.process_webhook(msgs, store=store, outbound=Outbox(), secret=b"w" * 32, intake=intake)
    assert status == 503 and outcomes == ["deferred", "deferred"]
    assert json.loads(wa.webhook_response(status, Outbox()).get_data())["error"]["code"] == "unavailable"
    intake.catalogue_error = None
    outbox = Outbox()
    status, outcomes = wa.process_webhook(msgs, store=store, outbound=outbox, secret=b"w" * 32, intake=intake)
    assert status == 200 and outcomes == ["advanced", "advanced"]
    assert {m["to"] for m in outbox.sent} == {"6281111111111", "6282222222222"}
    response = wa.webhook_response(status, outbox)
    assert json.loads(response.get_data())["outbound"] == outbox.sent


def test_media_before_confirmation_is_checked_at_once_and_attached_after_registration(monkeypatch, fake_intake,
                                                                                      wa_store):
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "JPEG")
    photo = buf.getvalue()
    monkeypatch.setenv("PELUIT_EVIDENCE_MAX_FILES", "2")
    store, media = wa_store, wg.RecordingMedia()
    intake = fake_intake(tenants=TENANTS, refuse={2: "corrupt_file"})
    deps = dict(store=store, secret=b"w" * 32, intake=intake, media=media)

    def send(mid, body=None, media_id=None):
        outbox = Outbox()
        outcome = wa.handle_message(wa.Inbound("6281234567890", mid, body, media_id), outbound=outbox, **deps)
        return outcome, [m["text"] for m in outbox.sent]

    first = media.put(photo)
    outcome, texts = send("m1", media_id=first)  # media as the very first message: greeted, and kept
    assert texts[0] == wc.WELCOME and "Pilih Inspektorat" in texts[1] and "Lampiran ke-1 diterima" in texts[2]
    assert send("m1", media_id=first)[0] == "duplicate"
    for mid, body in [("m2", "2"), ("m3", "2")]:
        send(mid, body)
    texts = send("m4", media_id=media.put(b"<html><script>x</script></html>"))[1]
    refused = message("refusal_unsupported_type", n=2)
    assert texts == [refused["id"] + "\n" + refused["en"]]
    assert "Lampiran ke-2 diterima" in send("m5", media_id=media.put(b"bukti transfer Rp 5 juta"))[1][0]
    texts = send("m6", media_id=media.put(b"satu berkas lagi"))[1]
    assert "ke-3" in texts[0] and "File 3" in texts[0]  # over the per-report limit of 2
    assert wc.media_unavailable(3) == send("m7", media_id="unknown")[1][0]
    for mid, body in [("m8", "Pungutan Rp 50.000 untuk KTP"), ("m9", "Kelurahan"), ("m10", "Senin"), ("m11", "-")]:
        send(mid, body)
    assert intake.attached == []  # nothing stored before the report exists
    outcome, texts = send("m12", "ya")
    assert outcome == "registered" and "1234-5678-9012-3456" in texts[0]
    (receipt, files), = intake.attached
    assert receipt == "1234-5678-9012-3456" and files == [(None, photo), (None, b"bukti transfer Rp 5 juta")]
    assert "1 lampiran tercatat" in texts[1] and "1 attachment(s) recorded" in texts[1]
    assert "- Berkas ke-2 rusak atau tidak dapat dibaca." in texts[2]
    assert "- File 2 is damaged or unreadable." in texts[2]
    assert "TIDAK tercatat" in texts[2] and "NOT recorded" in texts[2]


def test_media_that_cannot_be_stored_defers_the_confirmation(fake_intake, wa_store):
    store, media = wa_store, wg.RecordingMedia()
    intake = fake_intake(tenants=TENANTS, attach_error=errors.Unavailable())
    deps = dict(store=store, secret=b"w" * 32, intake=intake, media=media)
    msgs = [("a1", "halo", None), ("a2", "2", None), ("a3", "1", None), ("a4", None, media.put(b"bukti teks")),
            ("a5", "Dana hibah dipotong 20%", None), ("a6", "Dinas", None), ("a7", "Kemarin", None), ("a8", "-", None)]
    for mid, body, media_id in msgs:
        wa.handle_message(wa.Inbound("6281234567890", mid, body, media_id), outbound=Outbox(), **deps)
    with pytest.raises(wa.TemporaryFailure):
        wa.handle_message(wa.Inbound("6281234567890", "a9", "ya"), outbound=Outbox(), **deps)
    intake.attach_error = None
    outbox = Outbox()
    assert wa.handle_message(wa.Inbound("6281234567890", "a9", "ya"), outbound=outbox, **deps) == "replayed"
    assert len(intake.attached) == 2 and "1 lampiran tercatat" in outbox.sent[-1]["text"]


@pytest.mark.parametrize("error,reply", [
    (errors.UnknownTenant(), wc.UNAVAILABLE_CHOICE), (errors.UnknownCategory(), wc.UNAVAILABLE_CHOICE),
    (errors.IdempotencyKeyReused(), wc.NOT_ACCEPTED), (errors.BackendRefused(), None), (errors.Unavailable(), None),
    (errors.Busy(), None),
])
def test_a_refused_registration_ends_the_conversation_and_a_temporary_one_waits(fake_intake, error, reply, wa_store):
    store, intake = wa_store, fake_intake(error, tenants=TENANTS)
    answers = ["halo", "2", "1", "Dana hibah dipotong 20%", "Dinas", "Kemarin", "-"]
    for n, text in enumerate(answers):
        wa.handle_message(wa.Inbound("6281234567890", f"r{n}", text), outbound=Outbox(), store=store,
                          secret=b"w" * 32, intake=intake)
    outbox = Outbox()
    if reply is None:  # the conversation stays at confirmation; Meta's retry tries again
        with pytest.raises(wa.TemporaryFailure):
            wa.handle_message(wa.Inbound("6281234567890", "yes", "ya"), outbound=outbox, store=store,
                              secret=b"w" * 32, intake=intake)
        assert outbox.sent == [] and store.peek("6281234567890")[0].step == "confirm"
        return
    assert wa.handle_message(wa.Inbound("6281234567890", "yes", "ya"), outbound=outbox, store=store,
                             secret=b"w" * 32, intake=intake) == "refused"
    assert [m["text"] for m in outbox.sent] == [reply]
    assert store.peek("6281234567890") == (None, False)


def test_a_number_over_its_limit_is_told_to_wait_in_both_languages_and_the_conversation_stays(fake_intake,
                                                                                              wa_store):
    from peluit_intake.throttle import Throttle

    store, intake = wa_store, fake_intake(tenants=TENANTS)
    intake.throttle = Throttle(os.urandom(32), {"whatsapp_sender": (2, 3600.0)})
    deps = dict(store=store, secret=b"w" * 32, intake=intake)
    assert wa.handle_message(wa.Inbound("6281234567890", "t1", "halo"), outbound=Outbox(), **deps) == "advanced"
    assert wa.handle_message(wa.Inbound("6281234567890", "t2", "2"), outbound=Outbox(), **deps) == "advanced"
    before = store.peek("6281234567890")
    outbox = Outbox()
    assert wa.handle_message(wa.Inbound("6281234567890", "t3", "1"), outbound=outbox, **deps) == "throttled"
    assert len(outbox.sent) == 1 and "Tunggu 60 menit" in outbox.sent[0]["text"]
    assert "Wait 60 minutes" in outbox.sent[0]["text"]
    assert store.peek("6281234567890") == before  # nothing advanced
    assert wa.handle_message(wa.Inbound("6281234567890", "t3", "1"), outbound=Outbox(), **deps) == "duplicate"
    # another number is not affected
    assert wa.handle_message(wa.Inbound("6281111111111", "u1", "halo"), outbound=Outbox(), **deps) == "advanced"


def test_intake_database_away_answers_503_and_meta_retries(fake_intake):
    """No store, no step: the message is deferred (Meta retries), never a 500."""
    from psycopg_pool import ConnectionPool

    from peluit_intake.whatsapp_store import ConversationStore

    with ConnectionPool("host=127.0.0.1 port=1 dbname=none connect_timeout=1", min_size=0, max_size=1, timeout=1,
                        open=True) as pool:
        outbox = Outbox()
        status, outcomes = wa.process_webhook([wa.Inbound("6281234567890", "d1", "halo")], outbound=outbox,
                                              store=ConversationStore(pool, b"k" * 32), secret=b"w" * 32,
                                              intake=fake_intake(tenants=TENANTS))
    assert (status, outcomes, outbox.sent) == (503, ["deferred"], [])
