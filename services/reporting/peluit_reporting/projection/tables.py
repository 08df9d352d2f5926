"""The read models' tables, their migrations and their storage during a rebuild.

Read models (all rows carry their tenant; no report text, no identity):

* ``case_summary``: one row per case, under its *handling* tenant (it moves
  with pelimpahan to another tenant and with escalation); registration month
  in ``TIMEZONE``; the first response, end of verification and closing times.
* ``tenant_status_count``: cases per handling tenant and status.
* ``case_count``: cases per handling tenant, registration month, category,
  channel and status (the aggregate behind every count query).
* ``forwarded``, ``sanction``: one row per pelimpahan / sanction recommended.
* ``deadline_outcome``: per case and rule, how the deadline ended when the
  case ended (``source`` closed: closed, rejected, archived or forwarded to an
  external body, computed by cases with the tenant's pack at that moment) and
  every breach the scheduler noticed (``source`` breached).
"""

from __future__ import annotations

import os
from zoneinfo import ZoneInfo

import psycopg

UPSTREAM = "cases"
TIMEZONE = ZoneInfo(os.environ.get("PELUIT_TIMEZONE", "Asia/Jakarta"))

SCHEMA = """
CREATE TABLE IF NOT EXISTS tracking (
    upstream text PRIMARY KEY,
    position bigint NOT NULL
);
-- while a rebuild runs from position 0 the count tables wait, and are derived
-- from case_summary when it catches up (a new database starts as a rebuild)
ALTER TABLE tracking ADD COLUMN IF NOT EXISTS counts_deferred boolean NOT NULL DEFAULT false;
INSERT INTO tracking (upstream, position, counts_deferred) VALUES ('cases', 0, true) ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS case_summary (
    case_id uuid PRIMARY KEY,
    tenant text NOT NULL,  -- the handling tenant: it changes with pelimpahan and escalation
    registration_number text NOT NULL,
    category text NOT NULL,
    channel text NOT NULL,
    status text NOT NULL,
    registered_at timestamptz NOT NULL
);
ALTER TABLE case_summary ADD COLUMN IF NOT EXISTS origin_tenant text;
ALTER TABLE case_summary ADD COLUMN IF NOT EXISTS anonymous boolean;
ALTER TABLE case_summary ADD COLUMN IF NOT EXISTS month date;  -- registration month, local time
ALTER TABLE case_summary ADD COLUMN IF NOT EXISTS first_response_at timestamptz;
ALTER TABLE case_summary ADD COLUMN IF NOT EXISTS verified_at timestamptz;
ALTER TABLE case_summary ADD COLUMN IF NOT EXISTS closed_at timestamptz;
ALTER TABLE case_summary ADD COLUMN IF NOT EXISTS outcome text;
ALTER TABLE case_summary ADD COLUMN IF NOT EXISTS position bigint NOT NULL DEFAULT 0;  -- last status move applied
CREATE TABLE IF NOT EXISTS tenant_status_count (
    tenant text NOT NULL,
    status text NOT NULL,
    count bigint NOT NULL,
    PRIMARY KEY (tenant, status)
);
CREATE TABLE IF NOT EXISTS case_count (
    tenant text NOT NULL,
    month date NOT NULL,
    category text NOT NULL,
    channel text NOT NULL,
    status text NOT NULL,
    count bigint NOT NULL,
    PRIMARY KEY (tenant, month, category, channel, status)
);
-- the public statistics' grain (registration year, no channel): a province-year
-- reads a few thousand rows instead of summing case_count's hundred thousand
CREATE TABLE IF NOT EXISTS public_count (
    tenant text NOT NULL,
    year integer NOT NULL,
    category text NOT NULL,
    status text NOT NULL,
    count bigint NOT NULL,
    PRIMARY KEY (tenant, year, category, status)
);
-- the public statistics as published: a copy of public_count taken once a day at a
-- fixed local time (stats.publish), so that no published figure dates one report
CREATE TABLE IF NOT EXISTS public_snapshot (LIKE public_count INCLUDING ALL);
CREATE TABLE IF NOT EXISTS public_snapshot_taken (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    due timestamptz NOT NULL,  -- the publication time this copy stands for
    taken timestamptz NOT NULL
);
-- kept statistics (stats._report), and for each tenant and month the last
-- log position that changed its figures: a kept report is served while none
-- of its tenant-months changed after the position it was computed at
CREATE TABLE IF NOT EXISTS stats_changed (
    tenant text NOT NULL,
    month date NOT NULL,  -- registration month, or the month of the event for dated rows (local time)
    position bigint NOT NULL,
    PRIMARY KEY (tenant, month)
);
DROP TABLE IF EXISTS stats_cache;  -- kept parts per tenant and period, before stats_month
CREATE TABLE IF NOT EXISTS stats_month (  -- one tenant's figures of one month: every report is assembled from these
    tenant text NOT NULL,
    month date NOT NULL,
    position bigint NOT NULL,
    computed_at timestamptz NOT NULL,
    counts json NOT NULL,
    durations bytea NOT NULL,  -- float64 days of each timing, one after the other
    PRIMARY KEY (tenant, month)
);
-- a tenant's calendar quarter or year (months 3 or 12), merged from its months' parts by stats.keep_blocks:
-- a province-year reads 39 of these instead of ~470 months; UNLOGGED, as they are merged again when lost
CREATE UNLOGGED TABLE IF NOT EXISTS stats_block (
    tenant text NOT NULL,
    month date NOT NULL,  -- the first month
    months smallint NOT NULL,
    position bigint NOT NULL,
    computed_at timestamptz NOT NULL,
    counts json NOT NULL,  -- with the tenant's own timings for the block
    durations bytea NOT NULL,
    PRIMARY KEY (tenant, month, months)
);
-- reports and tenant-period parts are caches (every row is checked against stats_changed before use):
-- UNLOGGED, no WAL for the megabytes of durations a province-year writes; a crash empties them
CREATE UNLOGGED TABLE IF NOT EXISTS stats_period (  -- one tenant's figures of one period, assembled from its months
    key text PRIMARY KEY,  -- [tenant, first month, last month]
    tenant text NOT NULL,
    position bigint NOT NULL,
    computed_at timestamptz NOT NULL,
    counts json NOT NULL,
    durations bytea NOT NULL
);
CREATE UNLOGGED TABLE IF NOT EXISTS stats_report (  -- a whole report, assembled from its tenants' parts
    key text PRIMARY KEY,  -- [kind, tenants, first month, last month]
    position bigint NOT NULL,
    computed_at timestamptz NOT NULL,
    result json NOT NULL  -- json, not jsonb: the figures come back in the order they were assembled
);
ALTER TABLE stats_report SET UNLOGGED;  -- logged before (nothing to do when it is unlogged already)
ALTER TABLE stats_period SET UNLOGGED;

-- a rebuild's status moves and closings, kept here (UNLOGGED, no index: a crash empties them with the read
-- models) and folded into case_summary once when it catches up (``fold_staged``): one pass over them
-- instead of an index lookup and a row update per move, window after window
CREATE UNLOGGED TABLE IF NOT EXISTS rebuild_move (
    case_id uuid NOT NULL,
    tenant text NOT NULL,
    status text NOT NULL,
    step text,
    changed_at timestamptz,
    position bigint NOT NULL
);
CREATE UNLOGGED TABLE IF NOT EXISTS rebuild_closed (
    case_id uuid NOT NULL,
    outcome text,
    position bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS forwarded (
    case_id uuid NOT NULL,
    position bigint NOT NULL,
    from_tenant text NOT NULL,
    destination_kind text NOT NULL,
    destination text NOT NULL,
    at timestamptz NOT NULL,
    PRIMARY KEY (case_id, position)
);
CREATE TABLE IF NOT EXISTS sanction (
    case_id uuid NOT NULL,
    recommendation_id text NOT NULL,
    tenant text NOT NULL,
    level text NOT NULL,
    sanction text NOT NULL,
    months integer,
    at timestamptz NOT NULL,
    PRIMARY KEY (case_id, recommendation_id)
);
CREATE TABLE IF NOT EXISTS deadline_outcome (
    case_id uuid NOT NULL,
    rule text NOT NULL,
    source text NOT NULL,  -- closed (the case ended, whichever way) | breached
    tenant text NOT NULL,
    pack text,             -- null for breaches (the notice does not name the pack)
    due_at timestamptz,
    met_at timestamptz,
    met boolean NOT NULL,
    at timestamptz NOT NULL,  -- closing or notice time
    PRIMARY KEY (case_id, rule, source)
);
-- the log position of the envelope: a rebuild, without the primary key, keeps the first of each key at its end
ALTER TABLE deadline_outcome ADD COLUMN IF NOT EXISTS position bigint;
"""

