"""The vault's integration tests run on a real PostgreSQL database of their own
per module (``throwaway_db``), migrated as the service migrates it."""

from __future__ import annotations

import base64
import secrets
import threading

import psycopg
import pytest
from psycopg import sql

from peluit_common.testing import dsn_for
from peluit_vault import schema


@pytest.fixture(scope="module")
def dsn(throwaway_db):
    return dsn_for(throwaway_db)


@pytest.fixture(scope="module")
def conn(dsn):
    """The connection the code under test uses: autocommit off, as the service's pool."""
    with psycopg.connect(dsn) as conn:
        schema.migrate(conn)
        schema.migrate(conn)  # idempotent
        yield conn


@pytest.fixture(scope="module")
def inspect(dsn, conn):
    """A second, autocommit connection for looking at rows behind the API's back."""
    with psycopg.connect(dsn, autocommit=True) as inspect:
        yield inspect


def _together(*calls) -> list:
    """Run the calls in threads released at once; their results (or the exceptions they raised), in order."""
    start, results = threading.Barrier(len(calls)), [None] * len(calls)

    def run(n, call):
        start.wait(10)
        try:
            results[n] = call()
        except Exception as exc:
            results[n] = exc

    threads = [threading.Thread(target=run, args=(n, call)) for n, call in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


@pytest.fixture(scope="session")
def together():
    """``together(*calls)``: what several vault instances doing things at the same moment would see."""
    return _together


class Canaries:
    """Markers put into identities and originals, and the check that none of
    them is anywhere in the database in clear (as text, hex or base64)."""

    def __init__(self):
        self.markers: list[str] = []

    def new(self) -> str:
        marker = f"Canary{secrets.token_hex(8)}"
        self.markers.append(marker)
        return marker

    def assert_absent(self, inspect, tables: set[str]) -> None:
        found = inspect.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')").fetchall()
        assert {("public", t) for t in tables} <= set(found)
        dump = "\n".join(
            text for schema_name, table in found
            for (text,) in inspect.execute(sql.SQL("SELECT t::text FROM {}.{} t").format(
                sql.Identifier(schema_name), sql.Identifier(table))))
        assert self.markers and dump
        for marker in self.markers:
            for form in (marker, marker.lower(), marker.encode().hex(), base64.b64encode(marker.encode()).decode()):
                assert form not in dump


@pytest.fixture(scope="module")
def canaries():
    return Canaries()
