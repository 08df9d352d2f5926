"""Who may see which statistics (apart from nameko).

* A tenant's statistics: its inspektur, penelaah and tenant_admin.
* Any tenant of a province (and the province overview): officers of the
  province tenant (a code without a dot) holding inspektur or province_admin.
* Everybody else: 403; no token: 401 (``peluit_common.auth``).
"""

from __future__ import annotations

from peluit_common.auth import OfficerClaims
from peluit_common.web import HttpError

TENANT_ROLES = {"inspektur", "penelaah", "tenant_admin"}
PROVINCE_ROLES = {"inspektur", "province_admin"}


def is_province(code: str) -> bool:
    return "." not in code


def may_see_tenant(claims: OfficerClaims, tenant: str) -> bool:
    if claims.tenant == tenant and set(claims.roles) & TENANT_ROLES:
        return True
    return (is_province(claims.tenant) and bool(set(claims.roles) & PROVINCE_ROLES)
            and (tenant == claims.tenant or tenant.startswith(claims.tenant + ".")))


def require_tenant(claims: OfficerClaims, tenant: str | None) -> str:
    tenant = tenant or claims.tenant
    if not may_see_tenant(claims, tenant):
        raise HttpError(403, "forbidden", text="stats_forbidden")
    return tenant


def require_province(claims: OfficerClaims, province: str | None) -> str:
    province = province or claims.tenant
    if not (is_province(claims.tenant) and claims.tenant == province and set(claims.roles) & PROVINCE_ROLES):
        raise HttpError(403, "forbidden", text="stats_forbidden")
    return province