# the read models' secondary indexes: a rebuild drops them and builds each
# once when it catches up (one sort) instead of keeping them row by row
INDEXES = {
    # covering: the timing percentiles of a whole province read the index only
    "case_summary_tenant_month_times": "ON case_summary (tenant, month) "
                                       "INCLUDE (registered_at, first_response_at, verified_at, closed_at)",
    "forwarded_tenant_at": "ON forwarded (from_tenant, at)",
    "sanction_tenant_at": "ON sanction (tenant, at)",
    # covering: a tenant-year's compliance reads the index only (a year of Kota Surabaya: 29 -> 14 ms)
    "deadline_outcome_tenant_at_outcome": "ON deadline_outcome (tenant, at) INCLUDE (source, pack, rule, met)",
}
RETIRED_INDEXES = ("deadline_outcome_tenant_at",)  # replaced by a covering one
# A rebuild drops deadline_outcome's primary key too: kept row by row, its random case ids were most of
# inserting 1.5 million outcomes (measured alone: 9.3 s with it, 2.6 s without and 1.1 s to build it once).
# Its inserts' ON CONFLICT DO NOTHING then keeps every row, and the end keeps the first of each key
# (``_add_key``), as the follower would have.
REBUILD_KEY = ("deadline_outcome", "deadline_outcome_pkey", "(case_id, rule, source)")

