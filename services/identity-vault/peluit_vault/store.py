"""The vault's table: only ciphertext, wrapped keys and opaque references."""

from __future__ import annotations

import secrets

from .crypto import SealedRecord, decrypt_record, encrypt_record

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
"""


def migrate(conn) -> None:
    with conn.transaction():
        conn.execute(SCHEMA)


def new_reporter_ref() -> str:
    # random, so it reveals nothing about the reporter or the submission
    return secrets.token_urlsafe(24)


def store_identity(conn, kek: bytes, submission_id: str, tenant: str, plaintext: bytes) -> str:
    """Store once per submission; a repeat returns the first reporter_ref."""
    reporter_ref = new_reporter_ref()
    record = encrypt_record(kek, reporter_ref, plaintext)
    with conn.transaction():
        row = conn.execute(
            "INSERT INTO reporter (reporter_ref, submission_id, tenant, kek_id, wrapped_dek, ciphertext) "
            "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (submission_id) DO NOTHING RETURNING reporter_ref",
            (reporter_ref, submission_id, tenant, record.kek_id, record.wrapped_dek, record.ciphertext),
        ).fetchone()
        if row is None:
            row = conn.execute("SELECT reporter_ref FROM reporter WHERE submission_id = %s",
                               (submission_id,)).fetchone()
    return row[0]


def read_identity(conn, kek: bytes, reporter_ref: str) -> bytes | None:
    """Decrypt one identity. Not exposed over RPC: disclosure needs the
    dual-control flow (identity-vault issue); tests and that flow use it."""
    with conn.transaction():
        row = conn.execute(
            "SELECT kek_id, wrapped_dek, ciphertext FROM reporter WHERE reporter_ref = %s", (reporter_ref,)
        ).fetchone()
    if row is None:
        return None
    return decrypt_record(kek, reporter_ref, SealedRecord(row[0], bytes(row[1]), bytes(row[2])))
