"""No report is lost, none is doubled: 200 submissions while the cases
service is killed with SIGKILL and restarted twice."""

from __future__ import annotations

import time
import uuid

import eventlet
import requests

from peluit_local.testing import (
    admin_connect,
    count_cases,
    eventually,
    non_json_log_lines,
    sample_report,
    submit,
)

N = 200
CONCURRENCY = 10


def test_kill_9_cases_twice_under_load(system):
    before = count_cases(system)
    keys = [str(uuid.uuid4()) for _ in range(N)]
    results: dict[str, tuple] = {}
    failures: list = []

    def reporter(key):
        body = sample_report(tenant="35.78", what=f"Laporan uji ketahanan {key}")
        deadline = time.monotonic() + 180
        attempts = 0
        while time.monotonic() < deadline:
            attempts += 1
            try:
                resp = submit(system, body, key=key, timeout=20)
            except requests.RequestException:
                eventlet.sleep(0.3)
                continue
            if resp.status_code == 201:
                results[key] = (resp.json()["registration_number"], resp.json()["receipt"], attempts)
                return
            if resp.status_code >= 500:
                eventlet.sleep(0.3)  # the reporter (or the portal) retries with the same key
                continue
            failures.append((key, resp.status_code, resp.text))
            return
        failures.append((key, "gave up"))

    def killer():
        # first a quick restart (in-flight RPCs are redelivered and answered in
        # time), then one longer than intake's RPC timeout (reporters get 503s
        # and retry with the same key while their first requests may still run)
        for threshold, down in ((40, 0.5), (120, 7.0)):
            while len(results) < threshold:
                eventlet.sleep(0.05)
            system.kill("cases")  # SIGKILL: no clean-up, unacked messages go back to the broker
            eventlet.sleep(down)
            system.start("cases")
            system.wait_ready("cases")

    pool = eventlet.GreenPool(CONCURRENCY + 1)
    pool.spawn(killer)
    for key in keys:
        pool.spawn(reporter, key)
    pool.waitall()

    assert failures == []
    assert len(results) == N
    retried = sum(1 for *_, attempts in results.values() if attempts > 1)
    print(f"\n{N} acknowledged, {retried} needed a retry across two kill -9 of cases")

    # every acknowledged submission has exactly one case, and there is no other
    numbers = {number for number, _, _ in results.values()}
    assert len(numbers) == N
    assert count_cases(system) - before == N
    with admin_connect(system, "cases") as conn:
        rows = conn.execute(
            "SELECT convert_from(state, 'UTF8')::jsonb->>'registration_number' AS n, count(*) "
            "FROM peluit.cases_events WHERE topic LIKE %s GROUP BY n", ("%Case.Registered",)).fetchall()
    stored = {n: c for n, c in rows}
    assert all(stored.get(n) == 1 for n in numbers)

    # and the followers converge exactly once: one notification, one read-model row each
    with admin_connect(system, "notifications") as conn:
        assert eventually(lambda: conn.execute(
            "SELECT count(*) FROM peluit.officer_notification WHERE registration_number = ANY(%s)",
            (list(numbers),)).fetchone()[0] == N, timeout=60)
    with admin_connect(system, "reporting") as conn:
        assert eventually(lambda: conn.execute(
            "SELECT count(*) FROM peluit.case_summary WHERE registration_number = ANY(%s)",
            (list(numbers),)).fetchone()[0] == N, timeout=60)
        per_tenant = dict(conn.execute(
            "SELECT tenant, count(*) FROM peluit.case_summary GROUP BY tenant").fetchall())
        counted = dict(conn.execute(
            "SELECT tenant, sum(count) FROM peluit.tenant_status_count GROUP BY tenant").fetchall())
        assert per_tenant == counted
    # the crashes and time-outs were logged as JSON lines, not raw tracebacks
    assert non_json_log_lines(system) == []
