"""Work-queue benchmark: figures, never assertions.

``GET /api/v1/cases`` is ``case_index.search``: one page of the officer's
visible cases in one sort and filter, and the counts per status with the other
filters applied. This fills one tenant of a throwaway database with
``PELUIT_BENCH_QUEUE_ROWS`` (default 500,000) index rows, written directly in
the table (not through the event store: the index is what the list reads),
plus a tenth as many for a second tenant, then VACUUM ANALYZE (what autovacuum
keeps up in production) and times ``search`` for every sort and filter.

The rows look like a province-sized Inspektorat after five years: most cases
ended (no deadline), about 15 % open with a nearest deadline between 60 days
ago and 60 days ahead, a few of them paused.

Run with ``.venv/bin/python -m peluit_local.bench_queue`` (``PELUIT_BENCH_RUNS``
sets the timed queries per line, default 60).
"""

from __future__ import annotations

import os
import time

import psycopg

from peluit_cases import case_index, catalogue
from peluit_common.testing import dsn_for, throwaway_database

TENANT, OTHER = "35.73", "35.07"
TARGET = "target: p95 <= 100 ms"
# status weights: mostly ended, a desk's worth open
STATUSES = [("selesai", 40), ("ditolak", 20), ("diarsipkan", 15), ("dilimpahkan", 10), ("diterima", 2),
            ("verifikasi", 3), ("menunggu_informasi", 1), ("penelaahan", 3), ("investigasi", 3), ("hasil", 1),
            ("tindak_lanjut", 2)]
OPEN = ("diterima", "verifikasi", "menunggu_informasi", "penelaahan", "investigasi", "hasil", "tindak_lanjut")
CATEGORIES = ["korupsi", "suap-gratifikasi", "pungli", "penyalahgunaan-wewenang", "benturan-kepentingan", "pengadaan",
              "disiplin-pegawai", "kode-etik", "kolusi-nepotisme", "aset-daerah", "lainnya"]
CHANNELS = ["web", "web", "web", "web", "email", "whatsapp", "letter", "phone", "walk_in"]

FILL = """
INSERT INTO case_index (case_id, handling_tenant, origin_tenant, registration_number, category, channel, status,
                        registered_at, updated_at, version, next_deadline_at, deadline_rule, deadline_due_at,
                        deadline_approaching_at, deadline_paused)
SELECT gen_random_uuid(), %(tenant)s, %(tenant)s, 'WBS/' || %(tenant)s || '/' || (2021 + n / %(per_year)s)
       || '/' || lpad((n %% %(per_year)s + 1)::text, 6, '0'),
       (%(categories)s::text[])[1 + floor(random() * %(n_categories)s)],
       (%(channels)s::text[])[1 + floor(random() * %(n_channels)s)],
       s.status, reg, reg + random() * interval '90 days', 3 + floor(random() * 30),
       CASE WHEN s.status = ANY(%(open)s) THEN due - interval '3 days' END,
       CASE WHEN s.status = ANY(%(open)s)
            THEN (ARRAY['first_response', 'verification', 'investigation'])[1 + floor(random() * 3)] END,
       CASE WHEN s.status = ANY(%(open)s) THEN due END,
       CASE WHEN s.status = ANY(%(open)s) THEN due - interval '3 days' END,
       s.status = 'menunggu_informasi'
FROM generate_series(0, %(rows)s - 1) AS n,
     LATERAL (SELECT now() - interval '5 years' * (1 - n::float / %(rows)s) AS reg,
                     now() + (random() * 120 - 60) * interval '1 day' AS due, random() * 100 AS pick) r,
     LATERAL (SELECT status FROM unnest(%(statuses)s::text[], %(cumulative)s::float[]) AS w(status, upto)
              WHERE r.pick < w.upto ORDER BY w.upto LIMIT 1) s
"""


