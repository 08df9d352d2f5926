"""intake's one throttle (every public entrypoint counts in it) and the
receipt-hash pool, without nameko: limits, windows, the daily keyed hash,
bounded memory, the limits from the environment; the pool's bound, its queue
and its refusal when saturated."""

from __future__ import annotations

import os

import eventlet
import pytest

from peluit_common.testing import ManualClock as Clock
from peluit_common.settings import ConfigError
from peluit_intake import throttle as throttle_module
from peluit_intake.api import http_error
from peluit_intake.errors import Busy, Throttled
from peluit_intake.hash_pool import HashPool, release_freed_memory
from peluit_intake.throttle import LIMITS, Throttle, client_address, limits_from_env



def test_throttle_allows_the_limit_then_refuses_until_the_window_slides():
    clock = Clock()
    throttle = Throttle(os.urandom(32), {"receipt": (3, 600.0)}, clock=clock)
    assert [throttle.hit("receipt", "203.0.113.7") for _ in range(3)] == [None, None, None]
    wait = throttle.hit("receipt", "203.0.113.7")
    assert wait is not None and 599 <= wait <= 600
    assert throttle.hit("receipt", "203.0.113.8") is None  # another client is not affected
    clock.now += 601
    assert throttle.hit("receipt", "203.0.113.7") is None


def test_throttle_counts_on_a_keyed_hash_that_rotates_daily():
    clock = Clock(1_790_000_000.0 - 1_790_000_000.0 % 86400 + 86400 - 10)  # ten seconds before midnight UTC
    key = os.urandom(32)
    throttle = Throttle(key, {"report": (1, 3600.0)}, clock=clock)
    today = throttle.client_key("198.51.100.23")
    assert "198.51.100.23" not in today and len(today) == 32
    assert today != Throttle(os.urandom(32), {}, clock=clock).client_key("198.51.100.23")  # keyed
    assert throttle.hit("report", "198.51.100.23") is None
    assert throttle.hit("report", "198.51.100.23") is not None
    clock.now += 20  # a new UTC day: new hashes, yesterday's table is gone
    assert throttle.client_key("198.51.100.23") != today
    assert throttle.hit("report", "198.51.100.23") is None
    assert len(throttle._hits) == 1
    # nothing in the throttle's state holds the address
    assert "198.51.100.23" not in repr(throttle.__dict__)


def test_throttle_memory_is_bounded():
    throttle = Throttle(os.urandom(32), {"report": (5, 3600.0)}, clock=Clock(), max_subjects=100)
    for i in range(1000):
        throttle.hit("report", f"10.0.{i // 256}.{i % 256}")
    assert len(throttle._hits) == 100


def test_client_address_uses_proxies_only_when_told_and_groups_ipv6_by_64():
    environ = {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "198.51.100.9, 203.0.113.5"}
    assert client_address(environ) == "10.0.0.2"  # a client-sent header is not trusted by default
    assert client_address(environ, proxy_hops=1) == "203.0.113.5"
    assert client_address(environ, proxy_hops=2) == "198.51.100.9"
    assert client_address({"REMOTE_ADDR": "2001:db8:1:2:3:4:5:6"}) == client_address(
        {"REMOTE_ADDR": "2001:db8:1:2:ffff::1"}) == "2001:db8:1:2::/64"
    assert client_address({"REMOTE_ADDR": "::ffff:192.0.2.1"}) == "192.0.2.1"


def test_check_raises_throttled_with_the_wait_and_the_api_answers_429_with_retry_after():
    clock = Clock()
    throttle = Throttle(os.urandom(32), {"per_receipt": (2, 3600.0)}, clock=clock)
    throttle.check("per_receipt", "1234123412341234")
    clock.now += 100
    throttle.check("per_receipt", "1234123412341234")
    with pytest.raises(Throttled) as caught:
        throttle.check("per_receipt", "1234123412341234")
    assert caught.value.retry_after == 3501 and caught.value.minutes == 59
    refusal = http_error(caught.value)
    assert refusal.status == 429 and refusal.headers == {"Retry-After": "3501"}
    assert "59" in refusal.message["id"] and "59" in refusal.message["en"]
    busy = http_error(Busy())
    assert busy.status == 503 and busy.headers == {"Retry-After": "1"} and set(busy.message) == {"id", "en"}


