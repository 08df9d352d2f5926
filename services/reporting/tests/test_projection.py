"""projection.apply and the statistics on a real PostgreSQL database with
hand-built envelopes (no broker, no nameko): values, idempotency of a
replayed page, rebuild equality, public suppression, exports."""

from __future__ import annotations

import copy
import csv
import io
import json
import uuid
from datetime import date, datetime, timedelta, timezone

import psycopg
import pytest
from psycopg import sql

from peluit_contracts.events import dump_envelope, load_envelope
from peluit_reporting import export, projection, stats
from peluit_reporting.stats import compute, kept

ADMIN_DSN = "host=127.0.0.1 user=postgres dbname=postgres"
T0 = datetime(2026, 3, 2, 2, 0, tzinfo=timezone.utc)  # Monday 09:00 in Jakarta


@pytest.fixture(scope="module")
def conn():
    name = f"ptreporting_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        with psycopg.connect(f"host=127.0.0.1 user=postgres dbname={name}", autocommit=True) as c:
            projection.migrate(c)
            yield c
    finally:
        with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


class Log:
    """A hand-built notification log: positions grow like the event store's."""

    def __init__(self):
        self.position, self.envelopes = 0, []

    def add(self, case_id, version, event_type, tenant, at, data, suffix=""):
        self.position += 1
        self.envelopes.append(load_envelope(dump_envelope(
            event_id=f"{case_id}:{version}{suffix}", event_type=event_type, version=1, time=at,
            subject=str(case_id), tenant=tenant, position=self.position, data={"case_id": case_id, **data})))

    def register(self, tenant, at, category="korupsi", channel="web"):
        case_id = uuid.uuid4()
        self.add(case_id, 1, "case.registered", tenant, at, {
            "tenant": tenant, "registration_number": f"WBS/{tenant}/2026/{self.position + 1:06d}",
            "category": category, "channel": channel, "anonymous": True, "registered_at": at})
        return case_id

    def step(self, case_id, version, tenant, status, step, at, origin=None):
        self.add(case_id, version, "case.status_changed", tenant, at, {
            "tenant": tenant, "origin_tenant": origin or tenant, "status": status, "step": step, "changed_at": at})


def build_log() -> tuple[Log, dict]:
    log, ids = Log(), {}
    # A: verified after 1 day, accepted after 2, investigated, sanction, closed after 10 days
    a = ids["a"] = log.register("35.73", T0)
    log.step(a, 2, "35.73", "verifikasi", "verification_started", T0 + timedelta(days=1))
    log.step(a, 3, "35.73", "penelaahan", "accepted", T0 + timedelta(days=2))
    log.step(a, 4, "35.73", "investigasi", "investigation_started", T0 + timedelta(days=3))
    log.step(a, 5, "35.73", "tindak_lanjut", "findings_recorded", T0 + timedelta(days=8))
    log.add(a, 5, "case.sanction_recommended", "35.73", T0 + timedelta(days=8), {
        "registration_number": "WBS/35.73/2026/000001", "tenant": "35.73", "recommendation_id": "R1",
        "level": "sedang", "sanction": "pemotongan_tukin_25_persen", "months": 6,
        "recommended_at": T0 + timedelta(days=8)}, ":R1")
    closed = T0 + timedelta(days=10)
    log.position += 1  # the envelopes of one stored event share its position
    pos = log.position
    for env_type, data, suffix in [
        ("case.status_changed", {"tenant": "35.73", "origin_tenant": "35.73", "status": "selesai", "step": "closed",
                                 "changed_at": closed}, ""),
        ("case.closed", {"registration_number": "WBS/35.73/2026/000001", "tenant": "35.73", "outcome": "terbukti",
                         "closed_at": closed}, ":closed"),
        ("case.deadline_outcomes", {"tenant": "35.73", "pack": "lapor", "closed_at": closed, "deadlines": [
            {"rule": "first_response", "due_at": T0 + timedelta(days=3), "met_at": T0 + timedelta(days=1),
             "met": True},
            {"rule": "investigation", "due_at": T0 + timedelta(days=7), "met_at": T0 + timedelta(days=8),
             "met": False}]}, ":deadlines"),
    ]:
        log.envelopes.append(load_envelope(dump_envelope(
            event_id=f"{a}:6{suffix}", event_type=env_type, version=1, time=closed, subject=str(a),
            tenant="35.73", position=pos, data={"case_id": a, **data})))
    # B: forwarded to an external body after 3 days
    b = ids["b"] = log.register("35.73", T0 + timedelta(days=1), category="pungli", channel="email")
    log.step(b, 2, "35.73", "dilimpahkan", "forwarded", T0 + timedelta(days=4))
    log.add(b, 2, "case.forwarded", "35.73", T0 + timedelta(days=4), {
        "registration_number": "x", "from_tenant": "35.73", "destination_kind": "external",
        "destination": "kpk", "forwarded_at": T0 + timedelta(days=4)}, ":forwarded")
    # C: still waiting, with a breached first response
    c = ids["c"] = log.register("35.73", T0 + timedelta(days=40))
    log.add(c, 2, "case.deadline_breached", "35.73", T0 + timedelta(days=45), {
        "tenant": "35.73", "rule": "first_response", "due_at": T0 + timedelta(days=43),
        "noticed_at": T0 + timedelta(days=45)}, ":breached")
    # noticed again (as after a scheduler's restart): the first notice stands, incrementally and in a rebuild
    log.add(c, 2, "case.deadline_breached", "35.73", T0 + timedelta(days=46), {
        "tenant": "35.73", "rule": "first_response", "due_at": T0 + timedelta(days=43),
        "noticed_at": T0 + timedelta(days=46)}, ":breached-again")
    # D: forwarded from Kabupaten Malang to Kota Malang (it counts where it is handled now)
    d = ids["d"] = log.register("35.07", T0 + timedelta(days=2))
    log.step(d, 2, "35.73", "diterima", "forwarded", T0 + timedelta(days=5), origin="35.07")
    log.add(d, 2, "case.forwarded", "35.07", T0 + timedelta(days=5), {
        "registration_number": "y", "from_tenant": "35.07", "destination_kind": "tenant",
        "destination": "35.73", "forwarded_at": T0 + timedelta(days=5)}, ":forwarded")
    # E, outside the province: acknowledged, accepted, then forwarded (two steps that end verification; the
    # first counts), its moves logged after the Surabaya cases so that a rebuild stages them
    e = ids["e"] = log.register("36.03", T0 + timedelta(days=3))
    # six more in Surabaya, for the public threshold
    for i in range(6):
        log.register("35.78", T0 + timedelta(hours=i), category="pengadaan")
    log.step(e, 2, "36.03", "verifikasi", "verification_started", T0 + timedelta(days=4))
    log.step(e, 3, "36.03", "penelaahan", "accepted", T0 + timedelta(days=5))
    log.step(e, 4, "36.03", "dilimpahkan", "forwarded", T0 + timedelta(days=7))
    return log, ids


