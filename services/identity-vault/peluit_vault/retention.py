"""Retention by crypto-shredding, for identities and evidence originals alike.

When a case ends the vault records when (``record_case_closed``); once the
tenant's period has passed, ``shred_expired`` drops each record's wrapped data
key and ciphertext and audits it. What that does and does not protect (backups,
KEKs): docs/operations.md, "Retention".
"""

from __future__ import annotations

import re
from datetime import datetime
from uuid import UUID

from peluit_common.settings import ConfigError, env_int

from .records import CLOSURES, TABLES, audit

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
    """The case reached a terminal status at ``closed_at``; returns how many records' clocks (re)started.

    Idempotent: a redelivered event changes nothing. An earlier time never
    replaces a later one, so retention never starts sooner than the latest
    closure the vault heard of. The closure is kept even when the case has no
    record yet (an anonymous report's originals may still come).
    """
    case_id = case_id if isinstance(case_id, UUID) else UUID(str(case_id))
    closed_at = _aware(closed_at, "closed_at")
    with conn.transaction():
        conn.execute(f"INSERT INTO {CLOSURES} (case_id, closed_at) VALUES (%s, %s) ON CONFLICT (case_id) "
                     f"DO UPDATE SET closed_at = GREATEST({CLOSURES}.closed_at, EXCLUDED.closed_at)",
                     (case_id, closed_at))
        return sum(records.close_case(conn, case_id, closed_at) for records in TABLES)


def shred_expired(conn, now: datetime | str, batch: int = 500, default: int | None = None) -> dict[str, int]:
    """Crypto-shred every record whose retention ran out by ``now``; returns how many of each kind
    (``SealedRecords.shred_expired``). See the module docstring for backups."""
    now = _aware(now, "now")
    default = default or default_years()
    return {records.kind: records.shred_expired(conn, now, default, batch=batch) for records in TABLES}
