"""The work queue on a real PostgreSQL: the migration fills what an older
index lacks (idempotently), the count of ended cases follows every change,
``search`` sorts, filters, counts and pages as documented, and the follower
and the scheduler keep each case's nearest deadline."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from peluit_cases import case_index, catalogue, scheduler
from peluit_cases.application import CasesApplication
from peluit_common.testing import dsn_for, eventsourcing_env_for
from peluit_contracts.officer_api import CASE_STATUSES

from ..support import PENELAAH, command, deadline_config, run

NOW = datetime(2026, 12, 7, 3, 0, tzinfo=timezone.utc)
DAY = timedelta(days=1)


def connect(dbname: str) -> psycopg.Connection:
    return psycopg.connect(dsn_for(dbname), autocommit=True)  # each conn.transaction() a real one, as on the pool


def add(conn, tenant: str, n: int, status: str = "diterima", *, category: str = "korupsi", channel: str = "web",
        registered: datetime = NOW, updated: datetime | None = None, due: datetime | None = None,
        approaching: datetime | None = None, paused: bool = False, rule: str = "first_response") -> str:
    case_id = str(uuid.uuid4())
    conn.execute(
        "INSERT INTO case_index (case_id, handling_tenant, origin_tenant, registration_number, category, channel,"
        " status, registered_at, updated_at, version, deadline_rule, deadline_due_at, deadline_approaching_at,"
        " deadline_paused) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, 1, %s, %s, %s, %s)",
        (case_id, tenant, tenant, f"WBS/{tenant}/2026/{n:06d}", category, channel, status, registered,
         updated or registered, rule if due else None, due, approaching or (due - 2 * DAY if due else None), paused))
    return case_id


def ended_counts(conn, tenant: str) -> dict:
    return {tuple(r[:3]): r[3] for r in conn.execute(
        "SELECT status, category, channel, n FROM case_index_ended WHERE handling_tenant = %s AND n > 0",
        (tenant,)).fetchall()}


@pytest.fixture(scope="module")
def conn(throwaway_db):
    with connect(throwaway_db) as c:
        catalogue.migrate(c)
        case_index.migrate(c)
        case_index.migrate(c)  # idempotent
        yield c


def test_the_migration_fills_what_an_older_index_lacks(fresh_db):
    with connect(fresh_db) as conn:
        catalogue.migrate(conn)
        with conn.transaction():
            conn.execute(case_index.SCHEMA)  # the index as it was, with a case of each kind
        for n, status in enumerate(("verifikasi", "selesai", "ditolak", "selesai"), start=1):
            conn.execute("INSERT INTO case_index VALUES (%s, '35.73', '35.73', %s, 'pungli', 'web', %s, now(), now(),"
                         " 3, NULL)", (uuid.uuid4(), f"WBS/35.73/2026/{n:06d}", status))
        case_index.migrate(conn)
        rows = dict(conn.execute("SELECT status, next_deadline_at <= now() FROM case_index").fetchall())
        assert rows == {"verifikasi": True, "selesai": None, "ditolak": None}  # open cases: due for the scheduler
        assert ended_counts(conn, "35.73") == {("selesai", "pungli", "web"): 2, ("ditolak", "pungli", "web"): 1}
        later = datetime.now(timezone.utc) + 10 * DAY
        conn.execute("UPDATE case_index SET next_deadline_at = %s WHERE status = 'verifikasi'", (later,))
        case_index.migrate(conn)  # again: nothing is marked or counted twice
        marked = conn.execute("SELECT next_deadline_at FROM case_index WHERE status = 'verifikasi'").fetchone()[0]
        assert marked == later
        assert ended_counts(conn, "35.73") == {("selesai", "pungli", "web"): 2, ("ditolak", "pungli", "web"): 1}


def test_the_count_of_ended_cases_follows_every_change(fresh_db):
    with connect(fresh_db) as conn:
        catalogue.migrate(conn)
        case_index.migrate(conn)
        a = add(conn, "35.73", 1, "verifikasi")
        add(conn, "35.73", 2, "selesai", channel="email")
        assert ended_counts(conn, "35.73") == {("selesai", "korupsi", "email"): 1}
        conn.execute("UPDATE case_index SET status = 'ditolak', version = 2 WHERE case_id = %s", (a,))
        conn.execute("UPDATE case_index SET version = 3, updated_at = now() WHERE case_id = %s", (a,))  # a note
        assert ended_counts(conn, "35.73") == {("selesai", "korupsi", "email"): 1, ("ditolak", "korupsi", "web"): 1}
        conn.execute("DELETE FROM case_index WHERE case_id = %s", (a,))
        assert ended_counts(conn, "35.73") == {("selesai", "korupsi", "email"): 1}
        conn.execute("TRUNCATE case_index")  # a rebuild starts from nothing
        assert conn.execute("SELECT count(*) FROM case_index_ended").fetchone()[0] == 0


def test_the_queue_sorts_filters_and_counts(conn):
    t = "91.01"
    breached = add(conn, t, 1, "verifikasi", due=NOW - DAY, registered=NOW - 9 * DAY)
    approaching = add(conn, t, 2, "penelaahan", category="pungli", due=NOW + DAY, registered=NOW - 8 * DAY)
    on_time = add(conn, t, 3, "verifikasi", channel="whatsapp", due=NOW + 9 * DAY, registered=NOW - 7 * DAY)
    paused = add(conn, t, 4, "menunggu_informasi", due=NOW - 3 * DAY, paused=True, registered=NOW - 6 * DAY,
                 rule="verification")
    newest_open = add(conn, t, 5, "diterima", registered=NOW - DAY)  # no open deadline (none started)
    closed = add(conn, t, 6, "selesai", category="pungli", registered=NOW - 30 * DAY, updated=NOW)
    rejected = add(conn, t, 123, "ditolak", channel="whatsapp", registered=NOW - 20 * DAY)
    add(conn, "91.02", 7, "verifikasi", due=NOW - 5 * DAY)  # another tenant: never listed here

    def ids(**query) -> list[str]:
        return [item["case_id"] for item in case_index.search(conn, [t], now=NOW, **query)["items"]]

    by_deadline = [paused, breached, approaching, on_time, newest_open, rejected, closed]
    assert ids() == by_deadline  # due first (a paused rule by its due day so far), then newest without one
    assert ids(sort="registered") == [newest_open, paused, on_time, approaching, breached, rejected, closed]
    assert ids(sort="updated")[0] == closed
    out = case_index.search(conn, [t], now=NOW)
    assert out["total"] == 7 and out["counts"] == {**dict.fromkeys(CASE_STATUSES, 0), "verifikasi": 2,
                                                   "penelaahan": 1, "menunggu_informasi": 1, "diterima": 1,
                                                   "selesai": 1, "ditolak": 1}
    states = {item["case_id"]: item["deadline"] and item["deadline"]["state"] for item in out["items"]}
    assert states == {breached: "breached", approaching: "approaching", on_time: "on_time", paused: "on_time",
                      newest_open: None, closed: None, rejected: None}
    assert out["items"][1]["deadline"] == {"rule": "first_response", "due_at": (NOW - DAY).isoformat(),
                                           "approaching_at": (NOW - 3 * DAY).isoformat(), "state": "breached"}
    assert set(out["items"][0]) == {"case_id", "registration_number", "handling_tenant", "origin_tenant", "category",
                                    "channel", "status", "registered_at", "updated_at", "version", "deadline"}

    assert ids(deadline="breached") == [breached]
    assert ids(deadline="approaching") == [approaching]
    assert ids(deadline="on_time") == [paused, on_time]
    assert ids(deadline="none") == [newest_open, rejected, closed]
    assert ids(category="pungli") == [approaching, closed] and ids(channel="whatsapp") == [on_time, rejected]
    assert ids(number="000123") == [rejected] == ids(number="WBS/91.01/2026/000123") == ids(number="23")
    assert ids(number="91.01/2026") == []  # the end of a number, not any part of it

    # counts keep every filter but the status; the total is the status asked for
    filtered = case_index.search(conn, [t], status="verifikasi", deadline="breached", now=NOW)
    assert [i["case_id"] for i in filtered["items"]] == [breached] and filtered["total"] == 1
    assert {s: n for s, n in filtered["counts"].items() if n} == {"verifikasi": 1}
    by_channel = case_index.search(conn, [t], status="selesai", channel="whatsapp", now=NOW)
    assert by_channel["items"] == [] and by_channel["total"] == 0
    assert {s: n for s, n in by_channel["counts"].items() if n} == {"verifikasi": 1, "ditolak": 1}
    none_left = case_index.search(conn, [t], deadline="none", now=NOW)["counts"]
    assert {s: n for s, n in none_left.items() if n} == {"diterima": 1, "selesai": 1, "ditolak": 1}

    # pages, and several tenants merged in one order
    assert [i["case_id"] for p in (1, 2, 3) for i in case_index.search(conn, [t], page=p, per_page=3,
                                                                          now=NOW)["items"]] == by_deadline
    both = case_index.search(conn, [t, "91.02"], now=NOW)
    assert both["total"] == 8 and both["items"][0]["handling_tenant"] == "91.02"
    assert [i["case_id"] for i in both["items"][1:]] == by_deadline
    assert case_index.search(conn, [], now=NOW)["items"] == []


@pytest.fixture
def pg(fresh_db):
    with connect(fresh_db) as c:
        c.execute("CREATE SCHEMA peluit")
    application = CasesApplication(env=eventsourcing_env_for(fresh_db, schema="peluit"))
    with ConnectionPool(f"{dsn_for(fresh_db)} options='-c search_path=peluit'", min_size=1, max_size=2,
                        open=True) as pool:
        with pool.connection() as c:
            catalogue.migrate(c)
            case_index.migrate(c)
        yield application, pool
    application.close()


def indexed(pool, case_id) -> dict:
    with pool.connection() as c:
        row = c.execute("SELECT status, deadline_rule, deadline_due_at, next_deadline_at FROM case_index"
                        " WHERE case_id = %s", (case_id,)).fetchone()
    return dict(zip(("status", "rule", "due_at", "next_at"), row))


def test_the_follower_and_the_scheduler_keep_the_nearest_deadline(pg):
    app, pool = pg
    case_id = app.register_report(command(1)).case_id
    assert case_index.follow_once(pool, app, deadline_config) > 0
    first = indexed(pool, case_id)
    assert first["status"] == "diterima" and first["rule"] == "first_response" and first["next_at"] <= first["due_at"]
    run(app, case_id, "start_verification", PENELAAH)
    case_index.follow_once(pool, app, deadline_config)
    assert indexed(pool, case_id)["rule"] == "verification"

    # the scheduler refreshes what it looks at (as after the migration marked every open case)
    with pool.connection() as c:
        c.execute("UPDATE case_index SET next_deadline_at = now(), deadline_rule = NULL, deadline_due_at = NULL"
                  " WHERE case_id = %s", (case_id,))
    assert scheduler.run_once(pool, app, deadline_config) == 1
    refreshed = indexed(pool, case_id)
    assert refreshed["rule"] == "verification" and refreshed["due_at"] and refreshed["next_at"] > datetime.now(
        timezone.utc)

    run(app, case_id, "reject", PENELAAH, reason="Bukan pengaduan")
    case_index.follow_once(pool, app, deadline_config)
    assert indexed(pool, case_id) == {"status": "ditolak", "rule": None, "due_at": None, "next_at": None}
    with pool.connection() as c:
        assert c.execute("SELECT sum(n) FROM case_index_ended WHERE status = 'ditolak'").fetchone()[0] == 1


def test_a_recused_officer_does_not_find_the_case_in_the_queue_nor_in_its_counts(conn):
    t = "91.07"
    kept, recused, ended = add(conn, t, 1), add(conn, t, 2, "verifikasi"), add(conn, t, 3, "selesai")
    for case_id in (recused, ended):
        conn.execute("INSERT INTO case_recusal (officer_id, case_id) VALUES ('o-sari', %s)", (case_id,))
    mine = case_index.search(conn, [t], now=NOW, officer_id="o-sari")
    assert [i["case_id"] for i in mine["items"]] == [kept]
    assert (mine["total"], mine["counts"]["verifikasi"], mine["counts"]["selesai"]) == (1, 0, 0)
    others = case_index.search(conn, [t], now=NOW, officer_id="o-agus")
    assert {i["case_id"] for i in others["items"]} == {kept, recused, ended} and others["total"] == 3
    assert case_index.search(conn, [t], status="verifikasi", now=NOW, officer_id="o-sari")["items"] == []


def test_the_follower_keeps_each_recusal(conn):
    from ..support import memory_app

    app = memory_app()
    case_id = app.register_report(command(91), now=NOW).case_id
    run(app, case_id, "recuse", PENELAAH, reason="Kerabat terlapor")
    case_index.upsert(conn, app.get_case(case_id))
    case_index.upsert(conn, app.get_case(case_id))  # again: nothing doubled
    assert conn.execute("SELECT officer_id FROM case_recusal WHERE case_id = %s", (case_id,)).fetchall() == [
        (PENELAAH["officer_id"],)]
    listed = case_index.search(conn, ["35.73"], now=NOW, per_page=100, officer_id=PENELAAH["officer_id"])["items"]
    assert str(case_id) not in {i["case_id"] for i in listed}
