"""Deadline notices with two scheduler instances on one PostgreSQL event store:
each notice once (the rules themselves: unit/test_scheduler.py)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import eventlet

from peluit_cases.application import CasesApplication
from peluit_cases.scheduler import notice_case
from peluit_common.testing import eventsourcing_env_for

from ..support import MONDAY, command, deadline_config as config


def test_two_scheduler_instances_record_each_notice_once(fresh_db):
    pg_env = eventsourcing_env_for(fresh_db)
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
