"""Month parts computed from the read models, a statement per kind of figure."""

from __future__ import annotations

from datetime import date

import numpy as np

from .parts import SETS, TIMINGS, Part, month_range


def compute_months(conn, pairs: list[tuple[str, date]]) -> dict[tuple[str, date], Part]:
    """The parts of ``pairs`` (tenant, month), a statement per kind of figure
    for all of them. Each pair's rows are aggregated in a LATERAL subquery,
    which PostgreSQL cannot flatten: an index range scan per pair whatever
    the estimates. As a plain join, the plan flipped with the number of
    pairs (a generic plan made one pair ~3 times slower; for a
    province-year's 468 pairs PostgreSQL hash-joined a sequential scan of
    all of deadline_outcome, 1.2 s at full scale)."""
    parts = {pair: Part.empty() for pair in pairs}
    tenants, months = [list(column) for column in zip(*pairs)]
    each = "FROM unnest(%s::text[], %s::date[]) AS w(tenant, month) CROSS JOIN LATERAL ({}) AS x"
    for tenant, month, g, status, category, channel, n in conn.execute(  # three breakdowns, one scan
            "SELECT w.tenant, w.month, x.* " + each.format(
                "SELECT grouping(status, category, channel), status, category, channel, sum(count) FROM case_count "
                "WHERE tenant = w.tenant AND month = w.month GROUP BY GROUPING SETS ((status), (category), (channel)) "
                "HAVING sum(count) > 0"), (tenants, months)):
        name = SETS[g]
        parts[(tenant, month)].counts[name][{"by_status": status, "by_category": category,
                                             "by_channel": channel}[name]] = int(n)
    for (tenant, month), part in parts.items():
        total = sum(part.counts["by_status"].values())
        if total:
            part.counts["by_month"][month.strftime("%Y-%m")] = total
    # float8 days, unsorted (the percentiles partition them), packed by PostgreSQL (float8send: 8 bytes,
    # big-endian) so that no Python float is made for each case
    durations = ", ".join(
        f"string_agg(float8send(date_part('epoch', {col} - registered_at) / 86400), ''::bytea) "
        f"FILTER (WHERE {col} IS NOT NULL)" for col in TIMINGS.values())
    with conn.cursor(binary=True) as cur:
        for tenant, month, *packed in cur.execute(
                "SELECT w.tenant, w.month, x.* " + each.format(
                    f"SELECT {durations} FROM case_summary WHERE tenant = w.tenant AND month = w.month"),
                (tenants, months)):
            parts[(tenant, month)].durations = {name: np.frombuffer(b or b"", dtype=">f8").astype(np.float64)
                                                for name, b in zip(TIMINGS, packed)}
    # dated rows: the tenant's rows in the month's local-time window
    windows = [month_range(month, month)[2:] for month in months]
    dated = ("SELECT w.tenant, w.month, x.* FROM unnest(%s::text[], %s::date[], %s::timestamptz[], "
             "%s::timestamptz[]) AS w(tenant, month, t0, t1) CROSS JOIN LATERAL ({}) AS x")
    in_window = "WHERE {} = w.tenant AND at >= w.t0 AND at < w.t1"
    params = (tenants, months, [w[0] for w in windows], [w[1] for w in windows])
    # compliance of the cases that ended and the breaches noticed, in one scan
    for tenant, month, *row in conn.execute(dated.format(
            "SELECT source, coalesce(pack, ''), rule, count(*), count(*) FILTER (WHERE met) FROM deadline_outcome "
            + in_window.format("tenant") + " GROUP BY 1, 2, 3"), params):
        parts[(tenant, month)].counts["deadlines"].append(row)
    for tenant, month, *row in conn.execute(dated.format(
            "SELECT destination_kind, destination, count(*) FROM forwarded " + in_window.format("from_tenant")
            + " GROUP BY 1, 2"), params):
        parts[(tenant, month)].counts["forwarded"].append(row)
    for tenant, month, level, n in conn.execute(dated.format(
            "SELECT level, count(*) FROM sanction " + in_window.format("tenant") + " GROUP BY 1"), params):
        parts[(tenant, month)].counts["sanctions"][level] = n
    return parts


