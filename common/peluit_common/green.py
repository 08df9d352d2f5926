"""Make psycopg 3 cooperate with eventlet, whatever the import order.

psycopg waits for the server in C (``wait_c``) unless it detects gevent; under
eventlet that freezes the whole hub (measured: 20 concurrent 0.5 s queries
took 10 s). Swapping in psycopg's own ``wait_selector`` is not enough either:
it binds ``selectors.DefaultSelector`` when psycopg is imported, and nameko's
CLI imports our logging formatter (hence psycopg) *before* it monkey-patches.

So psycopg's two wait functions are replaced by versions that wait on eventlet's
green ``select`` explicitly, and decide at call time: green when eventlet has
patched ``socket``, psycopg's original otherwise (CLI tools, plain threads).
``make bench`` part (c) shows the effect.
"""

from __future__ import annotations

import os
import sys
from time import monotonic

import psycopg.waiting as waiting
from psycopg import errors

_ORIGINAL_WAIT = waiting.wait
_ORIGINAL_WAIT_CONN = waiting.wait_conn
R, W = waiting.Wait.R, waiting.Wait.W
NONE, READY_R, READY_W = waiting.Ready.NONE, waiting.Ready.R, waiting.Ready.W


def _patched() -> bool:
    patcher = sys.modules.get("eventlet.patcher")
    return patcher is not None and patcher.is_monkey_patched("socket")


def _green_ready(fileno: int, state, timeout: float | None):
    from eventlet.green import select

    r, w, _ = select.select([fileno] if state & R else [], [fileno] if state & W else [], [], timeout)
    return (READY_R if r else NONE) | (READY_W if w else NONE)


def _slice(interval: float, deadline: float | None) -> float | None:
    interval = interval if interval and interval > 0 else None
    if deadline is None:
        return interval
    left = max(0.0, deadline - monotonic())
    return left if interval is None else min(interval, left)


def green_wait(gen, fileno: int, interval: float = 0.0, timeout: float | None = None):
    if not _patched():
        return _ORIGINAL_WAIT(gen, fileno, interval=interval, timeout=timeout)
    deadline = monotonic() + timeout if timeout is not None else None
    try:
        state = next(gen)
        while True:
            ready = _green_ready(fileno, state, _slice(interval, deadline))
            if ready:
                state = gen.send(ready)
            else:
                gen.send(NONE)  # as psycopg's own waits do: let the generator check in
            if deadline is not None and monotonic() >= deadline:
                raise errors._WaitTimeout("wait timeout expired")
    except StopIteration as ex:
        return ex.value


def green_wait_conn(gen, interval: float = 0.0, timeout: float | None = None):
    if not _patched():
        return _ORIGINAL_WAIT_CONN(gen, interval=interval, timeout=timeout)
    deadline = monotonic() + timeout if timeout is not None else None
    try:
        fileno, state = next(gen)
        while True:
            ready = _green_ready(fileno, state, _slice(interval, deadline))
            if ready:
                fileno, state = gen.send(ready)
            else:
                gen.send(NONE)
            if deadline is not None and monotonic() >= deadline:
                raise errors._WaitTimeout("wait timeout expired")
    except StopIteration as ex:
        return ex.value


def cooperate() -> None:
    """Install the green waits (idempotent). ``PELUIT_PSYCOPG_WAIT=c`` keeps
    psycopg's blocking C wait: only for the benchmark's contrast."""
    if os.environ.get("PELUIT_PSYCOPG_WAIT", "green") == "c":
        return
    waiting.wait = green_wait
    waiting.wait_conn = green_wait_conn


cooperate()
