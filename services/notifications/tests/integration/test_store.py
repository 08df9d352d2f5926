"""The store on a real throwaway database: an event is recorded once with its
effect, is processed after, and a redelivery changes nothing."""

from __future__ import annotations

import psycopg
import pytest

from peluit_common.db import make_pool
from peluit_common.testing import dsn_for
from peluit_notifications import store

from ..envelopes import message_for_reporter, registered, status_changed


@pytest.fixture(scope="module")
def pool(throwaway_db):
    pool = make_pool(dsn_for(throwaway_db), max_size=2)
    with pool.connection() as conn:
        store.migrate(conn)
        store.migrate(conn)  # at every start: idempotent
    yield pool
    pool.close()


def rows(pool, table: str) -> list[tuple]:
    with pool.connection() as conn:
        return conn.execute(f"SELECT * FROM {table} ORDER BY id").fetchall()


def counts(pool) -> tuple[int, int, int]:
    with pool.connection() as conn:
        return conn.execute("SELECT (SELECT count(*) FROM processed_event), (SELECT count(*) FROM "
                            "officer_notification), (SELECT count(*) FROM reporter_notification)").fetchone()


def test_a_new_case_is_recorded_once_for_its_officers(pool):
    s, envelope = store.Store(pool), registered(tenant="35.07")
    before = counts(pool)
    assert not s.processed(envelope["id"])
    assert s.record(envelope) is True
    assert s.processed(envelope["id"])
    assert s.record(envelope) is False  # redelivered
    assert counts(pool) == (before[0] + 1, before[1] + 1, before[2])
    last = rows(pool, "officer_notification")[-1]
    assert (last[1], last[2], str(last[3]), last[4], last[5], last[7]) == (
        envelope["id"], "35.07", envelope["data"]["case_id"], envelope["data"]["registration_number"],
        "case_registered", None)


def test_a_reporter_notice_is_recorded_with_the_vaults_answer_and_no_address(pool):
    s, envelope = store.Store(pool), message_for_reporter("feedback")
    assert s.record(envelope, "case_closed", "sent") is True
    assert s.record(envelope, "case_closed", "sent") is False
    last = rows(pool, "reporter_notification")[-1]
    assert (last[1], str(last[2]), last[3], last[4]) == (envelope["id"], envelope["data"]["case_id"], "case_closed",
                                                         "sent")
    assert len([r for r in rows(pool, "reporter_notification") if r[1] == envelope["id"]]) == 1


def test_other_events_are_only_marked_processed(pool):
    s, envelope = store.Store(pool), status_changed()
    before = counts(pool)
    assert s.record(envelope) is True and s.processed(envelope["id"])
    assert counts(pool) == (before[0] + 1, before[1], before[2])


def test_a_failed_effect_rolls_back_the_processed_mark(pool):
    s, envelope = store.Store(pool), registered()
    envelope["data"]["case_id"] = "not-a-uuid"  # the effect's insert fails after the processed row
    with pytest.raises(psycopg.errors.InvalidTextRepresentation):
        s.record(envelope)
    assert not s.processed(envelope["id"])  # a retry applies it again
