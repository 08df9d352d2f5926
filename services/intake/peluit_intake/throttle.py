"""intake's one throttle, used by every public entrypoint: the JSON API, the
portal, e-mail and WhatsApp.

A ``Throttle`` counts attempts in sliding windows per *bucket* and
*subject*: a client's address (API and portal), a receipt (whatever channel
uses it), a sender (an e-mail address, a WhatsApp number). Subjects are
counted on a keyed hash that rotates every UTC day, ``HMAC(HMAC(key, date),
subject)``; neither a subject nor its hash is ever written anywhere.

Kept in this process's memory only: several intake instances each limit on
their own (the effective limit is the per-instance limit times the instances
a client reaches), and a restart forgets everything. At the day's turn the
whole table is dropped, since yesterday's hashes cannot be compared with
today's. Limits: ``PELUIT_THROTTLE_<BUCKET>`` as ``count/seconds``, all of
them multiplied by ``PELUIT_THROTTLE_SCALE`` (tests and benchmarks).
"""

from __future__ import annotations

import collections
import datetime as dt
import hashlib
import hmac
import ipaddress
import os
import time
from typing import Callable

from peluit_common.settings import ConfigError, env_float, env_int

from .errors import Throttled

Clock = Callable[[], float]

HOUR = 3600.0
# bucket: (attempts, window in seconds). Client buckets count per address, the others per receipt or sender.
LIMITS = {
    "request": (600, 60.0),  # any request of one client to the public port
    "report": (20, HOUR),  # reports filed by one client (API and portal)
    "receipt": (30, HOUR),  # receipt checks by one client (API status, portal sign-in)
    "message": (60, HOUR),  # reporter messages sent by one client
    "evidence": (20, HOUR),  # evidence uploads by one client
    "per_receipt": (60, HOUR),  # any use of one receipt (status, messages, evidence), by anyone
    "mail_sender": (10, HOUR),  # reports by e-mail from one sender address
    "whatsapp_sender": (120, HOUR),  # WhatsApp messages from one number (a report takes about eight)
}


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


def limits_from_env() -> dict[str, tuple[int, float]]:
    scale = env_float("PELUIT_THROTTLE_SCALE", 1.0)
    out = {}
    for bucket, (count, window) in LIMITS.items():
        value = os.environ.get(f"PELUIT_THROTTLE_{bucket.upper()}")
        if value:
            try:
                count_text, _, window_text = value.partition("/")
                count, window = int(count_text), float(window_text or window)
            except ValueError:
                raise ConfigError(f"PELUIT_THROTTLE_{bucket.upper()}: expected count/seconds, got {value!r}") from None
        out[bucket] = (max(1, int(count * scale)), window)
    return out


class Throttle:
    """Sliding-window limits per bucket and subject, counted on a keyed hash that rotates daily."""

    def __init__(self, key: bytes, limits: dict[str, tuple[int, float]] | None = None, clock: Clock = time.time,
                 max_subjects: int = 100_000, proxy_hops: int = 0):
        self._key, self._clock, self.max_subjects = key, clock, max_subjects
        self.limits = dict(LIMITS if limits is None else limits)
        self.proxy_hops = proxy_hops
        self._day: str | None = None
        self._day_key = b""
        self._hits: collections.OrderedDict[tuple[str, str], collections.deque] = collections.OrderedDict()

    @classmethod
    def from_env(cls, key: bytes) -> Throttle:
        return cls(key, limits_from_env(), proxy_hops=env_int("PELUIT_PROXY_HOPS", 0))

    def _rotate(self, now: float) -> None:
        day = dt.datetime.fromtimestamp(now, dt.timezone.utc).strftime("%Y-%m-%d")
        if day != self._day:
            self._day = day
            self._day_key = hmac.new(self._key, b"ratelimit-day\x00" + day.encode(), hashlib.sha256).digest()
            self._hits.clear()

    def subject_key(self, subject: str) -> str:
        self._rotate(self._clock())
        return hmac.new(self._day_key, subject.encode(), hashlib.sha256).hexdigest()[:32]

    def hit(self, bucket: str, subject: str) -> float | None:
        """Count one attempt; ``None`` if allowed, else the seconds to wait."""
        limit, window = self.limits[bucket]
        now = self._clock()
        slot = (bucket, self.subject_key(subject))
        hits = self._hits.get(slot)
        if hits is None:
            hits = self._hits[slot] = collections.deque()
        self._hits.move_to_end(slot)
        while hits and hits[0] <= now - window:
            hits.popleft()
        if len(hits) >= limit:
            return max(1.0, hits[0] + window - now)
        hits.append(now)
        while len(self._hits) > self.max_subjects:  # bounded memory: forget the least recent
            self._hits.popitem(last=False)
        return None

    def check(self, bucket: str, subject: str) -> None:
        """``hit``, raising ``Throttled`` (with the wait) when over the limit."""
        wait = self.hit(bucket, subject)
        if wait is not None:
            raise Throttled(wait)

    def client(self, environ: dict) -> str:
        return client_address(environ, self.proxy_hops)

    def check_client(self, environ: dict, *buckets: str) -> None:
        """Count one request of the client behind ``environ`` in each bucket (``request`` first)."""
        address = self.client(environ)
        for bucket in buckets:
            self.check(bucket, address)
