"""Who may see and do what: the tenant walls, audit grants and the rules for
administering officers and tenants, in one place.

Officers see what their own Inspektorat handles (for the province: what was
escalated or forwarded to it); auditors only what a live grant names. A case
outside the actor's reach, or one the actor recused from, is ``not_found``
exactly like a missing one, and the attempt lands in the case's access log. The rules read officers, tenants
and grants through a ``Directory`` (PostgreSQL in the service, a fake in the
unit tests).

Administration: a province admin administers every tenant, a tenant admin
its own and never an admin account or an admin role; nobody administers
their own account (deactivate, roles, factor reset): another admin must.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from . import audit_grants
from .domain import Case, DomainError
from .errors import CasesError
from .officers import Officer, check_roles, get_officer

ADMIN_ROLES = frozenset({"tenant_admin", "province_admin"})
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

    def add_grant(self, officer_id: str, tenant: str, days: int, reason: str, granted_by: str) -> int: ...


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

    def case(self, actor: Actor, case_id: str | UUID, action: str, require=None) -> Case:
        """The case, or ``not_found`` indistinguishable from a missing case
        (another tenant's, or one the actor recused from: need to know); both
        the read and a refused attempt land in the case's access log."""
        try:
            case = self.app.get_case(case_id if isinstance(case_id, UUID) else UUID(case_id))
        except (ValueError, DomainError):
            raise case_not_found() from None
        visible = case.handling_tenant in self.tenants(actor) and actor.officer_id not in case.recused
        refusal = None
        if visible and require is not None:
            try:
                require(actor, case)  # ``require(actor, case)`` raises AccessDenied: logged as refused too
            except AccessDenied as err:
                refusal = err
        self.app.record_access(case.id, actor.officer_id, actor.tenant, list(actor.roles), action,
                               visible and refusal is None)
        if not visible:
            raise case_not_found()
        if refusal is not None:
            raise refusal
        return case

    @staticmethod
    def require(actor: Actor, roles) -> None:
        if not set(actor.roles) & set(roles):
            raise forbidden()

    def require_export(self, actor: Actor, case: Case) -> None:
        """Audit bundles are for auditors with a live grant for the case's tenant."""
        if not (actor.has_role("auditor") and case.handling_tenant in self.directory.granted_tenants(actor.officer_id)):
            raise forbidden("auditors_only")

    @staticmethod
    def require_disclosure_requester(actor: Actor, case: Case) -> None:
        """A disclosure is requested by the case's investigation team or the
        tenant's inspektur only (need to know), after ``case`` let them in."""
        on_team = bool(case.investigation) and actor.officer_id in case.investigation["team"]
        own_inspektur = actor.has_role("inspektur") and actor.tenant == case.handling_tenant
        if not ((on_team and actor.has_role("investigator")) or own_inspektur):
            raise forbidden("disclosure_requester_only")

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
        check_roles(roles)  # unknown role names are a 422 that lists the valid ones
        if not set(roles) <= grantable(actor, tenant):
            raise forbidden()
        if not self.directory.tenant_exists(tenant):
            raise DomainError("unknown_tenant")

    def grant_audit(self, actor: Actor, officer_id: str, tenant: str, days: int, reason: str) -> int:
        """The province admin grants an existing auditor read access to an existing tenant; the grant's id."""
        self.require(actor, {"province_admin"})
        grantee = self.directory.officer(officer_id)
        if grantee is None:
            raise DomainError("unknown_officer")
        if "auditor" not in grantee.roles:
            raise DomainError("grantee_not_auditor")
        if not self.directory.tenant_exists(tenant):
            raise DomainError("unknown_tenant")
        return self.directory.add_grant(officer_id, tenant, days, reason, actor.officer_id)

    def admin_change_tenants(self, actor: Actor, tenant: str | None) -> list[str] | None:
        """Whose admin change log the actor may read (None: every tenant): admins
        of their scope, auditors the tenants of their live grants."""
        if actor.has_role("province_admin"):
            return [tenant] if tenant else None
        allowed = set(self.directory.granted_tenants(actor.officer_id)) if actor.has_role("auditor") else set()
        if actor.has_role("tenant_admin"):
            allowed.add(actor.tenant)
        if tenant is not None:
            allowed &= {tenant}
        if not allowed:
            raise forbidden()
        return sorted(allowed)


# -- administration: plain rules on the actor and the account as it is ---------------------------

def administers(actor: Actor, tenant: str) -> bool:
    """The province admin administers every tenant, a tenant admin its own."""
    return actor.has_role("province_admin") or (actor.has_role("tenant_admin") and tenant == actor.tenant)


def grantable(actor: Actor, tenant: str) -> frozenset[str]:
    """The roles the actor may give an officer of ``tenant`` (none outside its scope)."""
    if actor.has_role("province_admin"):
        return ADMIN_GRANTABLE["province_admin"]
    if actor.has_role("tenant_admin") and tenant == actor.tenant:
        return ADMIN_GRANTABLE["tenant_admin"]
    return frozenset()


def require_officer_admin(actor: Actor, target: Officer, roles=None) -> None:
    """The actor may deactivate, reactivate, reset (and with ``roles``: give
    those roles to) ``target``: never itself, a tenant admin never an admin."""
    if target.id == actor.officer_id:
        raise forbidden("not_on_yourself")
    allowed = grantable(actor, target.tenant)
    if not allowed or not set(target.roles) <= allowed:
        raise forbidden()
    if roles is not None and not set(roles) <= allowed:
        raise forbidden()


def officer_admin_check(actor: Actor, roles=None):
    """``require_officer_admin`` for ``officer_admin``'s changes, asked on the locked account."""
    return lambda target: require_officer_admin(actor, target, roles)


def officer_listing(actor: Actor, tenant: str | None) -> tuple[list[str] | None, bool]:
    """``(tenants, admin view)`` of ``GET /officers``: admins see their scope
    in full (None: every tenant); every other officer only its own tenant's
    active, enrolled officers by name and roles (the team picker)."""
    if actor.has_role("province_admin"):
        return ([tenant] if tenant else None), True
    if tenant not in (None, actor.tenant):
        raise forbidden()
    return [actor.tenant], actor.has_role("tenant_admin")


def require_tenant_admin(actor: Actor, tenant: str) -> None:
    """Tenant settings: the tenant's own admin, or the province admin."""
    if not administers(actor, tenant):
        raise forbidden()


def grant_listing(actor: Actor) -> str | None:
    """Audit grants: the province admin sees all (None), an auditor its own (its id)."""
    if actor.has_role("province_admin"):
        return None
    if actor.has_role("auditor"):
        return actor.officer_id
    raise forbidden()


# -- the service's directory: tables in the cases database -------------------------------------

def migrate(conn) -> None:
    audit_grants.migrate(conn)


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
        return audit_grants.granted_tenants(self.conn, officer_id)

    def add_grant(self, officer_id: str, tenant: str, days: int, reason: str, granted_by: str) -> int:
        return audit_grants.add(self.conn, officer_id, tenant, days, reason, granted_by)
