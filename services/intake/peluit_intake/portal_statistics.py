"""The portal's public statistics page, ``GET /statistik?tenant=&year=``: what
reporting publishes (its ``public_stats`` RPC: small cells shown as "<5", no
totals) for one Inspektorat and registration year, as one bar chart per
category (bars per status, ``charts``) beside a table of the same numbers.
Without a tenant it lists the Inspektorat with published figures for the
year. Nothing is added up here: a total would let a suppressed cell be
worked out. Reporting unavailable: a 503 page, never a 500.
"""

from __future__ import annotations

import datetime as dt

from babel.numbers import format_decimal
from marshmallow import ValidationError
from werkzeug.wrappers import Response

from peluit_common.charts import Bar, bar_chart
from peluit_contracts.i18n import MESSAGES, bilingual_errors, message
from peluit_contracts.officer_api import CASE_STATUSES
from peluit_contracts.statistics import FIRST_YEAR, LAST_YEAR, PublicQuery

from .application import Intake
from .errors import IntakeError
from .portal_pages import N_, Refusal, Visit

YEARS_OFFERED = 5  # this year and the four before it in the picker

T = {
    "chart_title": N_("Reports per status in the category %(category)s, %(tenant)s, %(year)s"),
    "unavailable_title": N_("The statistics cannot be shown right now"),
    "unavailable_text": N_("The statistics service does not answer. Please try again in a few minutes. You can "
                           "still make a report or check one as usual."),
}


def statistics(visit: Visit, intake: Intake) -> Response:
    kit, lang = visit.kit, visit.lang
    asked = {name: visit.request.args[name] for name in ("tenant", "year") if visit.request.args.get(name)}
    this_year = dt.datetime.now(kit.timezone).year
    names, categories = _names(intake, lang)
    try:
        query = PublicQuery().load(asked)
    except ValidationError as err:
        errors = {path: [visit.pick(m) for m in messages] for path, messages in bilingual_errors(err.messages).items()}
        return _page(visit, 400, names, this_year, asked, errors=errors)
    tenant, year = query.get("tenant"), query.get("year", this_year)
    try:
        published = intake.public_statistics(tenant, year)
    except IntakeError:  # unavailable, or an answer it could not use: nothing to show, try later
        raise Refusal(503, _t(visit, "unavailable_title"), _t(visit, "unavailable_text"),
                      headers={"Retry-After": "60"}) from None
    cells = published["counts"]
    context = {"tenant": tenant, "year": year, "rule": visit.pick(published["rule"]),
               "threshold": published["small_cell_threshold"]}
    if tenant is None:
        found = sorted({c["tenant"] for c in cells}, key=lambda code: (code.count("."), names.get(code, code)))
        context["listed"] = [{"code": code, "name": names.get(code, code),
                              "href": visit.url("/statistik", tenant=code, year=year)} for code in found]
    else:
        context["charts"] = charts(visit, cells, published["small_cell_threshold"], names.get(tenant, tenant), year,
                                   categories.get(tenant, {}))
    return _page(visit, 200, names, this_year, {"tenant": tenant or "", "year": str(year)}, **context)


def charts(visit: Visit, cells: list[dict], threshold: int, tenant_name: str, year: int,
           category_names: dict[str, str]) -> list[dict]:
    """One chart per category with published cells: a bar per status, in the
    order of a case's life, on one scale; a suppressed cell ("<5") drawn as an
    outline up to its bound (4). Each with the rows of its table: the same figures."""
    by_category: dict[str, dict[str, int | str]] = {}
    for cell in cells:
        by_category.setdefault(cell["category"], {})[cell["status"]] = cell["count"]
    # one scale for every chart of the page, so that categories compare at a glance
    scale = max([threshold - 1, *(c["count"] for c in cells if not isinstance(c["count"], str))])
    order = sorted(by_category, key=lambda code: (code == "lainnya", category_names.get(code, code).casefold()))
    out = []
    for n, category in enumerate(order, 1):
        counts = by_category[category]
        statuses = [s for s in CASE_STATUSES if s in counts] + sorted(set(counts) - set(CASE_STATUSES))
        rows = []
        for status in statuses:
            count = counts[status]
            suppressed = isinstance(count, str)
            rows.append({"label": _status(visit, status), "shown": count if suppressed else
                         format_decimal(count, locale=visit.lang), "value": threshold - 1 if suppressed else count,
                         "bound": suppressed})
        name = category_names.get(category, category)
        title = _t(visit, "chart_title", category=name, tenant=tenant_name, year=year)
        svg = bar_chart([Bar(r["label"], r["value"], r["shown"], r["bound"]) for r in rows], title=title,
                        chart_id=f"chart-{n}", scale=scale)
        out.append({"id": f"chart-{n}", "category": name, "title": title, "svg": svg, "rows": rows})
    return out


def _page(visit: Visit, status: int, names: dict, this_year: int, chosen: dict, **context) -> Response:
    form = {"tenant": chosen.get("tenant", ""), "year": chosen.get("year", "")}  # as the picker shows it
    years = [str(y) for y in range(this_year, max(FIRST_YEAR - 1, this_year - YEARS_OFFERED), -1) if y <= LAST_YEAR]
    if form["year"] and form["year"] not in years and form["year"].isdigit():
        years.append(form["year"])  # an older year asked for by its URL stays selectable
    tenants = sorted(names.items(), key=lambda item: (item[0].count("."), item[1]))
    base = {"tenant": None, "year": None, "charts": None, "listed": None, "rule": "", "threshold": 0, "errors": {}}
    return visit.kit.render(visit, "statistik.html", status, page="statistik", form=form,
                            years=[(year, year) for year in years], tenants=tenants,
                            tenant_name=names.get(context.get("tenant") or "", ""), **{**base, **context})


def _names(intake: Intake, lang: str) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """Tenant names and each tenant's category names from the catalogue, for
    display only: codes stand in while no catalogue can be had."""
    try:
        catalogue = intake.catalogue(stale_ok=True)
    except IntakeError:
        return {}, {}
    return ({t["code"]: t["name"] for t in catalogue["tenants"]},
            {t["code"]: {c["code"]: c["name"].get(lang) or c["code"] for c in t["categories"]}
             for t in catalogue["tenants"]})


def _status(visit: Visit, status: str) -> str:
    code = f"status_{status}"
    return visit.pick(message(code)) if code in MESSAGES else status


def _t(visit: Visit, key: str, **params) -> str:
    return visit.kit.gettext(visit.lang, T[key], **params)
