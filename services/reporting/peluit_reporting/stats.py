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
from collections import Counter, defaultdict
from datetime import date, datetime, time, timedelta

import numpy as np
from psycopg.pq import TransactionStatus
from psycopg.types.json import Json

from .projection import TIMEZONE, UPSTREAM

SMALL_CELL = 5
TIMINGS = {"acknowledge": "first_response_at", "verify": "verified_at", "close": "closed_at"}


def month_range(start: date, end: date) -> tuple[date, date, datetime, datetime]:
    """First and last month (first days), and the half-open time window they cover."""
    after_end = (end.replace(day=28) + timedelta(days=4)).replace(day=1)
    return (start, end, datetime.combine(start, time(0), TIMEZONE), datetime.combine(after_end, time(0), TIMEZONE))


# -- a tenant's part of a report ------------------------------------------------
# Every report, a tenant's or a province's, is assembled from one part per
# tenant: the counts, which add up across tenants, and each timing's
# durations, which merge (a median is not the sum of medians). Parts are
# kept (``stats_cache``) with the log position they stand at and served
# again while none of that tenant's months in the period changed since
# (``stats_changed``, marked by the follower in each window's transaction):
# the figures a fresh computation would give, never stale. A province-year
# then recomputes only the tenants a window touched, not ~140,000 cases.

_SETS = {0b0111: "by_status", 0b1011: "by_category", 0b1101: "by_channel", 0b1110: "by_month"}
_LEVELS = ["ringan", "sedang", "berat"]  # PP 94/2021, lightest first


class _Part:
    """One tenant's figures for one period (``counts``: JSON-able) and its
    durations in days per timing (float64 arrays, unsorted)."""

    def __init__(self, counts: dict, durations: dict[str, np.ndarray]):
        self.counts, self.durations = counts, durations

    @classmethod
    def empty(cls) -> _Part:
        return cls({**{name: {} for name in _SETS.values()}, "deadlines": [], "forwarded": [], "sanctions": {}},
                   {name: np.empty(0) for name in TIMINGS})

    def dump(self) -> tuple[Json, bytes]:
        counts = {**self.counts, "timed": [len(self.durations[name]) for name in TIMINGS]}
        return Json(counts), b"".join(self.durations[name].astype("<f8").tobytes() for name in TIMINGS)

    @classmethod
    def load(cls, counts: dict, durations: bytes) -> _Part:
        values, durations_by_name, at = np.frombuffer(durations, dtype="<f8"), {}, 0
        for name, n in zip(TIMINGS, counts.pop("timed")):
            durations_by_name[name], at = values[at:at + n], at + n
        return cls(counts, durations_by_name)


def _compute_parts(conn, tenants: list[str], start: date, end: date, t0: datetime, t1: datetime) -> dict:
    """The parts of ``tenants``, a statement per kind of figure for all of them."""
    parts = {tenant: _Part.empty() for tenant in tenants}
    rows = conn.execute(  # the four count breakdowns in one scan of case_count
        "SELECT tenant, grouping(status, category, channel, month), status, category, channel, month, sum(count) "
        "FROM case_count WHERE tenant = ANY(%s) AND month BETWEEN %s AND %s GROUP BY GROUPING SETS "
        "((tenant, status), (tenant, category), (tenant, channel), (tenant, month)) HAVING sum(count) > 0",
        (tenants, start, end)).fetchall()
    for tenant, g, status, category, channel, month, n in rows:
        name = _SETS[g]
        key = {"by_status": status, "by_category": category, "by_channel": channel}.get(name)
        parts[tenant].counts[name][key if key is not None else month.strftime("%Y-%m")] = int(n)
    # float8 days, unsorted (the percentiles partition them), packed by PostgreSQL (float8send: 8 bytes,
    # big-endian) so that no Python float is made for each case
    durations = ", ".join(
        f"string_agg(float8send(date_part('epoch', {col} - registered_at) / 86400), ''::bytea) "
        f"FILTER (WHERE {col} IS NOT NULL)" for col in TIMINGS.values())
    with conn.cursor(binary=True) as cur:
        for tenant, *packed in cur.execute(
                f"SELECT tenant, {durations} FROM case_summary WHERE tenant = ANY(%s) AND month BETWEEN %s AND %s "
                "GROUP BY tenant", (tenants, start, end)):
            parts[tenant].durations = {name: np.frombuffer(b or b"", dtype=">f8").astype(np.float64)
                                       for name, b in zip(TIMINGS, packed)}
    for part in parts.values():  # a tenant's own timings, for the lines of a province overview
        part.counts["timings"] = {name: _timings([part.durations[name]]) for name in TIMINGS}
    # compliance of the cases that ended and the breaches noticed, in one scan
    for tenant, *row in conn.execute(
            "SELECT tenant, source, pack, rule, count(*), count(*) FILTER (WHERE met) FROM deadline_outcome "
            "WHERE tenant = ANY(%s) AND at >= %s AND at < %s GROUP BY 1, 2, 3, 4", (tenants, t0, t1)):
        parts[tenant].counts["deadlines"].append(row)
    for tenant, *row in conn.execute(
            "SELECT from_tenant, destination_kind, destination, count(*) FROM forwarded WHERE from_tenant = ANY(%s) "
            "AND at >= %s AND at < %s GROUP BY 1, 2, 3", (tenants, t0, t1)):
        parts[tenant].counts["forwarded"].append(row)
    for tenant, level, n in conn.execute(
            "SELECT tenant, level, count(*) FROM sanction WHERE tenant = ANY(%s) AND at >= %s AND at < %s "
            "GROUP BY 1, 2", (tenants, t0, t1)):
        parts[tenant].counts["sanctions"][level] = n
    return parts


