"""What the hash-chain trigger costs: figures, never assertions.

Two throwaway databases, one with the chain (``peluit_cases.chain.migrate``),
one without. In each, the same workload through ``CasesApplication``: one
case per save is a new note (one event per transaction, what an officer
command does), and the same with ten events per save. Then the same again
after 100,000 events are already in the table (the head and predecessor
lookups are index probes, so the cost should not grow), plus how long the
one-off migration takes to chain 100,000 existing events.

Run with ``.venv/bin/python -m peluit_local.bench_chain``
(``PELUIT_BENCH_RUNS``, default 3: each figure is a median).
"""

from __future__ import annotations

import os
import secrets
import statistics
import time

import psycopg

from peluit_cases import chain
from peluit_cases.application import CasesApplication
from peluit_common.keyring import Keyring
from peluit_cases.domain import Case

from .bench_cases import create_database, db_dsn, drop_database

ACTOR = {"officer_id": "o-1", "username": "bench", "roles": ["penelaah"], "tenant": "35.73"}
SAVES = 1000
PREFILL = 100_000
BULK = 20_000


def _database() -> str:
    name = f"pt_bench_chain_{secrets.token_hex(4)}"
    create_database(name)
    with psycopg.connect(db_dsn(name), autocommit=True) as conn:
        conn.execute("CREATE SCHEMA peluit")
    return name


def _app(name: str) -> CasesApplication:
    return CasesApplication(env={
        "PERSISTENCE_MODULE": "eventsourcing.postgres", "POSTGRES_DBNAME": name, "POSTGRES_HOST": "127.0.0.1",
        "POSTGRES_PORT": "5432", "POSTGRES_USER": "postgres", "POSTGRES_PASSWORD": "", "POSTGRES_SCHEMA": "peluit",
        "CREATE_TABLE": "y", "POSTGRES_POOL_SIZE": "2"}, content_keyring=Keyring([os.urandom(32)]))  # a throwaway KEK


def _case(n: int) -> Case:
    return Case(submission_id=f"bench-{secrets.token_hex(8)}-{n}", fingerprint="f", tenant="35.73",
                registration_number=f"WBS/35.73/2026/{n:06d}", category="korupsi", channel="web",
                report={"what": "Dana hibah dipotong"}, reporter_ref=None, anonymous=True)


def _alternating(apps: dict, events_per_save: int, rounds: int = 4) -> dict:
    """Events/s per app from the median latency of one save, measured in
    alternating rounds: on a shared machine the median shrugs off the other
    processes' bursts, and the alternation spreads any drift over both."""
    per_round = SAVES // rounds
    latencies: dict = {label: [] for label in apps}
    for r in range(rounds):
        for label in (list(apps) if r % 2 == 0 else list(reversed(apps))):
            app = apps[label]
            cases = [_case(r * per_round + n) for n in range(per_round)]
            for case in cases:  # registration outside the timing
                app.save(case)
            for case in cases:
                for i in range(events_per_save):
                    case.add_note(ACTOR, f"catatan {i}")
                started = time.perf_counter()
                app.save(case)
                latencies[label].append(time.perf_counter() - started)
    return {label: events_per_save / statistics.median(values) for label, values in latencies.items()}


def _prefill(name: str, rows: int) -> None:
    with psycopg.connect(db_dsn(name), autocommit=True) as conn:
        conn.execute("INSERT INTO peluit.cases_events (originator_id, originator_version, topic, state)"
                     " SELECT gen_random_uuid(), 1, 'bench:Filler', convert_to('{}', 'UTF8')"
                     " FROM generate_series(1, %s)", (rows,))


def run_once() -> dict:
    plain, chained = _database(), _database()
    out = {}
    try:
        apps = {"plain": _app(plain), "chained": _app(chained)}
        _prefill(chained, PREFILL)  # existing events: the migration chains them once
        started = time.perf_counter()
        with psycopg.connect(db_dsn(chained)) as conn:
            chain.migrate(conn)
        out["migrate"] = time.perf_counter() - started
        apps["chained"].close()
        apps["chained"] = _app(chained)  # fresh prepared statements after the new columns
        _prefill(plain, PREFILL)
        for per in (1, 10):
            for label, rate in _alternating(apps, per).items():
                out[f"{label} {per}"] = rate
        for app in apps.values():
            app.close()
        # the empty-table figure: fresh databases
        for name in (plain, chained):
            drop_database(name)
        plain, chained = _database(), _database()
        apps = {"plain": _app(plain), "chained": _app(chained)}
        with psycopg.connect(db_dsn(chained)) as conn:
            chain.migrate(conn)
        apps["chained"].close()
        apps["chained"] = _app(chained)
        for per in (1, 10):
            for label, rate in _alternating(apps, per).items():
                out[f"{label} {per} empty"] = rate
        for app in apps.values():
            app.close()
        # the trigger's own cost per row, without commits: one INSERT of many rows
        for label, name in (("plain", plain), ("chained", chained)):
            started = time.perf_counter()
            _prefill(name, BULK)
            out[f"{label} bulk"] = BULK / (time.perf_counter() - started)
    finally:
        drop_database(plain)
        drop_database(chained)
    return out


def main() -> None:
    runs = [run_once() for _ in range(int(os.environ.get("PELUIT_BENCH_RUNS", "3")))]
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    print(f"hash chain trigger, events appended per second through CasesApplication.save "
          f"(events per save / median save latency; median of {len(runs)} runs, {SAVES} saves each)")
    print("    table holds       events/save   no trigger   with trigger   ratio")
    for size, suffix in (("~0 events", " empty"), (f"{PREFILL:,} events", "")):
        for per in (1, 10):
            plain, chained = med[f"plain {per}{suffix}"], med[f"chained {per}{suffix}"]
            print(f"    {size:>15}   {per:>11}   {plain:>10.0f}   {chained:>12.0f}   {chained / plain:>5.2f}")
    plain, chained = med["plain bulk"], med["chained bulk"]
    print(f"    one INSERT of {BULK:,} rows (no commit per row): {plain:,.0f} rows/s without, {chained:,.0f} rows/s "
          f"with the trigger = {1e6 / chained - 1e6 / plain:.0f} us per row")
    print(f"    one-off migration chaining {PREFILL:,} existing events: {med['migrate']:.1f} s")


if __name__ == "__main__":
    main()
