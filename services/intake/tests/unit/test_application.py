"""intake's use cases with a fake of their port to cases and the vault:
registration (new, replayed, unknown tenant or category with and without a
catalogue refresh, key reused, unavailable, refused), status, reporter
messages and evidence. No broker, no nameko."""

from __future__ import annotations

import io
import json

import pytest
from nacl.public import SealedBox
from PIL import Image

from peluit_common.testing import gps_photo
from peluit_intake import errors
from peluit_intake.application import AssistedBy, Registration, StoredEvidence, batches
from peluit_intake.evidence_checks import Limits

KEY = "3f1c5c9e-7d3a-4c1b-9a55-2b8f0e6d4a11"


def report(**overrides) -> dict:
    base = {"tenant": "35.73", "category": "korupsi", "what": "Dana hibah dipotong dua puluh persen",
            "where": "Dinas Sosial", "when": "Oktober 2026", "terlapor_inspektorat": False}
    base.update(overrides)
    return base

# -- registration ---------------------------------------------------------------------------


def test_a_new_report_seals_the_identity_before_anything_and_returns_the_receipt(intake, backend, vault_key):
    body = report(identity={"name": "Budi Santoso", "nik": "3573010101800001"})
    registration = intake.register(body, None, "web")
    assert "identity" not in body  # taken out of the caller's dict: no clear copy stays there
    assert isinstance(registration, Registration)
    assert registration.registration_number == "WBS/35.73/2026/000001" and registration.tenant == "35.73"
    assert not registration.anonymous and not registration.replayed
    assert len(registration.receipt) == 19 and registration.receipt.count("-") == 3
    assert registration.receipt not in repr(registration)
    (submission_id, sealed), = backend.identities.items()
    assert json.loads(SealedBox(vault_key).decrypt(sealed)) == {"name": "Budi Santoso", "nik": "3573010101800001"}
    command, = backend.commands
    assert "Budi" not in json.dumps(command) and "3573010101800001" not in json.dumps(command)
    assert command["reporter_ref"] == "ref-" + submission_id[:8] and command["anonymous"] is False
    assert command["report"] == {"what": "Dana hibah dipotong dua puluh persen", "where": "Dinas Sosial",
                                 "when": "Oktober 2026", "terlapor_inspektorat": False}
    assert command["receipt_hash"] == intake.keys.receipts.lookup_hash(registration.receipt.replace("-", ""))
    assert command["channel"] == "web" and command["assisted_by"] is None
    assert backend.calls == ["catalogue", "store_identity", "register_report"]


def test_an_anonymous_report_never_reaches_the_vault(intake, backend):
    registration = intake.register(report(), None, "email")
    assert registration.anonymous and backend.identities == {}
    assert backend.commands[0]["reporter_ref"] is None and backend.commands[0]["channel"] == "email"


def test_the_same_idempotency_key_replays_the_same_case_and_receipt(intake, backend):
    first = intake.register(report(), KEY, "web")
    again = intake.register(report(), KEY, "web")
    assert again.replayed and not first.replayed
    assert (again.registration_number, again.receipt) == (first.registration_number, first.receipt)
    assert len(backend.cases) == 1
    without_key = intake.register(report(), None, "web")
    assert without_key.receipt != first.receipt and not without_key.replayed


def test_a_key_reused_for_another_report_is_refused(intake):
    intake.register(report(), KEY, "web")
    with pytest.raises(errors.IdempotencyKeyReused) as info:
        intake.register(report(what="Sesuatu yang lain sama sekali"), KEY, "web")
    assert info.value.code == "idempotency_key_reused"


def test_unknown_tenant_or_category_is_refused_without_reloading_a_fresh_catalogue(intake, backend):
    intake.register(report(), None, "web")
    for body, error in ((report(tenant="35.99"), errors.UnknownTenant),
                        (report(category="rahasia"), errors.UnknownCategory)):
        with pytest.raises(error):
            intake.register(body, None, "web")
    assert backend.calls.count("catalogue") == 1  # seconds old: a flood of bad codes cannot hammer cases
    assert backend.calls.count("register_report") == 1  # refused before cases is asked


def test_a_tenant_or_category_configured_a_moment_ago_is_accepted_after_a_refresh(intake, backend, clock):
    intake.register(report(), None, "web")
    backend.tenants["35.99"] = ["korupsi"]
    backend.tenants["35.73"].append("rahasia")
    with pytest.raises(errors.UnknownTenant):
        intake.register(report(tenant="35.99"), None, "web")
    clock.now += intake.tenants.miss_refresh + 0.1
    assert intake.register(report(tenant="35.99"), None, "web").tenant == "35.99"
    assert intake.register(report(category="rahasia"), None, "web").registration_number
    assert backend.calls.count("catalogue") == 2


