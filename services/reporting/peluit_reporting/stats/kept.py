"""Kept statistics: parts of tenant-months (``stats_month``), their
quarters and years (``stats_block``), tenant-periods and whole reports, each
used only while none of its tenant-months changed after it was computed."""

from __future__ import annotations

import os
from collections import OrderedDict
from contextlib import contextmanager
from datetime import date, timedelta

import orjson
from psycopg.pq import TransactionStatus
from psycopg.types.json import Json

from ..projection import UPSTREAM
from .compute import compute_months
from .parts import Part, add_months, whole

KEEP_BATCH = 100  # tenant-months per keep_months transaction (a province has ~40 a month)


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
        while add_months(month, n - 1) <= end:
            if month >= start:
                found.append((month, n))
            month = add_months(month, n)
    return found


def _split(start: date, end: date, kept: set[tuple[date, int]]) -> list[tuple[date, int]]:
    """Months ``start``..``end`` as the fewest parts (first month, months):
    the ``kept`` blocks that fit, single months for the rest."""
    units, month = [], start
    while month <= end:
        n = next((n for n in BLOCKS if (month, n) in kept and add_months(month, n - 1) <= end), 1)
        units.append((month, n))
        month = add_months(month, n)
    return units


# kept parts that no change has made stale, (key columns..., position, computed_at): a month's (its own
# mark), a block's (its months' marks)
_MONTH_VALID = "m.position >= coalesce(s.position, 0)"
_BLOCK_VALID = ("b.position >= (SELECT coalesce(max(s.position), 0) FROM stats_changed s WHERE s.tenant = b.tenant "
                "AND s.month >= b.month AND s.month < (b.month + make_interval(months => b.months))::date)")
_VALID_MONTHS = ("SELECT m.tenant, m.month, m.position, m.computed_at FROM unnest(%s::text[], %s::date[]) "
                 "AS w(tenant, month) "
                 "JOIN stats_month m USING (tenant, month) LEFT JOIN stats_changed s USING (tenant, month) WHERE "
                 + _MONTH_VALID)
