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
import os
from collections import OrderedDict
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta

import numpy as np
import orjson
from psycopg.pq import TransactionStatus
from psycopg.types.json import Json

from .projection import TIMEZONE, UPSTREAM

SMALL_CELL = 5
TIMINGS = {"acknowledge": "first_response_at", "verify": "verified_at", "close": "closed_at"}


def _add_months(month: date, n: int) -> date:
    """The first day of the month ``n`` months after ``month`` (a first day)."""
    year, index = divmod(month.year * 12 + month.month - 1 + n, 12)
    return date(year, index + 1, 1)


def _next_month(month: date) -> date:
    return _add_months(month.replace(day=1), 1)


def month_range(start: date, end: date) -> tuple[date, date, datetime, datetime]:
    """First and last month (first days), and the half-open time window they cover."""
    return (start, end, datetime.combine(start, time(0), TIMEZONE),
            datetime.combine(_next_month(end), time(0), TIMEZONE))


# -- a tenant's month: the part every report is assembled from -----------------
# Every report, a tenant's or a province's and for any period, is assembled
# from one part per tenant and month: the counts, which add up, and each
# timing's durations, which merge (a median is not the sum of medians).
# Parts are kept (``stats_month``) with the log position they stand at. The
# follower marks each tenant-month whose figures a window changed
# (``stats_changed``, in the window's transaction), and ``keep_months``
# computes those parts again shortly after, so a report finds its parts kept.
# A part is used only while its tenant-month has not changed after its
# position (otherwise the report computes it itself): the figures a fresh
# computation would give, never stale.

_SETS = {0b011: "by_status", 0b101: "by_category", 0b110: "by_channel"}
_COUNTS = (*_SETS.values(), "by_month")
_LEVELS = ["ringan", "sedang", "berat"]  # PP 94/2021, lightest first
KEEP_BATCH = 100  # tenant-months per keep_months transaction (a province has ~40 a month)


