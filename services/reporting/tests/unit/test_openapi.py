"""The OpenAPI document names every route the service serves, with the
contract's parameters, reply schemas and every status code it answers."""

from __future__ import annotations

import json

from peluit_contracts.statistics import ExportQuery, ProvinceExportQuery, ProvinceQuery, PublicQuery, StatsQuery
from peluit_reporting.openapi import EXPORTS, OPENAPI
from peluit_common.web import QuietHttpRequestHandler
from peluit_reporting.service import ReportingService


def routes() -> set[str]:
    out = set()
    for entrypoint in ReportingService.__dict__.values():
        for ext in getattr(entrypoint, "nameko_entrypoints", ()):
            if not isinstance(ext, QuietHttpRequestHandler):
                continue  # timers
            url = ext.url
            out |= {url.replace("<string:fmt>", fmt) for fmt in EXPORTS} if "<string:fmt>" in url else {url}
    return out


def test_every_route_is_documented():
    assert routes() == set(OPENAPI["paths"])
    assert OPENAPI["openapi"] == "3.1.0"
    json.dumps(OPENAPI)  # served as is


def test_parameters_come_from_the_contract():
    for path, schema in [("/api/v1/stats", StatsQuery), ("/api/v1/stats/province", ProvinceQuery),
                         ("/api/v1/stats/export.pdf", ExportQuery), ("/api/v1/public/stats", PublicQuery),
                         ("/api/v1/stats/province/export.xlsx", ProvinceExportQuery)]:
        params = {p["name"]: p for p in OPENAPI["paths"][path]["get"]["parameters"]}
        assert set(params) == {f.data_key or name for name, f in schema().fields.items()}
        assert all(p["in"] == "query" and not p["required"] for p in params.values())
    month = {p["name"]: p for p in OPENAPI["paths"]["/api/v1/stats"]["get"]["parameters"]}["to"]["schema"]
    assert month["pattern"].startswith("^") and month["pattern"].endswith("$") and month["maxLength"] == 7


def test_every_status_and_content_type():
    ops = {path: item["get"] for path, item in OPENAPI["paths"].items()}
    officer = [path for path, op in ops.items() if op.get("security")]
    exports = [f"/api/v1/stats{scope}/export.{f}" for scope in ("", "/province") for f in EXPORTS]
    assert set(officer) == {"/api/v1/stats", "/api/v1/stats/province", *exports}
    for path in officer:
        assert set(ops[path]["responses"]) == {"200", "400", "401", "403", "503"}, path  # 503: no session check
    assert set(ops["/api/v1/public/stats"]["responses"]) == {"200", "400"}
    for fmt, (mime, _) in EXPORTS.items():
        for scope in ("", "/province"):
            assert list(ops[f"/api/v1/stats{scope}/export.{fmt}"]["responses"]["200"]["content"]) == [mime]
    schemas = OPENAPI["components"]["schemas"]
    assert schemas["TenantStats"]["additionalProperties"] is False
    assert "tenant" in schemas["TenantStats"]["required"] and "timings" in schemas["Figures"]["required"]
    assert schemas["Timing"]["properties"]["median_days"]["type"] == ["number", "null"]
    assert {"error"} == set(schemas["ErrorReply"]["required"])