def test_buckets_count_apart_and_a_client_counts_behind_trusted_proxies_only():
    throttle = Throttle(os.urandom(32), {"request": (1, 60.0), "report": (1, 60.0)}, clock=Clock(), proxy_hops=1)
    environ = {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "203.0.113.9"}
    throttle.check_client(environ, "request", "report")
    with pytest.raises(Throttled):
        throttle.check_client(environ, "request")
    throttle.check_client({"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "203.0.113.10"}, "request")
    assert throttle.hit("report", "203.0.113.9") is not None
    assert throttle.hit("report", "10.0.0.2") is None  # the proxy itself is not the client


def test_limits_come_from_the_environment_scaled(monkeypatch):
    monkeypatch.setenv("PELUIT_THROTTLE_REPORT", "3/60")
    monkeypatch.setenv("PELUIT_THROTTLE_SCALE", "10")
    limits = limits_from_env()
    assert limits["report"] == (30, 60.0)
    assert limits["receipt"] == (LIMITS["receipt"][0] * 10, LIMITS["receipt"][1])
    assert set(limits) == set(LIMITS)
    monkeypatch.setenv("PELUIT_THROTTLE_REPORT", "many")
    with pytest.raises(ConfigError):
        limits_from_env()


# -- the receipt-hash pool ------------------------------------------------------------


def _green_execute(function, *args):
    return function(*args)


def test_the_pool_runs_at_most_size_at_once_queues_up_to_queue_and_refuses_the_rest_at_once():
    pool = HashPool(2, 3, execute=_green_execute)
    running, peak, gate = [0], [0], eventlet.event.Event()

    def slow(n):
        running[0] += 1
        peak[0] = max(peak[0], running[0])
        gate.wait()
        running[0] -= 1
        return n * 2

    threads = [eventlet.spawn(pool.run, slow, n) for n in range(5)]
    eventlet.sleep(0.01)
    assert (pool.running, pool.waiting) == (2, 3)
    with pytest.raises(Busy):  # saturated: refused at once, nothing waits
        pool.run(slow, 99)
    gate.send()
    assert [t.wait() for t in threads] == [0, 2, 4, 6, 8]
    assert peak[0] == 2 and (pool.running, pool.waiting) == (0, 0)
    assert pool.run(lambda: "free again") == "free again"


def test_each_running_hash_has_its_slots_own_work_area_and_no_other_hash_uses_it_meanwhile():
    pool = HashPool(2, 10, execute=_green_execute, lend=object)
    in_use, seen = set(), set()

    def hash_in(n, area):
        assert area not in in_use
        in_use.add(area)
        seen.add(area)
        eventlet.sleep(0.001 * (n % 3))
        in_use.discard(area)
        return n

    threads = [eventlet.spawn(pool.run, hash_in, n, first=True) for n in range(12)]
    assert [t.wait() for t in threads] == list(range(12))
    assert len(seen) == 2 and len(pool._lent) == 2  # one per slot, all back


def test_the_pool_gives_its_slot_back_when_the_hash_fails():
    pool = HashPool(1, 0, execute=_green_execute)

    def broken():
        raise ValueError("boom")

    for _ in range(3):
        with pytest.raises(ValueError):
            pool.run(broken)
    assert pool.run(lambda: 1) == 1 and pool.running == 0


def test_freed_hash_memory_goes_back_to_the_system():
    assert release_freed_memory() in (True, False)  # glibc: True; elsewhere a no-op
    assert throttle_module.client_address is client_address


def test_new_receipts_are_hashed_before_waiting_checks_and_a_flood_of_checks_never_refuses_them():
    pool = HashPool(1, 2, checks=2, execute=_green_execute)
    order, gate = [], eventlet.event.Event()

    def blocker():
        gate.wait()

    first = eventlet.spawn(pool.run, blocker)
    eventlet.sleep(0)
    checks = [eventlet.spawn(pool.run, order.append, f"check{n}") for n in range(2)]
    eventlet.sleep(0)
    with pytest.raises(Busy):  # the checks' line is full ...
        pool.run(order.append, "check2")
    registrations = [eventlet.spawn(pool.run, order.append, f"new{n}", first=True) for n in range(2)]
    eventlet.sleep(0)
    assert pool.waiting == 4  # ... but new receipts still have room in theirs
    gate.send()
    first.wait()
    for t in checks + registrations:
        t.wait()
    assert order == ["new0", "new1", "check0", "check1"]
    assert pool.running == 0 and pool.waiting == 0


def test_a_waiter_killed_in_line_leaves_the_pool_whole():
    pool = HashPool(1, 2, execute=_green_execute)
    gate = eventlet.event.Event()
    holder = eventlet.spawn(pool.run, gate.wait)
    eventlet.sleep(0)
    waiter = eventlet.spawn(pool.run, lambda: "never")
    eventlet.sleep(0)
    waiter.kill()
    assert pool.waiting == 0
    gate.send()
    holder.wait()
    assert pool.running == 0 and pool.run(lambda: "next") == "next"
