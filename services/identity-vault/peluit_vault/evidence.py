"""Evidence originals: the untouched files reporters attach, kept like identities.

An original may identify its reporter (GPS in a photo, a PDF's author, an
Office document's ``creator``), so it is treated as identity:

- intake seals it to the vault's public key at once (libsodium sealed box);
- here it is unsealed in memory and encrypted at rest under a fresh data key
  (XChaCha20-Poly1305) wrapped by the keyring's current KEK (AES-256-GCM), the
  same envelope as ``store.py``; both are bound to ``"evidence:" + original_ref``
  so a row can be swapped neither with another original nor with an identity;
- ``original_ref`` is random and reveals nothing; the row knows its case, so
  an original is disclosed only within its case (dual control, disclosure.py)
  and shredded with it: when the case ends its retention clock starts (the
  tenant's ``retention_policy``, as for identities), then the wrapped data key
  and the ciphertext are dropped;
- a repeat of the same original for the same case returns the first
  ``original_ref``: the dedupe key is a BLAKE2b of the file keyed by a secret
  derived from the vault's private key, so a database dump cannot even confirm
  that a known photo was submitted;
- KEK rotation re-wraps these data keys too (``rewrap``; ``peluit-vault rotate-kek``).

No reply ever holds an original in clear; the only way out is a disclosure
view, sealed to the requesting officer's own key.
"""

from __future__ import annotations

import binascii
import hashlib
import secrets
from collections import Counter
from datetime import datetime
from uuid import UUID

from marshmallow import ValidationError
from prometheus_client import Counter as Metric
from psycopg.types.json import Jsonb

from peluit_common.settings import env_int
from peluit_contracts.evidence import EVIDENCE_RPC_VERSION, StoreEvidenceOriginalCommand

from .crypto import DecryptionError, SealedRecord, decrypt_record, encrypt_record, unseal
from .keyring import Keyring, unwrap_dek, wrap_dek
from .retention import _aware, default_years
from .store import Erased, RewrapFailed, audit

ORIGINALS_STORED = Metric("peluit_vault_evidence_originals_stored_total", "Evidence originals stored (new)")
ORIGINALS_REFUSED = Metric("peluit_vault_evidence_originals_refused_total", "Evidence originals refused",
                           ["reason"])

DEFAULT_MAX_BYTES = 10 * 1000 * 1000
_MIGRATE_LOCK = 0x7065_6C75_6974_0002

SCHEMA = """
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
CREATE INDEX IF NOT EXISTS evidence_original_live_kek_idx ON evidence_original (kek_id) WHERE wrapped_dek IS NOT NULL;
CREATE INDEX IF NOT EXISTS evidence_original_closed_idx ON evidence_original (case_closed_at)
    WHERE shredded_at IS NULL AND case_closed_at IS NOT NULL;

-- when a case ended, also for cases with no identity (anonymous reports still have originals),
-- so an original stored after the closure event starts its clock too
CREATE TABLE IF NOT EXISTS evidence_case_closed (
    case_id uuid PRIMARY KEY,
    closed_at timestamptz NOT NULL
);
"""


def migrate(conn) -> None:
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATE_LOCK,))
        conn.execute(SCHEMA)


def _aad(original_ref: str) -> str:
    return "evidence:" + original_ref


def digest_key(private_key: bytes) -> bytes:
    """The dedupe key, derived from (never equal to) the vault's private key."""
    return hashlib.blake2b(b"peluit evidence digest v1", key=private_key, digest_size=32).digest()


def digest(key: bytes, original: bytes) -> bytes:
    return hashlib.blake2b(original, key=key, digest_size=32).digest()


