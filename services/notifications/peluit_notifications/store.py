"""Officer and reporter notifications in PostgreSQL, recorded exactly once per
domain event: the processed-event row and the effect commit together."""

from __future__ import annotations

SCHEMA = """
CREATE TABLE IF NOT EXISTS processed_event (
    event_id text PRIMARY KEY,
    processed_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS officer_notification (
    id bigserial PRIMARY KEY,
    event_id text NOT NULL UNIQUE REFERENCES processed_event(event_id),
    tenant text NOT NULL,
    case_id uuid NOT NULL,
    registration_number text NOT NULL,
    kind text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    delivered_at timestamptz
);
CREATE TABLE IF NOT EXISTS reporter_notification (
    id bigserial PRIMARY KEY,
    event_id text NOT NULL UNIQUE REFERENCES processed_event(event_id),
    case_id uuid NOT NULL,
    template text NOT NULL,
    outcome text NOT NULL,  -- sent | no_contact_channel | erased (the vault's answer; never an address)
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS officer_notification_pending ON officer_notification (tenant) WHERE delivered_at IS NULL;
"""


def migrate(conn) -> None:
    with conn.transaction():
        conn.execute(SCHEMA)


class Store:
    """The notifications database behind a connection pool (``handling.Store``)."""

    def __init__(self, pool):
        self.pool = pool

    def processed(self, event_id: str) -> bool:
        with self.pool.connection() as conn, conn.transaction():
            return conn.execute("SELECT 1 FROM processed_event WHERE event_id = %s", (event_id,)).fetchone() is not None

    def record(self, envelope: dict, template: str | None = None, outcome: str | None = None) -> bool:
        """Apply one envelope (a reporter notice with the relay's ``template``
        and ``outcome``); False when it was already processed (redelivery)."""
        with self.pool.connection() as conn, conn.transaction():
            fresh = conn.execute(
                "INSERT INTO processed_event (event_id) VALUES (%s) ON CONFLICT DO NOTHING RETURNING 1",
                (envelope["id"],),
            ).fetchone()
            if fresh is None:
                return False
            if envelope["type"] == "case.registered":
                data = envelope["data"]
                conn.execute(
                    "INSERT INTO officer_notification (event_id, tenant, case_id, registration_number, kind) "
                    "VALUES (%s, %s, %s, %s, 'case_registered')",
                    (envelope["id"], data["tenant"], data["case_id"], data["registration_number"]),
                )
            elif envelope["type"] == "case.message_for_reporter" and outcome is not None:
                conn.execute(
                    "INSERT INTO reporter_notification (event_id, case_id, template, outcome) VALUES (%s, %s, %s, %s)",
                    (envelope["id"], envelope["data"]["case_id"], template, outcome),
                )
        return True
