"""Read models built from the cases notification log, exactly once.

The follower's position (``tracking``) is updated in the same transaction as
the read-model rows, under a row lock, so a crash or a second instance can
neither skip nor double-apply an event. Each apply is also idempotent by
itself (primary keys, and a per-case ``position`` guard for status moves), so
even a replayed page changes nothing. Read models are disposable: ``reset``
drops them to position zero and the follower rebuilds them. A follower step
(``follow``) applies a window of pages at once, so a rebuild writes each case
row about once per window instead of once per move.

Everything here is a plain function over a psycopg connection (no nameko), so
it can be tested and benchmarked on its own.

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
import time
from collections import defaultdict
from zoneinfo import ZoneInfo

import orjson
import psycopg
from psycopg.types.json import Jsonb

from peluit_contracts.events import DATA_SCHEMAS, ENVELOPE_VERSION

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
-- models) and folded into case_summary once when it catches up (``_fold_staged``): one pass over them
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

# envelopes a follower applies together (memory: ~1 KiB each while they are applied)
WINDOW = int(os.environ.get("PELUIT_PROJECTION_WINDOW", "20000"))

# kept statistics (stats.py)
STATISTICS = ("stats_report", "stats_period", "stats_block", "stats_month", "stats_changed")
READ_MODELS = ("case_summary", "tenant_status_count", "case_count", "public_count", "forwarded", "sanction",
               "deadline_outcome")

# steps that end verification (time to verify) and the one that starts it (time to acknowledge)
FIRST_RESPONSE_STEPS = ["verification_started"]
VERIFIED_STEPS = ["accepted", "rejected", "archived", "forwarded"]


def migrate(conn) -> None:
    with conn.transaction():
        if conn.execute("SELECT to_regclass('tracking') IS NOT NULL").fetchone()[0]:
            # a follower holds still while a new table is derived at its position
            conn.execute("SELECT position FROM tracking WHERE upstream = %s FOR UPDATE", (UPSTREAM,))
        added, kept_months_added = conn.execute(
            "SELECT to_regclass('public_count') IS NULL, to_regclass('stats_month') IS NULL").fetchone()
        conn.execute(SCHEMA)
        if added:  # an older read model: derive the new table from case_count, at the same position
            conn.execute(_PUBLIC_COUNT_FROM_CASE_COUNT)
        if kept_months_added:  # an older read model: its months get their parts from stats.keep_months
            _seed_changed(conn, 0)
        rebuilding = conn.execute("SELECT counts_deferred FROM tracking WHERE upstream = %s",
                                  (UPSTREAM,)).fetchone()[0]
        if rebuilding:  # a new database starts as a rebuild; a restart in the middle of one goes on with it
            _begin_rebuild(conn)
        else:
            _create_indexes(conn)


def _begin_rebuild(conn) -> None:
    """The read models and the tracking row become UNLOGGED until the rebuild
    catches up (no WAL for millions of row writes), and lose their secondary
    indexes (each is built once at the end). A server crash meanwhile empties
    all of them together, and the rebuild starts again from position 0
    (``_claim``): never a position ahead of the rows it stands for."""
    for name in (*INDEXES, *RETIRED_INDEXES):
        conn.execute(f"DROP INDEX IF EXISTS {name}")
    table, key, _ = REBUILD_KEY
    conn.execute(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {key}")
    for table in ("tracking", *READ_MODELS):
        conn.execute(f"ALTER TABLE {table} SET UNLOGGED")  # nothing to do if it is already


def _finish_rebuild(conn, position: int) -> dict[str, float]:
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
    _fold_staged(conn)
    done("fold staged moves")
    derive_counts(conn)
    # nothing was marked during the rebuild: every tenant-month with cases is marked changed at the head, so
    # stats.keep_months computes its part, and a part computed from an older read model is not valid
    conn.execute("TRUNCATE " + ", ".join(STATISTICS))
    _seed_changed(conn, position)
    done("derive counts")
    for table in (*READ_MODELS, "tracking"):
        conn.execute(f"ALTER TABLE {table} SET LOGGED")
    done("set logged")
    _create_indexes(conn)
    conn.execute("UPDATE tracking SET counts_deferred = false WHERE upstream = %s", (UPSTREAM,))
    done("build indexes")
    return seconds


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


def _seed_changed(conn, position: int) -> None:
    """Mark every tenant-month that has cases as changed at ``position``
    (unless marked already), so that its statistics part gets kept."""
    conn.execute("INSERT INTO stats_changed (tenant, month, position) SELECT DISTINCT tenant, month, %s "
                 "FROM case_count ON CONFLICT DO NOTHING", (position,))


def _create_indexes(conn) -> None:
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


def lock_position(conn) -> int | None:
    """Inside a transaction: our position, or None if another instance holds it."""
    row = _claim(conn)
    return None if row is None else row[0]


def _claim(conn) -> tuple[int, bool] | None:
    """Inside a transaction: lock the tracking row and return (position,
    rebuilding), or None if another instance holds it. A row that is not
    there at all was emptied with the UNLOGGED read models by a server crash
    during a rebuild: it is put back at position 0 for the next step."""
    row = conn.execute("SELECT position, counts_deferred FROM tracking WHERE upstream = %s FOR UPDATE SKIP LOCKED",
                       (UPSTREAM,)).fetchone()
    if row is None:
        conn.execute("INSERT INTO tracking (upstream, position, counts_deferred) VALUES (%s, 0, true) "
                     "ON CONFLICT DO NOTHING", (UPSTREAM,))
    return row


def follow(conn, fetch, window: int = WINDOW) -> dict | None:
    """One step of a follower, in one transaction: lock the tracking row,
    fetch pages from our position (``fetch(after)`` returns a
    ``domain_events`` page) until ``window`` envelopes or the head, apply them
    together, advance. A rebuild's window folds each case's moves into one
    row write (a case lives within a few windows of the log); a follower that
    is caught up applies what one page brought. During a rebuild the count
    tables wait, and the tables are UNLOGGED and without secondary indexes,
    until it reaches the head (``_begin_rebuild``, ``_finish_rebuild``).
    None: another instance holds the tracking row."""
    with conn.transaction():
        row = _claim(conn)
        if row is None:
            return None
        start, deferred = row
        position, envelopes = start, []
        while True:
            page = fetch(position)
            envelopes.extend(page["events"])
            if page["next"] == position:
                break
            position = page["next"]
            if len(envelopes) >= window or position >= page["head"]:
                break
        apply_page(conn, envelopes, counts=not deferred)
        if position != start:
            advance(conn, position)
        finished = _finish_rebuild(conn, position) if deferred and position >= page["head"] else None
    return {"start": start, "next": position, "head": page["head"], "envelopes": len(envelopes),
            "finished": finished}


class ReadAhead:
    """``fetch`` with the following pages already asked for: a producer
    (a green thread in the service, a thread in the benchmark) reads pages
    in order into a bounded queue while the follower applies what it has, so
    the cases side and the apply work at the same time. A page is only ever
    used for the position it was read after; anything else is a plain fetch
    (another instance moved the tracking row, or a failed window is retried)."""

    _DONE = object()

    def __init__(self, fetch, after: int, depth: int, spawn, make_queue):
        self._fetch, self._stopped, self._ended = fetch, False, False
        self._queue = make_queue(depth)
        self._expect = after  # the position the next queued page was read after
        spawn(self._produce, after)

    def _produce(self, after: int) -> None:
        try:
            while not self._stopped:
                page = self._fetch(after)
                self._queue.put(page)
                if page["next"] == after or page["next"] >= page["head"]:
                    break  # caught up: the follower fetches for itself from here
                after = page["next"]
        except Exception as exc:  # noqa: BLE001 - handed to the follower, which raises it
            self._queue.put(exc)
        self._queue.put(self._DONE)

    def __call__(self, after: int) -> dict:
        if self._expect == after:
            page = self._queue.get()
            if page is self._DONE:
                self._ended, self._expect = True, None
            elif isinstance(page, Exception):
                self._expect = None
                raise page
            else:
                self._expect = page["next"]
                return page
        return self._fetch(after)

    def close(self) -> None:
        """Stop the producer (it ends after the page it is reading)."""
        self._stopped, self._expect = True, None
        while not self._ended:
            self._ended = self._queue.get() is self._DONE


def apply(conn, envelope: dict) -> None:
    """Apply one envelope (see ``apply_page``)."""
    apply_page(conn, [envelope])


def apply_page(conn, envelopes: list[dict], counts: bool = True) -> None:
    """Apply a page of envelopes in log order, inside the caller's transaction,
    with one statement per envelope type instead of one per envelope (a
    rebuild is a few thousand pages; per-envelope round trips were most of it).

    Envelopes come as the cases RPC sends them (JSON values) or loaded by
    ``load_envelope``. Each one's header is checked against the contract
    registry here; its values are checked by PostgreSQL, which casts every
    field into a typed, NOT NULL column: a bad envelope fails the statement
    and the whole page rolls back with the tracking row.

    Status moves: only a case's state before the page and after it matter to
    the counts, so each case's moves in the page are folded into one update
    (its last tenant and status, the first time of each kind of step) and
    count changes are summed and written once per key; a count that reaches
    zero is deleted, so page boundaries never show in the tables."""
    by_type: dict[str, list[dict]] = defaultdict(list)
    new_cases: dict[str, dict] = {}  # registered in this window: row as of the window's end
    folded: dict[str, list[dict]] = defaultdict(list)  # the moves folded into those rows
    for envelope in envelopes:
        _check(envelope)
        kind = envelope["type"]
        if kind == "case.registered":
            d = envelope["data"]
            new_cases.setdefault(str(d["case_id"]), {
                **d, "origin_tenant": d["tenant"], "status": "diterima", "position": envelope["position"],
                "first_response_at": None, "verified_at": None, "closed_at": None})
        elif kind == "case.status_changed":
            move = {**envelope["data"], "position": envelope["position"]}
            row = new_cases.get(str(move["case_id"]))
            if row is None:
                by_type[kind].append(move)
            else:  # a case that registers and moves in one window is written once
                _fold(row, move)
                folded[str(move["case_id"])].append(move)
        elif kind == "case.deadline_outcomes":
            outcomes = dict(envelope["data"])
            rules = outcomes.pop("deadlines")
            if not isinstance(rules, list):
                raise EnvelopeRejected("deadlines must be a list")
            by_type[kind].extend({**outcomes, **rule, "position": envelope["position"]} for rule in rules)
        elif kind in _APPLIED:
            by_type[kind].append({**envelope["data"], "position": envelope["position"]})
    deltas: dict[tuple, int] = defaultdict(int)  # (tenant, month, category, channel, status) -> change
    changed: set[tuple] = set()  # (tenant, month) whose statistics this page changes
    by_type["case.registered"] = list(new_cases.values())
    with conn.cursor() as cur:
        for kind, statement in _STATEMENTS:
            rows = by_type.get(kind)
            if not rows:
                continue
            if not counts:  # a rebuild: moves and closings wait for its end, and it marks nothing
                statement = _STAGED.get(kind, statement)
            elif kind in _DATED:
                statement += _DATED[kind]
            cur.execute(statement, {"page": _Page(rows), "tz": TIMEZONE.key, **_STEPS})
            if kind in _DATED and counts:
                changed.update(cur.fetchall())
            elif kind == "case.registered":
                inserted = set()
                for case_id, tenant, month, category, channel, status in cur.fetchall():
                    inserted.add(str(case_id))
                    deltas[(tenant, month, category, channel, status)] += 1
                    changed.add((tenant, month))
                # known already (a window applied again): their moves go the ordinary way, guarded by position
                late = [m for key, moves in folded.items() if key not in inserted for m in moves]
                if late:
                    by_type["case.status_changed"] = sorted(by_type["case.status_changed"] + late,
                                                            key=lambda m: m["position"])
            elif kind == "case.status_changed" and counts:
                for old_tenant, old_status, tenant, status, month, category, channel in cur.fetchall():
                    changed.update(((old_tenant, month), (tenant, month)))  # timings change too
                    if (old_tenant, old_status) != (tenant, status):
                        deltas[(old_tenant, month, category, channel, old_status)] -= 1
                        deltas[(tenant, month, category, channel, status)] += 1
    if counts:
        _flush(conn, deltas)
        if changed:
            at = max(e["position"] for e in envelopes)  # above the position of any report computed before
            conn.execute(
                "INSERT INTO stats_changed AS s (tenant, month, position) SELECT t, m, %s FROM unnest(%s::text[], "
                "%s::date[]) AS u(t, m) ON CONFLICT (tenant, month) DO UPDATE SET position = "
                "greatest(s.position, EXCLUDED.position)", (at, *map(list, zip(*sorted(changed)))))


def _fold_staged(conn) -> None:
    """The moves and closings a rebuild staged, applied to case_summary in one
    statement each (as the windows would have), then dropped."""
    conn.execute(_FOLD_STAGED_MOVES, _STEPS)
    conn.execute(_FOLD_CLOSED.format(closings="rebuild_closed"))
    conn.execute("TRUNCATE " + ", ".join(STAGING))


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


def _fold(row: dict, move: dict) -> None:
    """A status move on a row of this window, as ``_STATUS_CHANGED`` would apply it."""
    row["tenant"], row["status"], row["position"] = move["tenant"], move["status"], move["position"]
    step, at = move["step"], move["changed_at"]
    if step in FIRST_RESPONSE_STEPS and row["first_response_at"] is None:
        row["first_response_at"] = at
    if step in VERIFIED_STEPS and row["verified_at"] is None:
        row["verified_at"] = at
    if step == "closed" and row["closed_at"] is None:
        row["closed_at"] = at


class EnvelopeRejected(ValueError):
    """An envelope that does not follow the contract (the page is not applied)."""


def _check(envelope) -> None:
    try:  # the common case in one expression: a rebuild checks a few million of these
        position = envelope["position"]
        if (envelope["specversion"] == ENVELOPE_VERSION and (envelope["type"], envelope["dataversion"]) in DATA_SCHEMAS
                and type(position) is int and position > 0 and type(envelope["data"]) is dict):
            return
    except (KeyError, TypeError):
        pass
    raise EnvelopeRejected("not an envelope of a known type and version (specversion, type, dataversion, a positive"
                           " integer position, a data object)")


class _Page(Jsonb):
    """A page's rows as one jsonb parameter (orjson writes the datetimes and
    UUIDs of loaded envelopes, and is several times faster than json)."""

    def __init__(self, obj):
        super().__init__(obj, dumps=orjson.dumps)


# the page's rows of one type, typed by PostgreSQL (a value that does not cast fails the page)
# cases registered in the window, with the moves folded into them (``_fold``)
_REGISTERED = """
INSERT INTO case_summary (case_id, tenant, origin_tenant, registration_number, category, channel, anonymous,
                          status, registered_at, month, position, first_response_at, verified_at, closed_at)
