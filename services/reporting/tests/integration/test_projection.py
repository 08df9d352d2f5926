"""projection.apply and the follower on a real PostgreSQL database with
hand-built envelopes (no broker, no nameko): idempotency of a replayed page,
page sizes and the wire form, rebuild equality, crash recovery, bad
envelopes, migrations of older read models."""

from __future__ import annotations

import json

import psycopg
import pytest

from peluit_reporting import projection

from .readmodel import KEYED, apply_page, build_log, emptied, paged, storage

def test_a_replayed_page_changes_nothing(conn, built):
    log, _ = built
    before = projection.dump(conn)
    apply_page(conn, log.envelopes)  # everything again, as if the tracking row had been lost
    apply_page(conn, log.envelopes[3:9])
    assert projection.dump(conn) == before


def test_any_page_size_and_the_wire_form_give_the_same_tables(conn, built):
    """Moves of one case folded within a page must equal applying them one by
    one; envelopes as the cases RPC sends them (JSON values, not loaded)
    must give what loaded ones give."""
    log, _ = built
    before = projection.dump(conn)
    wire = [json.loads(json.dumps(e, default=str)) for e in log.envelopes]
    for size in (1, 2, 3, 5, 7, len(wire)):
        emptied(conn)
        for i in range(0, len(wire), size):
            apply_page(conn, (wire if size % 2 else log.envelopes)[i:i + size])
        assert projection.dump(conn) == before, f"pages of {size}"


def test_a_rebuild_by_follow_derives_the_counts_when_it_catches_up(conn, built):
    log, _ = built
    before = projection.dump(conn)
    fetch, head = paged(log)
    projection.reset(conn)
    step = projection.follow(conn, fetch, window=4)
    assert 0 < step["next"] < head
    partial = projection.dump(conn)
    assert partial["case_summary"] and not partial["case_count"]  # counts wait for the catch-up
    # no WAL and no secondary indexes while it runs ...
    assert storage(conn) == ({"tracking", *projection.READ_MODELS}, set())
    projection.migrate(conn)  # a restart in the middle goes on as a rebuild
    assert storage(conn) == ({"tracking", *projection.READ_MODELS}, set())
    while step["next"] != step["start"]:
        step = projection.follow(conn, fetch, window=4)
    assert projection.dump(conn) == before
    assert storage(conn) == (set(), KEYED)  # ... logged and indexed at the head
    # caught up, the follower keeps the counts window by window again
    assert projection.follow(conn, fetch)["next"] == head
    with conn.transaction():
        assert conn.execute("SELECT counts_deferred FROM tracking").fetchone()[0] is False


def test_a_server_crash_during_a_rebuild_starts_it_again(conn, built):
    """Crash recovery empties UNLOGGED tables: the read models and the
    tracking row go together, and the follower starts again from zero."""
    log, _ = built
    before = projection.dump(conn)
    fetch, head = paged(log)
    projection.reset(conn)
    assert projection.follow(conn, fetch, window=4)["next"] > 0
    with conn.transaction():  # what PostgreSQL does to every unlogged table after a crash
        conn.execute("TRUNCATE tracking, " + ", ".join((*projection.READ_MODELS, *projection.STAGING)))
    assert projection.follow(conn, fetch, window=4) is None  # the row is put back for the next step
    assert projection.position(conn) == 0
    step = {"next": 0, "start": None}
    while step["next"] != step["start"]:
        step = projection.follow(conn, fetch, window=4)
    assert step["next"] == head and projection.dump(conn) == before


def test_a_window_overlapping_what_is_applied_finishes_it(conn, built):
    """The tracking row lost after part of the log was applied: the window
    from zero holds registrations already applied and moves that are not."""
    log, _ = built
    before = projection.dump(conn)
    for applied in (1, 2, 3, 4, 6, 9, 12):
        emptied(conn)
        apply_page(conn, log.envelopes[:applied])
        apply_page(conn, log.envelopes)
        assert projection.dump(conn) == before, f"{applied} applied first"


@pytest.mark.parametrize("spoil, error", [
    (lambda e: e.update(type="case.unknown"), projection.EnvelopeRejected),
    (lambda e: e.update(specversion="2.0"), projection.EnvelopeRejected),
    (lambda e: e.update(position="12"), projection.EnvelopeRejected),
    (lambda e: e["data"].update(case_id="not-a-uuid"), psycopg.errors.InvalidTextRepresentation),
    (lambda e: e["data"].update(registered_at="yesterday-ish"), psycopg.errors.InvalidDatetimeFormat),
    (lambda e: e["data"].pop("category"), psycopg.errors.NotNullViolation),
])
def test_a_bad_envelope_fails_its_whole_page(conn, built, spoil, error):
    log, _ = built
    before, at = projection.dump(conn), projection.position(conn)
    page = [json.loads(json.dumps(e, default=str)) for e in build_log()[0].envelopes[:6]]
    for e in page:
        e["position"] += 1000
    spoil(page[0])  # A's registration; the rest of the page is good
    with pytest.raises(error):
        apply_page(conn, page)
    assert projection.dump(conn) == before and projection.position(conn) == at


def test_rebuild_from_zero_is_identical(conn, built):
    log, _ = built
    before = projection.dump(conn)
    emptied(conn)
    assert all(not rows for rows in projection.dump(conn).values())
    apply_page(conn, log.envelopes)  # one page this time
    assert projection.dump(conn) == before
    emptied(conn)
    with conn.transaction():
        for e in log.envelopes:  # and envelope by envelope
            projection.apply(conn, e)
    assert projection.dump(conn) == before
    assert projection.position(conn) == 0


def test_an_older_read_model_gets_every_month_marked_for_keeping_by_migrate(conn, built):
    with conn.transaction():  # a read model from before stats_month existed
        conn.execute("DROP TABLE stats_month")
        conn.execute("TRUNCATE stats_changed")
        months = conn.execute("SELECT DISTINCT tenant, month FROM case_count ORDER BY 1, 2").fetchall()
    projection.migrate(conn)
    with conn.transaction():
        marked = conn.execute("SELECT tenant, month, position FROM stats_changed ORDER BY 1, 2").fetchall()
    assert months and marked == [(*m, 0) for m in months]  # no part kept for them: keep_months computes them
    with conn.transaction():
        conn.execute("DELETE FROM stats_changed")  # marked once, not on every start
    projection.migrate(conn)
    with conn.transaction():
        assert conn.execute("SELECT count(*) FROM stats_changed").fetchone()[0] == 0


def test_an_older_read_model_gets_public_count_derived_by_migrate(conn, built):
    before = projection.dump(conn)
    assert before["public_count"]
    conn.execute("DROP TABLE public_count")  # a read model from before the table existed
    projection.migrate(conn)
    assert projection.dump(conn) == before
    projection.migrate(conn)  # and again: nothing added twice
    assert projection.dump(conn) == before