def emptied(conn):
    """The read models emptied (``reset``) and at once a follower at the head
    of an empty log: keyed and indexed, so that ``apply_page`` works as it
    does for a follower that has caught up."""
    projection.reset(conn)
    with conn.transaction():
        projection.finish_rebuild(conn, 0)


def apply_page(conn, envelopes):
    with conn.transaction():
        projection.apply_page(conn, envelopes)
        projection.advance(conn, envelopes[-1]["position"])


@pytest.fixture(scope="module")
def built(conn):
    log, ids = build_log()
    emptied(conn)
    for i in range(0, len(log.envelopes), 4):  # several pages
        apply_page(conn, log.envelopes[i:i + 4])
    return log, ids


def test_officer_statistics_follow_the_definitions(conn, built):
    s = stats.tenant_stats(conn, ["35.73"], date(2026, 1, 1), date(2026, 12, 1))
    assert s["total"] == 4
    assert s["by_status"] == {"diterima": 2, "dilimpahkan": 1, "selesai": 1}
    assert s["by_category"] == {"korupsi": 3, "pungli": 1}
    assert s["by_channel"] == {"email": 1, "web": 3}
    assert s["by_month"] == {"2026-03": 3, "2026-04": 1}
    t = s["timings"]
    assert t["acknowledge"] == {"count": 1, "median_days": 1.0, "p90_days": 1.0}
    # verified: A after 2 days, B forwarded after 3, D forwarded out of 35.07 after 3 (it now counts here)
    assert t["verify"]["count"] == 3 and t["verify"]["median_days"] == 3.0
    assert t["close"] == {"count": 1, "median_days": 10.0, "p90_days": 10.0}
    assert s["deadlines"] == [
        {"pack": "lapor", "rule": "first_response", "total": 1, "met": 1, "missed": 0, "compliance": 1.0},
        {"pack": "lapor", "rule": "investigation", "total": 1, "met": 0, "missed": 1, "compliance": 0.0}]
    assert s["breaches"] == [{"rule": "first_response", "count": 1}]
    assert s["forwarded"] == [{"destination_kind": "external", "destination": "kpk", "count": 1}]
    assert s["sanctions"] == [{"level": "sedang", "count": 1}]
    # a period selects by registration month
    march = stats.tenant_stats(conn, ["35.73"], date(2026, 3, 1), date(2026, 3, 1))
    assert march["total"] == 3 and march["breaches"] == []
    e = stats.tenant_stats(conn, ["36.03"], date(2026, 1, 1), date(2026, 12, 1))["timings"]
    assert (e["acknowledge"]["median_days"], e["verify"]["median_days"]) == (1.0, 2.0)  # the first, accepted
    kab = stats.tenant_stats(conn, ["35.07"], date(2026, 1, 1), date(2026, 12, 1))
    assert kab["total"] == 0 and kab["forwarded"] == [{"destination_kind": "tenant", "destination": "35.73",
                                                         "count": 1}]


