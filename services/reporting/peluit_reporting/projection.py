"""Read models built from the cases notification log, exactly once.

The follower's position (``tracking``) is updated in the same transaction as
the read-model rows, under a row lock, so a crash or a second instance can
neither skip nor double-apply an event. Read models are disposable:
``reset`` drops them to position zero and the follower rebuilds them.
"""

from __future__ import annotations

UPSTREAM = "cases"

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
CREATE TABLE IF NOT EXISTS tenant_status_count (
    tenant text NOT NULL,
    status text NOT NULL,
    count bigint NOT NULL,
    PRIMARY KEY (tenant, status)
);
"""

READ_MODELS = ("case_summary", "tenant_status_count")


def migrate(conn) -> None:
    with conn.transaction():
        conn.execute(SCHEMA)


def lock_position(conn) -> int | None:
    """Inside a transaction: our position, or None if another instance holds it."""
    row = conn.execute(
        "SELECT position FROM tracking WHERE upstream = %s FOR UPDATE SKIP LOCKED", (UPSTREAM,)
    ).fetchone()
    return None if row is None else row[0]


def apply(conn, envelope: dict) -> None:
    if envelope["type"] == "case.registered":
        d = envelope["data"]
        inserted = conn.execute(
            "INSERT INTO case_summary (case_id, tenant, registration_number, category, channel, status, registered_at) "
            "VALUES (%s, %s, %s, %s, %s, 'diterima', %s) ON CONFLICT DO NOTHING RETURNING 1",
            (d["case_id"], d["tenant"], d["registration_number"], d["category"], d["channel"], d["registered_at"]),
        ).fetchone()
        if inserted:
            conn.execute(
                "INSERT INTO tenant_status_count (tenant, status, count) VALUES (%s, 'diterima', 1) "
                "ON CONFLICT (tenant, status) DO UPDATE SET count = tenant_status_count.count + 1",
                (d["tenant"],),
            )


    elif envelope["type"] == "case.status_changed":
        d = envelope["data"]
        previous = conn.execute(
            "SELECT tenant, status FROM case_summary WHERE case_id = %s FOR UPDATE", (d["case_id"],)).fetchone()
        if previous is None or previous == (d["tenant"], d["status"]):
            return
        conn.execute("UPDATE case_summary SET tenant = %s, status = %s WHERE case_id = %s",
                     (d["tenant"], d["status"], d["case_id"]))
        conn.execute("UPDATE tenant_status_count SET count = count - 1 WHERE tenant = %s AND status = %s", previous)
        conn.execute(
            "INSERT INTO tenant_status_count (tenant, status, count) VALUES (%s, %s, 1) "
            "ON CONFLICT (tenant, status) DO UPDATE SET count = tenant_status_count.count + 1",
            (d["tenant"], d["status"]),
        )


def advance(conn, position: int) -> None:
    conn.execute("UPDATE tracking SET position = %s WHERE upstream = %s", (position, UPSTREAM))


def reset(conn) -> None:
    """Drop the read models back to position zero (``peluit-reporting rebuild``)."""
    with conn.transaction():
        lock = conn.execute("SELECT position FROM tracking WHERE upstream = %s FOR UPDATE", (UPSTREAM,))
        lock.fetchone()
        conn.execute("TRUNCATE " + ", ".join(READ_MODELS))
        advance(conn, 0)


SMALL_CELL = 5


def public_counts(conn) -> list[dict]:
    """Counts per tenant and status; any count below 5 is shown as "<5"."""
    with conn.transaction():
        rows = conn.execute(
            "SELECT tenant, status, count FROM tenant_status_count WHERE count > 0 ORDER BY tenant, status").fetchall()
    return [{"tenant": t, "status": s, "count": c if c >= SMALL_CELL else f"<{SMALL_CELL}"} for t, s, c in rows]
