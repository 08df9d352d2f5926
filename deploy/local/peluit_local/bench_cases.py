"""Case-load benchmark: figures, never assertions.

How long ``CasesApplication.repository.get(case_id)`` takes for a case with
10, 1,000 and 10,000 events on PostgreSQL, (i) with the application's own
snapshotting (``CasesApplication.snapshotting_intervals``: a snapshot every
50 Case events) and (ii) without snapshots (the same application class with
``snapshotting_intervals = {}``), plus how fast the events were appended and
what the snapshots cost in storage (case content sealed, as the service stores it).
(d') ``bench_content``: the same loads, a rebuild (``derive_envelopes`` paged over
a whole log) and a replay with content (``transcript``), sealed beside content
in clear (``ClearCasesApplication``: the library's own mapping, as before
``peluit_cases.content``), measured in alternation.

Each run uses two throwaway databases (``pt_bench_<random>_snap`` and
``_nosnap``), created as the PostgreSQL superuser and dropped ``WITH (FORCE)``
at the end, also on error. The 10-event case is built command by command
through ``app.execute`` (load, command, save: what the service does); the
larger ones by calling ``Case.add_note`` on one in-memory aggregate and saving
every 100 notes (``Application.save`` still takes a snapshot for every event
whose version is a multiple of the interval).

Run with ``.venv/bin/python -m peluit_local.bench_cases``
(``PELUIT_BENCH_RUNS``, default 3, sets how many runs each median is over).
No eventlet here: plain threads-free, blocking psycopg.
"""

from __future__ import annotations

import hashlib
import os
import statistics
import time
import uuid

import psycopg
from psycopg import sql

from eventsourcing.persistence import Mapper

from peluit_cases.application import CasesApplication
from peluit_cases.content import ContentMapper
from peluit_cases.domain import Case
from peluit_common.keyring import Keyring

SIZES = (10, 1_000, 10_000)  # events per case, the Registered event included
LOADS = 50  # timed loads per case and run, after one warm-up load
SLOW_LOADS = 10  # ... for a case that replays 10,000 events without a snapshot
BATCH = 100  # notes per save while building
TARGET = "target: p50 under 5 ms at 10,000 events"
ADMIN_DSN = os.environ.get("PELUIT_PG_ADMIN_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")
ACTOR = {"officer_id": "o-1", "username": "bench", "roles": ["penelaah"], "tenant": "35.73"}


class UnsnapshottedCasesApplication(CasesApplication):
    """The cases application with snapshotting switched off (same tables)."""

    name = "cases"
    snapshotting_intervals = {}


class ClearMapper(ContentMapper):
    """The library's own mapping (content in clear), behind the same interface: the comparison."""

    def seal(self, domain_event, pending):
        return Mapper.to_stored_event(self, domain_event)

    def to_domain_events(self, stored_events, content: bool = True, wrapped=None):
        return [Mapper.to_domain_event(self, s) for s in stored_events]


class ClearCasesApplication(CasesApplication):
    """The cases application as before content encryption (same tables)."""

    name = "cases"

    def construct_mapper(self) -> ClearMapper:
        return ClearMapper(self.construct_transcoder())

    def construct_event_store(self):
        store = super().construct_event_store()
        store.with_keys = False  # the library's own statement
        return store


MODES = {"snapshots": CasesApplication, "no snapshots": UnsnapshottedCasesApplication}
REBUILD_CASES = 300  # cases of REBUILD_EVENTS events each in the rebuild's log
REBUILD_EVENTS = 10
ROUNDS = 100  # alternating loads per case size in the content comparison
PASSES = 5  # alternating passes over the rebuild's log


def new_app(cls, dbname: str, snapshots: bool = True) -> CasesApplication:
    return cls(env=app_env(dbname, snapshots), content_keyring=Keyring([os.urandom(32)]))  # a throwaway KEK


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def _hex(s: str) -> str:
    return hashlib.sha256(s.encode()).hexdigest()


def command(tag: str) -> dict:
    """A valid ``RegisterReportCommand`` v1 (the shape of the unit tests' one)."""
    return {
        "version": 1, "submission_id": _hex(f"sub-{tag}"), "fingerprint": _hex(f"fp-{tag}"),
        "receipt_hash": _hex(f"rcpt-{tag}"), "tenant": "35.73", "category": "korupsi", "channel": "web",
        "report": {"what": "Dana hibah dipotong 20%", "where": "Dinas Sosial", "when": "Oktober 2026"},
        "reporter_ref": None, "anonymous": True,
    }


def app_env(dbname: str, snapshots: bool) -> dict:
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres", "POSTGRES_DBNAME": dbname,
        "POSTGRES_HOST": "127.0.0.1", "POSTGRES_PORT": "5432", "POSTGRES_USER": "postgres",
        "POSTGRES_PASSWORD": "", "CREATE_TABLE": "y",
        # explicit, so that a stray variable in the caller's environment cannot change the setup
        "IS_SNAPSHOTTING_ENABLED": "y" if snapshots else "n", "AGGREGATE_CACHE_MAXSIZE": "",
    }


