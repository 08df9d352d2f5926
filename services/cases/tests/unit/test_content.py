"""Case content sealed in the event store (``content``): in memory, no broker."""

from __future__ import annotations

import json
import os

import pytest
from cryptography.exceptions import InvalidTag

from peluit_cases import content
from peluit_cases.content import UNAVAILABLE, ContentEnded, NotSealed, end_case_content, forget_field
from peluit_cases.content_keys import MemoryContentKeys
from peluit_common.keyring import Keyring, UnknownKek

from ..support import INSPEKTUR, NOW, PENELAAH, _hex, command, memory_app, run

CANARY = "KANARI-isi-7f3a"


def _stored(app, case_id) -> list:
    return list(app.events.recorder.select_events(case_id))


def _all_stored_bytes(app) -> bytes:
    rows = app.recorder.select_notifications(start=1, limit=10_000)
    snapshots = [s for r in rows for s in app.snapshots.recorder.select_events(r.originator_id)]
    return b"".join(r.state for r in rows) + b"".join(s.state for s in snapshots)


@pytest.fixture
def app():
    return memory_app()


@pytest.fixture
def case_id(app):
    cmd = command(1)
    cmd["report"] = {**cmd["report"], "what": f"Dana hibah dipotong, {CANARY} report", "who": f"Kabid {CANARY}"}
    case_id = app.register_report(cmd, now=NOW).case_id
    app.reporter_writes(_hex("rcpt-1"), f"pesan {CANARY} dialog")
    run(app, case_id, "add_note", PENELAAH, text=f"catatan {CANARY} note")
    return case_id


def test_content_is_stored_sealed_and_read_in_clear(app, case_id):
    assert CANARY.encode() not in _all_stored_bytes(app)
    assert b"Dinas Sosial" not in _all_stored_bytes(app)  # every text of the report, not only ``what``
    assert b"35.73" in _stored(app, case_id)[0].state  # the skeleton stays readable
    case, history, messages = app.transcript(case_id)
    assert case.report["what"].endswith(f"{CANARY} report") and case.report["who"] == f"Kabid {CANARY}"
    assert messages[-1]["text"] == f"pesan {CANARY} dialog"
    assert history[-1]["text"] == f"catatan {CANARY} note"
    assert app.get_case(case_id).report["where"] == "Dinas Sosial"


def test_each_field_has_its_own_item_key_under_one_case_key(app, case_id):
    keys = app.mapper.keys
    rows = [r for r in keys.items.values() if r[0] == case_id]
    assert sorted((r[1], r[2]) for r in rows) == [(1, "report.what"), (1, "report.when"), (1, "report.where"),
                                                   (1, "report.who"), (2, "text"), (3, "text")]
    assert len({r[3] for r in rows}) == len(rows)
    assert list(keys.cases) == [case_id]


def test_a_sealed_field_opens_only_where_it_was_written(app, case_id):
    """A ciphertext moved to another event (same case, same key) does not open there."""
    stored = _stored(app, case_id)
    note, message = stored[2], stored[1]
    # the message's sealed text in the note's place: its aad names version 2, the note is version 3
    note_state, message_state = json.loads(note.state), json.loads(message.state)
    note_state["text"] = message_state["text"]
    swapped = type(note)(originator_id=note.originator_id, originator_version=3, topic=note.topic,
                         state=json.dumps(note_state).encode())
    with pytest.raises(InvalidTag):
        app.mapper.to_domain_event(swapped)


def test_forget_field_makes_one_field_unavailable_on_every_load(app, case_id):
    forget_field(app, case_id, 2, "text")
    _, history, messages = app.transcript(case_id)
    assert messages[-1]["text"] == UNAVAILABLE
    assert history[-1]["text"] == f"catatan {CANARY} note"  # the note is untouched
    assert app.get_case(case_id).report["who"] == f"Kabid {CANARY}"
    with pytest.raises(NotSealed):
        forget_field(app, case_id, 2, "report.what")  # version 2 wrote no report
    forget_field(app, case_id, 1, "report.who")
    assert app.get_case(case_id).report["who"] == UNAVAILABLE
    assert app.get_case(case_id).report["where"] == "Dinas Sosial"


def test_snapshots_are_sealed_and_dropped_by_forget(app, case_id):
    for n in range(50):
        run(app, case_id, "add_note", PENELAAH, text=f"n{n} {CANARY}")
    snapshots = list(app.snapshots.recorder.select_events(case_id))
    assert snapshots and CANARY.encode() not in snapshots[-1].state
    assert b"35.73" not in snapshots[-1].state  # a case snapshot is sealed whole (under the case key)
    assert app.get_case(case_id).report["who"] == f"Kabid {CANARY}"
    forget_field(app, case_id, 1, "report.who")
    assert app.get_case(case_id).report["who"] == UNAVAILABLE  # not from the snapshot taken before


def test_end_case_content_destroys_the_case_key(app, case_id):
    run(app, case_id, "start_verification", PENELAAH)
    run(app, case_id, "reject", INSPEKTUR, reason=f"alasan {CANARY}")
    assert end_case_content(app, case_id, NOW) is True
    assert end_case_content(app, case_id, NOW) is False
    case, history, messages = app.transcript(case_id)
    assert set(case.report.values()) - {UNAVAILABLE, False} == set()
    assert messages[-1]["text"] == UNAVAILABLE and history[-1]["reason"] == UNAVAILABLE
    assert case.status == "ditolak" and case.registration_number  # the skeleton stays
    assert app.mapper.keys.cases[case_id][:2] == [None, None]
    with pytest.raises(ContentEnded):
        run(app, case_id, "add_note", PENELAAH, text="setelah retensi")
    assert content.content_ended(app, case_id)


