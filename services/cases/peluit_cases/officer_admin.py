"""Administering officer accounts: list, deactivate, reactivate, change
roles, reset the second factor.

Each change locks the account row, asks the access rule (``check``, plain
Python in ``access``) about the account as it is now, makes the change, moves
the session version (every token of the officer ends on its next request)
and records the change in the admin change log, all in one transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Callable

import psycopg

from . import admin_log
from .enrolment import Invitation, fresh_code
from .errors import CasesError
from .officers import Officer, check_roles, now_or, row_officer

_COLUMNS = ("id, tenant, username, display_name, roles, active, session_version, email, enrolled_at, "
            "enrolment_expires_at, created_at, created_by")


@dataclass(frozen=True)
class Account:
    """An account as its administrators see it: never a hash, secret or code."""

    officer: Officer
    email: str | None
    enrolled_at: datetime | None
    enrolment_expires_at: datetime | None
    created_at: datetime
    created_by: str | None

    @property
    def enrolled(self) -> bool:
        return self.enrolled_at is not None

    def own_view(self) -> dict:
        """``GET /officer/me``."""
        o = self.officer
        return {"id": o.id, "tenant": o.tenant, "username": o.username, "display_name": o.display_name,
                "roles": list(o.roles), "email": self.email, "enrolled_at": _iso(self.enrolled_at)}

    def admin_view(self) -> dict:
        o = self.officer
        return {"id": o.id, "tenant": o.tenant, "username": o.username, "display_name": o.display_name,
                "roles": list(o.roles), "email": self.email, "active": o.active, "enrolled": self.enrolled,
                "enrolment_expires_at": _iso(self.enrolment_expires_at), "created_at": self.created_at.isoformat(),
                "created_by": self.created_by}

    def picker_view(self) -> dict:
        o = self.officer
        return {"id": o.id, "username": o.username, "display_name": o.display_name, "roles": list(o.roles)}


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _account(row) -> Account:
    return Account(officer=row_officer(row[:7]), email=row[7], enrolled_at=row[8],
                   enrolment_expires_at=row[9] if row[8] is None else None, created_at=row[10],
                   created_by=str(row[11]) if row[11] else None)


def _uuid(officer_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(officer_id))
    except ValueError:
        raise CasesError("not_found", text="officer_not_found") from None


def account(conn: psycopg.Connection, officer_id: str) -> Account | None:
    with conn.transaction():
        row = conn.execute(f"SELECT {_COLUMNS} FROM officer WHERE id = %s", (_uuid(officer_id),)).fetchone()
    return _account(row) if row else None


def listing(conn: psycopg.Connection, *, tenants: list[str] | None, role: str | None, active: bool | None,
            enrolled_only: bool, page: int, per_page: int) -> tuple[list[Account], int]:
    """A page of accounts by username; ``tenants`` None is every tenant."""
    clauses, params = [], []
    if tenants is not None:
        clauses.append("tenant = ANY(%s)")
        params.append(tenants)
    if role:
        clauses.append("%s = ANY(roles)")
        params.append(role)
    if active is not None:
        clauses.append("active = %s")
        params.append(active)
    if enrolled_only:
        clauses.append("enrolled_at IS NOT NULL")
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    with conn.transaction():
        total = conn.execute(f"SELECT count(*) FROM officer {where}", params).fetchone()[0]
        rows = conn.execute(f"SELECT {_COLUMNS} FROM officer {where} ORDER BY username LIMIT %s OFFSET %s",
                            [*params, per_page, (page - 1) * per_page]).fetchall()
    return [_account(r) for r in rows], total


# -- changes ----------------------------------------------------------------------------------------

Check = Callable[[Officer], None]


def _change(conn, officer_id: str, check: Check, actor_id: str | None, apply) -> Account:
    """Lock the account, ask ``check``, run ``apply(account) -> (kind, details) | None``
    (None: nothing to change), record it; the account as it is afterwards."""
    officer_uuid = _uuid(officer_id)
    with conn.transaction():
        row = conn.execute(f"SELECT {_COLUMNS} FROM officer WHERE id = %s FOR UPDATE", (officer_uuid,)).fetchone()
        if row is None:
            raise CasesError("not_found", text="officer_not_found")
        before = _account(row)
        check(before.officer)
        change = apply(before)
        if change is not None:
            kind, details = change
            admin_log.record(conn, officer_id=actor_id, tenant=before.officer.tenant, kind=kind,
                             subject=before.officer.id, details=details)
        after = conn.execute(f"SELECT {_COLUMNS} FROM officer WHERE id = %s", (officer_uuid,)).fetchone()
    return _account(after)


def deactivate(conn, officer_id: str, check: Check, actor_id: str) -> Account:
    def apply(account: Account):
        if not account.officer.active:
            return None
        conn.execute("UPDATE officer SET active = false, deactivated_at = now(), "
                     "session_version = session_version + 1 WHERE id = %s", (account.officer.id,))
        return "officer_deactivated", {"username": account.officer.username}
    return _change(conn, officer_id, check, actor_id, apply)


def reactivate(conn, officer_id: str, check: Check, actor_id: str) -> Account:
    def apply(account: Account):
        if account.officer.active:
            return None
        conn.execute("UPDATE officer SET active = true, deactivated_at = NULL, failed_logins = 0, "
                     "locked_until = NULL, session_version = session_version + 1 WHERE id = %s",
                     (account.officer.id,))
        return "officer_reactivated", {"username": account.officer.username}
    return _change(conn, officer_id, check, actor_id, apply)


def set_roles(conn, officer_id: str, roles, check: Check, actor_id: str) -> Account:
    roles = check_roles(roles)

    def apply(account: Account):
        if set(roles) == set(account.officer.roles):
            return None
        conn.execute("UPDATE officer SET roles = %s, session_version = session_version + 1 WHERE id = %s",
                     (list(roles), account.officer.id))
        return "roles_changed", {"username": account.officer.username, "from": list(account.officer.roles),
                                 "to": list(roles)}
    return _change(conn, officer_id, check, actor_id, apply)


def set_email(conn, officer_id: str, email: str | None, check: Check, actor_id: str) -> Account:
    """The address notifications write to (None: no e-mail, the console list only)."""
    def apply(account: Account):
        if email == account.email:
            return None
        conn.execute("UPDATE officer SET email = %s WHERE id = %s", (email, account.officer.id))
        return "email_changed", {"username": account.officer.username}  # no address in the log
    return _change(conn, officer_id, check, actor_id, apply)


def reset_factor(conn, totp_key: bytes, officer_id: str, check: Check, actor_id: str | None,
                 now: datetime | None = None, kind: str = "factor_reset") -> tuple[Account, Invitation]:
    """Clear password and TOTP secret and issue a new enrolment code (shown
    once to the administrator): the officer enrols again, choosing both."""
    now = now_or(now)
    issued: list[Invitation] = []

    def apply(account: Account):
        invitation, hashed = fresh_code(totp_key, account.officer.id, now)
        conn.execute("UPDATE officer SET password_hash = NULL, totp_secret_enc = NULL, totp_last_step = 0, "
                     "enrolled_at = NULL, enrolment_code_hash = %s, enrolment_expires_at = %s, failed_logins = 0, "
                     "locked_until = NULL, session_version = session_version + 1 WHERE id = %s",
                     (hashed, invitation.expires_at, account.officer.id))
        issued.append(invitation)
        return kind, {"username": account.officer.username}
    return _change(conn, officer_id, check, actor_id, apply), issued[0]
