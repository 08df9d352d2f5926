"""The officers' case list and work queue: a query table inside the cases
database, kept by following the cases notification log (tracking row updated
in the same transaction), so it can be dropped and rebuilt from the events at
any time. Listing never scans events; opening one case reads the aggregate.

Each row keeps the case's nearest open deadline (rule, due and approaching
times), written by the follower and refreshed by the scheduler; its state
(on time, approaching, breached) is computed against the clock in the query.
"""

from __future__ import annotations

from datetime import datetime, timezone

from peluit_contracts.events import TERMINAL_STATUSES
from peluit_contracts.officer_api import CASE_STATUSES

from .domain import CASE_TOPIC, Case
from .scheduler import DEADLINE_COLUMNS, index_deadline

SCHEMA = """
CREATE TABLE IF NOT EXISTS case_index (
    case_id uuid PRIMARY KEY,
    handling_tenant text NOT NULL,
    origin_tenant text NOT NULL,
    registration_number text NOT NULL UNIQUE,
    category text NOT NULL,
    channel text NOT NULL,
    status text NOT NULL,
    registered_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    version integer NOT NULL
);
ALTER TABLE case_index ADD COLUMN IF NOT EXISTS next_deadline_at timestamptz;
CREATE INDEX IF NOT EXISTS case_index_next_deadline ON case_index (next_deadline_at) WHERE next_deadline_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS case_index_tenant_status ON case_index (handling_tenant, status, registered_at DESC);
INSERT INTO relay_position (name, position) VALUES ('case_index', 0) ON CONFLICT DO NOTHING;
-- who recused from which case: their work queue leaves it out (the case itself is a 404 to them)
CREATE TABLE IF NOT EXISTS case_recusal (
    officer_id text NOT NULL,
    case_id uuid NOT NULL,
    PRIMARY KEY (officer_id, case_id)
);
"""
ENDED = ", ".join(f"'{status}'" for status in sorted(TERMINAL_STATUSES))  # constants: partial indexes need them
# The work queue: the nearest open deadline, and an index per sort (status and the deadline sort together too:
# "verifications by deadline" is the desk's everyday view); registration numbers are searched by their end.
# ``case_index_ended`` counts the cases that ended per tenant, status, category and channel (an ended case
# changes none of them again), kept by triggers, so the counts per status read the open cases only.
QUEUE_SCHEMA = f"""
ALTER TABLE case_index ADD COLUMN IF NOT EXISTS deadline_rule text;
ALTER TABLE case_index ADD COLUMN IF NOT EXISTS deadline_due_at timestamptz;
ALTER TABLE case_index ADD COLUMN IF NOT EXISTS deadline_approaching_at timestamptz;
ALTER TABLE case_index ADD COLUMN IF NOT EXISTS deadline_paused boolean NOT NULL DEFAULT false;
CREATE INDEX IF NOT EXISTS case_index_queue_deadline
    ON case_index (handling_tenant, deadline_due_at, registered_at DESC, case_id);
CREATE INDEX IF NOT EXISTS case_index_queue_status_deadline
    ON case_index (handling_tenant, status, deadline_due_at, registered_at DESC, case_id);
CREATE INDEX IF NOT EXISTS case_index_queue_registered ON case_index (handling_tenant, registered_at DESC, case_id);
CREATE INDEX IF NOT EXISTS case_index_queue_updated ON case_index (handling_tenant, updated_at DESC, case_id);
CREATE INDEX IF NOT EXISTS case_index_queue_number
    ON case_index (handling_tenant, (reverse(registration_number) COLLATE "C"));
CREATE INDEX IF NOT EXISTS case_index_queue_open ON case_index (handling_tenant, status)
    INCLUDE (category, channel, deadline_due_at, deadline_approaching_at, deadline_paused)
    WHERE status NOT IN ({ENDED});
CREATE TABLE IF NOT EXISTS case_index_ended (
    handling_tenant text NOT NULL,
    status text NOT NULL,
    category text NOT NULL,
    channel text NOT NULL,
    n bigint NOT NULL,
    PRIMARY KEY (handling_tenant, status, category, channel)
);
CREATE OR REPLACE FUNCTION case_index_count_ended() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        TRUNCATE case_index_ended;
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.status IN ({ENDED}) THEN
        UPDATE case_index_ended SET n = n - 1 WHERE handling_tenant = OLD.handling_tenant AND status = OLD.status
            AND category = OLD.category AND channel = OLD.channel;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.status IN ({ENDED}) THEN
        INSERT INTO case_index_ended VALUES (NEW.handling_tenant, NEW.status, NEW.category, NEW.channel, 1)
            ON CONFLICT (handling_tenant, status, category, channel) DO UPDATE SET n = case_index_ended.n + 1;
    END IF;
    RETURN NULL;
END $$;
CREATE OR REPLACE TRIGGER case_index_ended_rows AFTER INSERT OR DELETE ON case_index
    FOR EACH ROW EXECUTE FUNCTION case_index_count_ended();
CREATE OR REPLACE TRIGGER case_index_ended_changes AFTER UPDATE ON case_index FOR EACH ROW
    WHEN ((OLD.handling_tenant, OLD.status, OLD.category, OLD.channel)
          IS DISTINCT FROM (NEW.handling_tenant, NEW.status, NEW.category, NEW.channel))
    EXECUTE FUNCTION case_index_count_ended();
CREATE OR REPLACE TRIGGER case_index_ended_truncate AFTER TRUNCATE ON case_index
    FOR EACH STATEMENT EXECUTE FUNCTION case_index_count_ended();
"""
SORTS = {
    "deadline": "deadline_due_at ASC NULLS LAST, registered_at DESC, case_id",
    "registered": "registered_at DESC, case_id",
    "updated": "updated_at DESC, case_id",
}
# the state of the nearest open rule, as deadlines.queue_state says (a paused clock is on time)
STATE = ("CASE WHEN deadline_due_at IS NULL THEN 'none'"
         " WHEN deadline_paused OR deadline_approaching_at > %(now)s THEN 'on_time'"
         " WHEN deadline_due_at < %(now)s THEN 'breached' ELSE 'approaching' END")
