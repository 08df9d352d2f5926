"""Query parameters and who may see which statistics (apart from nameko).

* A tenant's statistics: its inspektur, penelaah and tenant_admin.
* Any tenant of a province (and the province overview): officers of the
  province tenant (a code without a dot) holding inspektur or province_admin.
* Everybody else: 403; no token: 401 (``peluit_common.auth``).
"""

from __future__ import annotations

from datetime import date, datetime

from marshmallow import ValidationError, validate, validates_schema

from peluit_common.auth import OfficerClaims
from peluit_common.web import HttpError
from peluit_contracts.fields import Int, Pattern, Strict
from peluit_contracts.i18n import bilingual_errors, encode
from peluit_contracts.reports import tenant_field

TENANT_ROLES = {"inspektur", "penelaah", "tenant_admin"}
PROVINCE_ROLES = {"inspektur", "province_admin"}
MAX_MONTHS = 120

FORBIDDEN = {"id": "Anda tidak berwenang melihat statistik Inspektorat ini.",
             "en": "You are not allowed to see this Inspektorat's statistics."}
INVALID = {"id": "Periksa kembali parameter: tenant berupa kode wilayah (35.73), from/to berformat YYYY-MM, "
                 "year antara 2000 dan 2100.",
           "en": "Please check the parameters: tenant is a region code (35.73), from/to are YYYY-MM, "
                 "year is between 2000 and 2100."}

MONTH = r"\d{4}-(0[1-9]|1[0-2])"


class _Period(Strict):
    from_ = Pattern(MONTH, "invalid", data_key="from", max_len=7)
    to = Pattern(MONTH, "invalid", max_len=7)

    @validates_schema
    def _order(self, data, **kwargs):
        if "from_" in data and "to" in data:
            start, end = _month(data["from_"]), _month(data["to"])
            months = (end.year - start.year) * 12 + end.month - start.month
            if months < 0 or months >= MAX_MONTHS:
                raise ValidationError({"to": [encode("invalid")]})


class StatsQuery(_Period):
    tenant = tenant_field()


class ProvinceQuery(_Period):
    province = Pattern(r"\d{2}", "tenant_code", max_len=2)


class ExportQuery(Strict):
    tenant = tenant_field()
    year = Int(validate=validate.Range(min=2000, max=2100, error="invalid"))


class PublicQuery(ExportQuery):
    pass


def _month(value: str) -> date:
    return date(int(value[:4]), int(value[5:7]), 1)


def parse(schema, request) -> dict:
    try:
        return schema().load(request.args.to_dict())
    except ValidationError as err:
        raise HttpError(400, "validation_failed", INVALID, bilingual_errors(err.messages)) from None


def period(args: dict, today: date | None = None) -> tuple[date, date]:
    """``from``/``to`` months; defaults: January of this year to this month."""
    today = today or datetime.now().date()
    start = _month(args["from_"]) if "from_" in args else date(today.year, 1, 1)
    end = _month(args["to"]) if "to" in args else max(start, today.replace(day=1))
    if end < start:
        raise HttpError(400, "validation_failed", INVALID, bilingual_errors({"to": [encode("invalid")]}))
    return start, end


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
        raise HttpError(403, "forbidden", FORBIDDEN)
    return tenant


def require_province(claims: OfficerClaims, province: str | None) -> str:
    province = province or claims.tenant
    if not (is_province(claims.tenant) and claims.tenant == province and set(claims.roles) & PROVINCE_ROLES):
        raise HttpError(403, "forbidden", FORBIDDEN)
    return province
