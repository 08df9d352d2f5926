"""Who may see and do what: the tenant walls, audit grants and the rules for
creating officers, in one place.

Officers see what their own Inspektorat handles (for the province: what was
escalated or forwarded to it); auditors only what a live grant names. A case
outside the actor's reach is ``not_found`` exactly like a missing one, and
the attempt lands in the case's access log. The rules read officers, tenants
and grants through a ``Directory`` (PostgreSQL in the service, a fake in the
unit tests).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from .domain import Case, DomainError
from .errors import CasesError
from .officers import Officer, get_officer

# a tenant admin staffs its own Inspektorat; only the province creates admins
ADMIN_GRANTABLE = {
    "tenant_admin": frozenset({"penerima", "penelaah", "investigator", "inspektur", "auditor"}),
    "province_admin": frozenset({"penerima", "penelaah", "investigator", "inspektur", "auditor", "tenant_admin",
                                 "province_admin"}),
}


class AccessDenied(CasesError):
    """``not_found`` (a case, attachment or request outside the actor's reach
    looks missing) or ``forbidden`` (the role may not do this)."""


def case_not_found() -> AccessDenied:
    return AccessDenied("not_found", text="case_not_found")


def forbidden(text: str = "officer_forbidden") -> AccessDenied:
    return AccessDenied("forbidden", text=text)


@dataclass(frozen=True)
class Actor:
    """The officer acting, as the token says (built from ``OfficerClaims`` at the edge)."""

    officer_id: str
    username: str
    tenant: str
    roles: tuple[str, ...]

    @classmethod
    def from_claims(cls, claims) -> Actor:
        return cls(officer_id=claims.officer_id, username=claims.username, tenant=claims.tenant,
                   roles=tuple(claims.roles))

    def has_role(self, *roles: str) -> bool:
        return any(role in self.roles for role in roles)

    def record(self) -> dict:
        """The ``actor`` that workflow events record."""
        return {"officer_id": self.officer_id, "username": self.username, "roles": list(self.roles),
                "tenant": self.tenant}


class Directory(Protocol):
    """Officers, tenants and audit grants as cases keeps them."""

    def officer(self, officer_id: str) -> Officer | None: ...

    def tenant_exists(self, code: str) -> bool: ...

    def parent_tenant(self, code: str) -> str | None: ...

    def granted_tenants(self, officer_id: str) -> set[str]: ...

    def add_grant(self, officer_id: str, tenant: str, days: int, reason: str, granted_by: str) -> None: ...


class Access:
    """The walls for one request: the case application (for the access log)
    and the directory."""

    def __init__(self, app, directory: Directory):
        self.app, self.directory = app, directory

    def tenants(self, actor: Actor) -> list[str]:
        """The handling tenants whose cases the actor may read."""
        tenants = set()
        if set(actor.roles) - {"auditor"}:
            tenants.add(actor.tenant)
        if actor.has_role("auditor"):
            tenants |= self.directory.granted_tenants(actor.officer_id)
        return sorted(tenants)

    def case(self, actor: Actor, case_id: str | UUID, action: str) -> Case:
        """The case, or ``not_found`` indistinguishable from a missing case;
        both the read and a refused attempt land in the case's access log."""
        try:
            case = self.app.get_case(case_id if isinstance(case_id, UUID) else UUID(case_id))
        except (ValueError, DomainError):
            raise case_not_found() from None
        allowed = case.handling_tenant in self.tenants(actor)
        self.app.record_access(case.id, actor.officer_id, actor.tenant, list(actor.roles), action, allowed)
        if not allowed:
            raise case_not_found()
        return case

    @staticmethod
    def require(actor: Actor, roles) -> None:
        if not set(actor.roles) & set(roles):
            raise forbidden()

    def require_export(self, actor: Actor, case: Case) -> None:
        """Audit bundles are for auditors with a live grant for the case's tenant."""
        if not (actor.has_role("auditor") and case.handling_tenant in self.directory.granted_tenants(actor.officer_id)):
            raise forbidden("auditors_only")

    def require_disclosure_trail(self, actor: Actor, tenant: str) -> None:
        """The vault's disclosure trail of a tenant: auditors with a live grant
        for it, the tenant's own inspektur."""
        audited = actor.has_role("auditor") and tenant in self.directory.granted_tenants(actor.officer_id)
        own = actor.has_role("inspektur") and tenant == actor.tenant
        if not (audited or own):
            raise forbidden()

    def disclosure_list_scope(self, actor: Actor, tenant: str) -> bool:
        """Who lists a tenant's disclosure requests: an auditor with a live grant
        for it (True: the vault shows every request), or an inspektur or
        investigator of the tenant (False: the vault shows an inspektur every
        request, a requester their own); anyone else is refused."""
        if actor.has_role("auditor") and tenant in self.directory.granted_tenants(actor.officer_id):
            return True
        if tenant == actor.tenant and actor.has_role("inspektur", "investigator"):
            return False
        raise forbidden()

    def require_officer_creation(self, actor: Actor, tenant: str, roles) -> None:
        """A tenant admin staffs its own tenant, the province admin any; the tenant must exist."""
        allowed: frozenset[str] = frozenset()
        if actor.has_role("province_admin"):
            allowed = ADMIN_GRANTABLE["province_admin"]
        elif actor.has_role("tenant_admin") and tenant == actor.tenant:
            allowed = ADMIN_GRANTABLE["tenant_admin"]
        if not roles or not set(roles) <= allowed:
            raise forbidden()
        if not self.directory.tenant_exists(tenant):
            raise DomainError("unknown_tenant")

    def grant_audit(self, actor: Actor, officer_id: str, tenant: str, days: int, reason: str) -> None:
        """The province admin grants an existing auditor read access to an existing tenant."""
        self.require(actor, {"province_admin"})
        grantee = self.directory.officer(officer_id)
        if grantee is None:
            raise DomainError("unknown_officer")
        if "auditor" not in grantee.roles:
            raise DomainError("grantee_not_auditor")
        if not self.directory.tenant_exists(tenant):
            raise DomainError("unknown_tenant")
        self.directory.add_grant(officer_id, tenant, days, reason, actor.officer_id)


