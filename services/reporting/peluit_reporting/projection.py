"""Read models built from the cases notification log, exactly once.

The follower's position (``tracking``) is updated in the same transaction as
the read-model rows, under a row lock, so a crash or a second instance can
neither skip nor double-apply an event. Each apply is also idempotent by
itself (primary keys, and a per-case ``position`` guard for status moves), so
even a replayed page changes nothing. Read models are disposable: ``reset``
drops them to position zero and the follower rebuilds them.

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
  case was closed (``source`` closed, computed by cases with the tenant's pack
  at that moment) and every breach the scheduler noticed (``source`` breached).
"""

from __future__ import annotations

import os
from collections import defaultdict
from datetime import date, datetime
from zoneinfo import ZoneInfo

UPSTREAM = "cases"
TIMEZONE = ZoneInfo(os.environ.get("PELUIT_TIMEZONE", "Asia/Jakarta"))

SCHEMA = """
CREATE TABLE IF NOT EXISTS tracking (
    upstream text PRIMARY KEY,
    position bigint NOT NULL
);
INSERT INTO tracking (upstream, position) VALUES ('cases', 0) ON CONFLICT DO NOTHING;
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
-- covering: the timing percentiles of a whole province read the index only
CREATE INDEX IF NOT EXISTS case_summary_tenant_month_times ON case_summary (tenant, month)
    INCLUDE (registered_at, first_response_at, verified_at, closed_at);
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
CREATE TABLE IF NOT EXISTS forwarded (
    case_id uuid NOT NULL,
    position bigint NOT NULL,
    from_tenant text NOT NULL,
    destination_kind text NOT NULL,
    destination text NOT NULL,
    at timestamptz NOT NULL,
    PRIMARY KEY (case_id, position)
);
CREATE INDEX IF NOT EXISTS forwarded_tenant_at ON forwarded (from_tenant, at);
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
CREATE INDEX IF NOT EXISTS sanction_tenant_at ON sanction (tenant, at);
CREATE TABLE IF NOT EXISTS deadline_outcome (
    case_id uuid NOT NULL,
    rule text NOT NULL,
    source text NOT NULL,  -- closed | breached
    tenant text NOT NULL,
    pack text,             -- null for breaches (the notice does not name the pack)
    due_at timestamptz,
    met_at timestamptz,
    met boolean NOT NULL,
    at timestamptz NOT NULL,  -- closing or notice time
    PRIMARY KEY (case_id, rule, source)
);
CREATE INDEX IF NOT EXISTS deadline_outcome_tenant_at ON deadline_outcome (tenant, at);
"""

READ_MODELS = ("case_summary", "tenant_status_count", "case_count", "forwarded", "sanction", "deadline_outcome")

# steps that end verification (time to verify) and the one that starts it (time to acknowledge)
FIRST_RESPONSE_STEPS = {"verification_started"}
VERIFIED_STEPS = {"accepted", "rejected", "archived", "forwarded"}


def migrate(conn) -> None:
    with conn.transaction():
        conn.execute(SCHEMA)


def lock_position(conn) -> int | None:
    """Inside a transaction: our position, or None if another instance holds it."""
    row = conn.execute(
        "SELECT position FROM tracking WHERE upstream = %s FOR UPDATE SKIP LOCKED", (UPSTREAM,)
    ).fetchone()
    return None if row is None else row[0]


def month_of(at: datetime) -> date:
    return at.astimezone(TIMEZONE).date().replace(day=1)


def apply(conn, envelope: dict) -> None:
    """Apply one loaded envelope (``peluit_contracts.events.load_envelope``)."""
    apply_page(conn, [envelope])


def apply_page(conn, envelopes: list[dict]) -> None:
    """Apply loaded envelopes in order, inside the caller's transaction. Count
    changes are summed over the page and written once per key at the end
    (most of a page's cost would otherwise be counter upserts); a count that
    reaches zero is deleted, so page boundaries never show in the tables."""
    deltas: dict[tuple, int] = defaultdict(int)  # (tenant, month, category, channel, status) -> change
    for envelope in envelopes:
        _apply(conn, envelope, deltas)
    _flush(conn, deltas)


def _flush(conn, deltas: dict[tuple, int]) -> None:
    by_status: dict[tuple, int] = defaultdict(int)
    for (tenant, _month, _category, _channel, status), n in deltas.items():
        by_status[(tenant, status)] += n
    changed = sorted((k, n) for k, n in deltas.items() if n)
    statuses = sorted((k, n) for k, n in by_status.items() if n)
    with conn.cursor() as cur:
        if changed:
            cur.executemany(
                "INSERT INTO case_count (tenant, month, category, channel, status, count) "
                "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (tenant, month, category, channel, status) "
                "DO UPDATE SET count = case_count.count + EXCLUDED.count", [(*k, n) for k, n in changed])
            cur.executemany(
                "DELETE FROM case_count WHERE tenant = %s AND month = %s AND category = %s AND channel = %s "
                "AND status = %s AND count = 0", [k for k, n in changed if n < 0])
        if statuses:
            cur.executemany(
                "INSERT INTO tenant_status_count (tenant, status, count) VALUES (%s, %s, %s) "
                "ON CONFLICT (tenant, status) DO UPDATE SET count = tenant_status_count.count + EXCLUDED.count",
                [(*k, n) for k, n in statuses])
            cur.executemany("DELETE FROM tenant_status_count WHERE tenant = %s AND status = %s AND count = 0",
                            [k for k, n in statuses if n < 0])