SELECT p.case_id, p.tenant, p.origin_tenant, p.registration_number, p.category, p.channel, p.anonymous,
       p.status, p.registered_at, date_trunc('month', p.registered_at AT TIME ZONE %(tz)s)::date, p.position,
       p.first_response_at, p.verified_at, p.closed_at
FROM jsonb_to_recordset(%(page)s) AS p(case_id uuid, tenant text, origin_tenant text, registration_number text,
                                       category text, channel text, anonymous boolean, status text,
                                       registered_at timestamptz, position bigint, first_response_at timestamptz,
                                       verified_at timestamptz, closed_at timestamptz)
ORDER BY p.position
ON CONFLICT DO NOTHING
RETURNING case_id, tenant, month, category, channel, status
"""

_STEPS = {"first_response": FIRST_RESPONSE_STEPS, "verified": VERIFIED_STEPS}  # _FOLD_MOVES's parameters

# each case's moves in a page after its last applied one, folded: each row is updated once
_FOLD_MOVES = """
WITH old AS (
    SELECT c.case_id, c.tenant, c.status, c.position FROM case_summary c
    WHERE c.case_id IN (SELECT case_id FROM {moves} AS q)  -- no FOR UPDATE: the tracking row lock admits one writer
), moves AS (
    SELECT p.case_id,
           (array_agg(p.tenant ORDER BY p.position DESC))[1] AS tenant,
           (array_agg(p.status ORDER BY p.position DESC))[1] AS status,
           max(p.position) AS position,
           (array_agg(p.changed_at ORDER BY p.position) FILTER (WHERE p.step = ANY(%(first_response)s)))[1]
               AS first_response_at,
           (array_agg(p.changed_at ORDER BY p.position) FILTER (WHERE p.step = ANY(%(verified)s)))[1]
               AS verified_at,
           (array_agg(p.changed_at ORDER BY p.position) FILTER (WHERE p.step = 'closed'))[1] AS closed_at
    FROM {moves} AS p JOIN old ON old.case_id = p.case_id AND p.position > old.position
    GROUP BY p.case_id
)
UPDATE case_summary c SET tenant = m.tenant, status = m.status, position = m.position,
    first_response_at = coalesce(c.first_response_at, m.first_response_at),
    verified_at = coalesce(c.verified_at, m.verified_at),
    closed_at = coalesce(c.closed_at, m.closed_at)