# -- the service's directory: tables in the cases database -------------------------------------

AUDIT_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_grant (
    id bigserial PRIMARY KEY,
    officer_id uuid NOT NULL,
    tenant text NOT NULL,
    expires_at timestamptz NOT NULL,
    reason text NOT NULL,
    granted_by uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
"""


def migrate(conn) -> None:
    with conn.transaction():
        conn.execute(AUDIT_SCHEMA)


class PgDirectory:
    """``Directory`` on one connection of the service's pool (each call its own transaction)."""

    def __init__(self, conn):
        self.conn = conn

    def _one(self, query: str, params: tuple):
        with self.conn.transaction():
            return self.conn.execute(query, params).fetchone()

    def officer(self, officer_id: str) -> Officer | None:
        return get_officer(self.conn, officer_id)

    def tenant_exists(self, code: str) -> bool:
        return self._one("SELECT 1 FROM tenant WHERE code = %s", (code,)) is not None

    def parent_tenant(self, code: str) -> str | None:
        row = self._one("SELECT parent_code FROM tenant WHERE code = %s", (code,))
        return row[0] if row else None

    def granted_tenants(self, officer_id: str) -> set[str]:
        try:
            officer_uuid = UUID(officer_id)
        except ValueError:
            return set()
        with self.conn.transaction():
            rows = self.conn.execute("SELECT DISTINCT tenant FROM audit_grant WHERE officer_id = %s"
                                     " AND expires_at > now()", (officer_uuid,)).fetchall()
        return {r[0] for r in rows}

    def add_grant(self, officer_id: str, tenant: str, days: int, reason: str, granted_by: str) -> None:
        with self.conn.transaction():
            self.conn.execute(
                "INSERT INTO audit_grant (officer_id, tenant, expires_at, reason, granted_by)"
                " VALUES (%s, %s, now() + make_interval(days => %s), %s, %s)",
                (UUID(officer_id), tenant, days, reason, UUID(granted_by)))