# kept statistics (the stats package)
STATISTICS = ("stats_report", "stats_period", "stats_block", "stats_month", "stats_changed")
READ_MODELS = ("case_summary", "tenant_status_count", "case_count", "public_count", "forwarded", "sanction",
               "deadline_outcome")
STAGING = ("rebuild_move", "rebuild_closed")  # a rebuild's moves and closings (``rebuild``)


def migrate(conn) -> None:
    with conn.transaction():
        if conn.execute("SELECT to_regclass('tracking') IS NOT NULL").fetchone()[0]:
            # a follower holds still while a new table is derived at its position. The table, not the
            # row: a follower finishing a rebuild holds the row and then locks the table (rebuild.py),
            # and a second instance starting then, waiting for the row, deadlocked with it and died
            conn.execute("LOCK TABLE tracking IN ACCESS EXCLUSIVE MODE")
        added, kept_months_added = conn.execute(
            "SELECT to_regclass('public_count') IS NULL, to_regclass('stats_month') IS NULL").fetchone()
        conn.execute(SCHEMA)
        if added:  # an older read model: derive the new table from case_count, at the same position
            conn.execute(_PUBLIC_COUNT_FROM_CASE_COUNT)
        if kept_months_added:  # an older read model: its months get their parts from stats.keep_months
            seed_changed(conn, 0)
        rebuilding = conn.execute("SELECT counts_deferred FROM tracking WHERE upstream = %s",
                                  (UPSTREAM,)).fetchone()[0]
        if rebuilding:  # a new database starts as a rebuild; a restart in the middle of one goes on with it
            _begin_rebuild(conn)
        else:
            create_indexes(conn)


