"""The per-client limiter shared by intake's portal and cases' login: counts
on a keyed hash, ``blocked`` asks without counting (cases counts failures only)."""

from __future__ import annotations

from peluit_common.ratelimit import RateLimiter, client_address


def test_blocked_asks_without_counting_and_hit_counts():
    now = [1_000_000.0]
    limiter = RateLimiter(b"k" * 32, {"login": (3, 60.0)}, clock=lambda: now[0])
    for _ in range(5):
        assert limiter.blocked("login", "10.0.0.1") is None  # asking is free
    for _ in range(3):
        limiter.hit("login", "10.0.0.1")
    assert limiter.blocked("login", "10.0.0.1") == 60.0
    assert limiter.blocked("login", "10.0.0.2") is None  # another client
    now[0] += 61
    assert limiter.blocked("login", "10.0.0.1") is None  # the window moved on
    assert "10.0.0.1" not in repr(vars(limiter))  # only the keyed hash is kept


def test_the_client_is_the_edge_or_the_address_the_trusted_proxies_appended():
    environ = {"REMOTE_ADDR": "10.1.1.1", "HTTP_X_FORWARDED_FOR": "1.2.3.4, 203.0.113.9"}
    assert client_address(environ) == "10.1.1.1"
    assert client_address(environ, proxy_hops=1) == "203.0.113.9"
    assert client_address({"REMOTE_ADDR": "2001:db8::1"}) == "2001:db8::/64"
