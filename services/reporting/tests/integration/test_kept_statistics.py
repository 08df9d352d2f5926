"""Kept statistics: reports, tenant-period parts, blocks and month parts are
used while none of their tenant-months changed, and equal a fresh
computation when they are."""

from __future__ import annotations

import copy
import json
from datetime import date, datetime, timedelta, timezone

import pytest

from peluit_reporting import projection, stats
from peluit_reporting.stats import compute, kept

from .readmodel import T0, applied, paged

YEAR = (date(2026, 1, 1), date(2026, 12, 1))


@pytest.fixture
def log(conn, built):
    """A copy of the module's log to extend; after the test, the module's read
    model as ``built`` left it, and no part parsed in this process."""
    yield copy.deepcopy(built[0])
    applied(conn, built[0])
    stats._PARSED.clear()


@pytest.fixture
def served(monkeypatch):
    """``served(report)``: calls it and tells how it was served: "report"
    (the kept report read back), or (tenant-period parts read back kept,
    quarters and years read back kept, month parts read back kept, month
    parts computed). A spy around the real functions, which run as they are."""
    seen = []
    load, compute_months = kept.load_parts, kept.compute_months

    def loading(conn, sql, params):
        rows = load(conn, sql, params)
        seen.append(("periods" if "FROM stats_period" in sql else "blocks" if "stats_block" in sql else "months",
                     len(rows)))
        return rows

    def computing(conn, pairs):
        seen.append(("computed", len(pairs)))
        return compute_months(conn, pairs)

    monkeypatch.setattr(kept, "load_parts", loading)
    monkeypatch.setattr(kept, "compute_months", computing)

    def serve(report):
        seen.clear()
        stats._PARSED.clear()  # every kept part read back from PostgreSQL, so that it is counted here
        report()
        if not seen:
            return "report"
        counts = dict.fromkeys(("periods", "blocks", "months", "computed"), 0)
        for kind, n in seen:
            counts[kind] += n
        return tuple(counts.values())
    return serve


def test_statistics_are_assembled_from_kept_parts_until_a_tenant_month_changes(conn, log, served):
    may = (date(2026, 5, 1), date(2026, 5, 1))
    projection.reset(conn)
    fetch, _ = paged(log)
    assert projection.follow(conn, fetch, window=4)["next"] > 0
    stats.province_overview(conn, "35", *YEAR)
    with conn.transaction():  # figures of a rebuild in progress are partial: not kept
        assert conn.execute("SELECT count(*) FROM stats_month").fetchone()[0] == 0
    while (step := projection.follow(conn, fetch, window=4))["next"] != step["start"]:
        pass

    def same(kept, fresh):  # the same figures in the same order
        assert json.dumps(kept) == json.dumps(fresh)
        return kept

    province = lambda cached=True: stats.province_overview(conn, "35", *YEAR, cached=cached)  # noqa: E731
    surabaya = lambda cached=True: stats.tenant_stats(conn, ["35.78"], *YEAR, cached=cached)  # noqa: E731
    malang_may = lambda cached=True: stats.tenant_stats(conn, ["35.73"], *may, cached=cached)  # noqa: E731
    for report in (province, surabaya, malang_may):
        same(report(), report(cached=False))

    assert (served(province), served(surabaya), served(malang_may)) == ("report",) * 3

    def follow(*changes):  # new log positions, followed incrementally
        for change in changes:
            change()
        fetch, head = paged(log)
        assert projection.follow(conn, fetch)["next"] == head

    # a case registered in January 2027 changes none of them
    follow(lambda: log.register("35.73", datetime(2027, 1, 5, 3, 0, tzinfo=timezone.utc)))
    assert (served(province), served(surabaya), served(malang_may)) == ("report",) * 3
    # C (35.73, registered in April) acknowledged: the province-year is assembled again from Surabaya's kept
    # part for the year and 35.73's months, eleven kept and April computed again (two tenants have cases)
    assert stats.province_tenants(conn, "35") == ["35.73", "35.78"]
    c = [e for e in log.envelopes if e["type"] == "case.registered"][2]["data"]["case_id"]
    follow(lambda: log.step(c, 3, "35.73", "verifikasi", "verification_started", T0 + timedelta(days=41)))
    assert (served(province), served(surabaya), served(malang_may)) == ((1, 0, 11, 1), "report", "report")
    fresh = province(cached=False)
    assert fresh["overall"]["total"] == 10 and fresh["overall"]["timings"]["acknowledge"]["count"] == 2
    # a breach noticed in May (a dated row, of a case registered in April): May's part again, computed by
    # the province's report and then read back kept by Malang's May
    follow(lambda: log.add(c, 4, "case.deadline_breached", "35.73", T0 + timedelta(days=62), {
        "tenant": "35.73", "rule": "verification", "due_at": T0 + timedelta(days=55),
        "noticed_at": T0 + timedelta(days=62)}, ":breached"))
    assert (served(province), served(surabaya), served(malang_may)) == ((1, 0, 11, 1), "report", (0, 0, 1, 0))
    fresh = same(malang_may(), malang_may(cached=False))
    assert fresh["total"] == 0 and fresh["breaches"] == [{"rule": "verification", "count": 1}]
    for report in (province, surabaya, malang_may):  # what is kept now equals a fresh computation
        same(report(), report(cached=False))
        with conn.transaction():
            conn.execute("TRUNCATE stats_report")
        same(report(), report(cached=False))


