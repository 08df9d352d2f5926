"""The officers' case list: a query table inside the cases database, kept by
following the cases notification log (tracking row updated in the same
transaction), so it can be dropped and rebuilt from the events at any time.
Listing never scans events; opening one case reads the aggregate itself."""

from __future__ import annotations


from datetime import datetime, timezone

from .domain import CASE_TOPIC, Case
from .scheduler import next_deadline_at

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
"""

def migrate(conn) -> None:
    with conn.transaction():
        conn.execute(SCHEMA)


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
            upsert(conn, case, next_deadline_at(case, *config(case.handling_tenant), now) if config else None)
        conn.execute("UPDATE relay_position SET position = %s WHERE name = 'case_index'", (notifications[-1].id,))
        return len(notifications)


def upsert(conn, case: Case, next_deadline: datetime | None = None) -> None:
    conn.execute(
        "INSERT INTO case_index (case_id, handling_tenant, origin_tenant, registration_number, category, channel,"
        " status, registered_at, updated_at, version, next_deadline_at)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (case_id) DO UPDATE SET handling_tenant = EXCLUDED.handling_tenant,"
        " status = EXCLUDED.status, updated_at = EXCLUDED.updated_at, version = EXCLUDED.version,"
        " next_deadline_at = EXCLUDED.next_deadline_at"
        " WHERE case_index.version < EXCLUDED.version",
        (case.id, case.handling_tenant, case.tenant, case.registration_number, case.category, case.channel,
         case.status, case.created_on, case.modified_on, case.version, next_deadline),
    )


def search(conn, tenants: list[str], *, status: str | None = None, category: str | None = None,
           number: str | None = None, page: int = 1, per_page: int = 25) -> dict:
    clauses, params = ["handling_tenant = ANY(%s)"], [tenants]
    if status:
        clauses.append("status = %s")
        params.append(status)
    if category:
        clauses.append("category = %s")
        params.append(category)
    if number:
        clauses.append("registration_number LIKE %s")
        params.append("%" + number.replace("%", "").replace("_", r"\_") + "%")
    where = " AND ".join(clauses)
    with conn.transaction():
        total = conn.execute(f"SELECT count(*) FROM case_index WHERE {where}", params).fetchone()[0]
        rows = conn.execute(
            f"SELECT case_id, registration_number, handling_tenant, origin_tenant, category, channel, status,"
            f" registered_at, updated_at, version FROM case_index WHERE {where}"
            f" ORDER BY registered_at DESC, case_id LIMIT %s OFFSET %s",
            [*params, per_page, (page - 1) * per_page]).fetchall()
    keys = ("case_id", "registration_number", "handling_tenant", "origin_tenant", "category", "channel", "status",
            "registered_at", "updated_at", "version")
    items = [dict(zip(keys, r)) for r in rows]
    for item in items:
        item["case_id"] = str(item["case_id"])
        item["registered_at"] = item["registered_at"].isoformat()
        item["updated_at"] = item["updated_at"].isoformat()
    return {"items": items, "page": page, "per_page": per_page, "total": total}


