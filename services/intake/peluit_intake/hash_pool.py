"""The receipt-hash pool: Argon2id (19 MiB, ~20 ms of CPU each) off the eventlet
hub, at most one hash per core at once, a short queue behind them, and
``Busy`` at once when that queue is full, so a burst of receipt checks is a
503 with ``Retry-After`` instead of a wait of seconds (and of ~19 MiB per
thread: eventlet's pool has 20 threads).

glibc would keep each freed 19 MiB block in the arena of the thread that
hashed (its mmap threshold grows to the largest freed block), and the hashes
move between eventlet's threads: ``release_freed_memory`` pins the threshold
so every block goes back to the system when the hash is done.
"""

from __future__ import annotations

import ctypes
import logging
import os
import time
from typing import Callable

from eventlet import tpool
from eventlet.semaphore import Semaphore
from prometheus_client import Counter, Histogram

from peluit_common.settings import env_int

from .errors import Busy

log = logging.getLogger(__name__)

HASH_WAIT = Histogram("peluit_intake_receipt_hash_wait_seconds", "Time a receipt hash waited for a slot",
                      buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5))
HASH_REFUSED = Counter("peluit_intake_receipt_hash_refused_total", "Receipt hashes refused: the pool was saturated")

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number


def release_freed_memory(threshold: int = 1024 * 1024) -> bool:
    """Allocations of ``threshold`` bytes and more are mmap'ed and returned on free (glibc only)."""
    try:
        return bool(ctypes.CDLL("libc.so.6").mallopt(M_MMAP_THRESHOLD, threshold))
    except (OSError, AttributeError):
        return False


def cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return os.cpu_count() or 1


class HashPool:
    """At most ``size`` hashes at once, at most ``queue`` waiting for a slot (FIFO); past that ``Busy``."""

    def __init__(self, size: int, queue: int, execute: Callable = tpool.execute):
        self.size, self.queue, self._execute = max(1, size), max(0, queue), execute
        self._slots = Semaphore(self.size)
        self.running = self.waiting = 0

    @classmethod
    def from_env(cls) -> HashPool:
        """``PELUIT_RECEIPT_HASH_THREADS`` (the cores), ``PELUIT_RECEIPT_HASH_QUEUE`` (64: ~0.7 s of
        hashing on two cores, more than 50 reporters submitting at once ever wait)."""
        return cls(env_int("PELUIT_RECEIPT_HASH_THREADS", cores()), env_int("PELUIT_RECEIPT_HASH_QUEUE", 64))

    def run(self, function: Callable, *args):
        if self.running >= self.size and self.waiting >= self.queue:
            HASH_REFUSED.inc()
            raise Busy()
        self.waiting += 1
        started = time.monotonic()
        try:
            self._slots.acquire()
        finally:
            self.waiting -= 1
        HASH_WAIT.observe(time.monotonic() - started)
        self.running += 1
        try:
            return self._execute(function, *args)
        finally:
            self.running -= 1
            self._slots.release()


_pool: HashPool | None = None


def receipt_hashes() -> HashPool:
    """The process's one pool (made on first use, with the glibc setting beside it)."""
    global _pool
    if _pool is None:
        release_freed_memory()
        _pool = HashPool.from_env()
    return _pool