def part_key(tenant: str, start: date, end: date) -> str:
    """A kept part's key (``start``, ``end``: first days of the months)."""
    return json.dumps([tenant, start.isoformat(), end.isoformat()])


def _report(conn, kind: str, tenants: list[str], start: date, end: date, cached: bool, assemble) -> dict:
    """``assemble(parts)``: the report of ``tenants`` from each one's part,
    kept or computed, all from one snapshot of the read models. The report
    itself is kept too (``stats_report``), and served while none of its
    tenant-months changed after it; otherwise only the changed tenants'
    parts are computed again."""
    start, end, t0, t1 = month_range(start, end)
    keys = {part_key(tenant, start, end): tenant for tenant in tenants}
    report_key = json.dumps([kind, tenants, start.isoformat(), end.isoformat()])
    outermost = conn.info.transaction_status == TransactionStatus.IDLE
    with conn.transaction():
        if outermost:  # inside a caller's transaction its isolation stands
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        at, rebuilding = conn.execute("SELECT position, counts_deferred FROM tracking WHERE upstream = %s",
                                      (UPSTREAM,)).fetchone() or (0, True)  # no row: emptied by a crash in a rebuild
        kept = {}
        if cached:
            report = conn.execute(
                "SELECT result FROM stats_report WHERE key = %s AND position >= (SELECT coalesce(max(position), 0) "
                "FROM stats_changed WHERE tenant = ANY(%s) AND month BETWEEN %s AND %s)",
                (report_key, tenants, start, end)).fetchone()
            if report:
                return report[0]
            kept = {tenant: _Part.load(counts, durations) for tenant, counts, durations in conn.execute(
                "SELECT tenant, counts, durations FROM stats_cache c WHERE key = ANY(%s) AND position >= ("
                "SELECT coalesce(max(s.position), 0) FROM stats_changed s WHERE s.tenant = c.tenant "
                "AND s.month BETWEEN %s AND %s)", (list(keys), start, end))}
        missing = [tenant for tenant in tenants if tenant not in kept]
        computed = _compute_parts(conn, missing, start, end, t0, t1) if missing else {}
    report = assemble([kept.get(tenant) or computed[tenant] for tenant in tenants])
    if cached and not rebuilding:  # figures of a rebuild in progress are partial: not kept
        rows = [(key, tenant, at, *computed[tenant].dump()) for key, tenant in keys.items() if tenant in computed]
        with conn.transaction(), conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO stats_cache AS c (key, tenant, position, computed_at, counts, durations) "
                "VALUES (%s, %s, %s, now(), %s, %s) ON CONFLICT (key) DO UPDATE SET position = EXCLUDED.position, "
                "computed_at = EXCLUDED.computed_at, counts = EXCLUDED.counts, durations = EXCLUDED.durations "
                "WHERE c.position < EXCLUDED.position", rows)
            cur.execute(
                "INSERT INTO stats_report AS r (key, position, computed_at, result) VALUES (%s, %s, now(), %s) "
                "ON CONFLICT (key) DO UPDATE SET position = EXCLUDED.position, computed_at = EXCLUDED.computed_at, "
                "result = EXCLUDED.result WHERE r.position < EXCLUDED.position", (report_key, at, Json(report)))
    return report


