"""RPC calls with a deadline.

nameko 2.14's RPC proxy waits forever. ``eventlet.Timeout`` fixes that but is
a BaseException: it slips past nameko's ``except Exception`` in the worker,
kills the green thread and, for a ``@timer`` entrypoint, stops the timer for
good. ``call`` raises an ordinary ``RpcTimeout`` instead.
"""

from __future__ import annotations

import eventlet
from nameko.exceptions import RemoteError, UnknownService


class RpcTimeout(Exception):
    pass


# what a caller may treat as "the other service is unavailable right now"
UNAVAILABLE_ERRORS = (RpcTimeout, UnknownService, RemoteError, OSError)


def call(method, *args, timeout: float, **kwargs):
    with eventlet.Timeout(timeout, RpcTimeout(f"no reply within {timeout} s")):
        return method(*args, **kwargs)