def create_database(name: str) -> None:
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(name: str) -> None:
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def close_and_drop(apps, dbnames) -> None:
    for app in apps:
        try:
            app.close()
        except Exception:  # noqa: BLE001  (dropping the database matters more)
            pass
    for dbname in dbnames:
        drop_database(dbname)


def db_dsn(name: str) -> str:
    params = psycopg.conninfo.conninfo_to_dict(ADMIN_DSN)
    params["dbname"] = name
    return psycopg.conninfo.make_conninfo(**params)


def build_case(app: CasesApplication, size: int, tag: str):
    """Register a case and bring it to ``size`` events; returns (case_id, notes/s)."""
    case_id = app.register_report(command(tag)).case_id
    notes = size - 1
    t0 = time.perf_counter()
    if size <= BATCH:
        for i in range(notes):
            app.execute(case_id, None, "add_note", ACTOR, text=f"Catatan kerja {i}")
    else:
        case: Case = app.repository.get(case_id)
        for i in range(notes):
            case.add_note(ACTOR, f"Catatan kerja {i}")
            if (i + 1) % BATCH == 0:
                app.save(case)
        app.save(case)
    rate = notes / (time.perf_counter() - t0)
    version = app.repository.get(case_id).version
    if version != size:
        raise RuntimeError(f"case built to version {version}, wanted {size}")
    return case_id, rate


def time_loads(app: CasesApplication, case_id, n: int) -> list[float]:
    app.repository.get(case_id)  # warm-up (connection, statement preparation, topic resolution)
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        app.repository.get(case_id)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def snapshot_figures(dbname: str, case_id) -> tuple[int, int, int]:
    """(snapshots stored, bytes of the latest, bytes of all) for one case."""
    with psycopg.connect(db_dsn(dbname)) as conn:
        count, total = conn.execute(
            "SELECT count(*), coalesce(sum(octet_length(state)), 0) FROM cases_snapshots WHERE originator_id = %s",
            (case_id,)).fetchone()
        latest = conn.execute(
            "SELECT octet_length(state) FROM cases_snapshots WHERE originator_id = %s "
            "ORDER BY originator_version DESC LIMIT 1", (case_id,)).fetchone()
    return count, latest[0] if latest else 0, total


def snapshot_split(app: CasesApplication, case_id, n: int = 10) -> tuple[float, float]:
    """Median ms to fetch the latest snapshot row, and to decode it into an event."""
    fetch, decode = [], []
    for _ in range(n):
        t0 = time.perf_counter()
        row = app.snapshots.recorder.select_events(case_id, desc=True, limit=1)[0]
        t1 = time.perf_counter()
        app.mapper.to_domain_event(row)
        fetch.append((t1 - t0) * 1000)
        decode.append((time.perf_counter() - t1) * 1000)
    return statistics.median(fetch), statistics.median(decode)


def one_run(run: int) -> dict:
    """{(size, mode): {"p50", "p99", "loads", "rate", "snap"}} for one run."""
    token = uuid.uuid4().hex[:10]
    dbs = {mode: f"pt_bench_{token}_{n}" for n, mode in enumerate(MODES)}
    results: dict = {}
    apps: list[CasesApplication] = []
    try:
        for mode, dbname in dbs.items():
            create_database(dbname)
            app = new_app(MODES[mode], dbname, mode != "no snapshots")
            apps.append(app)
            if app.repository.cache is not None:
                raise RuntimeError("aggregate cache is on: loads would not touch the database")
            if (app.snapshots is None) == (mode != "no snapshots"):
                raise RuntimeError(f"snapshot store not as intended for {mode!r}")
            for size in SIZES:
                case_id, rate = build_case(app, size, f"{token}-{run}-{size}")
                snap = None
                if app.snapshots is not None:
                    latest = list(app.snapshots.get(case_id, desc=True, limit=1))
                    snap = (latest[0].originator_version if latest else None, *snapshot_figures(dbname, case_id))
                n = SLOW_LOADS if (mode == "no snapshots" and size >= 10_000) else LOADS
                loads = time_loads(app, case_id, n)
                results[(size, mode)] = {"p50": pct(loads, 50), "p99": pct(loads, 99), "loads": n,
                                         "rate": rate, "snap": snap,
                                         "split": snapshot_split(app, case_id) if snap and snap[0] else None}
    finally:
        close_and_drop(apps, dbs.values())
    return results