DEADLINE_STATES = {
    "none": "deadline_due_at IS NULL",
    "on_time": "deadline_due_at IS NOT NULL AND (deadline_paused OR deadline_approaching_at > %(now)s)",
    "approaching": "NOT deadline_paused AND deadline_approaching_at <= %(now)s AND deadline_due_at >= %(now)s",
    "breached": "NOT deadline_paused AND deadline_due_at < %(now)s",
}
NOT_RECUSED = ("NOT EXISTS (SELECT 1 FROM case_recusal r WHERE r.officer_id = %(me)s"
               " AND r.case_id = case_index.case_id)")
COLUMNS = ("case_id", "registration_number", "handling_tenant", "origin_tenant", "category", "channel", "status",
           "registered_at", "updated_at", "version", "deadline_rule", "deadline_due_at", "deadline_approaching_at",
           "deadline_paused")


def migrate(conn) -> None:
    """Idempotent. When the deadline columns are new, every open case is due for
    the scheduler at once, which fills them (a backfill without a rebuild); a
    new count of ended cases is counted from the rows there are."""
    with conn.transaction():
        ended_counted = conn.execute("SELECT to_regclass('case_index_ended') IS NOT NULL").fetchone()[0]
        conn.execute(SCHEMA)
        new = conn.execute(
            "SELECT 1 FROM pg_attribute WHERE attrelid = 'case_index'::regclass AND attname = 'deadline_due_at'"
            " AND NOT attisdropped").fetchone() is None
        conn.execute(QUEUE_SCHEMA)
        if new:
            conn.execute(f"UPDATE case_index SET next_deadline_at = now() WHERE status NOT IN ({ENDED})")
        if not ended_counted:
            recount_ended(conn)


def recount_ended(conn) -> None:
    """``case_index_ended`` from the rows (after a bulk load with the triggers off)."""
    conn.execute("TRUNCATE case_index_ended")
    conn.execute("INSERT INTO case_index_ended SELECT handling_tenant, status, category, channel, count(*)"
                 f" FROM case_index WHERE status IN ({ENDED}) GROUP BY 1, 2, 3, 4")


def follow_once(pool, app, config=None, batch: int = 500) -> int:
    """Index the next page of the log; returns notifications read (0 = idle or another instance)."""
    with pool.connection() as conn, conn.transaction():
        row = conn.execute(
            "SELECT position FROM relay_position WHERE name = 'case_index' FOR UPDATE SKIP LOCKED").fetchone()
        if row is None:
            return 0
        notifications = app.recorder.select_notifications(start=row[0], limit=batch, inclusive_of_start=False)
        if not notifications:
            return 0
        case_ids = {n.originator_id for n in notifications if n.topic.startswith(CASE_TOPIC)}
        now = datetime.now(timezone.utc)
        for case_id in case_ids:
            case = app.repository.get(case_id)
            upsert(conn, case, index_deadline(case, *config(case.handling_tenant), now) if config else None)
        conn.execute("UPDATE relay_position SET position = %s WHERE name = 'case_index'", (notifications[-1].id,))
        return len(notifications)


