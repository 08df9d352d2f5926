"""Make psycopg 3 cooperate with eventlet.

psycopg waits for the server in C (``wait_c``) unless it detects gevent; under
eventlet that freezes the whole hub (10 concurrent 1 s queries took 10 s).
``wait_selector`` goes through the monkey-patched ``selectors`` module, so a
waiting query yields to other green threads. ``make bench`` shows the effect.
"""

from __future__ import annotations

import os
import sys

import psycopg.waiting


def _eventlet_patched() -> bool:
    patcher = sys.modules.get("eventlet.patcher")
    if patcher is None:  # eventlet not even imported: nothing is patched
        return False
    return patcher.is_monkey_patched("select") or patcher.is_monkey_patched("socket")


def cooperate() -> bool:
    """Route psycopg's waits through the eventlet hub when it is patched.

    ``PELUIT_PSYCOPG_WAIT=c`` keeps psycopg's blocking C wait: only for the
    benchmark that shows what this module prevents.
    """
    if _eventlet_patched() and os.environ.get("PELUIT_PSYCOPG_WAIT", "selector") != "c":
        psycopg.waiting.wait = psycopg.waiting.wait_selector
        return True
    return False


cooperate()
