"""Retention by crypto-shredding.

When a case closes, the vault records when (``record_case_closed``; it knows
each reporter's ``case_id`` because cases derives it from the submission id the
vault stores). Once the tenant's retention period has passed since closure
(``retention_policy``, else ``PELUIT_VAULT_RETENTION_YEARS``, default 5),
``shred_expired`` drops the reporter's wrapped data key and ciphertext and
records that it did in ``vault_audit``. ``read_identity`` then raises
``store.Erased``; the case itself keeps its opaque reporter_ref.

What this does and does not protect, honestly:

- The live database can no longer reveal the identity: the only copy of the
  data key was the wrapped one, and it is gone.
- A backup (``pg_dump``, base backup, WAL archive, replica) taken before the
  shredding still holds the wrapped data key and the ciphertext, wrapped under
  the KEK of its time; so do dead row versions and WAL segments until they are
  vacuumed, recycled or expired. Whoever holds such a copy *and* that KEK can
  still decrypt the identity. Dropping the wrapped key protects backups only
  once every KEK that ever wrapped it has been rotated away
  (``peluit-vault rotate-kek``) and destroyed in every place it is kept.
- So rotate the KEK on a schedule (e.g. yearly) and destroy the old KEK
  together with the last backup made under it. Destroying a KEK also makes
  those backups unable to restore *any* identity: align backup retention with
  KEK retention, and restore identities only from backups under a live KEK.
"""

from __future__ import annotations

import re
from datetime import datetime
from uuid import UUID

from psycopg.types.json import Jsonb

from peluit_common.settings import ConfigError, env_int

from .store import audit

TENANT = re.compile(r"\d{2}(\.\d{2})?")  # Kemendagri region code: province "35" or kota/kabupaten "35.73"


def default_years() -> int:
    years = env_int("PELUIT_VAULT_RETENTION_YEARS", 5)
    if years < 1:
        raise ConfigError("PELUIT_VAULT_RETENTION_YEARS must be at least 1")
    return years


def _aware(value: datetime | str, name: str) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        # a naive time would be read in the session's time zone: off by hours, silently
        raise ValueError(f"{name} must carry a time zone")
    return value


def set_retention(conn, tenant: str, years: int) -> None:
    if not TENANT.fullmatch(tenant):
        raise ValueError("tenant must be a region code such as 35 or 35.73")
    if not isinstance(years, int) or years < 1:
        raise ValueError("years must be a whole number of at least 1")
    with conn.transaction():
        conn.execute("INSERT INTO retention_policy (tenant, years) VALUES (%s, %s) "
                     "ON CONFLICT (tenant) DO UPDATE SET years = EXCLUDED.years", (tenant, years))
        audit(conn, "retention_set", None, {"tenant": tenant, "years": years})


def retention_years(conn, tenant: str, default: int | None = None) -> int:
    with conn.transaction():
        row = conn.execute("SELECT years FROM retention_policy WHERE tenant = %s", (tenant,)).fetchone()
    return row[0] if row else (default or default_years())


def record_case_closed(conn, case_id: UUID | str, closed_at: datetime | str) -> int:
    """The case reached a terminal status at ``closed_at``; returns rows changed.

    Idempotent: a redelivered event changes nothing. An earlier time never
    replaces a later one, so retention never starts sooner than the latest
    closure the vault heard of. A case without a vault row (anonymous report)
    changes nothing.
    """
    case_id = case_id if isinstance(case_id, UUID) else UUID(str(case_id))
    closed_at = _aware(closed_at, "closed_at")
    with conn.transaction():
        rows = conn.execute(
            "UPDATE reporter SET case_closed_at = %s WHERE case_id = %s AND shredded_at IS NULL "
            "AND (case_closed_at IS NULL OR case_closed_at < %s) RETURNING reporter_ref",
            (closed_at, case_id, closed_at)).fetchall()
        for (ref,) in rows:
            audit(conn, "case_closed", ref, {"case_id": str(case_id), "closed_at": closed_at.isoformat()})
    return len(rows)


def shred_expired(conn, now: datetime | str, batch: int = 500, default: int | None = None) -> int:
    """Crypto-shred every identity whose retention ran out by ``now``; returns how many.

    Per batch, one transaction: lock the rows (``SKIP LOCKED``, so a second
    instance or a running rotation never waits on or repeats the work), drop the
    wrapped data key, empty the ciphertext (useless without the key, but no
    reason to keep it), set ``shredded_at`` and write one audit row each.
    Running it again is a no-op. See the module docstring for backups.
    """
    now = _aware(now, "now")
    default = default or default_years()
    total = 0
    while True:
        with conn.transaction():
            rows = conn.execute(
                """
                SELECT r.reporter_ref, r.tenant, r.case_id, r.case_closed_at, r.kek_id,
                       COALESCE(p.years, %(default)s) AS years
                FROM reporter r LEFT JOIN retention_policy p ON p.tenant = r.tenant
                WHERE r.shredded_at IS NULL AND r.case_closed_at IS NOT NULL
                  -- the shortest policy bounds the index range (a day of slack: year arithmetic is not
                  -- symmetric around 29 February); the exact test per tenant follows
                  AND r.case_closed_at <= %(now)s - make_interval(years => (
                        SELECT LEAST(%(default)s, min(years)) FROM retention_policy)) + interval '1 day'
                  AND r.case_closed_at + make_interval(years => COALESCE(p.years, %(default)s)) <= %(now)s
                ORDER BY r.case_closed_at
                LIMIT %(batch)s
                FOR UPDATE OF r SKIP LOCKED
                """, {"default": default, "now": now, "batch": batch}).fetchall()
            if not rows:
                break
            conn.execute("UPDATE reporter SET wrapped_dek = NULL, ciphertext = ''::bytea, shredded_at = %s "
                         "WHERE reporter_ref = ANY(%s)", (now, [r[0] for r in rows]))
            # kek_id tells which KEK must be destroyed before backups stop revealing this identity
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO vault_audit (at, action, reporter_ref, detail) "
                    "VALUES (%s, 'identity_shredded', %s, %s)",
                    [(now, ref, Jsonb({"tenant": tenant, "case_id": case_id and str(case_id),
                                       "case_closed_at": closed_at.isoformat(), "retention_years": years,
                                       "kek_id": kek_id}))
                     for ref, tenant, case_id, closed_at, kek_id, years in rows])
        total += len(rows)
    return total