FROM moves m JOIN old ON old.case_id = m.case_id
WHERE c.case_id = m.case_id
"""
# A rebuild's staged moves, folded at its end: the same result as _FOLD_MOVES, with each case's last move and
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
_MOVES = """(SELECT * FROM jsonb_to_recordset(%(page)s) AS p(case_id uuid, tenant text, status text, step text,
                                                       changed_at timestamptz, position bigint))"""
# both the old and the new (tenant, status) of each case, for the count changes
_STATUS_CHANGED = (_FOLD_MOVES.format(moves=_MOVES)
                   + "RETURNING old.tenant, old.status, c.tenant, c.status, c.month, c.category, c.channel")
_STAGE_MOVES = f"INSERT INTO rebuild_move SELECT * FROM {_MOVES} AS p"

_FORWARDED = """
INSERT INTO forwarded (case_id, position, from_tenant, destination_kind, destination, at)
SELECT p.case_id, p.position, p.from_tenant, p.destination_kind, p.destination, p.forwarded_at
FROM jsonb_to_recordset(%(page)s) AS p(case_id uuid, position bigint, from_tenant text, destination_kind text,
                                       destination text, forwarded_at timestamptz)
ORDER BY p.position
ON CONFLICT DO NOTHING
"""

_SANCTION = """
INSERT INTO sanction (case_id, recommendation_id, tenant, level, sanction, months, at)
SELECT p.case_id, p.recommendation_id, p.tenant, p.level, p.sanction, p.months, p.recommended_at
FROM jsonb_to_recordset(%(page)s) AS p(case_id uuid, recommendation_id text, tenant text, level text,
                                       sanction text, months integer, recommended_at timestamptz, position bigint)
