"""A second reporting instance starting (``migrate``) while the first
finishes a rebuild: the follower holds the tracking row and then locks the
table (``finish_rebuild``). The starting instance waited for the row and
deadlocked with it; PostgreSQL ended one of them (the starting one died)."""

from __future__ import annotations

import eventlet
import psycopg

from peluit_common.testing import dsn_for
from peluit_reporting import projection
from peluit_reporting.projection.tables import UPSTREAM


def test_an_instance_starting_while_a_rebuild_finishes_waits_for_it(throwaway_db):
    dsn = dsn_for(throwaway_db)
    with psycopg.connect(dsn, autocommit=True) as first:
        projection.migrate(first)
    with psycopg.connect(dsn) as follower, psycopg.connect(dsn) as starting:
        # the follower's step: its row claimed, as in follower.follow
        assert follower.execute("SELECT position FROM tracking WHERE upstream = %s FOR UPDATE SKIP LOCKED",
                                (UPSTREAM,)).fetchone() == (0,)
        second = eventlet.spawn(projection.migrate, starting)  # a second instance starts meanwhile
        eventlet.sleep(0.5)
        assert not second.dead  # it waits for the follower
        # the rebuild finishes: the table locked as rebuild.finish_rebuild does, then the step commits
        follower.execute("LOCK TABLE tracking IN ACCESS EXCLUSIVE MODE")
        follower.execute("UPDATE tracking SET position = 7 WHERE upstream = %s", (UPSTREAM,))
        follower.commit()
        second.wait()  # raises DeadlockDetected if they deadlocked
        assert starting.execute("SELECT position FROM tracking").fetchone() == (7,)
