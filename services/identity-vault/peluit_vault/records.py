"""The one sealed-record store: reporter identities and evidence originals.

A row holds a record encrypted under its own data key, the data key wrapped
under a KEK of the keyring (``kek_id`` names which), both bound to the row's
random reference (``crypto.py``), and what retention needs (``case_id``,
``case_closed_at``, ``shredded_at``). ``SealedRecords`` serves both tables;
``IDENTITIES`` and ``ORIGINALS`` say what differs: the table, the reference
column, the columns a repeated store conflicts on, and how the ciphertexts are
bound. A shredded row keeps its reference but no key and no ciphertext.
``vault_audit`` records closures, shredding and KEK rotation; it never holds
a record or a key, and a trigger hash-chains every row (``chain.py``).
"""

from __future__ import annotations

import secrets
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from psycopg import sql
from psycopg.types.json import Jsonb

from .crypto import DecryptionError, SealedRecord, decrypt_record, encrypt_record, unwrap_dek, wrap_dek
from .keyring import Keyring

# every case end the vault heard of (named for its first use): a record stored
# after its case ended starts its retention clock at once
CLOSURES = "evidence_case_closed"


class Erased(Exception):
    """The record was crypto-shredded under the retention policy; nothing is left to decrypt."""

    def __init__(self, shredded_at=None):
        super().__init__("record erased (crypto-shredded)")
        self.shredded_at = shredded_at


class RewrapFailed(DecryptionError):
    """A stored data key does not unwrap. Names the opaque reference and KEK id, nothing else."""


def new_ref() -> str:
    # random, so it reveals nothing about the reporter, the file or the submission
    return secrets.token_urlsafe(24)


def audit(conn, action: str, reporter_ref: str | None, detail: dict, at=None) -> None:
    """One ``vault_audit`` row, in the caller's transaction. Never pass a record or key material."""
    audit_all(conn, action, [(reporter_ref, detail)], at)


def audit_all(conn, action: str, entries, at=None) -> None:
    """One ``vault_audit`` row per ``(reporter_ref, detail)``, in one round trip."""
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO vault_audit (at, action, reporter_ref, detail) "
                        "VALUES (COALESCE(%s, now()), %s, %s, %s)",
                        [(at, action, ref, Jsonb(detail)) for ref, detail in entries])


def _listed(names, item) -> sql.Composed:
    return sql.SQL(", ").join(map(item, names))


