"""Per-client limits without keeping client addresses: the client's address
as the edge saw it (``client_address``), and a sliding-window limiter that
counts on a keyed, daily rotating hash of it (``RateLimiter``). Used by
intake's portal and by cases' officer login."""

from __future__ import annotations

import collections
import datetime as dt
import hashlib
import hmac
import ipaddress
import time
from typing import Callable

Clock = Callable[[], float]



def client_address(environ: dict, proxy_hops: int = 0) -> str:
    """The client's address as the edge saw it; behind ``proxy_hops`` trusted
    reverse proxies, the entry those proxies appended to X-Forwarded-For.
    IPv6 is cut to its /64 (one client usually holds a whole /64)."""
    address = environ.get("REMOTE_ADDR") or ""
    if proxy_hops > 0:
        chain = [a.strip() for a in environ.get("HTTP_X_FORWARDED_FOR", "").split(",") if a.strip()]
        if len(chain) >= proxy_hops:
            address = chain[-proxy_hops]
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


class RateLimiter:
    """Sliding-window limits per client, counted on a keyed hash of the
    client's address that rotates every (UTC) day: ``HMAC(HMAC(key, date),
    address)``. Neither the address nor the hash is ever written anywhere.

    Kept in this process's memory only: several intake instances each limit
    on their own (the effective limit is the per-instance limit times the
    instances a client reaches), and a restart forgets everything. At the
    day's turn the whole table is dropped, since yesterday's hashes cannot
    be compared with today's.
    """

    def __init__(self, key: bytes, limits: dict[str, tuple[int, float]], clock: Clock = time.time,
                 max_clients: int = 100_000):
        self._key, self.limits, self._clock, self.max_clients = key, dict(limits), clock, max_clients
        self._day: str | None = None
        self._day_key = b""
        self._hits: collections.OrderedDict[tuple[str, str], collections.deque] = collections.OrderedDict()

    def _rotate(self, now: float) -> None:
        day = dt.datetime.fromtimestamp(now, dt.timezone.utc).strftime("%Y-%m-%d")
        if day != self._day:
            self._day = day
            self._day_key = hmac.new(self._key, b"ratelimit-day\x00" + day.encode(), hashlib.sha256).digest()
            self._hits.clear()

    def client_key(self, address: str) -> str:
        self._rotate(self._clock())
        return hmac.new(self._day_key, address.encode(), hashlib.sha256).hexdigest()[:32]

    def blocked(self, bucket: str, address: str) -> float | None:
        """Without counting: ``None`` if the client may try, else the seconds to wait
        (e.g. count only failed logins, and ask before each)."""
        limit, window = self.limits[bucket]
        now = self._clock()
        hits = self._hits.get((bucket, self.client_key(address)))
        while hits and hits[0] <= now - window:
            hits.popleft()
        return max(1.0, hits[0] + window - now) if hits and len(hits) >= limit else None

    def hit(self, bucket: str, address: str) -> float | None:
        """Count one attempt; ``None`` if allowed, else the seconds to wait."""
        limit, window = self.limits[bucket]
        now = self._clock()
        slot = (bucket, self.client_key(address))
        hits = self._hits.get(slot)
        if hits is None:
            hits = self._hits[slot] = collections.deque()
        self._hits.move_to_end(slot)
        while hits and hits[0] <= now - window:
            hits.popleft()
        if len(hits) >= limit:
            return max(1.0, hits[0] + window - now)
        hits.append(now)
        while len(self._hits) > self.max_clients:  # bounded memory: forget the least recent
            self._hits.popitem(last=False)
        return None
