"""Statistics over the read models: plain functions over a psycopg connection.

Definitions (README, "Reporting"):

* A case counts under its **handling** tenant (after pelimpahan to another
  tenant or escalation it counts where it is now) and under its
  **registration month** (local time, ``projection.TIMEZONE``); a period
  ``from``..``to`` selects cases registered in those months.
* **Time to acknowledge**: registration to the first officer response
  (``verification_started``); the receipt itself is immediate.
  **Time to verify**: registration to the end of verification (accepted,
  rejected, archived or forwarded). **Time to close**: registration to
  ``selesai``. Each is reported as count, median and p90 in days over the
  cases of the period that reached that step.
* **Deadline compliance** per pack and rule: of the cases that *ended* in the
  period (closed, rejected, archived or forwarded to an external body), how
  many met the rule (computed by cases with the tenant's pack when it ended); **breaches**: deadlines the scheduler noticed as breached in the
  period, open cases included.
* **Forwarded**: pelimpahan by the tenant in the period, per destination;
  **sanctions**: PP 94/2021 sanctions recommended in the period, per level.
"""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta

from psycopg.pq import TransactionStatus
from psycopg.types.json import Json

from .projection import TIMEZONE, UPSTREAM

SMALL_CELL = 5
TIMINGS = {"acknowledge": "first_response_at", "verify": "verified_at", "close": "closed_at"}


def month_range(start: date, end: date) -> tuple[date, date, datetime, datetime]:
    """First and last month (first days), and the half-open time window they cover."""
    after_end = (end.replace(day=28) + timedelta(days=4)).replace(day=1)
    return (start, end, datetime.combine(start, time(0), TIMEZONE), datetime.combine(after_end, time(0), TIMEZONE))


# the count breakdowns, all from one scan of case_count (GROUPING SETS); the
# grouping() bits of (status, category, channel, month, tenant) name each set
_BREAKDOWNS = {0b01111: "by_status", 0b10111: "by_category", 0b11011: "by_channel", 0b11101: "by_month",
               0b01110: "tenant_status"}


def _breakdowns(conn, tenants: list[str], start: date, end: date) -> dict[str, dict]:
    sets = "(status), (category), (channel), (month), (tenant, status)"
    rows = conn.execute(
        "SELECT grouping(status, category, channel, month, tenant), status, category, channel, month, tenant, "
        f"sum(count) FROM case_count WHERE tenant = ANY(%s) AND month BETWEEN %s AND %s GROUP BY GROUPING SETS "
        f"({sets}) HAVING sum(count) > 0 ORDER BY 1, 6, 2, 3, 4, 5", (tenants, start, end)).fetchall()
    out: dict[str, dict] = {name: {} for name in _BREAKDOWNS.values()}
    for g, status, category, channel, month, tenant, n in rows:
        name = _BREAKDOWNS[g]
        if name == "tenant_status":
            out[name].setdefault(tenant, {})[status] = int(n)
        else:
            key = {"by_status": status, "by_category": category, "by_channel": channel}.get(name)
            out[name][key if key is not None else month.strftime("%Y-%m")] = int(n)
    return out


def _timing_columns() -> str:
    parts = []
    for col in TIMINGS.values():
        days = f"date_part('epoch', {col} - registered_at) / 86400"  # float8: sorts far faster than numeric
        parts += [f"count({col})", f"percentile_cont(0.5) WITHIN GROUP (ORDER BY {days})",
                  f"percentile_cont(0.9) WITHIN GROUP (ORDER BY {days})"]
    return ", ".join(parts)


def _timing_values(row) -> dict:
    out = {}
    for i, name in enumerate(TIMINGS):
        count, p50, p90 = row[3 * i:3 * i + 3]
        out[name] = {"count": int(count), "median_days": None if p50 is None else round(float(p50), 2),
                     "p90_days": None if p90 is None else round(float(p90), 2)}
    return out


