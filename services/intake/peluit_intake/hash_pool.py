"""The receipt-hash pool: Argon2id (19 MiB, ~20 ms of CPU each) off the eventlet
hub, at most one hash per core at once, a short queue behind them, and
``Busy`` at once when that queue is full, so a burst of receipt checks is a
503 with ``Retry-After`` instead of a wait of seconds (and of ~19 MiB per
thread: eventlet's pool has 20 threads).

Each slot owns one Argon2 ``WorkArea`` and lends it to the hash it runs, so the
19 MiB are mapped once per slot (2 on two cores) instead of once per hash:
mapping them afresh cost ~4,900 page faults and nearly doubled a hash's CPU.
Other large blocks (evidence) still go back to the system when freed:
glibc would keep each in the arena of the thread that freed it (its mmap
threshold grows to the largest freed block), and ``release_freed_memory``
pins the threshold.
"""

from __future__ import annotations

import collections
import ctypes
import functools
import logging
import os
import time
from typing import Callable

from eventlet import tpool
from eventlet.event import Event
from prometheus_client import Counter, Histogram

from peluit_common.settings import env_int

from .errors import Busy
from .receipts import WorkArea

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
    """At most ``size`` hashes at once. Waiting for a slot: up to ``queue`` hashes of new receipts
    (registrations, served first) and up to ``checks`` hashes of presented receipts (status,
    messages, evidence: a flood of guesses there never delays a registration); past that ``Busy``.
    ``lend``: each slot's own object (``WorkArea``), passed to the function run there as ``area=``."""

    def __init__(self, size: int, queue: int, checks: int | None = None, execute: Callable = tpool.execute,
                 lend: Callable | None = None):
        self.size, self.queue, self._execute = max(1, size), max(0, queue), execute
        self.checks = self.queue if checks is None else max(0, checks)
        self.running = 0
        self._lent = [lend() for _ in range(self.size)] if lend else None  # the free slots' objects
        self._first: collections.deque = collections.deque()  # registrations
        self._then: collections.deque = collections.deque()  # receipt checks

    @classmethod
    def from_env(cls) -> HashPool:
        """``PELUIT_RECEIPT_HASH_THREADS`` (the cores); ``PELUIT_RECEIPT_HASH_QUEUE`` (64 registrations:
        ~0.7 s of hashing on two cores) and ``PELUIT_RECEIPT_CHECK_QUEUE`` (16 checks) waiting."""
        return cls(env_int("PELUIT_RECEIPT_HASH_THREADS", cores()), env_int("PELUIT_RECEIPT_HASH_QUEUE", 64),
                   env_int("PELUIT_RECEIPT_CHECK_QUEUE", 16), lend=WorkArea)

    @property
    def waiting(self) -> int:
        return len(self._first) + len(self._then)

    def run(self, function: Callable, *args, first: bool = False):
        """``function(*args)`` in a slot; ``first``: a new receipt's hash, served before any check."""
        started = time.monotonic()
        if self.running < self.size and not self.waiting:
            self.running += 1
        else:
            line, limit = (self._first, self.queue) if first else (self._then, self.checks)
            if len(line) >= limit:
                HASH_REFUSED.inc()
                raise Busy()
            turn = Event()
            line.append(turn)
            try:
                turn.wait()  # the slot is handed over with the turn (``_release``)
            except BaseException:
                if turn in line:
                    line.remove(turn)
                else:
                    self._release()
                raise
        HASH_WAIT.observe(time.monotonic() - started)
        if self._lent is None:
            try:
                return self._execute(function, *args)
            finally:
                self._release()
        lent = self._lent.pop()  # a running slot always has one: ``running`` <= ``size``
        try:
            return self._execute(functools.partial(function, area=lent), *args)
        finally:
            self._lent.append(lent)
            self._release()

    def _release(self) -> None:
        line = self._first or self._then
        if line:
            line.popleft().send(None)
        else:
            self.running -= 1


_pool: HashPool | None = None


def receipt_hashes() -> HashPool:
    """The process's one pool (made on first use, with the glibc setting beside it)."""
    global _pool
    if _pool is None:
        release_freed_memory()
        _pool = HashPool.from_env()
    return _pool
