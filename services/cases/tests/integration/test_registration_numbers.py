"""Registration numbers on a real PostgreSQL store when two cases processes
register for the same tenant and year: each keeps the sequence it last saved
(no replay per registration), and one that another process has moved on
fails on its version and is loaded again; the numbers stay gap-free and unique."""

from __future__ import annotations

import contextlib

import psycopg
import pytest

from peluit_cases.application import CasesApplication
from peluit_common.testing import dsn_for, eventsourcing_env_for

from ..support import NOW, command


@pytest.fixture
def two_processes(fresh_db):
    with psycopg.connect(dsn_for(fresh_db), autocommit=True) as conn:
        conn.execute("CREATE SCHEMA peluit")
    with contextlib.closing(CasesApplication(env=eventsourcing_env_for(fresh_db, schema="peluit"))) as a, \
            contextlib.closing(CasesApplication(env=eventsourcing_env_for(fresh_db, schema="peluit"))) as b:
        yield a, b


def test_two_processes_issue_gap_free_unique_numbers_and_load_the_sequence_only_when_it_moved(two_processes,
                                                                                            monkeypatch):
    a, b = two_processes
    loads = {a: 0, b: 0}
    for app in (a, b):
        monkeypatch.setattr(app, "_sequence", lambda *key, _app=app, _load=app._sequence: (
            loads.__setitem__(_app, loads[_app] + 1), _load(*key))[1])

    order = [a, a, a, b, b, a, b, a, a, a]
    numbers = [app.register_report(command(n), now=NOW).registration_number for n, app in enumerate(order, 1)]

    assert [int(n.rsplit("/", 1)[1]) for n in numbers] == list(range(1, 11))
    # the first load, then again only when the other process had moved it on (the kept one's save failed)
    assert loads[a] == 1 + 2 and loads[b] == 1 + 1
    # a repeat is the first registration, whichever process sees it
    assert b.register_report(command(3), now=NOW).registration_number == numbers[2]
    assert a.register_report(command(4), now=NOW).created is False


def test_a_sequence_whose_save_failed_is_not_kept(two_processes, monkeypatch):
    a, _ = two_processes
    a.register_report(command(1), now=NOW)

    def refuse(*_aggregates, **_kw):
        raise psycopg.OperationalError("the database went away")

    with monkeypatch.context() as patched:
        patched.setattr(a, "save", refuse)
        with pytest.raises(psycopg.OperationalError):
            a.register_report(command(2), now=NOW)
    assert a.register_report(command(3), now=NOW).registration_number.endswith("/000002")