def upsert(conn, case: Case, deadline: tuple | None = None) -> None:
    """One case's row; ``deadline``: ``scheduler.DEADLINE_COLUMNS`` (None: no deadlines known)."""
    deadline = deadline or (None, None, None, None, False)
    conn.execute(
        "INSERT INTO case_index (case_id, handling_tenant, origin_tenant, registration_number, category, channel,"
        f" status, registered_at, updated_at, version, {', '.join(DEADLINE_COLUMNS)})"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (case_id) DO UPDATE SET handling_tenant = EXCLUDED.handling_tenant,"
        " status = EXCLUDED.status, updated_at = EXCLUDED.updated_at, version = EXCLUDED.version, "
        + ", ".join(f"{c} = EXCLUDED.{c}" for c in DEADLINE_COLUMNS)
        + " WHERE case_index.version < EXCLUDED.version",
        (case.id, case.handling_tenant, case.tenant, case.registration_number, case.category, case.channel,
         case.status, case.created_on, case.modified_on, case.version, *deadline),
    )
    for officer_id in case.recused:  # recusals are for good: kept, never removed
        conn.execute("INSERT INTO case_recusal (officer_id, case_id) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                     (officer_id, case.id))


def search(conn, tenants: list[str], *, status: str | None = None, category: str | None = None,
           channel: str | None = None, number: str | None = None, deadline: str | None = None,
           sort: str = "deadline", page: int = 1, per_page: int = 25, now: datetime | None = None,
           officer_id: str | None = None) -> dict:
    """A page of the work queue, ``counts`` per status with every other filter
    applied, and ``total`` (the count of the status asked for, or of all);
    without the cases ``officer_id`` recused from (in the counts too).
    ``number``: the end of a registration number (``000123``, ``2026/000123``
    or the whole number)."""
    params = {"tenants": tenants, "now": now or datetime.now(timezone.utc), "limit": per_page,
              "offset": (page - 1) * per_page, "upto": page * per_page, "status": status, "me": officer_id or ""}
    fixed = []  # what an ended case keeps for good (case_index_ended has it too)
    for column, value in (("category", category), ("channel", channel)):
        if value:
            fixed.append(f"{column} = %({column})s")
            params[column] = value
    moving = []
    if number:
        moving.append('reverse(registration_number) COLLATE "C" >= %(number_from)s'
                      ' AND reverse(registration_number) COLLATE "C" < %(number_to)s')
        params["number_from"], params["number_to"] = _prefix_range(number[::-1])
    if deadline:
        moving.append(DEADLINE_STATES[deadline])
    where = " AND ".join(["handling_tenant = ANY(%(tenants)s)", *fixed, *moving])
    listed = " AND ".join(["handling_tenant = t.code", *fixed, *moving, NOT_RECUSED]
                          + (["status = %(status)s"] if status else []))
    if number:
        counting = f"SELECT status, count(*) FROM case_index WHERE {where} GROUP BY status"
    elif deadline not in (None, "none"):  # only open cases have a deadline
        counting = f"SELECT status, count(*) FROM case_index WHERE {where} AND status NOT IN ({ENDED}) GROUP BY status"
    else:  # ended cases are counted already; every ended case is one without a deadline
        counting = ("SELECT status, sum(n) FROM case_index_ended WHERE "
                    + " AND ".join(["handling_tenant = ANY(%(tenants)s)", *fixed]) + " GROUP BY status"
                    f" UNION ALL SELECT status, count(*) FROM case_index WHERE {where} AND status NOT IN ({ENDED})"
                    " GROUP BY status")
    # the recused cases come off every count, however it was counted
    counting += (" UNION ALL SELECT status, -count(*) FROM case_index JOIN case_recusal r USING (case_id)"
                 f" WHERE r.officer_id = %(me)s AND {where} GROUP BY status")
    with conn.transaction():
        counted = conn.execute(counting, params).fetchall()
        # each tenant walks its sort's index in order; the pages merge
        rows = conn.execute(
            f"SELECT q.*, {STATE} FROM unnest(%(tenants)s::text[]) AS t(code) CROSS JOIN LATERAL"
            f" (SELECT {', '.join(COLUMNS)} FROM case_index WHERE handling_tenant = t.code AND {listed}"
            f" ORDER BY {SORTS[sort]} LIMIT %(upto)s) q ORDER BY {SORTS[sort]} LIMIT %(limit)s OFFSET %(offset)s",
            params).fetchall()
    counts = dict.fromkeys(CASE_STATUSES, 0)
    for found, n in counted:
        counts[found] = counts.get(found, 0) + int(n)
    return {"items": [_item(row) for row in rows], "page": page, "per_page": per_page,
            "total": counts[status] if status else sum(counts.values()), "counts": counts}


def registration_numbers(conn, case_ids: list[str]) -> dict[str, str]:
    """case id -> registration number, for the cases the index knows."""
    with conn.transaction():
        rows = conn.execute("SELECT case_id::text, registration_number FROM case_index WHERE case_id = ANY(%s::uuid[])",
                            (case_ids,)).fetchall()
    return dict(rows)


def _prefix_range(prefix: str) -> tuple[str, str]:
    """[prefix, the next string after every string starting with it) in byte order."""
    return prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)


def _item(row) -> dict:
    item = dict(zip(COLUMNS, row))
    rule, due, approaching = item.pop("deadline_rule"), item.pop("deadline_due_at"), item.pop("deadline_approaching_at")
    del item["deadline_paused"]
    item["case_id"] = str(item["case_id"])
    item["registered_at"] = item["registered_at"].isoformat()
    item["updated_at"] = item["updated_at"].isoformat()
    item["deadline"] = None if due is None else {
        "rule": rule, "due_at": due.isoformat(), "approaching_at": approaching.isoformat(), "state": row[-1]}
    return item