def test_province_overview_sums_its_tenants(conn, built):
    p = stats.province_overview(conn, "35", date(2026, 1, 1), date(2026, 12, 1))
    assert p["overall"]["total"] == 10
    assert {t["tenant"]: t["total"] for t in p["tenants"]} == {"35.73": 4, "35.78": 6}  # 35.07 has none left


def test_a_replayed_page_changes_nothing(conn, built):
    log, _ = built
    before = projection.dump(conn)
    apply_page(conn, log.envelopes)  # everything again, as if the tracking row had been lost
    apply_page(conn, log.envelopes[3:9])
    assert projection.dump(conn) == before


def test_any_page_size_and_the_wire_form_give_the_same_tables(conn, built):
    """Moves of one case folded within a page must equal applying them one by
    one; envelopes as the cases RPC sends them (JSON values, not loaded)
    must give what loaded ones give."""
    log, _ = built
    before = projection.dump(conn)
    wire = [json.loads(json.dumps(e, default=str)) for e in log.envelopes]
    for size in (1, 2, 3, 5, 7, len(wire)):
        emptied(conn)
        for i in range(0, len(wire), size):
            apply_page(conn, (wire if size % 2 else log.envelopes)[i:i + size])
        assert projection.dump(conn) == before, f"pages of {size}"


def paged(log):
    """A ``fetch`` over the log: pages of two positions (a position's envelopes stay together)."""
    wire = [json.loads(json.dumps(e, default=str)) for e in log.envelopes]
    head = wire[-1]["position"]

    def fetch(after):
        positions = sorted({e["position"] for e in wire if e["position"] > after})[:2]
        return {"events": [e for e in wire if e["position"] in positions],
                "next": positions[-1] if positions else after, "head": head}
    return fetch, head


KEYED = {*projection.INDEXES, projection.REBUILD_KEY[1]}  # the indexes a rebuild drops until it catches up


def storage(conn) -> tuple[set[str], set[str]]:
    """(the tracking and read-model tables that are UNLOGGED, which of the indexes a rebuild drops exist)"""
    with conn.transaction():
        unlogged = {r[0] for r in conn.execute(
            "SELECT relname FROM pg_class WHERE relname = ANY(%s) AND relpersistence = 'u'",
            (["tracking", *projection.READ_MODELS],)).fetchall()}
        indexes = {r[0] for r in conn.execute("SELECT relname FROM pg_class WHERE relname = ANY(%s)",
                                               (list(KEYED),)).fetchall()}
    return unlogged, indexes


def test_a_rebuild_by_follow_derives_the_counts_when_it_catches_up(conn, built):
    log, _ = built
    before = projection.dump(conn)
    fetch, head = paged(log)
    projection.reset(conn)
    step = projection.follow(conn, fetch, window=4)
    assert 0 < step["next"] < head
    partial = projection.dump(conn)
    assert partial["case_summary"] and not partial["case_count"]  # counts wait for the catch-up
    # no WAL and no secondary indexes while it runs ...
    assert storage(conn) == ({"tracking", *projection.READ_MODELS}, set())
    projection.migrate(conn)  # a restart in the middle goes on as a rebuild
    assert storage(conn) == ({"tracking", *projection.READ_MODELS}, set())
    while step["next"] != step["start"]:
        step = projection.follow(conn, fetch, window=4)
    assert projection.dump(conn) == before
    assert storage(conn) == (set(), KEYED)  # ... logged and indexed at the head
    # caught up, the follower keeps the counts window by window again
    assert projection.follow(conn, fetch)["next"] == head
    with conn.transaction():
        assert conn.execute("SELECT counts_deferred FROM tracking").fetchone()[0] is False


