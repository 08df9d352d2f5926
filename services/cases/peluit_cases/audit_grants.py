"""Audit grants: read access of one auditor to one tenant for some days.

Given by a province admin (``access.Access.grant_audit``), revocable, never
deleted; every grant and revocation lands in the admin change log in the same
transaction. A grant counts while it is neither expired nor revoked.
"""

from __future__ import annotations

from uuid import UUID

from peluit_common.db import apply_schema

from . import admin_log

SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_grant (
    id bigserial PRIMARY KEY,
    officer_id uuid NOT NULL,
    tenant text NOT NULL,
    expires_at timestamptz NOT NULL,
    reason text NOT NULL,
    granted_by uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE audit_grant ADD COLUMN IF NOT EXISTS revoked_at timestamptz;
ALTER TABLE audit_grant ADD COLUMN IF NOT EXISTS revoked_by uuid;
CREATE INDEX IF NOT EXISTS audit_grant_officer_idx ON audit_grant (officer_id);
"""
LIVE = "{t}expires_at > now() AND {t}revoked_at IS NULL"  # a grant that counts ({t}: the table's alias)
_COLUMNS = ("g.id, g.officer_id, o.username, g.tenant, g.reason, g.granted_by, g.created_at, g.expires_at, "
            "g.revoked_at")


def migrate(conn) -> None:
    apply_schema(conn, SCHEMA)


def _grant(row) -> dict:
    gid, officer_id, username, tenant, reason, granted_by, created_at, expires_at, revoked_at = row
    return {"id": gid, "officer_id": str(officer_id), "username": username, "tenant": tenant, "reason": reason,
            "granted_by": str(granted_by), "created_at": created_at.isoformat(), "expires_at": expires_at.isoformat(),
            "revoked_at": revoked_at.isoformat() if revoked_at else None}


def granted_tenants(conn, officer_id: str) -> set[str]:
    try:
        officer_uuid = UUID(officer_id)
    except ValueError:
        return set()
    with conn.transaction():
        rows = conn.execute(f"SELECT DISTINCT tenant FROM audit_grant WHERE officer_id = %s AND {LIVE.format(t='')}",
                            (officer_uuid,)).fetchall()
    return {r[0] for r in rows}


def add(conn, officer_id: str, tenant: str, days: int, reason: str, granted_by: str) -> int:
    with conn.transaction():
        gid = conn.execute(
            "INSERT INTO audit_grant (officer_id, tenant, expires_at, reason, granted_by)"
            " VALUES (%s, %s, now() + make_interval(days => %s), %s, %s) RETURNING id",
            (UUID(officer_id), tenant, days, reason, UUID(granted_by))).fetchone()[0]
        admin_log.record(conn, officer_id=granted_by, tenant=tenant, kind="grant_given", subject=str(gid),
                         details={"officer_id": officer_id, "days": days, "reason": reason})
    return gid


def listing(conn, *, officer_id: str | None, tenant: str | None, active: bool | None) -> list[dict]:
    """Newest first; ``officer_id`` limits to one auditor's grants."""
    clauses, params = [], []
    if officer_id is not None:
        clauses.append("g.officer_id = %s")
        params.append(UUID(officer_id))
    if tenant is not None:
        clauses.append("g.tenant = %s")
        params.append(tenant)
    if active is not None:
        clauses.append(f"{'' if active else 'NOT '}({LIVE.format(t='g.')})")
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    with conn.transaction():
        rows = conn.execute(f"SELECT {_COLUMNS} FROM audit_grant g LEFT JOIN officer o ON o.id = g.officer_id "
                            f"{where} ORDER BY g.id DESC LIMIT 1000", params).fetchall()
    return [_grant(r) for r in rows]


def revoke(conn, grant_id: int, revoked_by: str) -> dict | None:
    """The grant after revoking it (unchanged when it was already revoked); None when there is none."""
    with conn.transaction():
        done = conn.execute("UPDATE audit_grant SET revoked_at = now(), revoked_by = %s "
                            "WHERE id = %s AND revoked_at IS NULL RETURNING tenant, officer_id",
                            (UUID(revoked_by), grant_id)).fetchone()
        if done is not None:
            admin_log.record(conn, officer_id=revoked_by, tenant=done[0], kind="grant_revoked", subject=str(grant_id),
                             details={"officer_id": str(done[1])})
        row = conn.execute(f"SELECT {_COLUMNS} FROM audit_grant g LEFT JOIN officer o ON o.id = g.officer_id "
                           "WHERE g.id = %s", (grant_id,)).fetchone()
    return _grant(row) if row else None
