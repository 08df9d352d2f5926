"""The console on the province-scale store (``make bench`` part g): figures, never assertions.

The province store of part (f) (``bench_province``: its cases event store, at
``PELUIT_BENCH_PROVINCE_SCALE``) gets its case index the way the cases service
builds it (``case_index.follow_once`` over the whole log, with each tenant's
deadline pack), then the real cases service, intake and the console run on it as
``nameko run`` processes (their background timers held back, so only the
requests measured run). An inspektur of the busiest kota signs in through the
console's own form, and for the same data the bench times

* the work-queue page (``GET /antrean``: the first page in the default order,
  then pages with a status filter and the next pages) beside the cases API's
  own ``GET /api/v1/cases`` with the query the console sends;
* the case page (``GET /kasus/<id>`` of random cases of the tenant) beside the
  API's ``GET /api/v1/cases/<id>``.

Targets (2 cores): work-queue page p95 <= 100 ms, case page p95 <= 150 ms.

    PELUIT_BENCH_CONSOLE_RUNS=200     requests per line
    .venv/bin/python -m peluit_local.bench_console
"""

from __future__ import annotations

import os
import random
import re
import secrets
import shutil
import sys
import time

import psycopg
import pyotp
import requests

from .bench_province import Deployment, cases_app, ensure_province, migrate_cases, pct, scale, tenant_counts
from .system import REPO, System
from .testing import _free_base_port

PASSWORD = "kata-sandi-bench-konsol"
HELD_BACK = {"PELUIT_RELAY_INTERVAL": "3600", "PELUIT_DEADLINE_INTERVAL": "3600", "PELUIT_CHECKPOINT_INTERVAL": "3600",
             "PELUIT_OFFICER_TOKEN_TTL": "3600"}
STATUSES = ("diterima", "verifikasi", "penelaahan", "investigasi", "tindak_lanjut", "selesai")


def index_cases(dep: Deployment) -> tuple[int, float]:
    """The case index of the whole log, as the service's ``index_cases`` timer builds it."""
    from peluit_cases import case_index, scheduler
    from peluit_common.db import make_pool

    app = cases_app(dep)
    pool = make_pool(dep.dsn("cases"), max_size=2)
    config = scheduler.TenantDeadlines(pool)
    t0, n = time.perf_counter(), 0
    try:
        while step := case_index.follow_once(pool, app, config, batch=2000):
            n += step
        with pool.connection() as conn:
            conn.execute("ANALYZE case_index")
    finally:
        pool.close()
        app.close()
    return n, time.perf_counter() - t0


def inspektur(dep: Deployment, tenant: str) -> dict:
    from peluit_cases import officers

    key = bytes.fromhex((dep.keys / "cases" / "officer-totp.key").read_text().strip())
    username = f"bench.{secrets.token_hex(3)}"
    with psycopg.connect(dep.dsn("cases")) as conn:
        officer_id, secret = officers.create_officer(conn, key, tenant=tenant, username=username,
                                                     display_name="Bench Inspektur", password=PASSWORD,
                                                     roles=["inspektur"])
    return {"id": officer_id, "username": username, "secret": secret}


def sign_in(console: str, who: dict) -> requests.Session:
    browser = requests.Session()
    form = browser.get(console + "/masuk", timeout=10)
    token = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    done = browser.post(console + "/masuk", timeout=10, data={
        "csrf": token, "username": who["username"], "password": PASSWORD, "totp": pyotp.TOTP(who["secret"]).now()})
    assert done.url.split("?")[0].endswith("/antrean"), done.status_code
    return browser


def api_token(cases: str, who: dict) -> dict:
    step = int(time.time()) // 30 + 1  # the console's sign-in took this step
    while int(time.time()) // 30 + 1 < step:
        time.sleep(1)
    got = requests.post(cases + "/api/v1/officer/login", timeout=10, json={
        "username": who["username"], "password": PASSWORD, "totp": pyotp.TOTP(who["secret"]).at(step * 30)})
    got.raise_for_status()
    return {"Authorization": f"Bearer {got.json()['token']}"}


