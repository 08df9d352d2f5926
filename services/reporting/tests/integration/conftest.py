"""Integration fixtures: a throwaway reporting database per test module, and
the read model of the hand-built log (``readmodel.build_log``) applied to it."""

from __future__ import annotations

import psycopg
import pytest

from peluit_common.testing import dsn_for
from peluit_reporting import projection

from .readmodel import applied, build_log


@pytest.fixture(scope="module")
def conn(throwaway_db):
    with psycopg.connect(dsn_for(throwaway_db), autocommit=True) as c:
        projection.migrate(c)
        yield c


@pytest.fixture(scope="module")
def built(conn):
    log, ids = build_log()
    applied(conn, log)
    return log, ids