def test_the_follower_keeps_each_changed_tenant_months_part_so_reports_compute_none(conn, log, served):
    province = lambda cached=True: stats.province_overview(conn, "35", *YEAR, cached=cached)  # noqa: E731
    # parts computed from the read model as it is, kept only after the rebuild below: they stand at an
    # older position than the rebuild's head, so they are not valid and keep_months computes them again
    with conn.transaction():
        before = projection.position(conn)
        pairs = conn.execute("SELECT DISTINCT tenant, month FROM case_count").fetchall()
        old = compute.compute_months(conn, [tuple(p) for p in pairs])
    log.register("35.73", T0 + timedelta(days=40))  # one more case in April
    projection.reset(conn)
    fetch, head = paged(log)
    while (step := projection.follow(conn, fetch, window=4))["next"] != step["start"]:
        pass
    with conn.transaction():
        months = conn.execute("SELECT DISTINCT tenant, month FROM case_count ORDER BY 1, 2").fetchall()
        marked = conn.execute("SELECT tenant, month, position FROM stats_changed ORDER BY 1, 2").fetchall()
    assert before < head and marked == [(*m, head) for m in months]  # every tenant-month with cases
    kept.keep_parts(conn, before, old)
    assert stats.keep_months(conn, limit=2) == 2
    assert 2 + stats.keep_months(conn) == len(months)
    assert stats.keep_months(conn) == 0
    # the report computes the tenant-months without cases only (kept after that, as every part)
    with_cases = sum(1 for tenant, month in months if month.year == 2026 and tenant.startswith("35."))
    assert served(province) == (0, 0, with_cases, 24 - with_cases)
    # then each year with cases and its four quarters, merged from the months (quarters first; months
    # without cases were kept by the report above): the province-year is one kept part per tenant
    blocks = {(t, date(m.year, q, 1), 3) for t, m in months for q in (1, 4, 7, 10)} | {
        (t, date(m.year, 1, 1), 12) for t, m in months}
    assert stats.keep_blocks(conn, limit=3) == 3
    assert 3 + stats.keep_blocks(conn) == len(blocks) and stats.keep_blocks(conn) == 0
    with conn.transaction():
        assert set(conn.execute("SELECT tenant, month, months FROM stats_block").fetchall()) == blocks
        conn.execute("TRUNCATE stats_report, stats_period")
    assert served(province) == (0, 2, 0, 0)
    assert json.dumps(province()) == json.dumps(province(cached=False))
    # one tenant-month changed: the follower's timer keeps it again, and the report reads it back kept with
    # the rest of 35.73's months (35.78's part for the year is unchanged)
    c = [e for e in log.envelopes if e["type"] == "case.registered"][2]["data"]["case_id"]
    log.step(c, 3, "35.73", "verifikasi", "verification_started", T0 + timedelta(days=41))
    fetch, head = paged(log)
    assert projection.follow(conn, fetch)["next"] == head
    assert (stats.keep_months(conn), stats.keep_months(conn)) == (1, 0)
    # before the timer merges 35.73's second quarter and year again: 35.78's year, 35.73's three other
    # quarters, and April (kept again), May and June
    assert served(province) == (0, 4, 3, 0)
    assert json.dumps(province()) == json.dumps(province(cached=False))
    assert (stats.keep_blocks(conn), stats.keep_blocks(conn)) == (2, 0)
    with conn.transaction():
        conn.execute("TRUNCATE stats_report, stats_period")
    assert served(province) == (0, 2, 0, 0)
    assert json.dumps(province()) == json.dumps(province(cached=False))
    # a period that is not a calendar year: the quarters that fit, months for the rest
    spring = lambda cached=True: stats.province_overview(  # noqa: E731
        conn, "35", date(2026, 2, 1), date(2026, 10, 1), cached=cached)
    assert served(spring) == (0, 4, 6, 0)  # Q2 and Q3 of each; February, March and October of each
    assert json.dumps(spring()) == json.dumps(spring(cached=False))


