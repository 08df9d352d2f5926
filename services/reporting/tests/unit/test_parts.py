"""The statistics' maths without a database: percentiles as PostgreSQL's
percentile_cont, parts that merge and survive being kept, months and the
kept blocks that cover a period, and the public suppression."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from peluit_reporting.stats.kept import _blocks_within, _split
from peluit_reporting.stats.parts import TIMINGS, Part, add_months, month_range, timings, whole
from peluit_reporting.stats.public import suppressed


@pytest.mark.parametrize("values", [[3.0], [1.0, 2.0], [5.0, 1.0, 4.0, 2.0, 3.0], list(np.linspace(0.1, 40, 37))])
def test_timings_interpolate_linearly_like_percentile_cont(values):
    got = timings(np.array(values))
    assert got["count"] == len(values)
    assert got["median_days"] == round(float(np.percentile(values, 50)), 2)
    assert got["p90_days"] == round(float(np.percentile(values, 90)), 2)


def test_no_durations_have_no_percentiles():
    assert timings(np.empty(0)) == {"count": 0, "median_days": None, "p90_days": None}


def part(status: dict, days: list[float], deadlines=(), forwarded=(), sanctions=None) -> Part:
    p = Part.empty()
    p.counts["by_status"].update(status)
    p.counts["deadlines"] += [list(d) for d in deadlines]
    p.counts["forwarded"] += [list(f) for f in forwarded]
    p.counts["sanctions"].update(sanctions or {})
    p.durations["close"] = np.array(days)
    return p


def test_parts_merge_counts_and_durations():
    a = part({"diterima": 2}, [1.0, 3.0], deadlines=[("closed", "lapor", "first_response", 2, 1)],
             forwarded=[("external", "kpk", 1)], sanctions={"sedang": 1})
    b = part({"diterima": 1, "selesai": 4}, [2.0], deadlines=[("closed", "lapor", "first_response", 3, 3)],
             forwarded=[("external", "kpk", 2)], sanctions={"berat": 1})
    merged = Part.merge([a, b])
    assert merged.counts["by_status"] == {"diterima": 3, "selesai": 4}
    assert merged.counts["deadlines"] == [["closed", "lapor", "first_response", 5, 4]]
    assert merged.counts["forwarded"] == [["external", "kpk", 3]]
    assert merged.counts["sanctions"] == {"sedang": 1, "berat": 1}
    assert sorted(merged.durations["close"]) == [1.0, 2.0, 3.0]
    assert Part.merge([a]) is a
    # a tenant's part for a period carries its own timings: the median of the merged durations
    assert whole([a, b]).counts["timings"]["close"] == {"count": 3, "median_days": 2.0, "p90_days": 2.8}


def test_a_part_kept_and_read_back_is_the_same():
    a = part({"diterima": 2}, [1.5, 0.25], deadlines=[("breached", "", "verification", 1, 0)])
    counts, durations = a.dump()
    back = Part.load(dict(counts.obj), durations)
    assert back.counts == a.counts
    assert all(np.array_equal(back.durations[name], a.durations[name]) for name in TIMINGS)


def test_months():
    assert add_months(date(2026, 11, 1), 3) == date(2027, 2, 1)
    assert add_months(date(2026, 1, 1), -1) == date(2025, 12, 1)
    start, end, t0, t1 = month_range(date(2026, 3, 1), date(2026, 12, 1))
    assert (t0.isoformat(), t1.isoformat()) == ("2026-03-01T00:00:00+07:00", "2027-01-01T00:00:00+07:00")


def test_a_period_is_covered_by_the_fewest_kept_blocks():
    assert _blocks_within(date(2026, 2, 1), date(2026, 10, 1)) == [(date(2026, 4, 1), 3), (date(2026, 7, 1), 3)]
    year = _blocks_within(date(2026, 1, 1), date(2026, 12, 1))
    assert (date(2026, 1, 1), 12) in year and len(year) == 5
    kept = {(date(2026, 4, 1), 3)}
    assert _split(date(2026, 2, 1), date(2026, 7, 1), kept) == [
        (date(2026, 2, 1), 1), (date(2026, 3, 1), 1), (date(2026, 4, 1), 3), (date(2026, 7, 1), 1)]
    assert _split(date(2026, 1, 1), date(2026, 12, 1), {(date(2026, 1, 1), 12)}) == [(date(2026, 1, 1), 12)]


@pytest.mark.parametrize("count,published", [(0, "<5"), (1, "<5"), (4, "<5"), (5, 5), (123, 123)])
def test_small_cells_are_suppressed(count, published):
    assert suppressed(count) == published