class _Part:
    """Figures of one tenant and one month, or several added together
    (``merge``). ``counts``: JSON-able; deadlines [source, pack, rule, total,
    met] and forwarded [kind, destination, count] as lists. ``durations``:
    days per timing, float64, unsorted."""

    def __init__(self, counts: dict, durations: dict[str, np.ndarray]):
        self.counts, self.durations = counts, durations

    @classmethod
    def empty(cls) -> _Part:
        return cls({**{name: {} for name in _COUNTS}, "deadlines": [], "forwarded": [], "sanctions": {}},
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

    @classmethod
    def merge(cls, parts: list[_Part]) -> _Part:
        """The figures of ``parts`` together (other months, other tenants).
        Plain dict loops: a province-year merges ~470 parts."""
        if len(parts) == 1:
            return parts[0]
        sums = {name: {} for name in _COUNTS}
        deadlines, forwarded, sanctions = {}, {}, {}
        for part in parts:
            counts = part.counts
            for name in _COUNTS:
                into = sums[name]
                for key, n in counts[name].items():
                    into[key] = into.get(key, 0) + n
            for source, pack, rule, n, met in counts["deadlines"]:
                key = (source, pack, rule)
                total = deadlines.get(key)
                deadlines[key] = (n, met) if total is None else (total[0] + n, total[1] + met)
            for kind, destination, n in counts["forwarded"]:
                forwarded[(kind, destination)] = forwarded.get((kind, destination), 0) + n
            for level, n in counts["sanctions"].items():
                sanctions[level] = sanctions.get(level, 0) + n
        return cls({**sums, "deadlines": [[*key, n, met] for key, (n, met) in deadlines.items()],
                    "forwarded": [[*key, n] for key, n in forwarded.items()], "sanctions": sanctions},
                   {name: np.concatenate([part.durations[name] for part in parts]) for name in TIMINGS})


def _compute_months(conn, pairs: list[tuple[str, date]]) -> dict[tuple[str, date], _Part]:
    """The parts of ``pairs`` (tenant, month), a statement per kind of figure
    for all of them. Each pair's rows are aggregated in a LATERAL subquery,
    which PostgreSQL cannot flatten: an index range scan per pair whatever
    the estimates. As a plain join, the plan flipped with the number of
    pairs (a generic plan made one pair ~3 times slower; for a
    province-year's 468 pairs PostgreSQL hash-joined a sequential scan of
    all of deadline_outcome, 1.2 s at full scale)."""
    parts = {pair: _Part.empty() for pair in pairs}
    tenants, months = [list(column) for column in zip(*pairs)]
    each = "FROM unnest(%s::text[], %s::date[]) AS w(tenant, month) CROSS JOIN LATERAL ({}) AS x"
    for tenant, month, g, status, category, channel, n in conn.execute(  # three breakdowns, one scan
            "SELECT w.tenant, w.month, x.* " + each.format(
                "SELECT grouping(status, category, channel), status, category, channel, sum(count) FROM case_count "
                "WHERE tenant = w.tenant AND month = w.month GROUP BY GROUPING SETS ((status), (category), (channel)) "
                "HAVING sum(count) > 0"), (tenants, months)):
        name = _SETS[g]
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


# -- blocks: a tenant's calendar quarter or year, merged from its months -------
# A province-year from its month parts merges ~470 of them (most of its
# time); from kept years, 39. ``keep_blocks`` merges each quarter and year
# whose months changed after it was kept (``stats_block``), and a report
# takes the fewest parts that cover its period: kept years and quarters,
# months for the rest. A block is used while none of its months changed
# after its position, as a month's part is.

BLOCKS = (12, 3)  # months per kept block, largest first: calendar years and quarters (and in _DUE_BLOCKS)


def _blocks_within(start: date, end: date) -> list[tuple[date, int]]:
    """Every calendar year and quarter lying wholly in months ``start``..``end``."""
    found = []
    for n in BLOCKS:
        month = date(start.year, 1, 1)
        while _add_months(month, n - 1) <= end:
            if month >= start:
                found.append((month, n))
            month = _add_months(month, n)
    return found


def _split(start: date, end: date, kept: set[tuple[date, int]]) -> list[tuple[date, int]]:
    """Months ``start``..``end`` as the fewest parts (first month, months):
    the ``kept`` blocks that fit, single months for the rest."""
    units, month = [], start
    while month <= end:
        n = next((n for n in BLOCKS if (month, n) in kept and _add_months(month, n - 1) <= end), 1)
        units.append((month, n))
        month = _add_months(month, n)
    return units


# kept parts that no change has made stale, (key columns..., position, computed_at): a month's (its own
# mark), a block's (its months' marks)
_MONTH_VALID = "m.position >= coalesce(s.position, 0)"
_BLOCK_VALID = ("b.position >= (SELECT coalesce(max(s.position), 0) FROM stats_changed s WHERE s.tenant = b.tenant "
                "AND s.month >= b.month AND s.month < (b.month + make_interval(months => b.months))::date)")
_VALID_MONTHS = ("SELECT m.tenant, m.month, m.position, m.computed_at FROM unnest(%s::text[], %s::date[]) AS w(tenant, month) "
                 "JOIN stats_month m USING (tenant, month) LEFT JOIN stats_changed s USING (tenant, month) WHERE "
                 + _MONTH_VALID)
_VALID_BLOCKS = ("SELECT b.tenant, b.month, b.months, b.position, b.computed_at FROM unnest(%s::text[], %s::date[], %s::int[]) "
                 "AS w(tenant, month, months) JOIN stats_block b USING (tenant, month, months) WHERE " + _BLOCK_VALID)
_ALL_VALID = {"stats_month": "SELECT m.tenant, m.month, m.position, m.computed_at FROM stats_month m "
                             "LEFT JOIN stats_changed s USING (tenant, month) WHERE " + _MONTH_VALID,
              "stats_block": "SELECT b.tenant, b.month, b.months, b.position, b.computed_at FROM stats_block b "
                             "WHERE " + _BLOCK_VALID}
# their figures, of exactly those writes
_FETCH = {
    "stats_month": "SELECT tenant, month, position, computed_at, counts::text, durations FROM unnest(%s::text[], "
                   "%s::date[], %s::bigint[], %s::timestamptz[]) AS w(tenant, month, position, computed_at) "
                   "JOIN stats_month USING (tenant, month, position, computed_at)",
    "stats_block": "SELECT tenant, month, months, position, computed_at, counts::text, durations FROM unnest("
                   "%s::text[], %s::date[], %s::int[], %s::bigint[], %s::timestamptz[]) AS w(tenant, month, months, "
                   "position, computed_at) JOIN stats_block USING (tenant, month, months, position, computed_at)",
}


class _Parsed:
    """Kept parts as parsed, by (table, key columns..., position,
    computed_at), in this process: a kept row is only ever replaced, never
    changed, and the replacement is computed at another moment, so a part
    read once is not read again (reading and parsing a province's parts was
    40% of its first request). Not by position alone: a rebuild from a log
    derived anew writes other figures at the same positions. Least recently
    used out past ``limit`` bytes."""

    def __init__(self, limit: int):
        self.limit, self.size, self.parts = limit, 0, OrderedDict()
        self.read_all = False  # read_kept has run in this process

    @staticmethod
    def _bytes(part: _Part) -> int:
        return sum(values.nbytes for values in part.durations.values()) + 2048  # + counts, roughly

    def get(self, key: tuple) -> _Part | None:
        part = self.parts.get(key)
        if part is not None:
            self.parts.move_to_end(key)
        return part

    def put(self, key: tuple, part: _Part) -> None:
        if key not in self.parts:
            self.parts[key], self.size = part, self.size + self._bytes(part)
        while self.size > self.limit and self.parts:
            self.size -= self._bytes(self.parts.popitem(last=False)[1])

    def clear(self) -> None:
        self.parts.clear()
        self.size, self.read_all = 0, False


_PARSED = _Parsed(int(os.environ.get("PELUIT_STATS_PARTS_MB", "64")) * 2**20)


def _load_kept(conn, table: str, sql: str, params) -> list[tuple]:
    """The valid kept parts of ``table`` that ``sql`` names (key columns...,
    position, computed_at): (key columns..., part), each read from
    PostgreSQL only if this process has not parsed that write before."""
    rows = [tuple(row) for row in conn.execute(sql, params).fetchall()]
    found = {row: _PARSED.get((table, *row)) for row in rows}
    missing = [row for row, part in found.items() if part is None]
    if missing:
        for *row, part in _load_parts(conn, _FETCH[table], [list(column) for column in zip(*missing)]):
            found[tuple(row)] = part
            _PARSED.put((table, *row), part)
    return [(*row[:-2], found[row]) for row in rows]


def read_kept(conn) -> int:
    """Every valid kept month part, quarter and year, read into this
    process's parsed parts, once (the service's timer calls it after it
    starts), so that even its first reports read no figures. Returns how
    many were read (0 once done)."""
    if _PARSED.read_all:
        return 0
    with _snapshot(conn):  # months first: past the memory limit, the oldest read go first
        read = sum(len(_load_kept(conn, table, sql, ())) for table, sql in _ALL_VALID.items())
    _PARSED.read_all = True
    return read


def _gather(conn, wanted: list[tuple[str, date, date]], cached: bool = True):
    """Inside a snapshot: the parts that cover each (tenant, first month,
    last month) of ``wanted``: valid kept blocks, else its months' parts,
    kept or computed (all computed unless ``cached``). Returns
    ({wanted: [part, ...]}, {(tenant, month): part computed})."""
    blocks: dict[str, dict[tuple[date, int], _Part]] = {tenant: {} for tenant, _, _ in wanted}
    covered: dict[str, set[date]] = {tenant: set() for tenant, _, _ in wanted}
    for size in BLOCKS if cached else ():  # years first, then quarters where no year was kept
        candidates = [(tenant, month, n) for tenant, start, end in wanted for month, n in _blocks_within(start, end)
                      if n == size and month not in covered[tenant]]
        if not candidates:
            continue
        for tenant, month, n, part in _load_kept(conn, "stats_block", _VALID_BLOCKS,
                                                 [list(c) for c in zip(*candidates)]):
            blocks[tenant][(month, n)] = part
            covered[tenant].update(_add_months(month, i) for i in range(n))
    units = {(tenant, start, end): _split(start, end, blocks[tenant].keys()) for tenant, start, end in wanted}
    pairs = sorted({(key[0], month) for key, split in units.items() for month, n in split if n == 1})
    months = {}
    if cached and pairs:
        months = {(tenant, month): part for tenant, month, part in
                  _load_kept(conn, "stats_month", _VALID_MONTHS, [list(c) for c in zip(*pairs)])}
    computed = _compute_months(conn, [pair for pair in pairs if pair not in months]) if len(months) < len(pairs) else {}
    months.update(computed)
    return ({key: [months[(key[0], month)] if n == 1 else blocks[key[0]][(month, n)] for month, n in split]
             for key, split in units.items()}, computed)


def _whole(parts: list[_Part]) -> _Part:
    """One tenant's part for a period from the parts that cover it, with its
    own timings (a block kept them)."""
    if len(parts) == 1 and "timings" in parts[0].counts:
        return parts[0]
    part = _Part.merge(parts)
    return _Part({**part.counts, "timings": {name: _timings(part.durations[name]) for name in TIMINGS}},
                 part.durations)


# the years (and each of their quarters) where a tenant has a month marked: those kept before the last mark in
# them, or never kept (a quarter without marks too, so that a year with one month changed is four parts)
_DUE_BLOCKS = """
SELECT d.tenant, d.month, d.months FROM (
    SELECT s.tenant, b.month, b.months, max(s.position) FILTER (
               WHERE s.month >= b.month AND s.month < (b.month + make_interval(months => b.months))::date) AS changed
    FROM stats_changed s CROSS JOIN LATERAL (
        SELECT (date_trunc('year', s.month) + make_interval(months => q))::date, 3 FROM generate_series(0, 9, 3) AS q
        UNION ALL SELECT date_trunc('year', s.month)::date, 12) AS b(month, months)
    GROUP BY 1, 2, 3) AS d
LEFT JOIN stats_block k USING (tenant, month, months)
WHERE k.position IS NULL OR k.position < d.changed
ORDER BY d.months, d.month DESC, d.tenant LIMIT %s
"""


def keep_blocks(conn, limit: int = KEEP_BATCH) -> int:
    """Merge and keep up to ``limit`` quarters and years due (``_DUE_BLOCKS``),
    quarters first so that years are merged from them. Returns how many
    (the service calls it on a timer, after ``keep_months``)."""
    with _snapshot(conn) as (at, rebuilding):
        if rebuilding:  # figures of a rebuild in progress are partial: not kept
            return 0
        due = [tuple(row) for row in conn.execute(_DUE_BLOCKS, (limit,)).fetchall()]
        wanted = [(tenant, month, _add_months(month, n - 1)) for tenant, month, n in due]
        gathered, computed = _gather(conn, wanted) if due else ({}, {})
    if due:
        _keep(conn, at, computed, blocks={block: _whole(gathered[key]) for block, key in zip(due, wanted)})
    return len(due)


@contextmanager
def _snapshot(conn):
    """A transaction that sees one state of the read models, and the log
    position and rebuild flag of that state."""
    outermost = conn.info.transaction_status == TransactionStatus.IDLE
    with conn.transaction():
        if outermost:  # inside a caller's transaction its isolation stands
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        yield conn.execute("SELECT position, counts_deferred FROM tracking WHERE upstream = %s",
                           (UPSTREAM,)).fetchone() or (0, True)  # no row: emptied by a crash in a rebuild


def _upsert(table: str, keys: tuple[str, ...], values: tuple[str, ...] = ("counts", "durations")) -> str:
    """Keep a row (parameters: keys, position, values) unless one of a later position is kept already."""
    columns = (*keys, "position", *values)
    return (f"INSERT INTO {table} AS k ({', '.join(columns)}, computed_at) VALUES ({', '.join(['%s'] * len(columns))}, "
            f"now()) ON CONFLICT ({', '.join(keys)}) DO UPDATE SET "
            + ", ".join(f"{c} = EXCLUDED.{c}" for c in ("position", "computed_at", *values))
            + " WHERE k.position < EXCLUDED.position")


_KEEP = {"month": _upsert("stats_month", ("tenant", "month")),
         "block": _upsert("stats_block", ("tenant", "month", "months")),
         "period": _upsert("stats_period", ("key",), ("tenant", "counts", "durations")),
         "report": _upsert("stats_report", ("key",), ("result",))}


def _keep(conn, at: int, computed: dict[tuple[str, date], _Part],
          periods: dict[str, tuple[str, _Part]] | None = None, report: tuple[str, dict] | None = None,
          blocks: dict[tuple[str, date, int], _Part] | None = None) -> None:
    """Keep computed month parts, blocks, tenant-period parts (``periods``:
    key -> (tenant, part)) and a report at position ``at``, unless newer
    ones are kept already."""
    with conn.transaction(), conn.cursor() as cur:
        # what is kept can be computed again: a commit need not wait for the WAL to reach the disk
        cur.execute("SET LOCAL synchronous_commit = off")
        # in key order: a report and the timer (or two instances) keeping the same parts never deadlock
        for kind, rows in (("month", [(*key, at, *part.dump()) for key, part in sorted(computed.items())]),
                           ("block", [(*key, at, *part.dump()) for key, part in sorted((blocks or {}).items())]),
                           ("period", [(key, at, tenant, *part.dump())
                                       for key, (tenant, part) in sorted((periods or {}).items())]),
                           ("report", [(report[0], at, Json(report[1]))] if report else [])):
            if rows:
                cur.executemany(_KEEP[kind], rows)


def keep_months(conn, limit: int = KEEP_BATCH) -> int:
    """Compute and keep the parts of up to ``limit`` tenant-months marked
    changed after their kept part (or without one), latest months first.
    Returns how many (the service calls it on a timer until none are left)."""
    with _snapshot(conn) as (at, rebuilding):
        if rebuilding:  # figures of a rebuild in progress are partial: not kept
            return 0
        pairs = conn.execute(
            "SELECT s.tenant, s.month FROM stats_changed s LEFT JOIN stats_month m USING (tenant, month) "
            "WHERE m.position IS NULL OR m.position < s.position ORDER BY s.month DESC, s.tenant LIMIT %s",
            (limit,)).fetchall()
        computed = _compute_months(conn, [tuple(pair) for pair in pairs]) if pairs else {}
    if computed:
        _keep(conn, at, computed)
    return len(pairs)


def _load_parts(conn, sql: str, params) -> list[tuple]:
    """Kept parts: rows of (key columns..., counts text, durations) -> (key columns..., _Part).
    Binary: durations come as bytes, not hex text (half of reading a
    province-year's parts); counts as text for orjson (json's own parser
    took a fifth of assembling one)."""
    with conn.cursor(binary=True) as cur:
        return [(*keys, _Part.load(orjson.loads(counts), durations))
                for *keys, counts, durations in cur.execute(sql, params)]


def _report(conn, kind: str, tenants: list[str], start: date, end: date, cached: bool, assemble, defer=None) -> dict:
    """``assemble(parts)``: the report of ``tenants`` from each one's part
    for the period, all from one snapshot of the read models. Kept three
    ways, each used while none of its tenant-months changed after it: the
    report itself (``stats_report``); each tenant's part for the period
    (``stats_period``), else assembled from its kept blocks and months
    (``_gather``). A province-year after one tenant-month changed merges 38
    tenants' kept parts, and the changed tenant's three kept quarters and
    three months. ``defer(keep)``: where given, keeping what was computed
    (``keep(conn)``) is left to the caller, to do after the response (the
    service); otherwise it is kept here, before returning."""
    start, end = month_range(start, end)[:2]
    report_key = json.dumps([kind, tenants, start.isoformat(), end.isoformat()])
    keys = {tenant: json.dumps([tenant, start.isoformat(), end.isoformat()]) for tenant in tenants}
    with _snapshot(conn) as (at, rebuilding):
        periods = {}
        if cached:
            report = conn.execute(
                "SELECT result FROM stats_report WHERE key = %s AND position >= (SELECT coalesce(max(position), 0) "
                "FROM stats_changed WHERE tenant = ANY(%s) AND month BETWEEN %s AND %s)",
                (report_key, tenants, start, end)).fetchone()
            if report:
                return report[0]
            periods = dict(_load_parts(
                conn, "SELECT p.tenant, p.counts::text, p.durations FROM stats_period p WHERE p.key = ANY(%s) AND "
                "p.position >= (SELECT coalesce(max(s.position), 0) FROM stats_changed s WHERE s.tenant = p.tenant "
                "AND s.month BETWEEN %s AND %s)", (list(keys.values()), start, end)))
        rest = [tenant for tenant in tenants if tenant not in periods]
        gathered, computed = _gather(conn, [(tenant, start, end) for tenant in rest], cached) if rest else ({}, {})
    parts = {tenant: gathered[(tenant, start, end)] for tenant in rest}
    assembled = {tenant: _whole(parts[tenant]) for tenant in rest}
    report = assemble([periods.get(tenant) or assembled[tenant] for tenant in tenants])
    if cached and not rebuilding:  # figures of a rebuild in progress are partial: not kept
        # a tenant's part for the period is kept unless it is a single kept part already
        periods = {keys[tenant]: (tenant, part) for tenant, part in assembled.items() if len(parts[tenant]) > 1}
        def keep(into):
            _keep(into, at, computed, periods, (report_key, report))
        if defer is None:
            keep(conn)
        else:
            defer(keep)
    return report


def _timings(values: np.ndarray) -> dict:
    """count, median and p90 in days, as PostgreSQL's percentile_cont: linear
    interpolation between the two nearest durations (one partition finds
    them; np.percentile's own overhead was most of a province overview)."""
    n = len(values)
    if not n:
        return {"count": 0, "median_days": None, "p90_days": None}
    ranks = [(q * (n - 1), int(q * (n - 1))) for q in (0.5, 0.9)]
    nearest = sorted({i for _, low in ranks for i in (low, min(low + 1, n - 1))})
    ordered = dict(zip(nearest, np.partition(values, nearest)[nearest].tolist()))
    p50, p90 = (ordered[low] + (h - low) * (ordered[min(low + 1, n - 1)] - ordered[low]) for h, low in ranks)
    return {"count": n, "median_days": round(p50, 2), "p90_days": round(p90, 2)}


def _assemble(parts: list[_Part]) -> dict:
    """The figures of several tenants' parts (for the period) together."""
    part = _Part.merge(parts) if parts else _Part.empty()
    counts = part.counts
    outcomes = sorted(((source, pack, rule), (n, met)) for source, pack, rule, n, met in counts["deadlines"])
    return {
        "total": sum(counts["by_status"].values()),
        **{name: dict(sorted(counts[name].items())) for name in _COUNTS},
        "timings": parts[0].counts["timings"] if len(parts) == 1 else
                   {name: _timings(part.durations[name]) for name in TIMINGS},
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


def forget_kept(conn, older_than: timedelta = timedelta(days=1)) -> int:
    """Drop reports and tenant-period parts kept since before ``older_than``
    ago (they hold the periods people ask for; one asked for again is
    assembled again from the months' parts, which stay)."""
    with conn.transaction():
        conn.execute("DELETE FROM stats_report WHERE computed_at < now() - %s", (older_than,))
        return conn.execute("DELETE FROM stats_period WHERE computed_at < now() - %s", (older_than,)).rowcount


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