def test_kept_parts_are_read_once_per_process_and_position(conn, log, monkeypatch):
    province = lambda cached=True: stats.province_overview(conn, "35", *YEAR, cached=cached)  # noqa: E731
    reads, load = [], kept.load_parts
    monkeypatch.setattr(kept, "load_parts", lambda c, sql, params: reads.append(sql) or load(c, sql, params))

    def asked_again():  # the report and the tenant-period parts dropped: assembled from the kept parts
        with conn.transaction():
            conn.execute("TRUNCATE stats_report, stats_period")
        reads.clear()
        return json.dumps(province())
    while stats.keep_months(conn) or stats.keep_blocks(conn):
        pass
    stats._PARSED.clear()
    first = asked_again()
    assert any("stats_block" in sql for sql in reads)  # read from PostgreSQL the first time
    assert asked_again() == first and all("FROM stats_period" in sql for sql in reads)  # then parsed already
    # a change in 35.73's April: its quarter and year are merged again at a new position and read again,
    # 35.78's year is not
    c = [e for e in log.envelopes if e["type"] == "case.registered"][2]["data"]["case_id"]
    log.step(c, 3, "35.73", "verifikasi", "verification_started", T0 + timedelta(days=41))
    fetch, head = paged(log)
    assert projection.follow(conn, fetch)["next"] == head
    while stats.keep_months(conn) or stats.keep_blocks(conn):
        pass
    changed = asked_again()
    assert changed != first and changed == json.dumps(province(cached=False))
    assert [sql for sql in reads if "stats_block" in sql] and len(stats._PARSED.parts) >= 3
    # a kept row written anew at the same position (as a rebuild from a log derived anew would): read again
    with conn.transaction():
        assert conn.execute(
            "UPDATE stats_block SET computed_at = clock_timestamp(), counts = jsonb_set(counts::jsonb, "
            "'{by_status,diterima}', '999')::json WHERE tenant = '35.78' AND months = 12").rowcount == 1
    rewritten = json.loads(asked_again())
    assert next(line for line in rewritten["tenants"] if line["tenant"] == "35.78")["by_status"]["diterima"] == 999
    with conn.transaction():  # the figures as they were
        conn.execute("DELETE FROM stats_block WHERE tenant = '35.78' AND months = 12")
    while stats.keep_blocks(conn):
        pass
    # a process that has just started reads every kept part once (the service's timer), then none
    stats._PARSED.clear()
    with conn.transaction():
        stored = conn.execute("SELECT (SELECT count(*) FROM stats_month) + (SELECT count(*) FROM stats_block)")
        stored = stored.fetchone()[0]
    assert stats.read_kept(conn) == stored > 0 and stats.read_kept(conn) == 0
    assert asked_again() == changed and all("FROM stats_period" in sql for sql in reads)
