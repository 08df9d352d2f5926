"""Each instance names itself to PostgreSQL, so an operator (and the failover
test) can tell from ``pg_stat_activity`` which instance holds a leader's row."""

from __future__ import annotations

import psycopg

from peluit_common.settings import db_conninfo


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
