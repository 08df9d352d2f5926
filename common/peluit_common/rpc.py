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

nameko declares its request queue ``rpc-<service>`` as a classic queue,
lost with the one broker node that holds it. ``rpc`` declares it as a
quorum queue with a delivery limit that parks a request which keeps killing
the service in ``rpc-<service>.dead``. The reply queues stay classic:
exclusive, auto-deleted, one per caller process (quorum queues can be neither).
"""

from __future__ import annotations

import logging
import re

import eventlet
from kombu import Connection, Exchange, Queue
from nameko.constants import AMQP_URI_CONFIG_KEY
from nameko.exceptions import RemoteError, UnknownService
from nameko.rpc import Rpc, RpcConsumer
from prometheus_client import Counter

from peluit_contracts.topology import parking_arguments, rpc_dead_letter_queue

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


def rpc_queues(queue: Queue) -> tuple[Queue, Queue]:
    """nameko's request queue as a durable quorum queue, and its parking queue."""
    dead = rpc_dead_letter_queue(queue.name)
    request = Queue(queue.name, exchange=queue.exchange, routing_key=queue.routing_key, durable=True,
                    auto_delete=False, queue_arguments=parking_arguments(dead, dead))
    # its own fanout exchange: RabbitMQ lets a user name a dead-letter exchange only if it may write to it,
    # and write on the default exchange would reach every queue
    parking = Exchange(dead, type="fanout", durable=True)
    return request, Queue(dead, exchange=parking, durable=True, queue_arguments={"x-queue-type": "quorum"})


class GuardedRpcConsumer(RpcConsumer):
    def setup(self):
        first = self.queue is None
        super().setup()  # names the queue after the service, as nameko does, and registers it
        if first:
            self.queue, dead = rpc_queues(self.queue)
            # the parking queue has no consumer: nameko would never declare it
            with Connection(self.container.config[AMQP_URI_CONFIG_KEY]) as conn, conn.channel() as channel:
                dead(channel).declare()

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
