"""intake's one throttle, used by every public entrypoint: the JSON API, the
portal, e-mail and WhatsApp.

A ``Throttle`` counts attempts in sliding windows per *bucket* and
*subject*: a client's address (API and portal), a receipt (whatever channel
uses it), a sender (an e-mail address, a WhatsApp number). Subjects are
counted on a keyed hash that rotates every UTC day, ``HMAC(HMAC(key, date),
subject)``, by ``peluit_common.ratelimit``; neither a subject nor its hash is ever written anywhere.

Kept in this process's memory only: several intake instances each limit on
their own (the effective limit is at most the per-instance limit times the
instances; docs/channels.md#throttling says why that bound is accepted), and a
restart forgets everything. ``whatsapp_sender`` is the exception: its limit
is read here but counted in intake's database (``whatsapp_store``), across
instances. At the day's turn the
whole table is dropped, since yesterday's hashes cannot be compared with
today's. Limits: ``PELUIT_THROTTLE_<BUCKET>`` as ``count/seconds``, all of
them multiplied by ``PELUIT_THROTTLE_SCALE`` (tests and benchmarks).
"""

from __future__ import annotations

import os
import time

from peluit_common.ratelimit import Clock, RateLimiter, client_address
from peluit_common.settings import ConfigError, env_float, env_int

from .errors import Throttled

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
    "whatsapp_sender": (120, HOUR),  # WhatsApp messages from one number (about eight a report); counted by
    # whatsapp_store, across instances
}


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


class Throttle(RateLimiter):
    """common's sliding-window limiter with intake's buckets, raising ``Throttled``;
    a subject is a client's address, a receipt or a sender."""

    def __init__(self, key: bytes, limits: dict[str, tuple[int, float]] | None = None, clock: Clock = time.time,
                 max_subjects: int = 100_000, proxy_hops: int = 0):
        super().__init__(key, LIMITS if limits is None else limits, clock=clock, max_clients=max_subjects)
        self.proxy_hops = proxy_hops

    @classmethod
    def from_env(cls, key: bytes) -> Throttle:
        return cls(key, limits_from_env(), proxy_hops=env_int("PELUIT_PROXY_HOPS", 0))

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
