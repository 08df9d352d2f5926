"""Two of every service on one machine (``PELUIT_INSTANCES=2``): losing an
instance loses nothing (issue 18).

Under a steady load of keyed submissions spread over both intake instances:
kill -9 the cases instance caught leading the relay (the case index and the
envelope log follow the same rows) and the reporting instance caught leading
the follower; another instance takes each over within 5 s, every report is
acknowledged exactly once, registration numbers stay gap-free, notifications
and reporting converge exactly once. Then a rolling restart of every service,
one instance at a time (SIGTERM, wait until healthy, the next), fails no
submission."""

from __future__ import annotations

import threading

import pytest

from peluit_local.failover import (
    LEADERS,
    TAKEOVER_LIMIT,
    Load,
    followers_converged,
    kill_the_leaders,
    registration_numbers,
)
from peluit_local.system import SERVICES, pool_settings
from peluit_local.testing import admin_connect, non_json_log_lines, running_system

# two of each with the manifests' pools (cases 8 + 8, the vault 6 + 2, reporting 5, notifications 4),
# and the administrator's connection counting them
POOLS_OF_TWO = 2 * sum(int(v) for s in SERVICES for k, v in pool_settings(s.name).items() if "POOL" in k) + 1


@pytest.fixture(scope="module")
def two():
    with running_system(instances=2) as system:
        yield system


def _exactly_once(system, load: Load) -> None:
    """Every acknowledged report has one case with its own number, the tenant-year's numbers are
    1..N without a gap, and the followers hold each case once."""
    numbers = list(load.acknowledged.values())
    assert len(set(numbers)) == len(numbers)
    stored = registration_numbers(system, load.tenant)
    assert stored == list(range(1, len(stored) + 1)), "registration numbers with a gap or a repeat"
    assert len(stored) == len(numbers), "a case that no reporter was told about, or one missing"
    assert followers_converged(system, numbers) == {"notifications": True, "reporting": True,
                                                    "reporting counts": True}


def test_kill_9_the_leaders_under_load(two):
    load = Load(two, tenant="35.78", retry_errors=True).start()
    try:
        load.wait_for(10)
        led, taken, restarted = kill_the_leaders(two)
        load.wait_for(len(load.acknowledged) + 5)
        connections = _connections(two)
    finally:
        load.stop()
    print(f"\nled by: {led}; takeover seconds: { {k: round(v, 2) for k, v in taken.items()} }; {connections} "
          "connections; "
          f"{len(load.acknowledged)} acknowledged, {len(load.errors)} answers retried, {load.failovers} failovers")
    # what the twelve processes hold under load stays within their pools (tests/test_connection_budget.py)
    assert 0 < connections <= POOLS_OF_TWO, connections
    assert set(taken) == set(LEADERS)
    assert led["relay"].startswith("cases") and led["reporting follower"].startswith("reporting")
    assert all(seconds <= TAKEOVER_LIMIT for seconds in taken.values()), taken
    assert [e for e in load.errors if e[1] == "gave up"] == []
    _exactly_once(two, load)
    for name in restarted:  # two of each again for the next test
        two.wait_ready(name)


def test_a_rolling_restart_fails_no_submission(two):
    load = Load(two, tenant="35.07").start()
    try:
        load.wait_for(5)
        # the services side by side, each one instance at a time: it keeps the other up
        threads = [threading.Thread(target=_roll, args=(two, s.name)) for s in SERVICES]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert all(proc.poll() is None for proc in two.processes.values())
        load.wait_for(len(load.acknowledged) + 5)
    finally:
        load.stop()
    print(f"\n{len(load.acknowledged)} acknowledged across the rolling restart, {load.failovers} failovers")
    assert load.errors == []
    _exactly_once(two, load)
    assert non_json_log_lines(two) == []


def _connections(system) -> int:
    with admin_connect(system, "cases") as conn:
        return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = ANY(%s)",
                            ([system.dbname(s.name) for s in SERVICES if s.database],)).fetchone()[0]


def _roll(system, service: str) -> None:
    """SIGTERM an instance, start it again, wait until it is healthy, the next."""
    for name in system.instance_names(service):
        system.stop(name)
        system.start(name)
        system.wait_ready(name)