ORDER BY p.position
ON CONFLICT DO NOTHING
"""

# a case's last closing wins (as applying them one by one would)
_FOLD_CLOSED = """
UPDATE case_summary c SET outcome = p.outcome
FROM (SELECT DISTINCT ON (case_id) case_id, outcome FROM {closings} AS q ORDER BY case_id, position DESC) p
WHERE c.case_id = p.case_id
"""
_CLOSINGS = """(SELECT * FROM jsonb_to_recordset(%(page)s) AS p(case_id uuid, outcome text, position bigint))"""
_CLOSED = _FOLD_CLOSED.format(closings=_CLOSINGS)
_STAGE_CLOSED = f"INSERT INTO rebuild_closed SELECT * FROM {_CLOSINGS} AS p"

# one row per rule: the envelopes' rule lists are flattened in apply_page
_DEADLINE_OUTCOMES = """
INSERT INTO deadline_outcome (case_id, rule, source, tenant, pack, due_at, met_at, met, at, position)
SELECT p.case_id, p.rule, 'closed', p.tenant, p.pack, p.due_at, p.met_at, p.met, p.closed_at, p.position
FROM jsonb_to_recordset(%(page)s) AS p(case_id uuid, tenant text, pack text, closed_at timestamptz, rule text,
                                       due_at timestamptz, met_at timestamptz, met boolean, position bigint)