def _timings(conn, tenants: list[str], start: date, end: date, per_tenant: bool) -> tuple[dict, dict[str, dict]]:
    """Timings over all ``tenants`` together and, asked for, per tenant, in
    one scan (grouping sets: at 500k cases several times faster than one
    ungrouped percentile over the whole province)."""
    sets, tenant = ("(tenant), ()", "tenant") if per_tenant else ("()", "NULL")
    rows = conn.execute(
        f"SELECT {tenant}, {_timing_columns()} FROM case_summary WHERE tenant = ANY(%s) AND month BETWEEN %s AND %s "
        f"GROUP BY GROUPING SETS ({sets})", (tenants, start, end)).fetchall()
    overall = _timing_values([0, None, None] * len(TIMINGS))
    by_tenant = {}
    for row in rows:
        if row[0] is None:
            overall = _timing_values(row[1:])
        else:
            by_tenant[row[0]] = _timing_values(row[1:])
    return overall, by_tenant


def tenant_stats(conn, tenants: list[str], start: date, end: date, cached: bool = True) -> dict:
    """Officer statistics for cases of ``tenants`` registered in months ``start``..``end``."""
    return _stats(conn, tenants, start, end, cached=cached)[0]


def _stats(conn, tenants: list[str], start: date, end: date, per_tenant: bool = False,
           cached: bool = True) -> tuple[dict, list[dict]]:
    """The statistics of ``tenants`` together and, asked for, a line per
    tenant (status counts and timings), from one snapshot of the read models.

    Exact figures over a province-year read and sort ~140,000 cases (~0.5 s),
    so a report is kept (``stats_cache``) with the log position it was
    computed at, and served again while no window since has changed any of
    its tenants' months (``stats_changed``): the same figures, never stale."""
    start, end, t0, t1 = month_range(start, end)
    key = json.dumps([tenants, start.isoformat(), end.isoformat(), per_tenant])
    outermost = conn.info.transaction_status == TransactionStatus.IDLE
    with conn.transaction():
        if outermost:  # inside a caller's transaction its isolation stands
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        at, rebuilding = conn.execute("SELECT position, counts_deferred FROM tracking WHERE upstream = %s",
                                      (UPSTREAM,)).fetchone() or (0, True)  # no row: emptied by a crash in a rebuild
        if cached:
            hit = conn.execute(
                "SELECT result FROM stats_cache WHERE key = %s AND position >= (SELECT coalesce(max(position), 0) "
                "FROM stats_changed WHERE tenant = ANY(%s) AND month BETWEEN %s AND %s)",
                (key, tenants, start, end)).fetchone()
            if hit:
                return hit[0]["result"], hit[0]["lines"]
        result, lines = _compute(conn, tenants, start, end, t0, t1, per_tenant)
    if cached and not rebuilding:  # figures of a rebuild in progress are partial: not kept
        with conn.transaction():
            conn.execute(
                "INSERT INTO stats_cache AS c (key, position, computed_at, result) VALUES (%s, %s, now(), %s) "
                "ON CONFLICT (key) DO UPDATE SET position = EXCLUDED.position, computed_at = EXCLUDED.computed_at, "
                "result = EXCLUDED.result WHERE c.position < EXCLUDED.position",
                (key, at, Json({"result": result, "lines": lines})))
    return result, lines


def forget_kept(conn, older_than: timedelta = timedelta(days=1)) -> int:
    """Drop kept reports computed before ``older_than`` ago (the table only
    holds the periods people ask for; a report asked for again is computed again)."""
    with conn.transaction():
        return conn.execute("DELETE FROM stats_cache WHERE computed_at < now() - %s", (older_than,)).rowcount


