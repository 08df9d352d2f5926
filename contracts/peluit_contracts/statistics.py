"""The statistics API's public HTTP contract (reporting, v1): the query
parameters each operation accepts and the replies it gives. Reporting parses
requests with the query schemas and documents both in its OpenAPI document."""

from __future__ import annotations

from datetime import date

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from .fields import Int, Pattern, Strict
from .i18n import encode
from .replies import BilingualText
from .reports import tenant_field

FIRST_YEAR, LAST_YEAR = 2000, 2100
# YYYY-MM with a year FIRST_YEAR..LAST_YEAR (ASCII digits: a year 0000 is no month)
MONTH = r"(20[0-9]{2}|2100)-(0[1-9]|1[0-2])"
MAX_MONTHS = 120  # the longest period one request may ask for
SMALL_CELL = 5  # public counts below it are shown as "<5"


def month_of(value: str) -> date:
    """The first day of a month matching ``MONTH``."""
    return date(int(value[:4]), int(value[5:7]), 1)


# -- query parameters ---------------------------------------------------------

class _Period(Strict):
    from_ = Pattern(MONTH, "stats_month", data_key="from", max_len=7,
                    metadata={"description": "First registration month, YYYY-MM (default: January of this year)"})
    to = Pattern(MONTH, "stats_month", max_len=7,
                 metadata={"description": "Last registration month, YYYY-MM (default: this month, or from)"})

    @validates_schema
    def _order(self, data, **kwargs):
        if "from_" in data and "to" in data:
            start, end = month_of(data["from_"]), month_of(data["to"])
            months = (end.year - start.year) * 12 + end.month - start.month
            if months < 0 or months >= MAX_MONTHS:
                raise ValidationError({"to": [encode("stats_period")]})


class StatsQuery(_Period):
    """``GET /api/v1/stats``: one tenant's statistics (default: the officer's own)."""

    tenant = tenant_field(metadata={"description": "Region code of the tenant (default: the officer's own)"})


def _province_field():
    return Pattern(r"[0-9]{2}", "tenant_code", max_len=2,
                   metadata={"description": "Province code (default: the officer's own)"})


def _year_field():
    return Int(validate=validate.Range(min=FIRST_YEAR, max=LAST_YEAR, error="invalid"),
               metadata={"description": "Registration year (default: this year)"})


class ProvinceQuery(_Period):
    """``GET /api/v1/stats/province``: the province overview."""

    province = _province_field()


class ExportQuery(Strict):
    """``GET /api/v1/stats/export.{csv,xlsx,pdf}``: a tenant-year's laporan berkala."""

    tenant = tenant_field(metadata={"description": "Region code of the tenant (default: the officer's own)"})
    year = _year_field()


class ProvinceExportQuery(Strict):
    """``GET /api/v1/stats/province/export.{csv,xlsx,pdf}``: a province-year's laporan berkala."""

    province = _province_field()
    year = _year_field()


class PublicQuery(ExportQuery):
    """``GET /api/v1/public/stats``: public transparency statistics (no login)."""


# -- replies --------------------------------------------------------------------

class _Reply(Schema):
    class Meta:
        unknown = RAISE  # documented as additionalProperties: false: every key of a reply is named here


def _counts(description: str) -> fields.Dict:
    return fields.Dict(keys=fields.String(), values=fields.Integer(), required=True,
                       metadata={"description": description})


class Period(_Reply):
    from_ = fields.String(required=True, data_key="from", metadata={"description": "YYYY-MM"})
    to = fields.String(required=True, metadata={"description": "YYYY-MM"})


class Timing(_Reply):
    count = fields.Integer(required=True, metadata={"description": "Cases of the period that reached the step"})
    median_days = fields.Float(required=True, allow_none=True)
    p90_days = fields.Float(required=True, allow_none=True)


class Timings(_Reply):
    acknowledge = fields.Nested(Timing, required=True, metadata={"description": "Registration to first response"})
    verify = fields.Nested(Timing, required=True, metadata={"description": "Registration to end of verification"})
    close = fields.Nested(Timing, required=True, metadata={"description": "Registration to selesai"})


class DeadlineCompliance(_Reply):
    pack = fields.String(required=True)
    rule = fields.String(required=True)
    total = fields.Integer(required=True)
    met = fields.Integer(required=True)
    missed = fields.Integer(required=True)
    compliance = fields.Float(required=True, metadata={"description": "met / total"})


class RuleCount(_Reply):
    rule = fields.String(required=True)
    count = fields.Integer(required=True)


class ForwardedCount(_Reply):
    destination_kind = fields.String(required=True)
    destination = fields.String(required=True)
    count = fields.Integer(required=True)


class SanctionCount(_Reply):
    level = fields.String(required=True)
    count = fields.Integer(required=True)


class Figures(_Reply):
    """The figures of cases registered in the period, of one tenant or several together."""

    period = fields.Nested(Period, required=True)
    tenants = fields.List(fields.String(), required=True)
    total = fields.Integer(required=True)
    by_status = _counts("Cases per current status")
    by_category = _counts("Cases per category")
    by_channel = _counts("Cases per channel")
    by_month = _counts("Cases per registration month (YYYY-MM)")
    timings = fields.Nested(Timings, required=True)
    deadlines = fields.List(fields.Nested(DeadlineCompliance), required=True,
                            metadata={"description": "Compliance of the cases that ended in the period"})
    breaches = fields.List(fields.Nested(RuleCount), required=True,
                           metadata={"description": "Deadlines noticed as breached in the period"})
    forwarded = fields.List(fields.Nested(ForwardedCount), required=True)
    sanctions = fields.List(fields.Nested(SanctionCount), required=True)


class TenantStats(Figures):
    """``GET /api/v1/stats`` reply."""

    tenant = fields.String(required=True)


class ProvinceTenantLine(_Reply):
    tenant = fields.String(required=True)
    total = fields.Integer(required=True)
    by_status = _counts("Cases per current status")
    timings = fields.Nested(Timings, required=True)


class ProvinceOverview(_Reply):
    """``GET /api/v1/stats/province`` reply."""

    province = fields.String(required=True)
    overall = fields.Nested(Figures, required=True)
    tenants = fields.List(fields.Nested(ProvinceTenantLine), required=True)


class PublicCell(_Reply):
    tenant = fields.String(required=True)
    year = fields.Integer(required=True)
    category = fields.String(required=True)
    status = fields.String(required=True)
    count = fields.Raw(required=True, metadata={
        "description": f"The count, or \"<{SMALL_CELL}\" for 1 to {SMALL_CELL - 1}",
        "oneOf": [{"type": "integer", "minimum": SMALL_CELL}, {"type": "string", "enum": [f"<{SMALL_CELL}"]}]})


class PublicStats(_Reply):
    """``GET /api/v1/public/stats`` reply."""

    counts = fields.List(fields.Nested(PublicCell), required=True)
    small_cell_threshold = fields.Integer(required=True)
    rule = fields.Nested(BilingualText, required=True)
