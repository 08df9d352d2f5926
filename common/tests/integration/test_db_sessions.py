"""What each service's database session tells PostgreSQL: which instance it
is (``application_name``), and when to give up on it, so that a leader's row
held by a process that froze or a host that vanished is taken over."""

from __future__ import annotations

import time

import psycopg
import pytest

from peluit_common.db import KEEPALIVE, make_pool
from peluit_common.settings import db_conninfo
from peluit_common.testing import dsn_for


def _name(monkeypatch, **env) -> str:
    monkeypatch.setenv("PELUIT_DB_NAME", "postgres")
    monkeypatch.setenv("PELUIT_DB_USER", "postgres")
    monkeypatch.delenv("PELUIT_DB_PASSWORD", raising=False)
    monkeypatch.delenv("PELUIT_DB_PASSWORD_FILE", raising=False)
    for name in ("PELUIT_SERVICE", "PELUIT_INSTANCE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with psycopg.connect(db_conninfo()) as conn:
        return conn.execute("SELECT application_name FROM pg_stat_activity WHERE pid = pg_backend_pid()").fetchone()[0]


def test_the_instance_is_in_the_application_name(monkeypatch):
    assert _name(monkeypatch, PELUIT_SERVICE="cases", PELUIT_INSTANCE="1") == "cases/1"
    assert _name(monkeypatch, PELUIT_SERVICE="cases") == "cases"
    assert _name(monkeypatch) == "peluit"


def test_a_leader_that_stops_answering_loses_its_row(monkeypatch, throwaway_db):
    """A leader's step left open (its process stopped mid-page) ends after
    ``PELUIT_DB_IDLE_IN_TRANSACTION_SECONDS``: another instance takes the row."""
    monkeypatch.setenv("PELUIT_DB_IDLE_IN_TRANSACTION_SECONDS", "1")
    dsn = dsn_for(throwaway_db)
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute("CREATE TABLE relay_position (name text PRIMARY KEY, position bigint NOT NULL)")
        admin.execute("INSERT INTO relay_position VALUES ('domain', 0)")
    take = "SELECT position FROM relay_position WHERE name = 'domain' FOR UPDATE SKIP LOCKED"
    pool = make_pool(dsn, max_size=1)
    try:
        with pool.connection() as leader:
            # the server probes a silent client (a vanished host) within seconds, not hours
            assert [leader.execute(f"SHOW tcp_keepalives_{name}").fetchone()[0] for name in
                    ("idle", "interval", "count")] == [str(v) for v in KEEPALIVE]
            leader.commit()
            assert leader.execute(take).fetchone() == (0,)
            with psycopg.connect(dsn) as other:
                assert other.execute(take).fetchone() is None  # led by the first
                other.rollback()
                time.sleep(1.5)  # the leader says nothing more
                assert other.execute(take).fetchone() == (0,)  # taken over
            with pytest.raises(psycopg.errors.IdleInTransactionSessionTimeout):
                leader.execute("UPDATE relay_position SET position = 1")  # its session was ended
    finally:
        pool.close()