def test_skeleton_reads_open_no_key(app, case_id):
    stored = _stored(app, case_id)
    events = app.mapper.to_domain_events(stored, content=False)
    assert events[0].report["what"] == UNAVAILABLE and events[0].tenant == "35.73"


def test_events_stored_in_clear_before_encryption_read_unavailable_once_ended(app):
    """A legacy event (content in clear, from before this module) is read as it is, and masked once ended."""
    from eventsourcing.persistence import Mapper

    legacy = memory_app()
    plain = Mapper(legacy.construct_transcoder())
    from peluit_cases.domain import Case

    case = Case(submission_id="s", fingerprint="f", tenant="35.73", registration_number="R/1", category="korupsi",
                channel="web", report={"what": f"lama {CANARY}"}, reporter_ref=None, anonymous=True)
    stored = [plain.to_stored_event(e) for e in case.collect_events()]
    legacy.recorder.insert_events(stored)
    assert legacy.get_case(case.id).report["what"] == f"lama {CANARY}"
    end_case_content(legacy, case.id, NOW)
    assert legacy.get_case(case.id).report["what"] == UNAVAILABLE
    with pytest.raises(NotSealed):
        forget_field(legacy, case.id, 1, "report.what")


def test_the_kek_wraps_case_keys_and_a_wrong_kek_opens_nothing(case_id):
    keyring = Keyring([os.urandom(32)])
    one = memory_app_with(keyring)
    cid = one.register_report(command(7), now=NOW).case_id
    wrapped = one.mapper.keys.cases[cid][1]
    assert one.mapper.keys.cases[cid][0] == keyring.current_id and len(wrapped) == 12 + 32 + 16
    other = MemoryContentKeys(Keyring([os.urandom(32)]))
    other.cases = {cid: [keyring.current_id, wrapped, None]}
    with pytest.raises(UnknownKek):
        other.case_key(cid)
    other.keyring = Keyring([os.urandom(32), keyring.current])  # rotated: the old KEK still unwraps
    assert other.case_key(cid) == one.mapper.keys.case_key(cid)


def memory_app_with(keyring):
    from peluit_cases.application import CasesApplication

    return CasesApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, content_keyring=keyring)


def test_a_snapshot_taken_while_a_field_is_forgotten_is_dropped(app, case_id):
    """Another instance loads the case (the field still opens), a forget happens, then its snapshot is
    stored: ``take_snapshot`` sees the epoch move and drops what may hold the field."""
    load, forgotten = app.repository.get, []

    def load_then_forget(*args, **kwargs):
        case = load(*args, **kwargs)
        if kwargs.get("version") and not forgotten:
            forget_field(app, case_id, 1, "report.who")
            forgotten.append(case.version)
        return case

    app.repository.get = load_then_forget
    for n in range(47):
        run(app, case_id, "add_note", PENELAAH, text=f"n{n}")
    app.repository.get = load
    assert forgotten == [50]
    assert app.get_case(case_id).report["who"] == UNAVAILABLE
    assert [s for s in app.snapshots.get(case_id)] == []  # the snapshot taken meanwhile is not used


# what a case event may carry in clear: the skeleton (codes, ids, numbers, dates), reviewed field by field
SKELETON = {"originator_topic", "submission_id", "fingerprint", "tenant", "registration_number", "category",
            "channel", "reporter_ref", "anonymous", "destination_kind", "destination", "due_on", "outcome",
            "recommendation_id", "to_tenant", "request_id", "legal_basis", "rule", "notice", "due_at", "field_check",
            "retention_years",
            # structured, reviewed: officer ids and roles, partner references, deadline outcomes, evidence
            # metadata (generic labels), team ids, a personnel agency's decision (codes, dates, decree number)
            "actor", "assisted_by", "source", "deadlines", "attachments", "items", "team", "follow_up",
            # a redaction's target (kind, field or event version) and its passages' spans, fingerprints, vault refs
            "target", "passages"}


def test_every_text_a_case_event_carries_is_sealed_or_reviewed_skeleton():
    """A new case event (or field) with free text must name it in ``content.CONTENT``, or this fails."""
    from peluit_cases.domain import Case

    events = {name: cls for name, cls in vars(Case).items() if isinstance(cls, type) and issubclass(cls, Case.Event)}
    for name, cls in events.items():
        if any(other is not cls and issubclass(other, cls) for other in events.values()):
            continue  # a base (EndedHere): what is stored is its subclasses
        fields = {}
        for klass in reversed(cls.__mro__):
            fields.update(getattr(klass, "__annotations__", {}))
        declared = {pattern.split(".")[0] for pattern in content.CONTENT.get(name, ())}
        for field, kind in fields.items():
            if field in ("originator_id", "originator_version", "timestamp") or "ClassVar" in str(kind):
                continue
            assert field in declared or field in SKELETON, f"Case.{name}.{field} is neither content nor skeleton"
