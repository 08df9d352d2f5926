"""Deadline notices: due dates from the tenant's pack, each notice once (in
memory; two scheduler instances on PostgreSQL: integration/test_scheduler.py)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from peluit_cases import deadlines
from peluit_cases.scheduler import next_deadline_at, notice_case

from ..support import MONDAY, PENELAAH, command, deadline_config as config, memory_app, run


@pytest.fixture
def app():
    return memory_app()


def test_first_response_is_due_in_three_working_days_and_noticed_once(app):
    case_id = app.register_report(command(1), now=MONDAY).case_id
    case = app.get_case(case_id)
    # the registration was now(); compute as if it had been on Monday
    first = next(d for d in case.deadlines(*config("35.73"), now=case.created_on) if d.rule_code == "first_response")
    registered_local = case.created_on.astimezone(deadlines.ZoneInfo("Asia/Jakarta")).date()
    cal = config("35.73")[1]
    assert first.due_at.date() == cal.add_working_days(registered_local, 3)
    later = first.due_at + timedelta(minutes=1)
    assert set(notice_case(app, case_id, config, later)) == {("first_response", "approaching"),
                                                             ("first_response", "breached")}
    assert notice_case(app, case_id, config, later) == []  # never twice
    assert notice_case(app, case_id, config, later + timedelta(days=30)) == []
    kinds = [h["kind"] for h in app.transcript(case_id)[1]]
    assert kinds.count("deadline_breached") == 1


def test_starting_verification_in_time_satisfies_the_first_response(app):
    case_id = app.register_report(command(1), now=MONDAY).case_id
    run(app, case_id, "start_verification", PENELAAH)
    case = app.get_case(case_id)
    now = case.created_on + timedelta(days=20)
    assert ("first_response", "breached") not in notice_case(app, case_id, config, now)


def test_unanswered_information_request_archives_the_case(app):
    case_id = app.register_report(command(1), now=MONDAY).case_id
    run(app, case_id, "start_verification", PENELAAH)
    run(app, case_id, "request_information", PENELAAH, question="Kapan?", due_on=date(2026, 12, 1))
    case = app.get_case(case_id)
    assert next_deadline_at(case, *config("35.73"), case.modified_on) is not None
    notices = notice_case(app, case_id, config, case.modified_on + timedelta(days=15))
    assert ("information_request", "breached") in notices
    case = app.get_case(case_id)
    assert case.status == "diarsipkan" and app.transcript(case_id)[1][-1]["actor"]["id"] == "system"
    assert next_deadline_at(case, *config("35.73"), case.modified_on) is None
    # the archiving records how the deadlines ended, for compliance statistics
    ended = {r["rule"]: r["met"] for r in list(app.events.get(case_id))[-1].deadlines["rules"]}
    assert ended["information_request"] is False and ended["first_response"] is True
