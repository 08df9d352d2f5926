"""The migration job (``python -m peluit_common.migrate``) makes the same schema
as migrating at process start, and a process started with
``PELUIT_MIGRATE_AT_START=0`` creates nothing (a deployment migrates once per
release, before the rollout)."""

from __future__ import annotations

import psycopg
import pytest

from peluit_common.migrate import migrate, service_classes
from peluit_common.testing import dsn_for
from peluit_local.system import SERVICES

# one schema per run in the module's database (a database each cost a checkpoint to drop)
SCHEMA = """
SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = %(s)s
UNION ALL SELECT event_object_table, trigger_name, action_timing
  FROM information_schema.triggers WHERE event_object_schema = %(s)s
UNION ALL SELECT tablename, indexname, '' FROM pg_indexes WHERE schemaname = %(s)s
ORDER BY 1, 2, 3"""


def _schema(dbname: str, schema: str) -> list:
    with psycopg.connect(dsn_for(dbname)) as conn:
        return conn.execute(SCHEMA, {"s": schema}).fetchall()


def _use(monkeypatch, dbname: str, schema: str, at_start: str) -> None:
    with psycopg.connect(dsn_for(dbname)) as conn:  # as provisioning leaves it (bootstrap), in a schema of its own
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    monkeypatch.setenv("PELUIT_DB_NAME", dbname)
    monkeypatch.setenv("PELUIT_DB_USER", "postgres")
    monkeypatch.setenv("PELUIT_DB_SCHEMA", schema)
    monkeypatch.setenv("PGOPTIONS", f"-c search_path={schema}")
    monkeypatch.setenv("PELUIT_MIGRATE_AT_START", at_start)


def _start_providers(module_name: str) -> list:
    """What a process does at start for its tables: each provider's setup."""
    import importlib

    started = []
    for cls in service_classes(importlib.import_module(module_name)):
        for provider in vars(cls).values():
            if callable(getattr(provider, "migrate_schema", None)):
                provider.setup()
                started.append(provider)
    return started


@pytest.mark.parametrize("module", [s.module for s in SERVICES if s.database and s.name != "intake"])
def test_the_migration_job_makes_what_start_up_makes(module, throwaway_db, monkeypatch):
    by_job, at_start = (f"{kind}_{module.split('.')[0]}" for kind in ("job", "start"))
    _use(monkeypatch, throwaway_db, by_job, "0")
    ran = migrate(module)
    assert ran, "a service with a database has a migration hook"
    migrate(module)  # idempotent: a job that runs twice changes nothing
    job_schema = _schema(throwaway_db, by_job)
    assert job_schema

    started = _start_providers(module)  # migrations off: opens what the job made, creates nothing
    try:
        assert _schema(throwaway_db, by_job) == job_schema
    finally:
        for provider in started:
            provider.stop()

    _use(monkeypatch, throwaway_db, at_start, "0")
    for provider in _start_providers(module):  # an empty schema stays empty
        provider.stop()
    assert _schema(throwaway_db, at_start) == []

    _use(monkeypatch, throwaway_db, at_start, "1")
    started = _start_providers(module)
    try:
        assert _schema(throwaway_db, at_start) == job_schema
    finally:
        for provider in started:
            provider.stop()


@pytest.mark.parametrize("module", [s.module for s in SERVICES if s.database and s.name != "intake"])
def test_two_instances_starting_together_on_a_new_database_both_start(module, throwaway_db, monkeypatch):
    """Two processes migrating at start at once (``PELUIT_INSTANCES=2``, a release that adds tables)
    raced on CREATE TABLE IF NOT EXISTS and one died; each waits for the other now."""
    import eventlet

    for attempt in range(3):  # a race: a few rounds, each on a new schema
        _use(monkeypatch, throwaway_db, f"two_{attempt}_{module.split('.')[0]}", "1")
        starts = [eventlet.spawn(_start_providers, module) for _ in range(2)]
        started = []
        try:
            for start in starts:
                started.extend(start.wait())  # raises what a start raised
        finally:
            for provider in started:
                provider.stop()