def fill(conn, tenant: str, rows: int) -> None:
    total, cumulative = sum(w for _, w in STATUSES), []
    running = 0.0
    for _, weight in STATUSES:
        running += weight * 100 / total
        cumulative.append(running)
    cumulative[-1] = 100.0001
    conn.execute(FILL, {"tenant": tenant, "rows": rows, "per_year": max(rows // 5, 1) + 1,
                        "categories": CATEGORIES, "n_categories": len(CATEGORIES), "channels": CHANNELS,
                        "n_channels": len(CHANNELS), "open": list(OPEN),
                        "statuses": [s for s, _ in STATUSES], "cumulative": cumulative})


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


CASES = [  # (label, search arguments)
    ("no filter", {}),
    ("status=verifikasi", {"status": "verifikasi"}),
    ("status=selesai", {"status": "selesai"}),
    ("category=pungli", {"category": "pungli"}),
    ("channel=whatsapp", {"channel": "whatsapp"}),
    ("deadline=breached", {"deadline": "breached"}),
    ("deadline=approaching", {"deadline": "approaching"}),
    ("deadline=on_time", {"deadline": "on_time"}),
    ("deadline=none", {"deadline": "none"}),
    ("status+category+deadline", {"status": "investigasi", "category": "korupsi", "deadline": "on_time"}),
    ("number=2023/000123", {"number": "2023/000123"}),
    ("number=0123", {"number": "0123"}),
    ("no filter, page 40", {"page": 40}),
]


def main() -> None:
    rows = int(os.environ.get("PELUIT_BENCH_QUEUE_ROWS", "500000"))
    runs = int(os.environ.get("PELUIT_BENCH_RUNS", "60"))
    print(f"Peluit work-queue benchmark on {os.cpu_count()} cores ({time.strftime('%Y-%m-%d %H:%M')})\n")
    with throwaway_database("pt_bench_queue") as dbname, psycopg.connect(dsn_for(dbname)) as conn:
        catalogue.migrate(conn)
        case_index.migrate(conn)
        t0 = time.perf_counter()
        with conn.transaction():  # row triggers off for the bulk load, the ended cases counted after it
            conn.execute("ALTER TABLE case_index DISABLE TRIGGER USER")
            fill(conn, TENANT, rows)
            fill(conn, OTHER, rows // 10)
            conn.execute("ALTER TABLE case_index ENABLE TRIGGER USER")
            case_index.recount_ended(conn)
        filled = time.perf_counter() - t0
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE case_index")
        conn.autocommit = False
        size = conn.execute("SELECT pg_size_pretty(pg_total_relation_size('case_index'))").fetchone()[0]
        print(f"case_index: {rows:,} rows of {TENANT} and {rows // 10:,} of {OTHER} written in {filled:.0f} s, "
              f"{size} with its indexes; VACUUM ANALYZE done")
        counted = case_index.search(conn, [TENANT])["counts"]
        full = dict(conn.execute("SELECT status, count(*) FROM case_index WHERE handling_tenant = %s GROUP BY status",
                                 (TENANT,)).fetchall())
        print("counts per status (ended cases from case_index_ended) equal a full count:",
              all(counted[s] == full.get(s, 0) for s in counted))
        print(f"case_index.search (page 1 of 25 unless said, with counts per status), {runs} queries per line")
        print(f"    {'filter':<26} {'sort':<10} {'p50 ms':>8} {'p95 ms':>8} {'total':>9}")
        worst = 0.0
        for label, args in CASES:
            for sort in case_index.SORTS:
                case_index.search(conn, [TENANT], sort=sort, **args)  # warm-up
                times = []
                for _ in range(runs):
                    t0 = time.perf_counter()
                    out = case_index.search(conn, [TENANT], sort=sort, **args)
                    times.append((time.perf_counter() - t0) * 1000)
                worst = max(worst, pct(times, 95))
                print(f"    {label:<26} {sort:<10} {pct(times, 50):>8.1f} {pct(times, 95):>8.1f} {out['total']:>9,}")
        print(f"    worst p95 {worst:.1f} ms; {TARGET}")


if __name__ == "__main__":
    main()
