"""The vault's tables: only ciphertext, wrapped keys and opaque references.

``reporter`` holds one row per submission: the identity encrypted under a
data key (DEK), the DEK wrapped under a KEK from the keyring (``kek_id`` names
which), and what retention needs (``case_id``, ``case_closed_at``,
``shredded_at``). A shredded row keeps its reference but no key and no
ciphertext. ``vault_audit`` records shredding and KEK rotation; it never holds
an identity or a key.
"""

from __future__ import annotations

import secrets
from collections import Counter
from uuid import UUID, uuid5

from psycopg.types.json import Jsonb

from .crypto import DecryptionError, SealedRecord, decrypt_record, encrypt_record
from .keyring import Keyring, unwrap_dek, wrap_dek

# Must equal peluit_cases.domain.NS_CASE: cases derives case_id = uuid5(NS_CASE, submission_id),
# so the vault learns each reporter's case id without any message. Copied, not imported: a service
# never depends on another service's code (docs/architecture.md, contracts package only).
NS_CASE = UUID("5c0d8a4e-3f6b-4d59-9a57-8a3e7c1b2f01")

# serialises concurrent start-ups of several instances (CREATE ... IF NOT EXISTS races otherwise)
_MIGRATE_LOCK = 0x7065_6C75_6974_0001

SCHEMA = """
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


class Erased(Exception):
    """The identity was crypto-shredded under the retention policy; nothing is left to decrypt."""

    def __init__(self, shredded_at=None):
        super().__init__("identity erased (crypto-shredded)")
        self.shredded_at = shredded_at


class RewrapFailed(DecryptionError):
    """A stored data key does not unwrap. Names the opaque reference and KEK id, nothing else."""


def case_id_for(submission_id: str) -> UUID:
    return uuid5(NS_CASE, submission_id)


def migrate(conn, batch: int = 1000) -> None:
    """Idempotent; also fills ``case_id`` of rows stored before the column existed."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATE_LOCK,))
        conn.execute(SCHEMA)
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


def new_reporter_ref() -> str:
    # random, so it reveals nothing about the reporter or the submission
    return secrets.token_urlsafe(24)


def audit(conn, action: str, reporter_ref: str | None, detail: dict, at=None) -> None:
    """One ``vault_audit`` row, in the caller's transaction. Never pass identity or key material."""
    conn.execute("INSERT INTO vault_audit (at, action, reporter_ref, detail) VALUES (COALESCE(%s, now()), %s, %s, %s)",
                 (at, action, reporter_ref, Jsonb(detail)))


def store_identity(conn, kek: bytes | Keyring, submission_id: str, tenant: str, plaintext: bytes) -> str:
    """Store once per submission under the current KEK; a repeat returns the first reporter_ref."""
    keyring = Keyring.of(kek)
    reporter_ref = new_reporter_ref()
    record = encrypt_record(keyring.current, reporter_ref, plaintext)
    with conn.transaction():
        row = conn.execute(
            "INSERT INTO reporter (reporter_ref, submission_id, tenant, kek_id, wrapped_dek, ciphertext, case_id) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (submission_id) DO NOTHING RETURNING reporter_ref",
            (reporter_ref, submission_id, tenant, record.kek_id, record.wrapped_dek, record.ciphertext,
             case_id_for(submission_id)),
        ).fetchone()
        if row is None:
            row = conn.execute("SELECT reporter_ref FROM reporter WHERE submission_id = %s",
                               (submission_id,)).fetchone()
    return row[0]


def read_identity(conn, keyring: bytes | Keyring, reporter_ref: str) -> bytes | None:
    """Decrypt one identity; None if the reference is unknown.

    Raises ``Erased`` for a shredded row, ``UnknownKek`` if its KEK is not in
    the keyring, ``DecryptionError`` if a ciphertext or wrapped key was
    altered. Not exposed over RPC: disclosure needs the dual-control flow.
    """
    keyring = Keyring.of(keyring)
    with conn.transaction():
        row = conn.execute(
            "SELECT kek_id, wrapped_dek, ciphertext, shredded_at FROM reporter WHERE reporter_ref = %s",
            (reporter_ref,),
        ).fetchone()
    if row is None:
        return None
    kek_id, wrapped, ciphertext, shredded_at = row
    if shredded_at is not None or wrapped is None:
        raise Erased(shredded_at)
    return decrypt_record(keyring.get(kek_id), reporter_ref, SealedRecord(kek_id, bytes(wrapped), bytes(ciphertext)))


def rewrap(conn, keyring: bytes | Keyring, batch: int = 500) -> int:
    """Re-wrap every live data key held under an older KEK of the keyring with the current one.

    Each batch is one short transaction that locks its rows ``FOR UPDATE SKIP
    LOCKED``: the service keeps storing and reading meanwhile, and two
    rotations never touch the same row. Only the 32-byte data key is
    unwrapped and wrapped again; the identity ciphertext is never read.
    Rows under a KEK missing from the keyring are left alone (see ``pending``).
    Returns how many data keys were re-wrapped.
    """
    keyring = Keyring.of(keyring)
    old = [i for i in dict.fromkeys(keyring.ids) if i != keyring.current_id]
    total = 0
    while old:
        with conn.transaction():
            rows = conn.execute(
                "SELECT reporter_ref, kek_id, wrapped_dek FROM reporter "
                "WHERE kek_id = ANY(%s) AND wrapped_dek IS NOT NULL LIMIT %s FOR UPDATE SKIP LOCKED",
                (old, batch)).fetchall()
            if not rows:
                break
            updates, sources = [], Counter()
            for ref, old_id, wrapped in rows:
                try:
                    dek = unwrap_dek(keyring.get(old_id), ref, bytes(wrapped))
                except DecryptionError:
                    # loud: an altered key must be looked at, not rotated past (the batch rolls back)
                    raise RewrapFailed(f"data key of reporter_ref {ref} does not unwrap under KEK {old_id}") from None
                updates.append((keyring.current_id, wrap_dek(keyring.current, ref, dek), ref))
                sources[old_id] += 1
            with conn.cursor() as cur:
                cur.executemany("UPDATE reporter SET kek_id = %s, wrapped_dek = %s WHERE reporter_ref = %s", updates)
            audit(conn, "kek_rewrapped", None, {"to": keyring.current_id, "from": dict(sources), "count": len(rows)})
        total += len(rows)
    return total


def pending(conn, keyring: bytes | Keyring) -> dict[str, int]:
    """Live data keys not under the current KEK, counted by KEK id (ids only, never keys)."""
    keyring = Keyring.of(keyring)
    with conn.transaction():
        rows = conn.execute(
            "SELECT kek_id, count(*) FROM reporter WHERE wrapped_dek IS NOT NULL AND kek_id <> %s GROUP BY kek_id",
            (keyring.current_id,)).fetchall()
    return {kek_id: n for kek_id, n in rows}
