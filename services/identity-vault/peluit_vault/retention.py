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

from marshmallow import ValidationError
from prometheus_client import Counter

from peluit_common.vault_call import VaultCallError
from peluit_common.settings import ConfigError, env_int
from peluit_contracts.admin_rpc import MAX_RETENTION_YEARS, RETENTION_RPC_VERSION, RetentionQuery, SetRetention

from .records import CLOSURES, TABLES, audit

CLOSURES_REFUSED = Counter("peluit_vault_closures_refused_total",
                           "Case endings announced by an event that cases did not confirm")
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


def set_retention(conn, tenant: str, years: int, by: str | None = None) -> None:
    """The one rule, for the command line and the officers' RPC alike; ``by``
    is the officer who set it (None: the operator), kept in the vault's audit."""
    if not TENANT.fullmatch(tenant):
        raise ValueError("tenant must be a region code such as 35 or 35.73")
    # a huge period would overflow the shredder's date arithmetic and stop it for every tenant
    if not isinstance(years, int) or isinstance(years, bool) or not 1 <= years <= MAX_RETENTION_YEARS:
        raise ValueError(f"years must be a whole number from 1 to {MAX_RETENTION_YEARS}")
    detail = {"tenant": tenant, "years": years, **({"officer_id": by} if by else {})}
    with conn.transaction():
        conn.execute("INSERT INTO retention_policy (tenant, years) VALUES (%s, %s) "
                     "ON CONFLICT (tenant) DO UPDATE SET years = EXCLUDED.years", (tenant, years))
        audit(conn, "retention_set", None, detail)


def policy_rpc(conn, auth, command, *, write: bool) -> dict:
    """``retention_policy`` / ``set_retention`` for officers (contracts.admin_rpc): the
    officer of the vault-call token cases signed for this command must be a province admin or
    the tenant's own admin."""
    try:
        cmd = (SetRetention if write else RetentionQuery)().load(command)
    except (ValidationError, TypeError):
        return {"error": "invalid_command"}
    if cmd["version"] != RETENTION_RPC_VERSION:
        return {"error": "unsupported_version"}
    try:
        claims = auth.verify("set_retention" if write else "retention_policy", command)
    except VaultCallError as err:
        return {"error": err.code}
    tenant = cmd["tenant"]
    if not (claims.has_role("province_admin") or (claims.has_role("tenant_admin") and claims.tenant == tenant)):
        return {"error": "forbidden"}
    if write:
        set_retention(conn, tenant, cmd["years"], by=claims.officer_id)
    return {"tenant": tenant, "years": retention_years(conn, tenant)}


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


def record_confirmed_closure(conn, case_id: UUID | str, confirmed: dict | None, claimed_status: str) -> int | None:
    """An event says the case ended; ``confirmed`` is what cases answered when
    asked (``cases.case_state``). The clock starts only from a confirmed ending,
    at the time cases gives; otherwise nothing starts, the refusal is recorded
    (``closure_refused``) and None returned: a forged or misrouted event shreds nothing."""
    if confirmed and confirmed.get("ended") and confirmed.get("ended_at") and \
            str(confirmed.get("case_id")) == str(case_id):
        return record_case_closed(conn, case_id, confirmed["ended_at"])
    with conn.transaction():
        audit(conn, "closure_refused", None, {"case_id": str(case_id), "claimed_status": claimed_status,
                                              "confirmed_status": (confirmed or {}).get("status")})
    CLOSURES_REFUSED.inc()
    return None


def shred_expired(conn, now: datetime | str, batch: int = 500, default: int | None = None) -> dict[str, int]:
    """Crypto-shred every record whose retention ran out by ``now``; returns how many of each kind
    (``SealedRecords.shred_expired``). See the module docstring for backups."""
    now = _aware(now, "now")
    default = default or default_years()
    return {records.kind: records.shred_expired(conn, now, default, batch=batch) for records in TABLES}