def test_a_server_crash_during_a_rebuild_starts_it_again(conn, built):
    """Crash recovery empties UNLOGGED tables: the read models and the
    tracking row go together, and the follower starts again from zero."""
    log, _ = built
    before = projection.dump(conn)
    fetch, head = paged(log)
    projection.reset(conn)
    assert projection.follow(conn, fetch, window=4)["next"] > 0
    with conn.transaction():  # what PostgreSQL does to every unlogged table after a crash
        conn.execute("TRUNCATE tracking, " + ", ".join((*projection.READ_MODELS, *projection.STAGING)))
    assert projection.follow(conn, fetch, window=4) is None  # the row is put back for the next step
    assert projection.position(conn) == 0
    step = {"next": 0, "start": None}
    while step["next"] != step["start"]:
        step = projection.follow(conn, fetch, window=4)
    assert step["next"] == head and projection.dump(conn) == before


def test_a_window_overlapping_what_is_applied_finishes_it(conn, built):
    """The tracking row lost after part of the log was applied: the window
    from zero holds registrations already applied and moves that are not."""
    log, _ = built
    before = projection.dump(conn)
    for applied in (1, 2, 3, 4, 6, 9, 12):
        emptied(conn)
        apply_page(conn, log.envelopes[:applied])
        apply_page(conn, log.envelopes)
        assert projection.dump(conn) == before, f"{applied} applied first"


@pytest.mark.parametrize("spoil, error", [
    (lambda e: e.update(type="case.unknown"), projection.EnvelopeRejected),
    (lambda e: e.update(specversion="2.0"), projection.EnvelopeRejected),
    (lambda e: e.update(position="12"), projection.EnvelopeRejected),
    (lambda e: e["data"].update(case_id="not-a-uuid"), psycopg.errors.InvalidTextRepresentation),
    (lambda e: e["data"].update(registered_at="yesterday-ish"), psycopg.errors.InvalidDatetimeFormat),
    (lambda e: e["data"].pop("category"), psycopg.errors.NotNullViolation),
])
def test_a_bad_envelope_fails_its_whole_page(conn, built, spoil, error):
    log, _ = built
    before, at = projection.dump(conn), projection.position(conn)
    page = [json.loads(json.dumps(e, default=str)) for e in build_log()[0].envelopes[:6]]
    for e in page:
        e["position"] += 1000
    spoil(page[0])  # A's registration; the rest of the page is good
    with pytest.raises(error):
        apply_page(conn, page)
    assert projection.dump(conn) == before and projection.position(conn) == at


def test_rebuild_from_zero_is_identical(conn, built):
    log, _ = built
    before = projection.dump(conn)
    emptied(conn)
    assert all(not rows for rows in projection.dump(conn).values())
    apply_page(conn, log.envelopes)  # one page this time
    assert projection.dump(conn) == before
    emptied(conn)
    with conn.transaction():
        for e in log.envelopes:  # and envelope by envelope
            projection.apply(conn, e)
    assert projection.dump(conn) == before
    assert projection.position(conn) == 0


def test_an_older_read_model_gets_every_month_marked_for_keeping_by_migrate(conn, built):
    with conn.transaction():  # a read model from before stats_month existed
        conn.execute("DROP TABLE stats_month")
        conn.execute("TRUNCATE stats_changed")
        months = conn.execute("SELECT DISTINCT tenant, month FROM case_count ORDER BY 1, 2").fetchall()
    projection.migrate(conn)
    with conn.transaction():
        marked = conn.execute("SELECT tenant, month, position FROM stats_changed ORDER BY 1, 2").fetchall()
    assert months and marked == [(*m, 0) for m in months]  # no part kept for them: keep_months computes them
    with conn.transaction():
        conn.execute("DELETE FROM stats_changed")  # marked once, not on every start
    projection.migrate(conn)
    with conn.transaction():
        assert conn.execute("SELECT count(*) FROM stats_changed").fetchone()[0] == 0


def test_an_older_read_model_gets_public_count_derived_by_migrate(conn, built):
    before = projection.dump(conn)
    assert before["public_count"]
    conn.execute("DROP TABLE public_count")  # a read model from before the table existed
    projection.migrate(conn)
    assert projection.dump(conn) == before
    projection.migrate(conn)  # and again: nothing added twice
    assert projection.dump(conn) == before


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


