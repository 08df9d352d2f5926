"""The vault's tables (only ciphertext, wrapped keys and opaque references)
and their migration: idempotent, and safe when several instances start at once.

Every statement creates or adds only what is missing, so a database made by
any earlier version upgrades in place; ``migrate`` also fills ``case_id`` of
identities stored before that column existed, and hash-chains ``vault_audit``
(and the disclosure log, once it exists: ``chain.py``).
"""

from __future__ import annotations

from peluit_contracts.reports import case_id_for

from . import chain

# serialise concurrent start-ups (CREATE ... IF NOT EXISTS races otherwise); both locks, in the
# order earlier versions took them one at a time, so an older instance starting beside us waits too
_MIGRATE_LOCKS = (0x7065_6C75_6974_0001, 0x7065_6C75_6974_0002)

IDENTITIES = """
CREATE TABLE IF NOT EXISTS reporter (
    reporter_ref text PRIMARY KEY,
    submission_id text NOT NULL UNIQUE,
    tenant text NOT NULL,
    kek_id text NOT NULL,
    wrapped_dek bytea NOT NULL,
    ciphertext bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE reporter ADD COLUMN IF NOT EXISTS case_id uuid;
ALTER TABLE reporter ADD COLUMN IF NOT EXISTS case_closed_at timestamptz;
ALTER TABLE reporter ADD COLUMN IF NOT EXISTS shredded_at timestamptz;
-- a shredded row has no data key left
ALTER TABLE reporter ALTER COLUMN wrapped_dek DROP NOT NULL;
CREATE INDEX IF NOT EXISTS reporter_case_id_idx ON reporter (case_id);
CREATE INDEX IF NOT EXISTS reporter_case_id_missing_idx ON reporter (reporter_ref) WHERE case_id IS NULL;
CREATE INDEX IF NOT EXISTS reporter_live_kek_idx ON reporter (kek_id) WHERE wrapped_dek IS NOT NULL;
CREATE INDEX IF NOT EXISTS reporter_closed_idx ON reporter (case_closed_at)
    WHERE shredded_at IS NULL AND case_closed_at IS NOT NULL;

CREATE TABLE IF NOT EXISTS vault_audit (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now(),
    action text NOT NULL,
    reporter_ref text,
    detail jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS vault_audit_ref_idx ON vault_audit (reporter_ref) WHERE reporter_ref IS NOT NULL;

CREATE TABLE IF NOT EXISTS retention_policy (
    tenant text PRIMARY KEY,
    years int NOT NULL CHECK (years > 0)
);
"""

ORIGINALS = """
CREATE TABLE IF NOT EXISTS evidence_original (
    original_ref text PRIMARY KEY,
    case_id uuid NOT NULL,
    tenant text NOT NULL,
    digest bytea NOT NULL,
    mime text NOT NULL,
    size integer NOT NULL,
    kek_id text NOT NULL,
    wrapped_dek bytea,
    ciphertext bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    case_closed_at timestamptz,
    shredded_at timestamptz,
    UNIQUE (case_id, digest)
);
-- the reporter's own file name, when there was one, leads the record's plaintext (this many UTF-8 bytes)
ALTER TABLE evidence_original ADD COLUMN IF NOT EXISTS name_bytes integer;
CREATE INDEX IF NOT EXISTS evidence_original_live_kek_idx ON evidence_original (kek_id) WHERE wrapped_dek IS NOT NULL;
CREATE INDEX IF NOT EXISTS evidence_original_closed_idx ON evidence_original (case_closed_at)
    WHERE shredded_at IS NULL AND case_closed_at IS NOT NULL;

-- when a case ended, also for cases with no identity (anonymous reports still have originals),
-- so a record stored after the closure event starts its clock too
CREATE TABLE IF NOT EXISTS evidence_case_closed (
    case_id uuid PRIMARY KEY,
    closed_at timestamptz NOT NULL
);
"""

RELAY = """
CREATE TABLE IF NOT EXISTS relay_log (
    idempotency_key text PRIMARY KEY,
    case_id uuid NOT NULL,
    template text NOT NULL,
    outcome text NOT NULL,
    at timestamptz NOT NULL DEFAULT now()
);
"""


def migrate(conn, batch: int = 1000) -> None:
    """Create what is missing, chain the logs, then fill ``case_id`` of identities stored before it existed."""
    with conn.transaction():
        for lock in _MIGRATE_LOCKS:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock,))
        for ddl in (IDENTITIES, ORIGINALS, RELAY):
            conn.execute(ddl)
    chain.migrate(conn)
    while True:  # backfill in short transactions; SKIP LOCKED lets other instances share the work
        with conn.transaction():
            rows = conn.execute(
                "SELECT reporter_ref, submission_id FROM reporter WHERE case_id IS NULL "
                "LIMIT %s FOR UPDATE SKIP LOCKED", (batch,)).fetchall()
            if rows:
                with conn.cursor() as cur:
                    cur.executemany("UPDATE reporter SET case_id = %s WHERE reporter_ref = %s",
                                    [(case_id_for(sub), ref) for ref, sub in rows])
        if not rows:
            return