def store_original(conn, keyring: bytes | Keyring, dedupe_key: bytes, case_id: UUID | str, tenant: str,
                   mime: str, original: bytes) -> tuple[str, bool]:
    """Store once per (case, file); returns (original_ref, created)."""
    keyring = Keyring.of(keyring)
    case_id = UUID(str(case_id))
    original_ref = secrets.token_urlsafe(24)
    record = encrypt_record(keyring.current, _aad(original_ref), original)
    key = digest(dedupe_key, original)
    with conn.transaction():
        row = conn.execute(
            "INSERT INTO evidence_original (original_ref, case_id, tenant, digest, mime, size, kek_id, wrapped_dek,"
            " ciphertext, case_closed_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s,"
            "         (SELECT closed_at FROM evidence_case_closed WHERE case_id = %s))"
            " ON CONFLICT (case_id, digest) DO NOTHING RETURNING original_ref",
            (original_ref, case_id, tenant, key, mime, len(original), record.kek_id,
             record.wrapped_dek, record.ciphertext, case_id)).fetchone()
        if row is not None:
            return row[0], True
        row = conn.execute("SELECT original_ref FROM evidence_original WHERE case_id = %s AND digest = %s",
                           (case_id, key)).fetchone()
    return row[0], False


def original_case(conn, original_ref: str) -> str | None:
    """The case an original belongs to (str), or None if the reference is unknown."""
    with conn.transaction():
        row = conn.execute("SELECT case_id FROM evidence_original WHERE original_ref = %s",
                           (original_ref,)).fetchone()
    return str(row[0]) if row else None


def read_original(conn, keyring: bytes | Keyring, original_ref: str) -> tuple[str, str, bytes] | None:
    """(case_id, mime, bytes) of one original; None if unknown. Raises
    ``store.Erased`` once shredded, ``DecryptionError`` if altered. Not
    exposed over RPC: only a dual-control view reads it."""
    keyring = Keyring.of(keyring)
    with conn.transaction():
        row = conn.execute(
            "SELECT case_id, mime, kek_id, wrapped_dek, ciphertext, shredded_at FROM evidence_original"
            " WHERE original_ref = %s", (original_ref,)).fetchone()
    if row is None:
        return None
    case_id, mime, kek_id, wrapped, ciphertext, shredded_at = row
    if shredded_at is not None or wrapped is None:
        raise Erased(shredded_at)
    plaintext = decrypt_record(keyring.get(kek_id), _aad(original_ref),
                               SealedRecord(kek_id, bytes(wrapped), bytes(ciphertext)))
    return str(case_id), mime, plaintext


# -- the RPC -------------------------------------------------------------------------

def store_evidence_original(conn, keyring: Keyring, private_key: bytes, command) -> dict:
    """``store_evidence_original``: unseal, bound the size, encrypt at rest.
    Returns {"original_ref"} or {"error"}; never says why a box did not open."""
    try:
        cmd = StoreEvidenceOriginalCommand().load(command)
    except (ValidationError, TypeError, ValueError, binascii.Error):
        ORIGINALS_REFUSED.labels("command").inc()
        return {"error": "invalid_command"}
    if cmd["version"] != EVIDENCE_RPC_VERSION:
        return {"error": "unsupported_version"}
    try:
        original = unseal(private_key, cmd["sealed_original"])
    except DecryptionError:
        ORIGINALS_REFUSED.labels("sealed_original").inc()
        return {"error": "invalid_sealed_original"}
    if not original or len(original) > env_int("PELUIT_EVIDENCE_MAX_FILE_BYTES", DEFAULT_MAX_BYTES):
        ORIGINALS_REFUSED.labels("size").inc()
        return {"error": "too_large"}
    ref, created = store_original(conn, keyring, digest_key(private_key), cmd["case_id"], cmd["tenant"],
                                  cmd["mime"], original)
    del original
    if created:
        ORIGINALS_STORED.inc()
    return {"original_ref": ref}


# -- retention ---------------------------------------------------------------------------

def record_case_closed(conn, case_id: UUID | str, closed_at: datetime | str) -> int:
    """The case ended at ``closed_at`` (idempotent; the latest closure wins, as
    for identities). Returns how many originals' clocks (re)started."""
    case_id = UUID(str(case_id))
    closed_at = _aware(closed_at, "closed_at")
    with conn.transaction():
        conn.execute("INSERT INTO evidence_case_closed (case_id, closed_at) VALUES (%s, %s) "
                     "ON CONFLICT (case_id) DO UPDATE SET closed_at = GREATEST(evidence_case_closed.closed_at, "
                     "EXCLUDED.closed_at)", (case_id, closed_at))
        rows = conn.execute(
            "UPDATE evidence_original SET case_closed_at = %s WHERE case_id = %s AND shredded_at IS NULL "
            "AND (case_closed_at IS NULL OR case_closed_at < %s) RETURNING original_ref",
            (closed_at, case_id, closed_at)).fetchall()
    return len(rows)