ORDER BY p.position
ON CONFLICT DO NOTHING
"""

_DEADLINE_BREACHED = """
INSERT INTO deadline_outcome (case_id, rule, source, tenant, pack, due_at, met_at, met, at, position)
SELECT p.case_id, p.rule, 'breached', p.tenant, NULL, p.due_at, NULL, false, p.noticed_at, p.position
FROM jsonb_to_recordset(%(page)s) AS p(case_id uuid, tenant text, rule text, due_at timestamptz,
                                       noticed_at timestamptz, position bigint)
ORDER BY p.position
ON CONFLICT DO NOTHING
"""

_STATEMENTS = (  # registrations first: a case may register and move in one page
    ("case.registered", _REGISTERED), ("case.status_changed", _STATUS_CHANGED), ("case.forwarded", _FORWARDED),
    ("case.sanction_recommended", _SANCTION), ("case.closed", _CLOSED),
    ("case.deadline_outcomes", _DEADLINE_OUTCOMES), ("case.deadline_breached", _DEADLINE_BREACHED),
)
_APPLIED = {kind for kind, _ in _STATEMENTS}
_STAGED = {"case.status_changed": _STAGE_MOVES, "case.closed": _STAGE_CLOSED}  # in a rebuild (``_fold_staged``)
STAGING = ("rebuild_move", "rebuild_closed")

# the tenant-months the dated rows fall in, for the kept statistics (``stats_changed``)
_MONTH = "date_trunc('month', {} AT TIME ZONE %(tz)s)::date"
_DATED = {"case.forwarded": "RETURNING from_tenant, " + _MONTH.format("at"),
          "case.sanction_recommended": "RETURNING tenant, " + _MONTH.format("at"),
          "case.deadline_outcomes": "RETURNING tenant, " + _MONTH.format("at"),
          "case.deadline_breached": "RETURNING tenant, " + _MONTH.format("at")}


def _flush(conn, deltas: dict[tuple, int]) -> None:
    """Add the page's summed count changes, a statement per table, then drop
    the counts a decrease took to zero (in a second statement: one statement
    cannot reliably change a row twice)."""
    by_status: dict[tuple, int] = defaultdict(int)
    by_year: dict[tuple, int] = defaultdict(int)
    for (tenant, month, category, _channel, status), n in deltas.items():
        by_status[(tenant, status)] += n
        by_year[(tenant, month.year, category, status)] += n
    for table, changes in (("case_count", deltas), ("tenant_status_count", by_status), ("public_count", by_year)):
        changed = sorted((k, n) for k, n in changes.items() if n)
        if not changed:
            continue
        add, drop = _COUNT_STATEMENTS[table]
        conn.execute(add, [list(column) for column in zip(*(k + (n,) for k, n in changed))])
        decreased = [k for k, n in changed if n < 0]
        if decreased:
            conn.execute(drop, [list(column) for column in zip(*decreased)])


# keys are unique within a page's changes (summed above), as ON CONFLICT DO UPDATE needs
_COUNT_STATEMENTS = {
    "case_count": (
        "INSERT INTO case_count AS c (tenant, month, category, channel, status, count) "
        "SELECT * FROM unnest(%s::text[], %s::date[], %s::text[], %s::text[], %s::text[], %s::bigint[]) "
        "ON CONFLICT (tenant, month, category, channel, status) DO UPDATE SET count = c.count + EXCLUDED.count",
        "DELETE FROM case_count WHERE count = 0 AND (tenant, month, category, channel, status) IN "
        "(SELECT * FROM unnest(%s::text[], %s::date[], %s::text[], %s::text[], %s::text[]))"),
    "public_count": (
        "INSERT INTO public_count AS c (tenant, year, category, status, count) "
        "SELECT * FROM unnest(%s::text[], %s::int[], %s::text[], %s::text[], %s::bigint[]) "
        "ON CONFLICT (tenant, year, category, status) DO UPDATE SET count = c.count + EXCLUDED.count",
        "DELETE FROM public_count WHERE count = 0 AND (tenant, year, category, status) IN "
        "(SELECT * FROM unnest(%s::text[], %s::int[], %s::text[], %s::text[]))"),
    "tenant_status_count": (
        "INSERT INTO tenant_status_count AS c (tenant, status, count) "
        "SELECT * FROM unnest(%s::text[], %s::text[], %s::bigint[]) "
        "ON CONFLICT (tenant, status) DO UPDATE SET count = c.count + EXCLUDED.count",
        "DELETE FROM tenant_status_count WHERE count = 0 AND (tenant, status) IN "
        "(SELECT * FROM unnest(%s::text[], %s::text[]))"),
}


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
        conn.execute("SELECT position FROM tracking")  # tracking first, as every reader (``_finish_rebuild``)
        for table in READ_MODELS:
            cols = [r[0] for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
                "AND table_schema = current_schema() ORDER BY ordinal_position", (table,)).fetchall()]
            order = ", ".join(str(i) for i in range(1, len(cols) + 1))
            rows = conn.execute(f"SELECT {', '.join(cols)} FROM {table} ORDER BY {order}").fetchall()
            out[table] = rows
    return out
