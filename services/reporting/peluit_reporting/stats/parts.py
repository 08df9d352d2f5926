"""A tenant's month: the part every report is assembled from, and its maths
(months, merging parts, the timing percentiles). No SQL here."""

from __future__ import annotations

from datetime import date, datetime, time

import numpy as np
from psycopg.types.json import Json

from ..projection import TIMEZONE

TIMINGS = {"acknowledge": "first_response_at", "verify": "verified_at", "close": "closed_at"}


def add_months(month: date, n: int) -> date:
    """The first day of the month ``n`` months after ``month`` (a first day)."""
    year, index = divmod(month.year * 12 + month.month - 1 + n, 12)
    return date(year, index + 1, 1)


def _next_month(month: date) -> date:
    return add_months(month.replace(day=1), 1)


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

SETS = {0b011: "by_status", 0b101: "by_category", 0b110: "by_channel"}
COUNTS = (*SETS.values(), "by_month")


class Part:
    """Figures of one tenant and one month, or several added together
    (``merge``). ``counts``: JSON-able; deadlines [source, pack, rule, total,
    met] and forwarded [kind, destination, count] as lists. ``durations``:
    days per timing, float64, unsorted."""

    def __init__(self, counts: dict, durations: dict[str, np.ndarray]):
        self.counts, self.durations = counts, durations

    @classmethod
    def empty(cls) -> Part:
        return cls({**{name: {} for name in COUNTS}, "deadlines": [], "forwarded": [], "sanctions": {}},
                   {name: np.empty(0) for name in TIMINGS})

    def dump(self) -> tuple[Json, bytes]:
        counts = {**self.counts, "timed": [len(self.durations[name]) for name in TIMINGS]}
        return Json(counts), b"".join(self.durations[name].astype("<f8").tobytes() for name in TIMINGS)

    @classmethod
    def load(cls, counts: dict, durations: bytes) -> Part:
        values, durations_by_name, at = np.frombuffer(durations, dtype="<f8"), {}, 0
        for name, n in zip(TIMINGS, counts.pop("timed")):
            durations_by_name[name], at = values[at:at + n], at + n
        return cls(counts, durations_by_name)

    @classmethod
    def merge(cls, parts: list[Part]) -> Part:
        """The figures of ``parts`` together (other months, other tenants).
        Plain dict loops: a province-year merges ~470 parts."""
        if len(parts) == 1:
            return parts[0]
        sums = {name: {} for name in COUNTS}
        deadlines, forwarded, sanctions = {}, {}, {}
        for part in parts:
            counts = part.counts
            for name in COUNTS:
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



def whole(parts: list[Part]) -> Part:
    """One tenant's part for a period from the parts that cover it, with its
    own timings (a block kept them)."""
    if len(parts) == 1 and "timings" in parts[0].counts:
        return parts[0]
    part = Part.merge(parts)
    return Part({**part.counts, "timings": {name: timings(part.durations[name]) for name in TIMINGS}},
                 part.durations)



def timings(values: np.ndarray) -> dict:
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