def shred_expired(conn, now: datetime | str, batch: int = 500, default: int | None = None) -> int:
    """Crypto-shred every original whose case ended more than its tenant's
    retention period before ``now``: drop the wrapped data key and the
    ciphertext, record it (``vault_audit``, no content). Same caveats on
    backups as ``retention.py``."""
    now = _aware(now, "now")
    default = default or default_years()
    total = 0
    while True:
        with conn.transaction():
            rows = conn.execute(
                """
                SELECT e.original_ref, e.tenant, e.case_id, e.case_closed_at, e.kek_id,
                       COALESCE(p.years, %(default)s) AS years
                FROM evidence_original e LEFT JOIN retention_policy p ON p.tenant = e.tenant
                WHERE e.shredded_at IS NULL AND e.case_closed_at IS NOT NULL
                  AND e.case_closed_at + make_interval(years => COALESCE(p.years, %(default)s)) <= %(now)s
                ORDER BY e.case_closed_at
                LIMIT %(batch)s
                FOR UPDATE OF e SKIP LOCKED
                """, {"default": default, "now": now, "batch": batch}).fetchall()
            if not rows:
                break
            conn.execute("UPDATE evidence_original SET wrapped_dek = NULL, ciphertext = ''::bytea, shredded_at = %s"
                         " WHERE original_ref = ANY(%s)", (now, [r[0] for r in rows]))
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO vault_audit (at, action, reporter_ref, detail) "
                    "VALUES (%s, 'evidence_original_shredded', NULL, %s)",
                    [(now, Jsonb({"original_ref": ref, "tenant": tenant, "case_id": str(case_id),
                                  "case_closed_at": closed_at.isoformat(), "retention_years": years,
                                  "kek_id": kek_id}))
                     for ref, tenant, case_id, closed_at, kek_id, years in rows])
        total += len(rows)
    return total


# -- KEK rotation ------------------------------------------------------------------------

def rewrap(conn, keyring: bytes | Keyring, batch: int = 500) -> int:
    """Re-wrap every live data key of an original held under an older KEK of
    the keyring (the file's ciphertext is never read). See ``store.rewrap``."""
    keyring = Keyring.of(keyring)
    old = [i for i in dict.fromkeys(keyring.ids) if i != keyring.current_id]
    total = 0
    while old:
        with conn.transaction():
            rows = conn.execute(
                "SELECT original_ref, kek_id, wrapped_dek FROM evidence_original "
                "WHERE kek_id = ANY(%s) AND wrapped_dek IS NOT NULL LIMIT %s FOR UPDATE SKIP LOCKED",
                (old, batch)).fetchall()
            if not rows:
                break
            updates, sources = [], Counter()
            for ref, old_id, wrapped in rows:
                try:
                    dek = unwrap_dek(keyring.get(old_id), _aad(ref), bytes(wrapped))
                except DecryptionError:
                    raise RewrapFailed(f"data key of original_ref {ref} does not unwrap under KEK {old_id}") from None
                updates.append((keyring.current_id, wrap_dek(keyring.current, _aad(ref), dek), ref))
                sources[old_id] += 1
            with conn.cursor() as cur:
                cur.executemany("UPDATE evidence_original SET kek_id = %s, wrapped_dek = %s WHERE original_ref = %s",
                                updates)
            audit(conn, "kek_rewrapped", None, {"to": keyring.current_id, "from": dict(sources), "count": len(rows),
                                                "table": "evidence_original"})
        total += len(rows)
    return total


def pending(conn, keyring: bytes | Keyring) -> dict[str, int]:
    keyring = Keyring.of(keyring)
    with conn.transaction():
        rows = conn.execute(
            "SELECT kek_id, count(*) FROM evidence_original WHERE wrapped_dek IS NOT NULL AND kek_id <> %s "
            "GROUP BY kek_id", (keyring.current_id,)).fetchall()
    return {kek_id: n for kek_id, n in rows}