def test_a_hit_never_reloads_before_the_ttl_and_cases_has_the_last_word(intake, backend, clock):
    intake.register(report(), None, "web")
    backend.tenants["35.73"].remove("korupsi")  # withdrawn at cases; intake's copy still offers it
    clock.now += intake.tenants.miss_refresh + 1
    with pytest.raises(errors.UnknownCategory):
        intake.register(report(), None, "web")
    assert backend.calls.count("catalogue") == 1
    clock.now += intake.tenants.ttl
    with pytest.raises(errors.UnknownCategory):
        intake.register(report(), None, "web")
    assert backend.calls.count("catalogue") == 2


def test_an_assisting_officer_registers_for_their_own_tenant_only(intake, backend):
    officer = AssistedBy("o-1", "rina.penerima", "35.73")
    with pytest.raises(errors.UnknownTenant):
        intake.register(report(tenant="35", identity={"name": "Budi"}), None, "walk_in", assisted_by=officer)
    assert backend.calls == [] and backend.identities == {}
    registration = intake.register(report(), None, "walk_in", assisted_by=officer)
    assert registration.registration_number
    assert backend.commands[-1]["assisted_by"] == {"officer_id": "o-1", "username": "rina.penerima"}
    assert backend.commands[-1]["channel"] == "walk_in"


@pytest.mark.parametrize("down", ["catalogue", "store_identity", "register_report"])
def test_a_backend_that_does_not_answer_is_unavailable_and_the_retry_replays(intake, backend, down):
    backend.down = {down}
    with pytest.raises(errors.Unavailable) as info:
        intake.register(report(identity={"email": "budi@example.id"}), KEY, "web")
    assert info.value.code == "unavailable" and backend.cases == {}
    backend.down = set()
    first = intake.register(report(identity={"email": "budi@example.id"}), KEY, "web")
    assert intake.register(report(identity={"email": "budi@example.id"}), KEY, "web").receipt == first.receipt


@pytest.mark.parametrize("call", ["store_identity", "register_report"])
def test_an_unexpected_refusal_by_the_vault_or_cases_gives_no_receipt(intake, backend, call):
    backend.refuse = {call: "schema_mismatch"}
    with pytest.raises(errors.BackendRefused) as info:
        intake.register(report(identity={"email": "budi@example.id"}), None, "web")
    assert (info.value.code, info.value.text) == ("internal_error", "unavailable")


# -- status and messages ------------------------------------------------------------------------


def receipt_hash_of(intake, registration: Registration) -> str:
    return intake.receipt_hash(registration.receipt.replace("-", ""))


def test_status_by_receipt_and_an_unknown_receipt(intake):
    registration = intake.register(report(), None, "web")
    view = intake.status(receipt_hash_of(intake, registration))
    assert view["registration_number"] == registration.registration_number
    with pytest.raises(errors.ReceiptNotFound) as info:
        intake.status(intake.receipt_hash("0000000000000000"))
    assert (info.value.code, info.value.text) == ("not_found", "unknown_receipt")


def test_a_reporter_message_reaches_the_case_unless_it_is_closed(intake, backend):
    registration = intake.register(report(), None, "web")
    receipt_hash = receipt_hash_of(intake, registration)
    assert intake.send_message(receipt_hash, "Ini jawaban saya.") == "diterima"
    assert backend.messages == [(receipt_hash, "Ini jawaban saya.")]
    with pytest.raises(errors.ReceiptNotFound):
        intake.send_message("ab" * 32, "Halo")
    backend.closed = True
    with pytest.raises(errors.CaseClosed):
        intake.send_message(receipt_hash, "Halo")
    backend.refuse = {"reporter_message": "boom"}
    with pytest.raises(errors.BackendRefused):
        intake.send_message(receipt_hash, "Halo")
    backend.down = {"reporter_message"}
    with pytest.raises(errors.Unavailable):
        intake.send_message(receipt_hash, "Halo")


# -- evidence ---------------------------------------------------------------------------------------


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 6), (1, 2, 3)).save(out, "PNG")
    return out.getvalue()


