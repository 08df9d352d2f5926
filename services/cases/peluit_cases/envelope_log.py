"""The notification log's public envelopes, derived once and kept.

Deriving a stored event's envelopes means decoding it and the case's earlier
events (``CasesApplication.derive_envelopes``): some 200 us per event, most
of a read-model rebuild's cost when every follower did it again on every
read. This follower derives each position's envelopes once, a moment after
the event is stored, and keeps them in ``envelope_log`` with its tracking row
(``relay_position``, name ``envelope_log``) in the same transaction, so a
crash or a second cases instance neither skips nor doubles a position.

``domain_events`` serves the kept part and derives the tail that is not kept
yet, so no reader depends on this follower being up to date. The table is
derived data, like ``case_index``: drop it and reset the tracking row, and it
is derived again from the events. It holds only envelopes (no report text,
no reporter reference); tamper evidence stays with the events' hash chain.
"""

from __future__ import annotations

from collections import defaultdict

from psycopg.types.json import Json

from peluit_common.db import apply_schema

NAME = "envelope_log"

SCHEMA = """
CREATE TABLE IF NOT EXISTS envelope_log (
    position bigint PRIMARY KEY,  -- the stored event's notification id
    envelopes json NOT NULL       -- its public envelopes, as domain_events returns them
);
INSERT INTO relay_position (name, position) VALUES ('envelope_log', 0) ON CONFLICT DO NOTHING;
"""


def migrate(conn) -> None:
    apply_schema(conn, SCHEMA)


def follow_once(pool, app, batch: int = 500) -> int:
    """Keep the next page's envelopes; returns log positions covered (0 = idle or another instance)."""
    with pool.connection() as conn, conn.transaction():
        row = conn.execute(
            "SELECT position FROM relay_position WHERE name = %s FOR UPDATE SKIP LOCKED", (NAME,)).fetchone()
        if row is None:
            return 0
        page = app.derive_envelopes(after=row[0], limit=batch)
        if page["next"] == row[0]:
            return 0
        by_position: dict[int, list[dict]] = defaultdict(list)
        for envelope in page["events"]:
            by_position[envelope["position"]].append(envelope)
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO envelope_log (position, envelopes) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                            [(position, Json(envelopes)) for position, envelopes in by_position.items()])
        conn.execute("UPDATE relay_position SET position = %s WHERE name = %s", (page["next"], NAME))
        return page["next"] - row[0]


def reset(conn) -> None:
    """Forget every kept envelope (they are derived again from position zero):
    after a release that changes how envelopes are derived
    (``peluit-cases reset-envelopes``)."""
    with conn.transaction():
        conn.execute("SELECT position FROM relay_position WHERE name = %s FOR UPDATE", (NAME,))
        conn.execute("TRUNCATE envelope_log")
        conn.execute("UPDATE relay_position SET position = 0 WHERE name = %s", (NAME,))