def _timings(durations: list[np.ndarray]) -> dict:
    """count, median and p90 in days, as PostgreSQL's percentile_cont: linear
    interpolation between the two nearest durations (one partition finds
    them; np.percentile's own overhead was most of a province overview)."""
    values = np.concatenate(durations) if len(durations) > 1 else durations[0] if durations else np.empty(0)
    n = len(values)
    if not n:
        return {"count": 0, "median_days": None, "p90_days": None}
    ranks = [(q * (n - 1), int(q * (n - 1))) for q in (0.5, 0.9)]
    nearest = sorted({i for _, low in ranks for i in (low, min(low + 1, n - 1))})
    ordered = dict(zip(nearest, np.partition(values, nearest)[nearest].tolist()))
    p50, p90 = (ordered[low] + (h - low) * (ordered[min(low + 1, n - 1)] - ordered[low]) for h, low in ranks)
    return {"count": n, "median_days": round(p50, 2), "p90_days": round(p90, 2)}


def _assemble(parts: list[_Part]) -> dict:
    """The figures of several tenants' parts together."""
    sums = {name: Counter() for name in _SETS.values()}
    deadlines, forwarded, sanctions = defaultdict(lambda: [0, 0]), Counter(), Counter()
    for part in parts:
        for name in _SETS.values():
            sums[name].update(part.counts[name])
        for source, pack, rule, n, met in part.counts["deadlines"]:
            deadlines[(source, pack or "", rule)][0] += n
            deadlines[(source, pack or "", rule)][1] += met
        forwarded.update({(kind, destination): n for kind, destination, n in part.counts["forwarded"]})
        sanctions.update(part.counts["sanctions"])
    outcomes = sorted(deadlines.items())
    return {
        "total": sum(sums["by_status"].values()),
        **{name: dict(sorted(sums[name].items())) for name in _SETS.values()},
        "timings": parts[0].counts["timings"] if len(parts) == 1 else
                   {name: _timings([part.durations[name] for part in parts]) for name in TIMINGS},
        "deadlines": [{"pack": pack, "rule": rule, "total": n, "met": met, "missed": n - met,
                       "compliance": round(met / n, 4)} for (source, pack, rule), (n, met) in outcomes
                      if source == "closed"],
        "breaches": [{"rule": rule, "count": n} for (source, _, rule), (n, _) in outcomes if source == "breached"],
        "forwarded": [{"destination_kind": kind, "destination": destination, "count": n}
                      for (kind, destination), n in sorted(forwarded.items())],
        "sanctions": [{"level": level, "count": n} for level, n in sorted(
            sanctions.items(), key=lambda item: (_LEVELS.index(item[0]) if item[0] in _LEVELS else 3, item[0]))],
    }


def _period(start: date, end: date) -> dict:
    start, end = month_range(start, end)[:2]
    return {"from": start.strftime("%Y-%m"), "to": end.strftime("%Y-%m")}


def tenant_stats(conn, tenants: list[str], start: date, end: date, cached: bool = True) -> dict:
    """Officer statistics for cases of ``tenants`` registered in months ``start``..``end``."""
    return _report(conn, "tenants", tenants, start, end, cached,
                   lambda parts: {"period": _period(start, end), "tenants": tenants, **_assemble(parts)})


def province_tenants(conn, province: str) -> list[str]:
    """The province itself and every kota/kabupaten under it that has cases."""
    with conn.transaction():
        rows = conn.execute(
            "SELECT DISTINCT tenant FROM tenant_status_count WHERE tenant = %s OR tenant LIKE %s ORDER BY 1",
            (province, province + ".%")).fetchall()
    return [r[0] for r in rows]


def province_overview(conn, province: str, start: date, end: date, cached: bool = True) -> dict:
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
    return _report(conn, "province", tenants, start, end, cached, assemble)


def forget_kept(conn, older_than: timedelta = timedelta(days=1)) -> int:
    """Drop kept parts computed before ``older_than`` ago (the table only
    holds the periods people ask for; one asked for again is computed again)."""
    with conn.transaction():
        conn.execute("DELETE FROM stats_report WHERE computed_at < now() - %s", (older_than,))
        return conn.execute("DELETE FROM stats_cache WHERE computed_at < now() - %s", (older_than,)).rowcount


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