def test_evidence_is_stripped_for_cases_and_the_original_sealed_for_the_vault(intake, backend, vault_key):
    registration = intake.register(report(), None, "web")
    photo = gps_photo("PenandaRahasia")
    stored = intake.add_evidence([("IMG_1.jpg", photo), ("catatan.txt", b"bukti transfer")],
                                 receipt=registration.receipt.replace("-", ""))
    assert stored == [StoredEvidence("lampiran-1.jpg", "image/jpeg", len(photo)),
                      StoredEvidence("lampiran-2.txt", "text/plain", 14)]
    assert SealedBox(vault_key).decrypt(backend.originals[0]) == photo
    assert SealedBox(vault_key).decrypt(backend.original_names[0]) == b"IMG_1.jpg"
    copy = backend.evidence[0]
    assert copy["original_ref"] == "o-1" and b"PenandaRahasia" not in copy["content"]
    assert backend.evidence[1]["content"] == b"bukti transfer"


def test_a_refused_file_refuses_the_upload_before_the_receipt_is_looked_up(intake, backend):
    with pytest.raises(errors.EvidenceRefused) as info:
        intake.add_evidence([("ok.txt", b"baik"), ("x.jpg", b"<html><script>1</script></html>")],
                            receipt="0000000000000000")
    assert info.value.code == "unsupported_type" and set(info.value.refused.fields()) == {"file.2"}
    assert backend.calls == []
    with pytest.raises(errors.EvidenceRefused):
        intake.check_evidence([("x", b"")])


def test_evidence_for_an_unknown_receipt_a_closed_case_or_over_the_quota(intake, backend):
    registration = intake.register(report(), None, "web")
    receipt_hash = receipt_hash_of(intake, registration)
    with pytest.raises(errors.ReceiptNotFound):
        intake.add_evidence([("a.txt", b"bukti")], receipt_hash="ab" * 32)
    backend.files_left = 1
    with pytest.raises(errors.EvidenceQuota) as info:
        intake.add_evidence([("a.txt", b"bukti"), ("b.txt", b"lagi")], receipt_hash=receipt_hash)
    assert (info.value.code, info.value.text) == ("evidence_quota", "case_evidence_quota")
    backend.files_left, backend.bytes_left = 5, 3
    with pytest.raises(errors.EvidenceQuota):
        intake.add_evidence([("a.txt", b"bukti")], receipt_hash=receipt_hash)
    assert backend.originals == [] and backend.evidence == []
    backend.closed = True
    with pytest.raises(errors.CaseClosed) as info:
        intake.add_evidence([("a.txt", b"bukti")], receipt_hash=receipt_hash)
    assert info.value.text == "case_closed_evidence"


def test_a_store_that_fails_halfway_is_unavailable_or_refused(intake, backend):
    registration = intake.register(report(), None, "web")
    receipt_hash = receipt_hash_of(intake, registration)
    backend.down = {"add_evidence"}
    with pytest.raises(errors.Unavailable):
        intake.add_evidence([("a.txt", b"bukti")], receipt_hash=receipt_hash)
    backend.down, backend.refuse = set(), {"store_evidence_original": "sealed_box_invalid"}
    with pytest.raises(errors.BackendRefused):
        intake.add_evidence([("a.txt", b"bukti")], receipt_hash=receipt_hash)
    backend.refuse = {"add_evidence": "evidence_quota"}
    with pytest.raises(errors.EvidenceQuota):
        intake.add_evidence([("a.txt", b"bukti")], receipt_hash=receipt_hash)


def test_channel_attachments_stand_alone_and_the_quota_refuses_file_by_file(intake, backend):
    registration = intake.register(report(), None, "email")
    backend.files_left = 1
    refusals = intake.attach_channel_evidence(registration.receipt, [
        ("KTP.png", png()), ("x.html", b"<html></html>"), ("b.txt", b"bukti transfer")])
    assert [(r.index, r.code) for r in refusals] == [(2, "unsupported_type"), (3, "evidence_quota")]
    assert len(backend.evidence) == 1 and backend.evidence[0]["label"] == "lampiran-1.png"
    assert intake.attach_channel_evidence(registration.receipt, []) == []


def test_batches_keep_each_rpc_under_the_limit_with_at_least_one_item():
    items = [{"size": s} for s in (5, 5, 12, 1, 1)]
    assert [[i["size"] for i in b] for b in batches(items, 10)] == [[5, 5], [12], [1, 1]]


def test_evidence_limits_come_from_the_environment_each_time(monkeypatch, intake, backend):
    registration = intake.register(report(), None, "web")
    monkeypatch.setenv("PELUIT_EVIDENCE_MAX_FILES", "1")
    with pytest.raises(errors.EvidenceRefused) as info:
        intake.add_evidence([("a.txt", b"a"), ("b.txt", b"b")], receipt=registration.receipt.replace("-", ""))
    assert info.value.code == "too_many_files"
    assert Limits.from_env().max_files == 1