@dataclass(frozen=True)
class SealedRecords:
    """One table of sealed records (identifiers come from the configurations
    below, never from input)."""

    table: str
    ref: str  # the opaque reference column (primary key)
    unique: tuple[str, ...]  # a repeated store conflicts on these and returns the first reference
    kind: str  # names the record in audit actions: "<kind>_shredded"
    aad_prefix: str = ""  # binds ciphertexts to the table too, so rows cannot move between tables

    def aad(self, ref: str) -> str:
        return self.aad_prefix + ref

    def _sql(self, text: str, **parts: sql.Composable) -> sql.Composed:
        return sql.SQL(text).format(t=sql.Identifier(self.table), ref=sql.Identifier(self.ref), **parts)

    def _audited(self, ref: str, detail: dict) -> tuple[str | None, dict]:
        """``vault_audit.reporter_ref`` names reporters only; other references go in the detail."""
        return (ref, detail) if self.ref == "reporter_ref" else (None, {self.ref: ref, **detail})

    def store(self, conn, keyring: bytes | Keyring, plaintext: bytes, case_id: UUID, **columns) -> tuple[str, bool]:
        """Encrypt under the current KEK and insert once; returns (reference, created).

        A repeat (same ``unique`` columns) stores nothing and returns the first
        reference. A record of a case that already ended starts its retention clock at once."""
        keyring = Keyring.of(keyring)
        ref = new_ref()
        record = encrypt_record(keyring.current, self.aad(ref), plaintext)
        values = {self.ref: ref, "case_id": case_id, **columns, "kek_id": record.kek_id,
                  "wrapped_dek": record.wrapped_dek, "ciphertext": record.ciphertext}
        insert = self._sql(
            "INSERT INTO {t} ({names}, case_closed_at) VALUES ({values}, "
            "(SELECT closed_at FROM {closures} WHERE case_id = %(case_id)s)) "
            "ON CONFLICT ({unique}) DO NOTHING RETURNING {ref}",
            names=_listed(values, sql.Identifier), values=_listed(values, sql.Placeholder),
            closures=sql.Identifier(CLOSURES), unique=_listed(self.unique, sql.Identifier))
        with conn.transaction():
            row = conn.execute(insert, values).fetchone()
            if row is not None:
                return row[0], True
            same = sql.SQL(" AND ").join(sql.SQL("{} = {}").format(sql.Identifier(c), sql.Placeholder(c))
                                         for c in self.unique)
            row = conn.execute(self._sql("SELECT {ref} FROM {t} WHERE ") + same, values).fetchone()
        return row[0], False

    def read(self, conn, keyring: bytes | Keyring, ref: str, *columns: str) -> tuple | None:
        """``(*columns, plaintext)`` of one record; None if the reference is unknown.

        Raises ``Erased`` for a shredded row, ``UnknownKek`` if its KEK is not in
        the keyring, ``DecryptionError`` if a ciphertext or wrapped key was
        altered. Not exposed over RPC: only a dual-control view reads a record.
        """
        keyring = Keyring.of(keyring)
        query = self._sql("SELECT kek_id, wrapped_dek, ciphertext, shredded_at{more} FROM {t} WHERE {ref} = %s",
                          more=sql.SQL("").join(sql.SQL(", ") + sql.Identifier(c) for c in columns))
        with conn.transaction():
            row = conn.execute(query, (ref,)).fetchone()
        if row is None:
            return None
        kek_id, wrapped, ciphertext, shredded_at, *extra = row
        if shredded_at is not None or wrapped is None:
            raise Erased(shredded_at)
        plaintext = decrypt_record(keyring.get(kek_id), self.aad(ref),
                                   SealedRecord(kek_id, bytes(wrapped), bytes(ciphertext)))
        return (*extra, plaintext)

    def rewrap(self, conn, keyring: bytes | Keyring, batch: int = 500) -> int:
        """Re-wrap every live data key held under an older KEK of the keyring with the current one.

        Each batch is one short transaction that locks its rows ``FOR UPDATE SKIP
        LOCKED``: the service keeps storing and reading meanwhile, and two
        rotations never touch the same row. Only the 32-byte data key is
        unwrapped and wrapped again; the record's ciphertext is never read.
        Rows under a KEK missing from the keyring are left alone (see ``pending``).
        Returns how many data keys were re-wrapped.
        """
        keyring = Keyring.of(keyring)
        old = [i for i in dict.fromkeys(keyring.ids) if i != keyring.current_id]
        select = self._sql("SELECT {ref}, kek_id, wrapped_dek FROM {t} WHERE kek_id = ANY(%s) "
                           "AND wrapped_dek IS NOT NULL LIMIT %s FOR UPDATE SKIP LOCKED")
        update = self._sql("UPDATE {t} SET kek_id = %s, wrapped_dek = %s WHERE {ref} = %s")
        total = 0
        while old:
            with conn.transaction():
                rows = conn.execute(select, (old, batch)).fetchall()
                if not rows:
                    break
                updates, sources = [], Counter()
                for ref, old_id, wrapped in rows:
                    try:
                        dek = unwrap_dek(keyring.get(old_id), self.aad(ref), bytes(wrapped))
                    except DecryptionError:
                        # loud: an altered key must be looked at, not rotated past (the batch rolls back)
                        raise RewrapFailed(f"data key of {self.ref} {ref} does not unwrap under KEK {old_id}") \
                            from None
                    updates.append((keyring.current_id, wrap_dek(keyring.current, self.aad(ref), dek), ref))
                    sources[old_id] += 1
                with conn.cursor() as cur:
                    cur.executemany(update, updates)
                audit(conn, "kek_rewrapped", None, {"to": keyring.current_id, "from": dict(sources),
                                                    "count": len(rows), "table": self.table})
            total += len(rows)
        return total

    def pending(self, conn, keyring: bytes | Keyring) -> dict[str, int]:
        """Live data keys not under the current KEK, counted by KEK id (ids only, never keys)."""
        keyring = Keyring.of(keyring)
        with conn.transaction():
            rows = conn.execute(self._sql("SELECT kek_id, count(*) FROM {t} WHERE wrapped_dek IS NOT NULL "
                                          "AND kek_id <> %s GROUP BY kek_id"), (keyring.current_id,)).fetchall()
        return {kek_id: n for kek_id, n in rows}

    def close_case(self, conn, case_id: UUID, closed_at: datetime) -> int:
        """Start (or move later) the retention clock of the case's live rows, in the
        caller's transaction; an earlier time never replaces a later one. Returns rows changed."""
        rows = conn.execute(self._sql(
            "UPDATE {t} SET case_closed_at = %s WHERE case_id = %s AND shredded_at IS NULL "
            "AND (case_closed_at IS NULL OR case_closed_at < %s) RETURNING {ref}"),
            (closed_at, case_id, closed_at)).fetchall()
        detail = {"case_id": str(case_id), "closed_at": closed_at.isoformat()}
        audit_all(conn, "case_closed", [self._audited(ref, detail) for (ref,) in rows])
        return len(rows)

    def shred_expired(self, conn, now: datetime, default_years: int, batch: int = 500) -> int:
        """Crypto-shred every record whose retention ran out by ``now``; returns how many.

        Per batch, one transaction: lock the rows (``SKIP LOCKED``, so a second
        instance or a running rotation never waits on or repeats the work), drop
        the wrapped data key, empty the ciphertext (useless without the key, but
        no reason to keep it), set ``shredded_at`` and write one audit row each.
        Running it again is a no-op. See ``retention.py`` on backups.
        """
        select = self._sql("""
            SELECT r.{ref}, r.tenant, r.case_id, r.case_closed_at, r.kek_id, COALESCE(p.years, %(default)s)
            FROM {t} r LEFT JOIN retention_policy p ON p.tenant = r.tenant
            WHERE r.shredded_at IS NULL AND r.case_closed_at IS NOT NULL
              -- the shortest policy bounds the index range (a day of slack: year arithmetic is not
              -- symmetric around 29 February); the exact test per tenant follows
              AND r.case_closed_at <= %(now)s - make_interval(years => (
                    SELECT LEAST(%(default)s, min(years)) FROM retention_policy)) + interval '1 day'
              AND r.case_closed_at + make_interval(years => COALESCE(p.years, %(default)s)) <= %(now)s
            ORDER BY r.case_closed_at
            LIMIT %(batch)s
            FOR UPDATE OF r SKIP LOCKED""")
        shred = self._sql("UPDATE {t} SET wrapped_dek = NULL, ciphertext = ''::bytea, shredded_at = %s "
                          "WHERE {ref} = ANY(%s)")
        total = 0
        while True:
            with conn.transaction():
                rows = conn.execute(select, {"default": default_years, "now": now, "batch": batch}).fetchall()
                if not rows:
                    break
                conn.execute(shred, (now, [r[0] for r in rows]))
                # kek_id tells which KEK must be destroyed before backups stop revealing this record
                audit_all(conn, f"{self.kind}_shredded", [
                    self._audited(ref, {"tenant": tenant, "case_id": case_id and str(case_id),
                                        "case_closed_at": closed_at.isoformat(), "retention_years": years,
                                        "kek_id": kek_id})
                    for ref, tenant, case_id, closed_at, kek_id, years in rows], at=now)
            total += len(rows)
        return total


IDENTITIES = SealedRecords(table="reporter", ref="reporter_ref", unique=("submission_id",), kind="identity")
# "evidence:" + original_ref: an original's row can be swapped neither with another original nor with an identity
ORIGINALS = SealedRecords(table="evidence_original", ref="original_ref", unique=("case_id", "digest"),
                          kind="evidence_original", aad_prefix="evidence:")
TABLES = (IDENTITIES, ORIGINALS)


def rewrap(conn, keyring: Keyring, batch: int = 500) -> int:
    """Re-wrap the data keys of both tables under the current KEK (``SealedRecords.rewrap``)."""
    return sum(records.rewrap(conn, keyring, batch=batch) for records in TABLES)


def pending(conn, keyring: Keyring) -> dict[str, int]:
    """Live data keys of both tables not under the current KEK, by KEK id (same envelope, same KEKs)."""
    left: Counter = Counter()
    for records in TABLES:
        left.update(records.pending(conn, keyring))
    return dict(left)
