"""RPC calls with a deadline, and RPC entrypoints that answer only to a reply address.

nameko 2.14's RPC proxy waits forever. ``eventlet.Timeout`` fixes that but is
a BaseException: it slips past nameko's ``except Exception`` in the worker,
kills the green thread and, for a ``@timer`` entrypoint, stops the timer for
good. ``call`` raises an ordinary ``RpcTimeout`` instead.

nameko answers to whatever ``reply_to`` a request carries; with none, or one
the service's broker user may not publish to, sending the answer raises and
nameko kills the whole service, and the unacknowledged request kills it again
at every start. ``rpc`` (use it instead of ``nameko.rpc.rpc``) drops such a
request unanswered: nameko's own callers always send a reply queue's UUID.
"""

from __future__ import annotations

import logging
import re

import eventlet
from nameko.exceptions import RemoteError, UnknownService
from nameko.rpc import Rpc, RpcConsumer
from prometheus_client import Counter

log = logging.getLogger(__name__)

REPLY_ADDRESS = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
RPC_DROPPED = Counter("peluit_rpc_dropped_total", "RPC requests dropped unanswered: no usable reply address")


class RpcTimeout(Exception):
    pass


# what a caller may treat as "the other service is unavailable right now"
UNAVAILABLE_ERRORS = (RpcTimeout, UnknownService, RemoteError, OSError)


def call(method, *args, timeout: float, **kwargs):
    with eventlet.Timeout(timeout, RpcTimeout(f"no reply within {timeout} s")):
        return method(*args, **kwargs)


class GuardedRpcConsumer(RpcConsumer):
    def handle_message(self, body, message):
        reply_to = message.properties.get("reply_to")
        if not isinstance(reply_to, str) or not REPLY_ADDRESS.fullmatch(reply_to):
            RPC_DROPPED.inc()
            log.warning("rpc request without a usable reply address dropped",
                        extra={"fields": {"routing_key": message.delivery_info.get("routing_key")}})
            self.queue_consumer.ack_message(message)
            return
        super().handle_message(body, message)


class GuardedRpc(Rpc):
    rpc_consumer = GuardedRpcConsumer()


rpc = GuardedRpc.decorator