def _begin_rebuild(conn) -> None:
    """The read models and the tracking row become UNLOGGED until the rebuild
    catches up (no WAL for millions of row writes), and lose their secondary
    indexes (each is built once at the end). A server crash meanwhile empties
    all of them together, and the rebuild starts again from position 0
    (``follower``): never a position ahead of the rows it stands for."""
    for name in (*INDEXES, *RETIRED_INDEXES):
        conn.execute(f"DROP INDEX IF EXISTS {name}")
    table, key, _ = REBUILD_KEY
    conn.execute(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {key}")
    for table in ("tracking", *READ_MODELS):
        conn.execute(f"ALTER TABLE {table} SET UNLOGGED")  # nothing to do if it is already


def _add_key(conn) -> None:
    """deadline_outcome's primary key, added back at the end of a rebuild.
    Where a key came twice (a rule breached twice, or a window applied
    again), only its first row in log order stays."""
    table, key, columns = REBUILD_KEY
    try:
        with conn.transaction():  # a savepoint: duplicates are rare, so first try without looking for them
            conn.execute(f"ALTER TABLE {table} ADD CONSTRAINT {key} PRIMARY KEY {columns}")
    except psycopg.errors.UniqueViolation:
        conn.execute(f"DELETE FROM {table} d USING {table} e WHERE (e.case_id, e.rule, e.source) = "
                     "(d.case_id, d.rule, d.source) AND (coalesce(e.position, 0), e.ctid) < "
                     "(coalesce(d.position, 0), d.ctid)")
        conn.execute(f"ALTER TABLE {table} ADD CONSTRAINT {key} PRIMARY KEY {columns}")


def seed_changed(conn, position: int) -> None:
    """Mark every tenant-month that has cases as changed at ``position``
    (unless marked already), so that its statistics part gets kept."""
    conn.execute("INSERT INTO stats_changed (tenant, month, position) SELECT DISTINCT tenant, month, %s "
                 "FROM case_count ON CONFLICT DO NOTHING", (position,))


def create_indexes(conn) -> None:
    for name in RETIRED_INDEXES:
        conn.execute(f"DROP INDEX IF EXISTS {name}")
    for name, definition in INDEXES.items():
        conn.execute(f"CREATE INDEX IF NOT EXISTS {name} {definition}")
    table, key, _ = REBUILD_KEY
    if not conn.execute("SELECT 1 FROM pg_constraint WHERE conname = %s AND conrelid = %s::regclass",
                        (key, table)).fetchone():
        _add_key(conn)


_PUBLIC_COUNT_FROM_CASE_COUNT = (
    "INSERT INTO public_count (tenant, year, category, status, count) "
    "SELECT tenant, extract(year FROM month)::int, category, status, sum(count) FROM case_count GROUP BY 1, 2, 3, 4")


def derive_counts(conn) -> None:
    """The count tables from case_summary, of which they are a pure function
    (what a rebuild does once it has caught up, instead of keeping them
    window by window: a fifth of a full-scale rebuild)."""
    conn.execute("TRUNCATE case_count, tenant_status_count, public_count")
    conn.execute("INSERT INTO case_count (tenant, month, category, channel, status, count) "
                 "SELECT tenant, month, category, channel, status, count(*) FROM case_summary GROUP BY 1, 2, 3, 4, 5")
    conn.execute("INSERT INTO tenant_status_count (tenant, status, count) "
                 "SELECT tenant, status, sum(count) FROM case_count GROUP BY 1, 2")
    conn.execute(_PUBLIC_COUNT_FROM_CASE_COUNT)



def vacuum_analyze(conn) -> None:
    """After a rebuild caught up: planner statistics (the first queries would
    otherwise plan for the empty tables it started from) and the visibility
    map, so the timing percentiles read the covering index alone at once
    instead of when autovacuum comes round (measured: 31 -> 11 ms)."""
    autocommit = conn.autocommit
    conn.autocommit = True  # VACUUM runs outside a transaction
    try:
        conn.execute("VACUUM (ANALYZE) " + ", ".join(READ_MODELS))
    finally:
        conn.autocommit = autocommit


def advance(conn, position: int) -> None:
    conn.execute("UPDATE tracking SET position = %s WHERE upstream = %s", (position, UPSTREAM))


def position(conn) -> int:
    with conn.transaction():
        return conn.execute("SELECT position FROM tracking WHERE upstream = %s", (UPSTREAM,)).fetchone()[0]


def reset(conn) -> None:
    """Drop the read models back to position zero (``peluit-reporting rebuild``)."""
    with conn.transaction():
        lock = conn.execute("SELECT position FROM tracking WHERE upstream = %s FOR UPDATE", (UPSTREAM,))
        lock.fetchone()
        conn.execute("TRUNCATE " + ", ".join((*STATISTICS, *READ_MODELS, *STAGING)))
        conn.execute("UPDATE tracking SET position = 0, counts_deferred = true WHERE upstream = %s", (UPSTREAM,))
        _begin_rebuild(conn)


def dump(conn) -> dict[str, list[tuple]]:
    """Every read-model table, fully ordered (rebuild tests compare these)."""
    out = {}
    with conn.transaction():
        conn.execute("SELECT position FROM tracking")  # tracking first, as every reader (``finish_rebuild``)
        for table in READ_MODELS:
            cols = [r[0] for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
                "AND table_schema = current_schema() ORDER BY ordinal_position", (table,)).fetchall()]
            order = ", ".join(str(i) for i in range(1, len(cols) + 1))
            rows = conn.execute(f"SELECT {', '.join(cols)} FROM {table} ORDER BY {order}").fetchall()
            out[table] = rows
    return out