def test_statistics_are_assembled_from_kept_parts_until_a_tenant_month_changes(conn, built, served):
    log = copy.deepcopy(built[0])
    year = (date(2026, 1, 1), date(2026, 12, 1))
    may = (date(2026, 5, 1), date(2026, 5, 1))
    try:
        projection.reset(conn)
        fetch, _ = paged(log)
        assert projection.follow(conn, fetch, window=4)["next"] > 0
        stats.province_overview(conn, "35", *year)
        with conn.transaction():  # figures of a rebuild in progress are partial: not kept
            assert conn.execute("SELECT count(*) FROM stats_month").fetchone()[0] == 0
        while (step := projection.follow(conn, fetch, window=4))["next"] != step["start"]:
            pass

        def same(kept, fresh):  # the same figures in the same order
            assert json.dumps(kept) == json.dumps(fresh)
            return kept

        province = lambda cached=True: stats.province_overview(conn, "35", *year, cached=cached)  # noqa: E731
        surabaya = lambda cached=True: stats.tenant_stats(conn, ["35.78"], *year, cached=cached)  # noqa: E731
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
    finally:  # the module's read model as ``built`` left it
        emptied(conn)
        for i in range(0, len(built[0].envelopes), 4):
            apply_page(conn, built[0].envelopes[i:i + 4])


def test_the_follower_keeps_each_changed_tenant_months_part_so_reports_compute_none(conn, built, served):
    log = copy.deepcopy(built[0])
    year = (date(2026, 1, 1), date(2026, 12, 1))
    province = lambda cached=True: stats.province_overview(conn, "35", *year, cached=cached)  # noqa: E731
    try:
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
    finally:  # the module's read model as ``built`` left it
        emptied(conn)
        for i in range(0, len(built[0].envelopes), 4):
            apply_page(conn, built[0].envelopes[i:i + 4])


def test_public_counts_suppress_small_cells_and_publish_no_margins(conn, built):
    counts = stats.public_counts(conn)
    assert {"tenant": "35.78", "year": 2026, "category": "pengadaan", "status": "diterima", "count": 6} in counts
    assert {"tenant": "35.73", "year": 2026, "category": "korupsi", "status": "selesai", "count": "<5"} in counts
    assert all(c["count"] == "<5" or c["count"] >= 5 for c in counts)
    assert all(set(c) == {"tenant", "year", "category", "status", "count"} for c in counts)
    assert stats.public_counts(conn, "35.78", 2025) == []
    assert {c["tenant"] for c in stats.public_counts(conn, "35.78", 2026)} == {"35.78"}


def test_exports_read_back(conn, built):
    s = stats.tenant_stats(conn, ["35.73"], date(2026, 1, 1), date(2026, 12, 1))
    lines = list(csv.reader(io.StringIO(export.to_csv(s).decode("utf-8"))))
    assert lines[0] == ["bagian", "kode", "nilai"]
    assert ["status", "selesai", "1"] in lines and ["sanksi", "sedang", "1"] in lines
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(export.to_xlsx(s, "Inspektorat Kota Malang (35.73)")))
    cells = [tuple(r) for r in wb.active.iter_rows(values_only=True)]
    assert cells[0][0] == export.TITLE and ("kategori", "pungli", 1) in cells
    pdf = export.to_pdf(s, "Inspektorat Kota Malang (35.73)")
    assert pdf.startswith(b"%PDF")
    assert export.TITLE in pdf_text(pdf) and "Kota Malang" in pdf_text(pdf)


def test_a_spreadsheet_formula_in_a_code_is_neutralised():
    assert export._cell("=cmd|' /C calc'!A0") == "'=cmd|' /C calc'!A0"
    assert export._cell("korupsi") == "korupsi" and export._cell(None) == ""


def pdf_text(pdf: bytes) -> str:
    """The decompressed content streams (enough to find a Latin-1 title)."""
    import pikepdf

    out = []
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        for page in doc.pages:
            for stream in page.obj.Contents.as_list() if isinstance(page.obj.Contents, pikepdf.Array) else [
                    page.obj.Contents]:
                out.append(stream.read_bytes().decode("latin-1"))
    return "".join(out)


def test_kept_parts_are_read_once_per_process_and_position(conn, built, monkeypatch):
    log = copy.deepcopy(built[0])
    year = (date(2026, 1, 1), date(2026, 12, 1))
    province = lambda cached=True: stats.province_overview(conn, "35", *year, cached=cached)  # noqa: E731
    reads, load = [], kept.load_parts
    monkeypatch.setattr(kept, "load_parts", lambda c, sql, params: reads.append(sql) or load(c, sql, params))

    def asked_again():  # the report and the tenant-period parts dropped: assembled from the kept parts
        with conn.transaction():
            conn.execute("TRUNCATE stats_report, stats_period")
        reads.clear()
        return json.dumps(province())
    try:
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
    finally:  # the module's read model as ``built`` left it
        emptied(conn)
        for i in range(0, len(built[0].envelopes), 4):
            apply_page(conn, built[0].envelopes[i:i + 4])
        stats._PARSED.clear()
