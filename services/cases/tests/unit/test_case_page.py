"""The case page and the work queue's deadline, in memory: the nearest open
rule and its state (what case_index keeps), the open deadlines and the
commands on the page, and what a stale version is told changed since."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from peluit_cases import deadlines, desk
from peluit_cases.access import Actor
from peluit_cases.audit import case_as_of
from peluit_cases.commands import AddNote, OfficerCommands, RequestInformation, StartVerification
from peluit_cases.domain import DomainError
from peluit_cases.scheduler import DEADLINE_COLUMNS, index_deadline, next_deadline_at

from ..support import PENELAAH, FakeDirectory, command, deadline_config as config, memory_app, run

SARI = Actor("o-penelaah", "sari", "35.73", ("penelaah",))
AGUS = Actor("o-inspektur", "agus", "35.73", ("inspektur",))


@pytest.fixture
def app():
    return memory_app()


def fresh(app, n=1):
    return app.get_case(app.register_report(command(n)).case_id)


def test_a_new_case_is_due_for_its_first_response(app):
    case = fresh(app)
    now = case.created_on
    found = case.deadlines(*config("35.73"), now)
    nearest = deadlines.nearest_open(found)
    assert nearest.rule_code == "first_response" and deadlines.queue_state(nearest, now) == "on_time"
    assert deadlines.queue_state(nearest, nearest.approaching_at) == "approaching"
    assert deadlines.queue_state(nearest, nearest.due_at) == "approaching"  # due at the end of that day
    assert deadlines.queue_state(nearest, nearest.due_at + timedelta(seconds=1)) == "breached"
    columns = dict(zip(DEADLINE_COLUMNS, index_deadline(case, *config("35.73"), now)))
    assert columns == {"next_deadline_at": next_deadline_at(case, *config("35.73"), now),
                       "deadline_rule": "first_response", "deadline_due_at": nearest.due_at,
                       "deadline_approaching_at": nearest.approaching_at, "deadline_paused": False}


def test_a_breached_rule_stays_the_nearest_until_its_clock_stops(app):
    case = fresh(app)
    late = case.created_on + timedelta(days=30)
    nearest = deadlines.nearest_open(case.deadlines(*config("35.73"), late))
    assert nearest.rule_code == "first_response" and deadlines.queue_state(nearest, late) == "breached"
    run(app, case.id, "start_verification", PENELAAH)  # stops the first response (late), starts verification
    case = app.get_case(case.id)
    found = case.deadlines(*config("35.73"), late)
    assert not deadlines.is_open(next(d for d in found if d.rule_code == "first_response"))
    assert deadlines.nearest_open(found).rule_code == "verification"


def test_a_clock_paused_for_the_reporter_is_on_time(app):
    case = fresh(app)
    run(app, case.id, "start_verification", PENELAAH)
    run(app, case.id, "request_information", PENELAAH, question="Kapan?", due_on=date(2027, 1, 8))
    case = app.get_case(case.id)
    later = case.modified_on + timedelta(days=13)  # the last 3 of 14 calendar days
    found = {d.rule_code: d for d in case.deadlines(*config("35.73"), later)}
    assert found["verification"].state == "paused" and deadlines.queue_state(found["verification"], later) == "on_time"
    page = desk.open_deadlines(case, *config("35.73"), later)
    assert {d["rule"]: (d["state"], d["paused"]) for d in page} == {
        "verification": ("on_time", True), "information_request": ("approaching", False)}
    assert set(page[0]) == {"rule", "label", "due_at", "approaching_at", "state", "paused"}
    assert page[0]["label"]["id"] and page[0]["label"]["en"]


def test_an_ended_case_has_no_deadline(app):
    case = fresh(app)
    run(app, case.id, "reject", PENELAAH, reason="Bukan pengaduan")
    case = app.get_case(case.id)
    assert index_deadline(case, *config("35.73"), case.modified_on) == (None, None, None, None, False)
    assert desk.open_deadlines(case, *config("35.73"), case.modified_on) == []


def test_the_case_page_offers_the_commands_and_deadlines_of_the_version_it_shows(app):
    case = fresh(app)
    page = desk.case_page(app, FakeDirectory(), config, SARI, case)
    assert page["version"] == 1 and page["allowed_commands"][0] == "start-verification"
    assert [d["rule"] for d in page["deadlines"]] == ["first_response"]
    assert page["history"][0]["kind"] == "registered"
    then = desk.case_page_as_of(case_as_of(app, case.id, case.created_on), config, case.created_on)
    assert then["allowed_commands"] == [] and then["as_of"] == case.created_on.isoformat()
    assert [d["state"] for d in then["deadlines"]] == ["on_time"]


def test_a_stale_version_is_told_what_changed_since(app):
    case = fresh(app)
    handler = OfficerCommands(app, FakeDirectory())
    handler.run(SARI, str(case.id), StartVerification(), 1)
    handler.run(AGUS, str(case.id), RequestInformation(question="Siapa saksinya?", due_on=date(2027, 1, 8)), 2)
    with pytest.raises(DomainError, match="stale_version"):
        handler.run(SARI, str(case.id), AddNote(text="Catatan"), 1)
    version, changes = desk.changes_since(app, case.id, 1)
    assert version == 3
    assert [(c["kind"], c["status"], c["actor"]["username"]) for c in changes] == [
        ("verification_started", "verifikasi", "sari"), ("information_requested", "menunggu_informasi", "agus")]
    assert desk.changes_since(app, case.id, 2)[1] == changes[1:]
    assert desk.changes_since(app, case.id, 3) == (3, []) and desk.changes_since(app, case.id, 99) == (3, [])
    assert [c["kind"] for c in desk.changes_since(app, case.id, 0)[1]] == ["registered", *(c["kind"] for c in changes)]