def bench_case_loads(runs: int = 3) -> None:
    per_run = [one_run(r) for r in range(runs)]
    print(f"(d) loading a case with CasesApplication.repository.get(case_id) on PostgreSQL, "
          f"median of {runs} runs (append: execute = load+command+save per event, batch = {BATCH} per save)")
    print(f"    {'events':>6}  {'store':<12} {'p50 ms':>8} {'p99 ms':>8} {'loads':>5}   {'append ev/s':>18}   "
          f"{'latest snapshot':<20} all snapshots of the case")
    for size in SIZES:
        for mode in MODES:
            rows = [r[(size, mode)] for r in per_run]
            p50 = statistics.median(x["p50"] for x in rows)
            p99 = statistics.median(x["p99"] for x in rows)
            rate = statistics.median(x["rate"] for x in rows)
            how = "execute" if size <= BATCH else "batch"
            snap = rows[-1]["snap"]
            if snap is None:
                tail = "-"
            elif snap[0] is None:
                tail = "none taken"
            else:
                tail = f"{f'v{snap[0]}, {snap[2] / 1024:.0f} KiB':<20} {snap[1]}, {snap[3] / 2 ** 20:.1f} MiB"
            print(f"    {size:>6}  {mode:<12} {p50:>8.2f} {p99:>8.2f} {rows[0]['loads']:>5}   "
                  f"{f'{rate:.0f} ({how})':>18}   {tail}")
    split = [r[(SIZES[-1], "snapshots")]["split"] for r in per_run]
    if all(split):
        print(f"    at {SIZES[-1]:,} events with snapshots: fetching the latest snapshot row "
              f"{statistics.median(x[0] for x in split):.1f} ms, decoding it "
              f"{statistics.median(x[1] for x in split):.1f} ms")
    print(f"    {TARGET}")


def _rebuild_log(app: CasesApplication, tag: str) -> list:
    ids = []
    for n in range(REBUILD_CASES):
        case_id = app.register_report(command(f"{tag}-r{n}")).case_id
        case: Case = app.repository.get(case_id)
        for i in range(REBUILD_EVENTS - 1):
            case.add_note(ACTOR, f"Catatan kerja {i} tentang dana hibah yang dipotong")
        app.save(case)
        ids.append(case_id)
    return ids


def _derive_all(app: CasesApplication) -> float:
    t0, after, head = time.perf_counter(), 0, app.max_position()
    while after < head:
        after = app.derive_envelopes(after, 500)["next"]
    return time.perf_counter() - t0


def bench_content() -> None:
    """Sealed content beside content in clear (``ClearCasesApplication``), on two stores built alike and
    measured in alternation (one load, one pass, one case each in turn), so the shared machine's
    bursts fall on both."""
    token = uuid.uuid4().hex[:10]
    dbs = {"sealed": f"pt_bench_{token}_sealed", "clear": f"pt_bench_{token}_clear"}
    apps: dict[str, CasesApplication] = {}
    try:
        for mode, dbname in dbs.items():
            create_database(dbname)
            apps[mode] = new_app(CasesApplication if mode == "sealed" else ClearCasesApplication, dbname)
        print("(d') case content sealed (an item key per text, a key per case, a KEK) beside content in clear; "
              f"alternating, medians (target: within 1.3x)")
        for size in SIZES:
            ids = {mode: build_case(app, size, f"{token}-{size}")[0] for mode, app in apps.items()}
            times: dict[str, list] = {mode: [] for mode in apps}
            for mode, app in apps.items():
                app.repository.get(ids[mode])  # warm-up
            for _ in range(ROUNDS):
                for mode, app in apps.items():
                    t0 = time.perf_counter()
                    app.repository.get(ids[mode])
                    times[mode].append((time.perf_counter() - t0) * 1000)
            sealed, clear = (statistics.median(times[m]) for m in ("sealed", "clear"))
            print(f"    load, {size:>6} events (snapshots): {sealed:6.2f} ms sealed, {clear:6.2f} ms clear, "
                  f"ratio {sealed / clear:.2f}")
        logs = {mode: _rebuild_log(app, f"{token}-log") for mode, app in apps.items()}
        derive: dict[str, list] = {mode: [] for mode in apps}
        replay: dict[str, list] = {mode: [] for mode in apps}
        for _ in range(PASSES):
            for mode, app in apps.items():
                derive[mode].append(_derive_all(app))
        for _ in range(PASSES):
            for n in range(REBUILD_CASES):
                for mode, app in apps.items():
                    t0 = time.perf_counter()
                    app.transcript(logs[mode][n])
                    replay[mode].append(time.perf_counter() - t0)
        total = apps["sealed"].max_position()  # both logs hold the same events: the (d') cases and this log
        for what, found, count in (
                (f"rebuild, envelopes derived from the whole log ({total:,} events)", derive, total),
                (f"replay with content (transcript), {REBUILD_EVENTS}-event cases", replay, REBUILD_EVENTS)):
            sealed, clear = (count / statistics.median(found[m]) for m in ("sealed", "clear"))
            print(f"    {what}: {sealed:,.0f} ev/s sealed, {clear:,.0f} ev/s clear, time ratio {clear / sealed:.2f}")
    finally:
        close_and_drop(apps.values(), dbs.values())


if __name__ == "__main__":
    print(f"Peluit case-load benchmark on {os.cpu_count()} cores ({time.strftime('%Y-%m-%d %H:%M')})\n")
    bench_case_loads(int(os.environ.get("PELUIT_BENCH_RUNS", "3")))
    print()
    bench_content()