def timed(call, runs: int) -> list[float]:
    out = []
    for i in range(runs):
        t0 = time.perf_counter()
        resp = call(i)
        out.append((time.perf_counter() - t0) * 1000)
        if resp.status_code != 200:
            raise RuntimeError(f"{resp.request.method} {resp.url.split('?')[0]} answered {resp.status_code}")
    return out


def main() -> int:
    runs = int(os.environ.get("PELUIT_BENCH_CONSOLE_RUNS", "200"))
    dep = Deployment(scale())
    print(f"(h) the console on the province store: scale {scale()}, databases {dep.prefix}_*", flush=True)
    info = ensure_province(dep, int(os.environ.get("PELUIT_BENCH_PROVINCE_WORKERS", "2")))
    migrate_cases(dep)
    n, secs = index_cases(dep)
    print(f"    case index built from the log: {n:,} notifications in {secs:.1f} s" if n else
          "    case index: already built (earlier run)", flush=True)
    tenant = max((t for t in tenant_counts(info["cases"]) if "." in t), key=tenant_counts(info["cases"]).get)
    logs = REPO / "var" / "bench-console"
    system = System(prefix=dep.prefix, vhost=f"peluit-bench-console-{secrets.token_hex(3)}",
                    base_port=_free_base_port(), keys_dir=dep.keys, log_dir=logs, extra_env=HELD_BACK)
    system.provision(log=lambda *a: None)
    try:
        system.start_all(["cases", "intake", "console"])  # intake: its public tenant catalogue
        who = inspektur(dep, tenant)
        console, cases = system.url("console"), system.url("cases")
        browser = sign_in(console, who)
        headers = api_token(cases, who)
        with psycopg.connect(dep.dsn("cases")) as conn:
            total = conn.execute("SELECT count(*) FROM case_index WHERE handling_tenant = %s", (tenant,)).fetchone()[0]
            ids = [str(r[0]) for r in conn.execute(
                "SELECT case_id FROM case_index WHERE handling_tenant = %s ORDER BY random() LIMIT %s",
                (tenant, runs)).fetchall()]
        print(f"    tenant {tenant}: {total:,} cases; an inspektur signed in through the console's form; "
              f"{runs} requests per line, one client, after 20 warm-up requests", flush=True)

        def queue_query(i: int) -> dict:
            pages = (1, 1, 2, 5)
            status = ("", *STATUSES)[i % (len(STATUSES) + 1)] if i % 2 else ""
            return {"page": pages[i % len(pages)], "status": status}

        def page_queue(i):
            return browser.get(console + "/antrean", params={k: v for k, v in queue_query(i).items() if v},
                               timeout=30)

        def api_queue(i):
            q = queue_query(i)
            return requests.get(cases + "/api/v1/cases", headers=headers, timeout=30, params={
                "page": q["page"], "per_page": 25, **({"status": q["status"]} if q["status"] else {})})

        def page_case(i):
            return browser.get(f"{console}/kasus/{ids[i % len(ids)]}", timeout=30)

        def api_case(i):
            return requests.get(f"{cases}/api/v1/cases/{ids[i % len(ids)]}", headers=headers, timeout=30)

        def page_plain(i):
            return requests.get(console + "/masuk", timeout=30)

        for call in (page_queue, api_queue, page_case, api_case):
            timed(call, 20)
        lines = [("the console's floor: GET /masuk (no API call)", page_plain, ""),
                 ("work-queue page GET /antrean (console -> cases API)", page_queue, "target p95 <= 100 ms"),
                 ("  the cases API alone: GET /api/v1/cases, same query", api_queue, ""),
                 ("case page GET /kasus/<id> (console -> cases API)", page_case, "target p95 <= 150 ms"),
                 ("  the cases API alone: GET /api/v1/cases/<id>", api_case, "")]
        print(f"      {'':<58} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
        random.Random(7).shuffle(ids)
        for label, call, target in lines:
            times = timed(call, runs)
            print(f"      {label:<58} {pct(times, 50):>8.1f} {pct(times, 95):>8.1f} {pct(times, 99):>8.1f}  {target}",
                  flush=True)
    finally:
        system.stop_all()
        from . import bootstrap
        bootstrap.delete_vhost(system.vhost)
        shutil.rmtree(logs, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
