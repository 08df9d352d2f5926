"""Deadline outcomes recorded at closing (for reporting), the v1 -> v2 upcast
of Case.Closed, and the internal envelopes that carry deadline facts."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from peluit_cases import deadlines
from peluit_cases.domain import Case
from peluit_contracts.events import load_envelope

from ..support import DUE, INSPEKTUR, IRBAN, NOW, PENELAAH, command, memory_app, run


@pytest.fixture
def app():
    return memory_app()


def _to_findings(app, case_id):
    run(app, case_id, "start_verification", PENELAAH)
    run(app, case_id, "accept", PENELAAH)
    run(app, case_id, "start_investigation", INSPEKTUR, team=["o-irban"], plan="Audit", due_on=DUE)
    run(app, case_id, "record_findings", IRBAN, outcome="tidak_terbukti", summary="Tidak terbukti",
        recommendations=[])


def _envelopes(app):
    return [load_envelope(e) for e in app.domain_events(after=0, limit=1000)["events"]]


def test_close_with_the_pack_records_each_started_deadline():
    app = memory_app()
    case_id = app.register_report(command(1), now=NOW).case_id
    _to_findings(app, case_id)
    pack, calendar = deadlines.load_packs()["lapor"], deadlines.load_calendar()
    run(app, case_id, "close", INSPEKTUR, reason="Selesai", feedback="Terima kasih", pack=pack, calendar=calendar)
    closed = list(app.events.get(case_id))[-1]
    assert isinstance(closed, Case.Closed)
    assert closed.deadlines["pack"] == "lapor"
    rules = {r["rule"]: r for r in closed.deadlines["rules"]}
    # everything happened within seconds: every started rule was met; the field check never started
    assert set(rules) == {"first_response", "verification", "investigation"}
    assert all(r["met"] and r["met_at"] for r in rules.values())
    outcomes = [e for e in _envelopes(app) if e["type"] == "case.deadline_outcomes"]
    assert len(outcomes) == 1 and outcomes[0]["data"]["pack"] == "lapor"
    assert {d["rule"] for d in outcomes[0]["data"]["deadlines"]} == set(rules)
    # the public case.closed v1 is unchanged
    closed_env = next(e for e in _envelopes(app) if e["type"] == "case.closed")
    assert set(closed_env["data"]) == {"case_id", "registration_number", "tenant", "outcome", "closed_at"}


def test_a_late_step_is_recorded_as_missed():
    app = memory_app()
    case_id = app.register_report(command(2), now=NOW).case_id
    _to_findings(app, case_id)
    case = app.get_case(case_id)
    pack, calendar = deadlines.load_packs()["wise"], deadlines.load_calendar()
    # WISE response: 30 calendar days from registration; closing 40 days later misses it
    late = datetime.now(timezone.utc) + timedelta(days=40)
    out = case.closing_deadlines(pack, calendar, late)
    response = next(r for r in out["rules"] if r["rule"] == "response")
    assert response["met"] is False and response["met_at"] == late.isoformat()


def test_an_old_closed_event_without_deadlines_still_loads(app):
    case_id = app.register_report(command(3), now=NOW).case_id
    _to_findings(app, case_id)
    run(app, case_id, "close", INSPEKTUR, reason="Selesai", feedback="Terima kasih")  # no pack: None
    # rewrite the stored Closed event as v1 wrote it: no class_version, no deadlines key
    recorder = app.recorder
    stored = recorder.select_events(case_id)[-1]
    state = app.mapper.transcoder.decode(stored.state)
    assert state.pop("class_version") == 2
    state.pop("deadlines")
    old = type(stored)(originator_id=stored.originator_id, originator_version=stored.originator_version,
                       topic=stored.topic, state=app.mapper.transcoder.encode(state))
    event = app.mapper.to_domain_event(old)
    assert isinstance(event, Case.Closed) and event.deadlines is None
    assert event.feedback == "Terima kasih"
    # and it yields the public case.closed but no deadline envelope
    types = [e["type"] for e in _envelopes(app)]
    assert "case.closed" in types and "case.deadline_outcomes" not in types


def test_a_breach_notice_becomes_an_internal_envelope(app):
    case_id = app.register_report(command(4), now=NOW).case_id
    case = app.get_case(case_id)
    case.notice_deadline("first_response", "approaching", "2026-11-26T16:59:59+00:00")
    case.notice_deadline("first_response", "breached", "2026-11-26T16:59:59+00:00")
    app.save(case)
    breached = [e for e in _envelopes(app) if e["type"] == "case.deadline_breached"]
    assert len(breached) == 1
    assert breached[0]["data"]["rule"] == "first_response"
    assert breached[0]["data"]["due_at"] == datetime(2026, 11, 26, 16, 59, 59, tzinfo=timezone.utc)
    assert breached[0]["id"].endswith(":breached")


@pytest.mark.parametrize("command_, args", [
    ("reject", {"reason": "Bukan kewenangan pengawasan"}),
    ("archive", {"reason": "Identitas terlapor tidak jelas"}),
    ("forward", {"destination_kind": "external", "destination": "kpk", "reason": "Kewenangan KPK"}),
])
def test_every_ending_records_its_deadlines(app, command_, args):
    """Compliance counts every case that ended, not only the closed ones
    (rejected cases are often the quick ones)."""
    case_id = app.register_report(command(5), now=NOW).case_id
    run(app, case_id, "start_verification", PENELAAH)
    pack, calendar = deadlines.load_packs()["lapor"], deadlines.load_calendar()
    run(app, case_id, command_, PENELAAH, pack=pack, calendar=calendar, **args)
    ended = list(app.events.get(case_id))[-1]
    assert {r["rule"]: r["met"] for r in ended.deadlines["rules"]} == {"first_response": True, "verification": True}
    outcomes = [e for e in _envelopes(app) if e["type"] == "case.deadline_outcomes"]
    assert len(outcomes) == 1 and outcomes[0]["data"]["closed_at"] == ended.timestamp
    assert {d["rule"] for d in outcomes[0]["data"]["deadlines"]} == {"first_response", "verification"}


def test_a_pelimpahan_to_another_tenant_ends_nothing(app):
    case_id = app.register_report(command(6), now=NOW).case_id
    pack, calendar = deadlines.load_packs()["lapor"], deadlines.load_calendar()
    run(app, case_id, "forward", PENELAAH, destination_kind="tenant", destination="35.07", reason="Lokus",
        pack=pack, calendar=calendar)
    assert list(app.events.get(case_id))[-1].deadlines is None
    assert "case.deadline_outcomes" not in [e["type"] for e in _envelopes(app)]


@pytest.mark.parametrize("command_, args, cls", [
    ("reject", {"reason": "Bukan kewenangan"}, Case.Rejected),
    ("archive", {"reason": "Tidak lengkap"}, Case.Archived),
    ("forward", {"destination_kind": "external", "destination": "kpk", "reason": "KPK"}, Case.Forwarded),
])
def test_old_ending_events_without_deadlines_still_load(app, command_, args, cls):
    case_id = app.register_report(command(7), now=NOW).case_id
    run(app, case_id, command_, PENELAAH, **args)
    stored = app.recorder.select_events(case_id)[-1]
    state = app.mapper.transcoder.decode(stored.state)
    assert state.pop("class_version") == 2
    state.pop("deadlines")  # as v1 wrote it
    old = type(stored)(originator_id=stored.originator_id, originator_version=stored.originator_version,
                       topic=stored.topic, state=app.mapper.transcoder.encode(state))
    event = app.mapper.to_domain_event(old)
    assert isinstance(event, cls) and event.deadlines is None and event.reason == args["reason"]
