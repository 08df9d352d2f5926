"""Officer reports assembled from parts: a tenant's and a province's, for any period.

What each figure means (handling tenant, registration month, the timings,
compliance, breaches, pelimpahan, sanctions): docs/statistics.md.
"""

from __future__ import annotations

import json
from datetime import date

from .kept import gather, keep_parts, kept_periods, kept_report, snapshot
from .parts import COUNTS, TIMINGS, Part, month_range, timings, whole

_LEVELS = ["ringan", "sedang", "berat"]  # PP 94/2021, lightest first


def _report(conn, kind: str, tenants: list[str], start: date, end: date, cached: bool, assemble, defer=None) -> dict:
    """``assemble(parts)``: the report of ``tenants`` from each one's part
    for the period, all from one snapshot of the read models. Kept three
    ways, each used while none of its tenant-months changed after it: the
    report itself (``stats_report``); each tenant's part for the period
    (``stats_period``), else assembled from its kept blocks and months
    (``gather``). A province-year after one tenant-month changed merges 38
    tenants' kept parts, and the changed tenant's three kept quarters and
    three months. ``defer(keep)``: where given, keeping what was computed
    (``keep(conn)``) is left to the caller, to do after the response (the
    service); otherwise it is kept here, before returning."""
    start, end = month_range(start, end)[:2]
    report_key = json.dumps([kind, tenants, start.isoformat(), end.isoformat()])
    keys = {tenant: json.dumps([tenant, start.isoformat(), end.isoformat()]) for tenant in tenants}
    with snapshot(conn) as (at, rebuilding):
        periods = {}
        if cached:
            report = kept_report(conn, report_key, tenants, start, end)
            if report:
                return report[0]
            periods = kept_periods(conn, list(keys.values()), start, end)
        rest = [tenant for tenant in tenants if tenant not in periods]
        gathered, computed = gather(conn, [(tenant, start, end) for tenant in rest], cached) if rest else ({}, {})
    parts = {tenant: gathered[(tenant, start, end)] for tenant in rest}
    assembled = {tenant: whole(parts[tenant]) for tenant in rest}
    report = assemble([periods.get(tenant) or assembled[tenant] for tenant in tenants])
    if cached and not rebuilding:  # figures of a rebuild in progress are partial: not kept
        # a tenant's part for the period is kept unless it is a single kept part already
        periods = {keys[tenant]: (tenant, part) for tenant, part in assembled.items() if len(parts[tenant]) > 1}
        def keep(into):
            keep_parts(into, at, computed, periods, (report_key, report))
        if defer is None:
            keep(conn)
        else:
            defer(keep)
    return report


def _assemble(parts: list[Part]) -> dict:
    """The figures of several tenants' parts (for the period) together."""
    part = Part.merge(parts) if parts else Part.empty()
    counts = part.counts
    outcomes = sorted(((source, pack, rule), (n, met)) for source, pack, rule, n, met in counts["deadlines"])
    return {
        "total": sum(counts["by_status"].values()),
        **{name: dict(sorted(counts[name].items())) for name in COUNTS},
        "timings": parts[0].counts["timings"] if len(parts) == 1 else
                   {name: timings(part.durations[name]) for name in TIMINGS},
        "deadlines": [{"pack": pack, "rule": rule, "total": n, "met": met, "missed": n - met,
                       "compliance": round(met / n, 4)} for (source, pack, rule), (n, met) in outcomes
                      if source == "closed"],
        "breaches": [{"rule": rule, "count": n} for (source, _, rule), (n, _) in outcomes if source == "breached"],
        "forwarded": [{"destination_kind": kind, "destination": destination, "count": n}
                      for (kind, destination), n in sorted(((kind, d), n) for kind, d, n in counts["forwarded"])],
        "sanctions": [{"level": level, "count": n} for level, n in sorted(
            counts["sanctions"].items(), key=lambda item: (_LEVELS.index(item[0]) if item[0] in _LEVELS else 3,
                                                           item[0]))],
    }


def _period(start: date, end: date) -> dict:
    start, end = month_range(start, end)[:2]
    return {"from": start.strftime("%Y-%m"), "to": end.strftime("%Y-%m")}


def tenant_stats(conn, tenants: list[str], start: date, end: date, cached: bool = True, defer=None) -> dict:
    """Officer statistics for cases of ``tenants`` registered in months ``start``..``end``."""
    return _report(conn, "tenants", tenants, start, end, cached,
                   lambda parts: {"period": _period(start, end), "tenants": tenants, **_assemble(parts)}, defer)


def province_tenants(conn, province: str) -> list[str]:
    """The province itself and every kota/kabupaten under it that has cases."""
    with conn.transaction():
        rows = conn.execute(
            "SELECT DISTINCT tenant FROM tenant_status_count WHERE tenant = %s OR tenant LIKE %s ORDER BY 1",
            (province, province + ".%")).fetchall()
    return [r[0] for r in rows]


def province_overview(conn, province: str, start: date, end: date, cached: bool = True, defer=None) -> dict:
    """The province's totals and one line per tenant."""
    tenants = province_tenants(conn, province)

    def assemble(parts):
        lines = []
        for tenant, part in zip(tenants, parts):
            by_status = dict(sorted(part.counts["by_status"].items()))
            lines.append({"tenant": tenant, "total": sum(by_status.values()), "by_status": by_status,
                          "timings": part.counts["timings"]})
        return {"province": province, "overall": {"period": _period(start, end), "tenants": tenants,
                                                  **_assemble(parts)}, "tenants": lines}
    return _report(conn, "province", tenants, start, end, cached, assemble, defer)


