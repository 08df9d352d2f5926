"""Aggregate rules on the library's in-memory store: milliseconds, no broker."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from peluit_cases.domain import Case, DomainError

from ..support import NOW, _hex, command, memory_app


@pytest.fixture
def app():
    return memory_app()


def test_registration_numbers_are_sequential_per_tenant_and_year(app):
    a = app.register_report(command(1), now=NOW)
    b = app.register_report(command(2), now=NOW)
    c = app.register_report(command(3, tenant="35.07"), now=NOW)
    d = app.register_report(command(4), now=datetime(2027, 1, 2, tzinfo=timezone.utc))
    assert [a.registration_number, b.registration_number] == ["WBS/35.73/2026/000001", "WBS/35.73/2026/000002"]
    assert c.registration_number == "WBS/35.07/2026/000001"
    assert d.registration_number == "WBS/35.73/2027/000001"


def test_year_follows_the_tenant_timezone(app):
    # 31 Dec 2026 18:00 UTC is already 1 Jan 2027 in Jakarta (UTC+7)
    r = app.register_report(command(1), now=datetime(2026, 12, 31, 18, 0, tzinfo=timezone.utc))
    assert r.registration_number.endswith("/2027/000001")


def test_repeat_submission_returns_the_first_registration(app):
    first = app.register_report(command(1), now=NOW)
    again = app.register_report(command(1), now=NOW)
    assert first.created and not again.created
    assert again.case_id == first.case_id and again.registration_number == first.registration_number
    assert app.register_report(command(2), now=NOW).registration_number.endswith("000002")


def test_reused_idempotency_key_for_another_report_is_refused(app):
    app.register_report(command(1), now=NOW)
    with pytest.raises(DomainError) as err:
        app.register_report(command(1, fingerprint=_hex("other")), now=NOW)
    assert err.value.code == "idempotency_key_reused"


def test_receipt_hash_opens_the_case_and_nothing_else(app):
    r = app.register_report(command(1), now=NOW)
    view = app.reporter_view(_hex("rcpt-1"))
    assert view["registration_number"] == r.registration_number
    assert view["status"]["code"] == "diterima"
    assert [t["status"] for t in view["timeline"]] == ["diterima"]
    assert app.reporter_view(_hex("rcpt-2")) is None


def test_case_holds_reporter_ref_and_nothing_else_about_the_reporter(app):
    r = app.register_report(command(1, reporter_ref="r" * 32, anonymous=False), now=NOW)
    case: Case = app.repository.get(r.case_id)
    assert case.reporter_ref == "r" * 32
    assert not {"identity", "name", "nik", "email", "phone"} & set(vars(case))


def test_domain_events_are_public_envelopes_without_text(app):
    app.register_report(command(1), now=NOW)
    page = app.domain_events(after=0)
    assert [e["type"] for e in page["events"]] == ["case.registered"]
    env = page["events"][0]
    assert env["data"]["registration_number"] == "WBS/35.73/2026/000001"
    assert "Dana hibah" not in repr(env)
    assert page["next"] >= env["position"]
    assert app.domain_events(after=page["next"])["events"] == []


def test_sequence_is_snapshotted_so_loads_stay_flat(app):
    from peluit_cases.ledgers import RegistrationSequence

    for n in range(250):
        app.register_report(command(n), now=NOW)
    seq_id = RegistrationSequence.create_id("35.73", 2026)
    snapshots = list(app.snapshots.get(seq_id, desc=True, limit=1))
    assert snapshots and snapshots[0].originator_version >= 200
    assert app.register_report(command(999), now=NOW).registration_number.endswith("000251")


def test_disclosure_notice_is_told_once_per_request_and_starts_no_feedback_clock(app):
    from peluit_cases.domain import DISCLOSURE_NOTICE_BASES, disclosure_notice
    from peluit_contracts.disclosure import LEGAL_BASES

    assert set(DISCLOSURE_NOTICE_BASES) == set(LEGAL_BASES)  # every basis an officer may give has a text
    assert all(disclosure_notice(basis) for basis in LEGAL_BASES)
    reg = app.register_report(command(1), now=NOW)
    before = app.domain_events(after=0)["next"]
    app.notice_disclosure_requested(reg.case_id, "req-1", "proven_slander")
    app.notice_disclosure_requested(reg.case_id, "req-1", "proven_slander")  # a retry says nothing twice
    case, history, messages = app.transcript(reg.case_id)
    assert [m["kind"] for m in messages] == ["notice"]
    assert "terbukti fitnah" in messages[0]["text"] and "proven to be slander" in messages[0]["text"]
    assert history[-1]["kind"] == "disclosure_notice" and not history[-1]["reporter_visible"]
    assert "feedback_sent" not in {c.kind for c in case.clock_events()}
    events = app.domain_events(after=before)["events"]
    assert [(e["type"], e["data"]["kind"]) for e in events] == [("case.message_for_reporter", "notice")]
    with pytest.raises(DomainError):
        app.notice_disclosure_requested(reg.case_id, "req-2", "rasa_ingin_tahu")


def test_events_stored_under_the_old_domain_topics_still_load(app):
    """AccessLog, RegistrationSequence and ReceiptIndex moved from ``domain`` to
    ``ledgers``; events stored before name ``peluit_cases.domain:...``."""
    import json
    import uuid

    from eventsourcing.persistence import StoredEvent

    from peluit_cases.ledgers import AccessLog, ReceiptIndex, RegistrationSequence

    case_id = uuid.uuid4()
    log_id = AccessLog.create_id(case_id)

    def stored(originator_id, version, topic, **state):
        state.update(timestamp={"_type_": "datetime_iso", "_data_": "2025-06-01T02:00:00+00:00"})
        return StoredEvent(originator_id=originator_id, originator_version=version, topic=topic,
                           state=json.dumps(state).encode())

    sequence_id, receipt_id = RegistrationSequence.create_id("35.78", 2025), ReceiptIndex.create_id(_hex("rcpt-old"))
    app.recorder.insert_events([
        stored(log_id, 1, "peluit_cases.domain:AccessLog.Opened", case_id={"_type_": "uuid_hex", "_data_": case_id.hex},
               originator_topic="peluit_cases.domain:AccessLog"),
        stored(log_id, 2, "peluit_cases.domain:AccessLog.Accessed", officer_id="o-1", tenant="35.78",
               roles=["auditor"], action="read", allowed=False),
        stored(sequence_id, 1, "peluit_cases.domain:RegistrationSequence.Started", tenant="35.78", year=2025,
               originator_topic="peluit_cases.domain:RegistrationSequence"),
        stored(sequence_id, 2, "peluit_cases.domain:RegistrationSequence.Issued", number=7),
        stored(receipt_id, 1, "peluit_cases.domain:ReceiptIndex.Bound", receipt_hash=_hex("rcpt-old"),
               case_id={"_type_": "uuid_hex", "_data_": case_id.hex}, originator_topic="peluit_cases.domain:ReceiptIndex"),
    ])
    log = app.repository.get(log_id)
    assert isinstance(log, AccessLog) and (log.case_id, log.count, log.refused) == (case_id, 1, 1)
    sequence = app.repository.get(sequence_id)
    assert isinstance(sequence, RegistrationSequence) and sequence.last == 7
    assert app.repository.get(receipt_id).case_id == case_id
    # and the application goes on from the old events: the next access and number follow them
    app.record_access(case_id, "o-2", "35.78", ["penelaah"], "read", True)
    assert app.repository.get(log_id).count == 2
    assert app.register_report(command(1, tenant="35.78"), now=datetime(2025, 7, 1, tzinfo=timezone.utc)) \
        .registration_number == "WBS/35.78/2025/000008"