def _compute(conn, tenants, start, end, t0, t1, per_tenant) -> tuple[dict, list[dict]]:
    """The figures themselves (``_stats``), inside the caller's transaction."""
    counts = _breakdowns(conn, tenants, start, end)
    result = {
        "period": {"from": start.strftime("%Y-%m"), "to": end.strftime("%Y-%m")},
        "tenants": tenants,
        "total": sum(counts["by_status"].values()),
        **{name: counts[name] for name in ("by_status", "by_category", "by_channel", "by_month")},
    }
    result["timings"], timings = _timings(conn, tenants, start, end, per_tenant)
    # compliance of the cases that ended and the breaches noticed, in one scan
    rows = conn.execute(
        "SELECT source, pack, rule, count(*), count(*) FILTER (WHERE met) FROM deadline_outcome "
        "WHERE tenant = ANY(%s) AND at >= %s AND at < %s GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
        (tenants, t0, t1)).fetchall()
    result["deadlines"] = [{"pack": p, "rule": r, "total": n, "met": m, "missed": n - m,
                            "compliance": round(m / n, 4)} for src, p, r, n, m in rows if src == "closed"]
    result["breaches"] = [{"rule": r, "count": n} for src, _, r, n, _ in rows if src == "breached"]
    rows = conn.execute(
        "SELECT destination_kind, destination, count(*) FROM forwarded WHERE from_tenant = ANY(%s) "
        "AND at >= %s AND at < %s GROUP BY 1, 2 ORDER BY 1, 2", (tenants, t0, t1)).fetchall()
    result["forwarded"] = [{"destination_kind": k, "destination": d, "count": n} for k, d, n in rows]
    rows = conn.execute(
        "SELECT level, count(*) FROM sanction WHERE tenant = ANY(%s) AND at >= %s AND at < %s "
        "GROUP BY 1 ORDER BY array_position(ARRAY['ringan','sedang','berat'], level), 1",
        (tenants, t0, t1)).fetchall()
    result["sanctions"] = [{"level": lvl, "count": n} for lvl, n in rows]
    lines = []
    if per_tenant:
        empty = _timing_values([0, None, None] * len(TIMINGS))
        for tenant in tenants:
            by_status = counts["tenant_status"].get(tenant, {})
            lines.append({"tenant": tenant, "total": sum(by_status.values()), "by_status": by_status,
                          "timings": timings.get(tenant, empty)})
    return result, lines


def province_tenants(conn, province: str) -> list[str]:
    """The province itself and every kota/kabupaten under it that has cases."""
    with conn.transaction():
        rows = conn.execute(
            "SELECT DISTINCT tenant FROM tenant_status_count WHERE tenant = %s OR tenant LIKE %s ORDER BY 1",
            (province, province + ".%")).fetchall()
    return [r[0] for r in rows]


def province_overview(conn, province: str, start: date, end: date, cached: bool = True) -> dict:
    """The province's totals and one line per tenant."""
    overall, lines = _stats(conn, province_tenants(conn, province), start, end, per_tenant=True, cached=cached)
    return {"province": province, "overall": overall, "tenants": lines}


# -- public transparency statistics -------------------------------------------

PUBLIC_RULE = {
    "id": "Hanya sel tabulasi silang (Inspektorat x tahun x kategori x status) yang diterbitkan; sel bernilai 1-4 "
          "ditampilkan sebagai \"<5\", sel bernilai 0 tidak ditampilkan, dan tidak ada total atau subtotal, "
          "sehingga sel yang disamarkan tidak dapat dihitung dari angka lain.",
    "en": "Only the cells of the cross-classification (Inspektorat x year x category x status) are published; "
          "cells of 1-4 are shown as \"<5\", empty cells are left out, and there are no totals or subtotals, "
          "so no suppressed cell can be derived from other figures.",
}


def public_counts(conn, tenant: str | None = None, year: int | None = None) -> list[dict]:
    """Counts per tenant, registration year, category and status; any count
    below 5 is shown as "<5". No margins are published (see ``PUBLIC_RULE``):
    with a total beside the cells, a single suppressed cell could be backed out."""
    where, params = ["count > 0"], []
    if tenant:
        where.append("tenant = %s")
        params.append(tenant)
    if year:
        where.append("year = %s")
        params.append(year)
    with conn.transaction():
        rows = conn.execute(
            f"SELECT tenant, year, category, status, count FROM public_count WHERE {' AND '.join(where)} "
            "ORDER BY 1, 2, 3, 4", params).fetchall()
    return [{"tenant": t, "year": y, "category": c, "status": s,
             "count": int(n) if n >= SMALL_CELL else f"<{SMALL_CELL}"} for t, y, c, s, n in rows]
