"""Deadline notices: due dates from the tenant's pack, each notice once, also
with two scheduler instances on one PostgreSQL event store."""

from __future__ import annotations

import secrets
from datetime import date, datetime, timedelta, timezone

import eventlet
import psycopg
import pytest

from peluit_cases import deadlines
from peluit_cases.application import CasesApplication
from peluit_cases.scheduler import next_deadline_at, notice_case

from .test_domain import command
from .test_workflow import PENELAAH, run

# Monday 2 November 2026, 10:00 in Jakarta
MONDAY = datetime(2026, 11, 2, 3, 0, tzinfo=timezone.utc)


def config(_tenant):
    calendar = deadlines.WorkingCalendar.from_holidays(deadlines.load_holidays())
    return deadlines.load_packs()["lapor"], calendar


@pytest.fixture
def app():
    return CasesApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


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


@pytest.fixture
def pg_env():
    name = f"pt_sched_{secrets.token_hex(4)}"
    with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    yield {"PERSISTENCE_MODULE": "eventsourcing.postgres", "POSTGRES_DBNAME": name, "POSTGRES_HOST": "127.0.0.1",
           "POSTGRES_PORT": "5432", "POSTGRES_USER": "postgres", "POSTGRES_PASSWORD": "", "CREATE_TABLE": "y"}
    with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as admin:
        admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


def test_two_scheduler_instances_record_each_notice_once(pg_env):
    one, two = CasesApplication(env=pg_env), CasesApplication(env=pg_env)
    try:
        ids = [one.register_report(command(n), now=MONDAY).case_id for n in range(20)]
        later = datetime.now(timezone.utc) + timedelta(days=30)
        pool = eventlet.GreenPool(40)
        for case_id in ids:
            for app in (one, two):
                pool.spawn(notice_case, app, case_id, config, later)
        pool.waitall()
        for app in (one, two):  # and again, as after a restart
            for case_id in ids:
                notice_case(app, case_id, config, later)
        for case_id in ids:
            kinds = [h["kind"] for h in one.transcript(case_id)[1]]
            assert kinds.count("deadline_breached") == kinds.count("deadline_approaching") == 1
    finally:
        one.close()
        two.close()
