"""Officer and reporter notifications in PostgreSQL, recorded exactly once per
domain event: the processed-event row and the effect commit together.

An event officers hear of is recorded as a ``notice`` in the same transaction
as the processed-event row (no call to another service before the ack);
``fanout`` asks cases whom to tell and writes ``notification``, the outbox:
one row per (event, officer, channel); ``delivery`` sends its pending e-mail
rows. A redelivered event adds nothing and a restart loses nothing.
It holds registration numbers, kinds, deadlines and officer addresses, never
report text or anything about the reporter.
"""

from __future__ import annotations

import json
from dataclasses import asdict

from peluit_common.db import apply_schema

SCHEMA = """
SELECT pg_advisory_xact_lock(hashtext('peluit_notifications.migrate'));
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
CREATE TABLE IF NOT EXISTS notification (
    id bigserial PRIMARY KEY,
    event_id text NOT NULL,
    officer_id uuid NOT NULL,
    channel text NOT NULL,          -- email | console
    kind text NOT NULL,             -- peluit_contracts.notify.KINDS, or digest
    status text NOT NULL,           -- email: pending | sent | dead | digest | digested; console: unread | read
    tenant text NOT NULL,
    case_id uuid,
    registration_number text,
    deadline_rule text,
    deadline_due_at timestamptz,
    items jsonb,                    -- a digest's or a summary's lines (numbers, kinds, deadlines)
    address text,
    occurred_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error text,
    sent_at timestamptz,
    UNIQUE (event_id, officer_id, channel)
);
CREATE INDEX IF NOT EXISTS notification_due ON notification (next_attempt_at, id) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS notification_digest ON notification (officer_id) WHERE status = 'digest';
CREATE INDEX IF NOT EXISTS notification_console ON notification (officer_id, id) WHERE channel = 'console';
CREATE TABLE IF NOT EXISTS notice (
    event_id text PRIMARY KEY REFERENCES processed_event(event_id),
    kind text NOT NULL,
    tenant text NOT NULL,
    case_id uuid,
    rule text,
    due_at timestamptz,
    occurred_at timestamptz NOT NULL,
    audiences jsonb NOT NULL,
    status text NOT NULL DEFAULT 'pending',  -- pending | done | dead
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error text
);
CREATE INDEX IF NOT EXISTS notice_due ON notice (next_attempt_at) WHERE status = 'pending';
CREATE TABLE IF NOT EXISTS breach (
    event_id text PRIMARY KEY REFERENCES processed_event(event_id),
    province text NOT NULL,
    tenant text NOT NULL,
    registration_number text,
    rule text NOT NULL,
    due_at timestamptz,
    noticed_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS breach_day ON breach (province, noticed_at);
"""

INSERT_NOTIFICATION = (
    "INSERT INTO notification (event_id, officer_id, channel, kind, status, tenant, case_id, registration_number, "
    "deadline_rule, deadline_due_at, items, address, occurred_at) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
    "ON CONFLICT (event_id, officer_id, channel) DO NOTHING RETURNING channel, kind")


def migrate(conn) -> None:
    apply_schema(conn, SCHEMA)


def insert_deliveries(conn, notice, facts: dict | None, deliveries, items=None) -> list[tuple[str, str]]:
    """The outbox rows of one notice; returns (channel, kind) of the rows that were new."""
    facts = facts or {}
    rule = notice.rule or facts.get("deadline_rule")
    due = notice.due_at or facts.get("deadline_due_at")
    fresh = []
    for d in deliveries:
        row = conn.execute(INSERT_NOTIFICATION, (
            d.event_id, d.officer_id, d.channel, d.kind, d.status, notice.tenant, notice.case_id,
            facts.get("registration_number"), rule, due, json.dumps(items) if items is not None else None,
            d.address, notice.occurred_at)).fetchone()
        if row:
            fresh.append(tuple(row))
    return fresh


class Store:
    """The notifications database behind a connection pool (``handling.Store``)."""

    def __init__(self, pool):
        self.pool = pool

    def processed(self, event_id: str) -> bool:
        with self.pool.connection() as conn, conn.transaction():
            return conn.execute("SELECT 1 FROM processed_event WHERE event_id = %s", (event_id,)).fetchone() is not None

    def record(self, envelope: dict, template: str | None = None, outcome: str | None = None,
               notice=None) -> bool:
        """Apply one envelope (a reporter notice with the relay's ``template``
        and ``outcome``; an officers' ``notice`` to fan out); False when it was
        already processed (redelivery)."""
        with self.pool.connection() as conn, conn.transaction():
            fresh = conn.execute(
                "INSERT INTO processed_event (event_id) VALUES (%s) ON CONFLICT DO NOTHING RETURNING 1",
                (envelope["id"],),
            ).fetchone()
            if fresh is None:
                return False
            data = envelope["data"]
            if envelope["type"] == "case.registered":
                conn.execute(
                    "INSERT INTO officer_notification (event_id, tenant, case_id, registration_number, kind) "
                    "VALUES (%s, %s, %s, %s, 'case_registered')",
                    (envelope["id"], data["tenant"], data["case_id"], data["registration_number"]),
                )
            elif envelope["type"] == "case.message_for_reporter" and outcome is not None:
                conn.execute(
                    "INSERT INTO reporter_notification (event_id, case_id, template, outcome) VALUES (%s, %s, %s, %s)",
                    (envelope["id"], data["case_id"], template, outcome),
                )
            elif envelope["type"] == "case.deadline_breached":
                conn.execute(
                    "INSERT INTO breach (event_id, province, tenant, rule, due_at, noticed_at) "
                    "VALUES (%s, %s, %s, %s, %s, %s)",  # the registration number arrives with the fan-out
                    (envelope["id"], data["tenant"].split(".")[0], data["tenant"], data["rule"], data["due_at"],
                     data["noticed_at"]))
            if notice is not None:
                insert_notice(conn, notice)
        return True


def insert_notice(conn, notice) -> None:
    conn.execute(
        "INSERT INTO notice (event_id, kind, tenant, case_id, rule, due_at, occurred_at, audiences) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        (notice.event_id, notice.kind, notice.tenant, notice.case_id, notice.rule, notice.due_at,
         notice.occurred_at, json.dumps([asdict(a) for a in notice.audiences])))
