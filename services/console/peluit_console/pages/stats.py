"""Statistics: a tenant's dashboard and the province overview from the
statistics API, each figure as a server-drawn bar chart with its data table,
a period picker, and the laporan berkala downloads (CSV, XLSX, PDF) passed
through from reporting."""

from __future__ import annotations

import datetime as dt

from marshmallow import ValidationError
from werkzeug.wrappers import Response

from peluit_common.charts import Bar, bar_chart
from peluit_common.web import SECURITY_HEADERS
from peluit_contracts.i18n import bilingual_errors
from peluit_contracts.statistics import ProvinceQuery, StatsQuery

from ..web import Page, PageError, View
from .common import catalogue, category_names, label, tenant_names

FORMATS = ("csv", "xlsx", "pdf")


def _period(page: Page, schema, scope: str) -> tuple[dict, dict]:
    """The asked period (and tenant or province) checked by the statistics contract."""
    args = page.request.args
    asked = {"from": (args.get("from") or "").strip()[:7], "to": (args.get("to") or "").strip()[:7],
             scope: (args.get(scope) or "").strip()[:5]}
    try:
        schema().load({k: v for k, v in asked.items() if v})
    except ValidationError as err:
        errors = page.field_errors(bilingual_errors(err.messages))
        return asked, {("from" if k == "from_" else k): v for k, v in errors.items()}
    return asked, {}


def _charts(page: Page, figures: dict, tenant: str | None) -> list[dict]:
    categories = category_names(page, tenant)
    sources = (
        ("status", "chart_status", figures.get("by_status", {}), page.status_label),
        ("category", "chart_category", figures.get("by_category", {}), lambda c: categories.get(c, c)),
        ("channel", "chart_channel", figures.get("by_channel", {}), lambda c: label(page, "channel", c)),
        ("month", "chart_month", figures.get("by_month", {}), lambda m: m),
    )
    out = []
    for key, title_key, counts, name in sources:
        rows = [(name(code), n) for code, n in (sorted(counts.items()) if key == "month" else
                                                sorted(counts.items(), key=lambda c: -c[1]))]
        out.append(_chart(f"chart-{key}", page.t(title_key), rows))
    return out


def _chart(chart_id: str, title: str, rows: list) -> dict:
    return {"id": chart_id, "title": title, "rows": rows,
            "svg": bar_chart([Bar(name, n) for name, n in rows], title=title, chart_id=chart_id)}


def _tables(page: Page, figures: dict) -> dict:
    timings = figures.get("timings") or {}
    return {
        "timings": [(page.t(f"timing_{k}"), timings[k]) for k in ("acknowledge", "verify", "close") if k in timings],
        "deadlines": figures.get("deadlines") or [], "breaches": figures.get("breaches") or [],
        "forwarded": figures.get("forwarded") or [],
        "sanctions": [(label(page, "level", s.get("level")), s.get("count", 0)) for s in figures.get("sanctions") or []],
    }


def tenant_dashboard(page: Page) -> View:
    asked, errors = _period(page, StatsQuery, "tenant")
    figures = None if errors else page.api.tenant_stats(asked["tenant"] or None, asked["from"] or None,
                                                         asked["to"] or None)
    tenant = (figures or {}).get("tenant") or asked["tenant"] or page.officer.tenant
    year = int(((figures or {}).get("period") or {}).get("from", str(dt.date.today().year))[:4])
    return View("stats.html", {
        "page": "statistik", "asked": asked, "errors": errors, "figures": figures, "tenant": tenant,
        "tenant_name": tenant_names(page).get(tenant, tenant), "tenants": _tenant_choices(page),
        "charts": _charts(page, figures, tenant) if figures else [], **(_tables(page, figures) if figures else {}),
        "downloads": [(fmt.upper(), page.url(f"/statistik/unduh/{fmt}", tenant=tenant, year=year)) for fmt in FORMATS],
        "year": year}, 400 if errors else 200)


def _tenant_choices(page: Page) -> list[tuple[str, str]]:
    """The officer's own tenant; for a province officer, every tenant of the province too."""
    own = page.officer.tenant
    return [(t["code"], f"{t['name']} ({t['code']})") for t in catalogue(page).get("tenants", [])
            if t["code"] == own or ("." not in own and t["code"].startswith(own + "."))]


def province_overview(page: Page) -> View:
    asked, errors = _period(page, ProvinceQuery, "province")
    got = None if errors else page.api.province_stats(asked["province"] or None, asked["from"] or None,
                                                      asked["to"] or None)
    context = {"page": "statistik-provinsi", "asked": asked, "errors": errors, "got": got, "charts": [],
               "lines": [], "tenant_chart": None}
    if got:
        names = tenant_names(page)
        lines = [{"tenant": line["tenant"], "name": names.get(line["tenant"], line["tenant"]), "total": line["total"],
                  "timings": line.get("timings") or {}} for line in got.get("tenants", [])]
        rows = [(f"{line['name']} ({line['tenant']})", line["total"]) for line in lines]
        year = int(((got.get("overall") or {}).get("period") or {}).get("from", str(dt.date.today().year))[:4])
        context.update(
            charts=_charts(page, got.get("overall") or {}, None), lines=lines, overall=got.get("overall") or {},
            tenant_chart=_chart("chart-tenants", page.t("chart_tenants"), rows),
            province_name=names.get(got.get("province"), got.get("province")), year=year,
            downloads=[(fmt.upper(), page.url(f"/statistik/provinsi/unduh/{fmt}", province=got.get("province"),
                                              year=year)) for fmt in FORMATS],
            **_tables(page, got.get("overall") or {}))
    return View("province.html", context, 400 if errors else 200)


def tenant_download(page: Page, fmt: str) -> Response:
    return _download(page, fmt, province=False)


def province_download(page: Page, fmt: str) -> Response:
    return _download(page, fmt, province=True)


def _download(page: Page, fmt: str, province: bool) -> Response:
    if fmt not in FORMATS:
        raise PageError(404, "console_page_not_found")
    args = page.request.args
    scope = (args.get("province" if province else "tenant") or "").strip()[:5] or None
    year = (args.get("year") or "").strip()[:4]
    got = page.api.stats_export(fmt, scope, int(year) if year.isdigit() else None, province=province)
    headers = {**SECURITY_HEADERS, "Content-Disposition": got.disposition or "attachment"}
    return Response(got.content, status=200, content_type=got.content_type, headers=headers)
