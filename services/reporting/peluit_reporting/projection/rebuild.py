"""The end of a rebuild: what it staged folded into the read models, the
count tables derived, everything logged and indexed again."""

from __future__ import annotations

import time

from .statements import FOLD_CLOSED, STEPS
from .tables import READ_MODELS, STAGING, STATISTICS, UPSTREAM, create_indexes, derive_counts, seed_changed


def finish_rebuild(conn, position: int) -> dict[str, float]:
    """At the head, in the transaction of the rebuild's last window: the count
    tables derived, everything LOGGED again (one sequential rewrite each, in
    the WAL, so replicas and physical backups have them), the indexes built.
    Every reader of several tables reads ``tracking`` first: with that lock
    taken first here, a reader either finishes before or waits holding
    nothing, and no reader and this can deadlock over two tables.
    Returns the seconds each part took (the service logs them)."""
    seconds, t0 = {}, time.perf_counter()

    def done(name):
        nonlocal t0
        seconds[name], t0 = time.perf_counter() - t0, time.perf_counter()

    conn.execute("LOCK TABLE tracking IN ACCESS EXCLUSIVE MODE")
    fold_staged(conn)
    done("fold staged moves")
    derive_counts(conn)
    # nothing was marked during the rebuild: every tenant-month with cases is marked changed at the head, so
    # stats.keep_months computes its part, and a part computed from an older read model is not valid
    conn.execute("TRUNCATE " + ", ".join(STATISTICS))
    seed_changed(conn, position)
    done("derive counts")
    for table in (*READ_MODELS, "tracking"):
        conn.execute(f"ALTER TABLE {table} SET LOGGED")
    done("set logged")
    create_indexes(conn)
    conn.execute("UPDATE tracking SET counts_deferred = false WHERE upstream = %s", (UPSTREAM,))
    done("build indexes")
    return seconds


def fold_staged(conn) -> None:
    """The moves and closings a rebuild staged, applied to case_summary in one
    statement each (as the windows would have), then dropped."""
    conn.execute(_FOLD_STAGED_MOVES, STEPS)
    conn.execute(FOLD_CLOSED.format(closings="rebuild_closed"))
    conn.execute("TRUNCATE " + ", ".join(STAGING))



# A rebuild's staged moves, folded at its end: the same result as statements._FOLD_MOVES, with each case's last move and
# the first move of each kind of step found by sorting the moves (DISTINCT ON). Every staged move comes after
# its case's row position (it was staged by a later window than the one that inserted the row, and a window
# is applied once, under the tracking lock), so only the last is compared with it. At 96% of the full-scale
# log (1.6 million staged moves): 10.2 s -> 4.2 s
# (_FOLD_MOVES' aggregates over a join with the rows: an ordered aggregate sorts each case's moves six times).
_FOLD_STAGED_MOVES = """
WITH last AS (
    SELECT DISTINCT ON (case_id) case_id, tenant, status, position FROM rebuild_move ORDER BY case_id, position DESC
), firsts AS (
    SELECT case_id, max(changed_at) FILTER (WHERE kind = 1) AS first_response_at,
           max(changed_at) FILTER (WHERE kind = 2) AS verified_at,
           max(changed_at) FILTER (WHERE kind = 3) AS closed_at
    FROM (SELECT DISTINCT ON (case_id, kind) case_id, kind, changed_at FROM (
              SELECT case_id, position, changed_at, CASE WHEN step = ANY(%(first_response)s) THEN 1
                     WHEN step = ANY(%(verified)s) THEN 2 WHEN step = 'closed' THEN 3 END AS kind
              FROM rebuild_move) AS k
          WHERE kind IS NOT NULL ORDER BY case_id, kind, position) AS first_of_kind  -- one row per case and kind
    GROUP BY case_id
)
UPDATE case_summary c SET tenant = l.tenant, status = l.status, position = l.position,
    first_response_at = coalesce(c.first_response_at, f.first_response_at),
    verified_at = coalesce(c.verified_at, f.verified_at),
    closed_at = coalesce(c.closed_at, f.closed_at)
FROM last l LEFT JOIN firsts f USING (case_id)
WHERE c.case_id = l.case_id AND c.position < l.position
"""
