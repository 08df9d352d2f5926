# -- rate limiting ------------------------------------------------------------------


def test_rate_throttle_allows_the_limit_then_refuses_until_the_window_slides():
    clock = Clock()
    throttle = Throttle(os.urandom(32), {"receipt": (3, 600.0)}, clock=clock)
    assert [throttle.hit("receipt", "203.0.113.7") for _ in range(3)] == [None, None, None]
    wait = throttle.hit("receipt", "203.0.113.7")
    assert wait is not None and 599 <= wait <= 600
    assert throttle.hit("receipt", "203.0.113.8") is None  # another client is not affected
    clock.now += 601
    assert throttle.hit("receipt", "203.0.113.7") is None


def test_rate_throttle_counts_on_a_keyed_hash_that_rotates_daily():
    clock = Clock(1_790_000_000.0 - 1_790_000_000.0 % 86400 + 86400 - 10)  # ten seconds before midnight UTC
    key = os.urandom(32)
    throttle = Throttle(key, {"report": (1, 3600.0)}, clock=clock)
    today = throttle.subject_key("198.51.100.23")
    assert "198.51.100.23" not in today and len(today) == 32
    assert today != Throttle(os.urandom(32), {}, clock=clock).subject_key("198.51.100.23")  # keyed
    assert throttle.hit("report", "198.51.100.23") is None
    assert throttle.hit("report", "198.51.100.23") is not None
    clock.now += 20  # a new UTC day: new hashes, yesterday's table is gone
    assert throttle.subject_key("198.51.100.23") != today
    assert throttle.hit("report", "198.51.100.23") is None
    assert len(throttle._hits) == 1
    # nothing in the throttle's state holds the address
    assert "198.51.100.23" not in repr(throttle.__dict__)


def test_rate_throttle_memory_is_bounded():
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