_VALID_BLOCKS = ("SELECT b.tenant, b.month, b.months, b.position, b.computed_at "
                 "FROM unnest(%s::text[], %s::date[], %s::int[]) "
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
    def _bytes(part: Part) -> int:
        return sum(values.nbytes for values in part.durations.values()) + 2048  # + counts, roughly

    def get(self, key: tuple) -> Part | None:
        part = self.parts.get(key)
        if part is not None:
            self.parts.move_to_end(key)
        return part

    def put(self, key: tuple, part: Part) -> None:
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
        for *row, part in load_parts(conn, _FETCH[table], [list(column) for column in zip(*missing)]):
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
    with snapshot(conn):  # months first: past the memory limit, the oldest read go first
        read = sum(len(_load_kept(conn, table, sql, ())) for table, sql in _ALL_VALID.items())
    _PARSED.read_all = True
    return read


def gather(conn, wanted: list[tuple[str, date, date]], cached: bool = True):
    """Inside a snapshot: the parts that cover each (tenant, first month,
    last month) of ``wanted``: valid kept blocks, else its months' parts,
    kept or computed (all computed unless ``cached``). Returns
    ({wanted: [part, ...]}, {(tenant, month): part computed})."""
    blocks: dict[str, dict[tuple[date, int], Part]] = {tenant: {} for tenant, _, _ in wanted}
    covered: dict[str, set[date]] = {tenant: set() for tenant, _, _ in wanted}
    for size in BLOCKS if cached else ():  # years first, then quarters where no year was kept
        candidates = [(tenant, month, n) for tenant, start, end in wanted for month, n in _blocks_within(start, end)
                      if n == size and month not in covered[tenant]]
        if not candidates:
            continue
        for tenant, month, n, part in _load_kept(conn, "stats_block", _VALID_BLOCKS,
                                                 [list(c) for c in zip(*candidates)]):
            blocks[tenant][(month, n)] = part
            covered[tenant].update(add_months(month, i) for i in range(n))
    units = {(tenant, start, end): _split(start, end, blocks[tenant].keys()) for tenant, start, end in wanted}
    pairs = sorted({(key[0], month) for key, split in units.items() for month, n in split if n == 1})
    months = {}
    if cached and pairs:
        months = {(tenant, month): part for tenant, month, part in
                  _load_kept(conn, "stats_month", _VALID_MONTHS, [list(c) for c in zip(*pairs)])}
    computed = compute_months(conn, [pair for pair in pairs if pair not in months]) if len(months) < len(pairs) else {}
    months.update(computed)
    return ({key: [months[(key[0], month)] if n == 1 else blocks[key[0]][(month, n)] for month, n in split]
             for key, split in units.items()}, computed)


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
    with snapshot(conn) as (at, rebuilding):
        if rebuilding:  # figures of a rebuild in progress are partial: not kept
            return 0
        due = [tuple(row) for row in conn.execute(_DUE_BLOCKS, (limit,)).fetchall()]
        wanted = [(tenant, month, add_months(month, n - 1)) for tenant, month, n in due]
        gathered, computed = gather(conn, wanted) if due else ({}, {})
    if due:
        keep_parts(conn, at, computed, blocks={block: whole(gathered[key]) for block, key in zip(due, wanted)})
    return len(due)


@contextmanager
def snapshot(conn):
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


def keep_parts(conn, at: int, computed: dict[tuple[str, date], Part],
          periods: dict[str, tuple[str, Part]] | None = None, report: tuple[str, dict] | None = None,
          blocks: dict[tuple[str, date, int], Part] | None = None) -> None:
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
    with snapshot(conn) as (at, rebuilding):
        if rebuilding:  # figures of a rebuild in progress are partial: not kept
            return 0
        pairs = conn.execute(
            "SELECT s.tenant, s.month FROM stats_changed s LEFT JOIN stats_month m USING (tenant, month) "
            "WHERE m.position IS NULL OR m.position < s.position ORDER BY s.month DESC, s.tenant LIMIT %s",
            (limit,)).fetchall()
        computed = compute_months(conn, [tuple(pair) for pair in pairs]) if pairs else {}
    if computed:
        keep_parts(conn, at, computed)
    return len(pairs)


def load_parts(conn, sql: str, params) -> list[tuple]:
    """Kept parts: rows of (key columns..., counts text, durations) -> (key columns..., Part).
    Binary: durations come as bytes, not hex text (half of reading a
    province-year's parts); counts as text for orjson (json's own parser
    took a fifth of assembling one)."""
    with conn.cursor(binary=True) as cur:
        return [(*keys, Part.load(orjson.loads(counts), durations))
                for *keys, counts, durations in cur.execute(sql, params)]



def kept_report(conn, key: str, tenants: list[str], start: date, end: date) -> tuple | None:
    """Inside a snapshot: the kept report of ``key``, (result,), if none of its tenant-months changed since."""
    return conn.execute(
        "SELECT result FROM stats_report WHERE key = %s AND position >= (SELECT coalesce(max(position), 0) "
        "FROM stats_changed WHERE tenant = ANY(%s) AND month BETWEEN %s AND %s)",
        (key, tenants, start, end)).fetchone()


def kept_periods(conn, keys: list[str], start: date, end: date) -> dict[str, Part]:
    """Inside a snapshot: tenant -> its kept part for the period (``keys``)
    where none of its months ``start``..``end`` changed since."""
    return dict(load_parts(
        conn, "SELECT p.tenant, p.counts::text, p.durations FROM stats_period p WHERE p.key = ANY(%s) AND "
        "p.position >= (SELECT coalesce(max(s.position), 0) FROM stats_changed s WHERE s.tenant = p.tenant "
        "AND s.month BETWEEN %s AND %s)", (keys, start, end)))


def forget_kept(conn, older_than: timedelta = timedelta(days=1)) -> int:
    """Drop reports and tenant-period parts kept since before ``older_than``
    ago (they hold the periods people ask for; one asked for again is
    assembled again from the months' parts, which stay)."""
    with conn.transaction():
        conn.execute("DELETE FROM stats_report WHERE computed_at < now() - %s", (older_than,))
        return conn.execute("DELETE FROM stats_period WHERE computed_at < now() - %s", (older_than,)).rowcount


