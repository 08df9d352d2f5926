"""OpenAPI 3.1 description of the statistics API (served at /api/v1/openapi.json),
generated from the contract's marshmallow schemas (``peluit_contracts.statistics``)
with every status code each operation can answer; the schemathesis system test
holds the service to it."""

from __future__ import annotations

from peluit_common.openapi import BEARER, JSON, error, new_spec
from peluit_contracts.statistics import (ExportQuery, ProvinceExportQuery, ProvinceOverview, ProvinceQuery,
                                         PublicQuery, PublicStats, StatsQuery, TenantStats)

# the exports' media types (the service answers with these)
EXPORTS = {
    "csv": ("text/csv", "CSV, UTF-8: bagian, kode, nilai"),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "Excel workbook"),
    "pdf": ("application/pdf", "PDF with charts and tables, in Bahasa Indonesia"),
}
PROVINCE_EXPORTS = {
    "csv": "CSV, UTF-8: lingkup, bagian, kode, nilai (lingkup \"provinsi\": the province's totals; a tenant code: "
           "that tenant's total, statuses and timings)",
    "xlsx": "Excel workbook: sheet \"Ringkasan\" (the province's totals), sheet \"Per Inspektorat\" (one row per "
            "tenant)",
    "pdf": "PDF in Bahasa Indonesia: the province's totals with charts and tables, then one line per tenant",
}


BAD_PARAMETERS = error("Invalid or unknown parameters (bilingual, field by field)")
NO_TOKEN = error("Missing, invalid or expired officer token, or the officer's session ended (`session_ended`)")
FORBIDDEN = error("The officer's tenant and roles do not reach these statistics")
NO_SESSION = error("The officer's session cannot be checked with cases right now (`session_unavailable`); try again")


def _officer_operation(summary: str, query, ok: dict) -> dict:
    return {"summary": summary, "security": BEARER, "parameters": [{"in": "query", "schema": query}],
            "responses": {"200": ok, "400": BAD_PARAMETERS, "401": NO_TOKEN, "403": FORBIDDEN, "503": NO_SESSION}}


def _export(fmt: str, summary: str, query, description: str) -> dict:
    return {"get": _officer_operation(
        f"{summary} as {fmt.upper()}", query,
        {"description": description, "headers": {"Content-Disposition": {
            "schema": {"type": "string"}, "description": "attachment; filename=..."}},
         "content": {EXPORTS[fmt][0]: {"schema": {"type": "string", "format": "binary"}}}})}


def build() -> dict:
    spec = new_spec("Peluit statistics API", "Officer statistics and exports (officer token), and public "
                    "transparency statistics with small-cell suppression (no login). Figures only: no report text, "
                    "no identity.")
    for schema in (TenantStats, ProvinceOverview, PublicStats):
        spec.components.schema(schema.__name__, schema=schema)
    spec.path("/api/v1/stats", operations={"get": _officer_operation(
        "One tenant's statistics for a period of registration months (default: the officer's tenant)", StatsQuery,
        {"description": "The figures", "content": {JSON: {"schema": "TenantStats"}}})})
    spec.path("/api/v1/stats/province", operations={"get": _officer_operation(
        "The province's totals and one line per tenant (province inspektur or province_admin)", ProvinceQuery,
        {"description": "The overview", "content": {JSON: {"schema": "ProvinceOverview"}}})})
    for fmt, (_, description) in EXPORTS.items():
        spec.path(f"/api/v1/stats/export.{fmt}", operations=_export(
            fmt, "A tenant-year's laporan berkala (inspektur, penelaah, tenant_admin; the province)", ExportQuery,
            description))
    for fmt, description in PROVINCE_EXPORTS.items():
        spec.path(f"/api/v1/stats/province/export.{fmt}", operations=_export(
            fmt, "A province-year's laporan berkala: its totals and one line per tenant (province inspektur or "
            "province_admin)", ProvinceExportQuery, description))
    spec.path("/api/v1/public/stats", operations={"get": {
        "summary": "Public transparency statistics: cells below the threshold shown as \"<5\", no margins",
        "security": [], "parameters": [{"in": "query", "schema": PublicQuery}],
        "responses": {"200": {"description": "The published cells", "content": {JSON: {"schema": "PublicStats"}}},
                      "400": BAD_PARAMETERS}}})
    spec.path("/api/v1/openapi.json", operations={"get": {
        "summary": "This document", "security": [],
        "responses": {"200": {"description": "OpenAPI 3.1", "content": {JSON: {"schema": {"type": "object"}}}}}}})
    return spec.to_dict()


OPENAPI = build()