def _apply(conn, envelope: dict, deltas: dict[tuple, int]) -> None:
    kind, d, position = envelope["type"], envelope["data"], envelope["position"]
    if kind == "case.registered":
        month = month_of(d["registered_at"])
        inserted = conn.execute(
            "INSERT INTO case_summary (case_id, tenant, origin_tenant, registration_number, category, channel,"
            " anonymous, status, registered_at, month, position) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, 'diterima', %s, %s, %s) ON CONFLICT DO NOTHING RETURNING 1",
            (d["case_id"], d["tenant"], d["tenant"], d["registration_number"], d["category"], d["channel"],
             d["anonymous"], d["registered_at"], month, position),
        ).fetchone()
        if inserted:
            deltas[(d["tenant"], month, d["category"], d["channel"], "diterima")] += 1

    elif kind == "case.status_changed":
        step, at = d["step"], d["changed_at"]
        # one round trip: lock the row as it was, update it, return what it was
        previous = conn.execute(
            "UPDATE case_summary c SET tenant = %s, status = %s, position = %s,"
            " first_response_at = CASE WHEN %s THEN coalesce(c.first_response_at, %s) ELSE c.first_response_at END,"
            " verified_at = CASE WHEN %s THEN coalesce(c.verified_at, %s) ELSE c.verified_at END,"
            " closed_at = CASE WHEN %s THEN coalesce(c.closed_at, %s) ELSE c.closed_at END "
            "FROM (SELECT case_id, tenant, status FROM case_summary WHERE case_id = %s AND position < %s FOR UPDATE) old "
            "WHERE c.case_id = old.case_id RETURNING old.tenant, old.status, c.month, c.category, c.channel",
            (d["tenant"], d["status"], position, step in FIRST_RESPONSE_STEPS, at, step in VERIFIED_STEPS, at,
             step == "closed", at, d["case_id"], position)).fetchone()
        if previous is None:
            return  # unknown case, or this move (or a later one) is applied already
        old_tenant, old_status, month, category, channel = previous
        if (old_tenant, old_status) != (d["tenant"], d["status"]):
            deltas[(old_tenant, month, category, channel, old_status)] -= 1
            deltas[(d["tenant"], month, category, channel, d["status"])] += 1

    elif kind == "case.forwarded":
        conn.execute(
            "INSERT INTO forwarded (case_id, position, from_tenant, destination_kind, destination, at) "
            "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (d["case_id"], position, d["from_tenant"], d["destination_kind"], d["destination"], d["forwarded_at"]))

    elif kind == "case.sanction_recommended":
        conn.execute(
            "INSERT INTO sanction (case_id, recommendation_id, tenant, level, sanction, months, at) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (d["case_id"], d["recommendation_id"], d["tenant"], d["level"], d["sanction"], d["months"],
             d["recommended_at"]))

    elif kind == "case.closed":
        conn.execute("UPDATE case_summary SET outcome = %s WHERE case_id = %s", (d["outcome"], d["case_id"]))

    elif kind == "case.deadline_outcomes":
        for rule in d["deadlines"]:
            conn.execute(
                "INSERT INTO deadline_outcome (case_id, rule, source, tenant, pack, due_at, met_at, met, at) "
                "VALUES (%s, %s, 'closed', %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (d["case_id"], rule["rule"], d["tenant"], d["pack"], rule["due_at"], rule["met_at"], rule["met"],
                 d["closed_at"]))

    elif kind == "case.deadline_breached":
        conn.execute(
            "INSERT INTO deadline_outcome (case_id, rule, source, tenant, pack, due_at, met_at, met, at) "
            "VALUES (%s, %s, 'breached', %s, NULL, %s, NULL, false, %s) ON CONFLICT DO NOTHING",
            (d["case_id"], d["rule"], d["tenant"], d["due_at"], d["noticed_at"]))


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
        conn.execute("TRUNCATE " + ", ".join(READ_MODELS))
        advance(conn, 0)


def dump(conn) -> dict[str, list[tuple]]:
    """Every read-model table, fully ordered (rebuild tests compare these)."""
    out = {}
    with conn.transaction():
        for table in READ_MODELS:
            cols = [r[0] for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
                "AND table_schema = current_schema() ORDER BY ordinal_position", (table,)).fetchall()]
            order = ", ".join(str(i) for i in range(1, len(cols) + 1))
            rows = conn.execute(f"SELECT {', '.join(cols)} FROM {table} ORDER BY {order}").fetchall()
            out[table] = rows
    return out
