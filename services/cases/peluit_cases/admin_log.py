"""The admin change log: every administrative change with who and when.

One row per change (officer created, enrolled, roles changed, deactivated,
reactivated, factor reset, password changed, grant given or revoked, a tenant
setting, holiday or category changed), written by the function that makes the
change, inside its transaction: a change without its row cannot commit. Rows
are append-only (a trigger refuses UPDATE and DELETE) and never hold a
password, secret, code or hash. Refusals change nothing and are not recorded.
"""

from __future__ import annotations

import json
from uuid import UUID

from psycopg.types.json import Jsonb

from peluit_common.db import apply_schema

SCHEMA = """
CREATE TABLE IF NOT EXISTS admin_change (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now(),
    officer_id uuid,
    tenant text NOT NULL,
    kind text NOT NULL,
    subject text NOT NULL,
    details jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS admin_change_tenant_idx ON admin_change (tenant, id DESC);
CREATE INDEX IF NOT EXISTS admin_change_subject_idx ON admin_change (subject, at);
CREATE OR REPLACE FUNCTION admin_change_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'admin_change is append-only';
END $$;
DROP TRIGGER IF EXISTS admin_change_append_only ON admin_change;
CREATE TRIGGER admin_change_append_only BEFORE UPDATE OR DELETE ON admin_change
    FOR EACH ROW EXECUTE FUNCTION admin_change_append_only();
"""

KINDS = ("email_changed", "officer_created", "officer_enrolled", "enrolment_code_issued", "roles_changed", "officer_deactivated",
         "officer_reactivated", "factor_reset", "password_changed", "grant_given", "grant_revoked",
         "settings_changed", "holiday_added", "holiday_deleted", "category_changed")
# what a row may say about a change; anything else (a code, a hash, a password) is a programming error
DETAIL_KEYS = frozenset({"username", "roles", "from", "to", "via", "tenant", "days", "reason", "expires_at",
                         "name", "label_id", "label_en", "active", "changes", "grant_id", "officer_id"})


# changes that let an administrator know or set an account's credentials or give it power
CONTROL_KINDS = ("officer_created", "enrolment_code_issued", "factor_reset", "roles_changed")
CONTROL_DAYS = 30


def controllers(conn, officer_id: str) -> list[str]:
    """The officer and every administrator who, in the last 30 days, created
    it, issued its enrolment code, reset its factor or changed its roles: who
    may act as it, or made it what it is. The vault lets no two participants
    of one disclosure share one (dual control between persons, not accounts)."""
    with conn.transaction():
        rows = conn.execute(
            "SELECT DISTINCT officer_id FROM admin_change WHERE subject = %s AND kind = ANY(%s) "
            "AND officer_id IS NOT NULL AND at > now() - make_interval(days => %s)",
            (str(officer_id), list(CONTROL_KINDS), CONTROL_DAYS)).fetchall()
    return sorted({str(officer_id), *(str(r[0]) for r in rows)})


def migrate(conn) -> None:
    apply_schema(conn, SCHEMA)


def record(conn, *, officer_id: str | None, tenant: str, kind: str, subject: str, details: dict | None = None) -> None:
    """Append one change; call it inside the transaction that makes the change.
    ``officer_id`` is who acted (None: the operator's command line)."""
    if kind not in KINDS:
        raise ValueError(f"unknown admin change kind {kind}")
    details = dict(details or {})
    if set(details) - DETAIL_KEYS:
        raise ValueError(f"admin change details may not hold {sorted(set(details) - DETAIL_KEYS)}")
    conn.execute("INSERT INTO admin_change (officer_id, tenant, kind, subject, details) VALUES (%s, %s, %s, %s, %s)",
                 (UUID(str(officer_id)) if officer_id else None, tenant, kind, str(subject), Jsonb(details)))


def listing(conn, tenants: list[str] | None, page: int, per_page: int) -> dict:
    """Newest first; ``tenants`` None means every tenant."""
    where, params = ("WHERE c.tenant = ANY(%s)", [tenants]) if tenants is not None else ("", [])
    with conn.transaction():
        total = conn.execute(f"SELECT count(*) FROM admin_change c {where}", params).fetchone()[0]
        rows = conn.execute(
            f"SELECT c.id, c.at, c.officer_id, o.username, c.tenant, c.kind, c.subject, c.details "
            f"FROM admin_change c LEFT JOIN officer o ON o.id = c.officer_id {where} "
            f"ORDER BY c.id DESC LIMIT %s OFFSET %s", [*params, per_page, (page - 1) * per_page]).fetchall()
    items = [{"id": r[0], "at": r[1].isoformat(), "officer_id": str(r[2]) if r[2] else None, "username": r[3],
              "tenant": r[4], "kind": r[5], "subject": r[6],
              "details": r[7] if isinstance(r[7], dict) else json.loads(r[7])} for r in rows]
    return {"items": items, "page": page, "per_page": per_page, "total": total}
