"""Reliable messaging on top of nameko and kombu.

nameko 2.14 acknowledges a message whose handler raised (it is gone), and
``requeue_on_error`` loops it back at once, forever. ``reliable_consume``
instead acknowledges only after the handler returned (its effect is stored),
and on failure republishes the message, with publisher confirms, to a staged
retry queue whose TTL dead-letters it back; after the last stage it is parked
in ``<queue>.dead`` and counted. Handlers must be idempotent: a crash before
the ack redelivers.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass

from amqp.exceptions import NotFound

from kombu import Connection, Exchange, Queue, binding
from kombu.pools import producers
from nameko.constants import AMQP_URI_CONFIG_KEY
from nameko.messaging import Consumer

from peluit_contracts.topology import EXCHANGES, RELIABLE_QUEUES, ReliableQueue

from .metrics import MESSAGES_DEAD_LETTERED, MESSAGES_RETRIED
from .settings import env

log = logging.getLogger(__name__)

ATTEMPT_HEADER = "x-peluit-attempt"


def retry_delays_ms() -> tuple[int, ...]:
    """Back-off stages, e.g. ``PELUIT_RETRY_DELAYS_MS=1000,10000,60000``."""
    return tuple(int(x) for x in env("PELUIT_RETRY_DELAYS_MS", "1000,10000,60000").split(",") if x.strip())


def exchange(name: str, declare: bool = True) -> Exchange:
    return Exchange(name, type=EXCHANGES.get(name, "topic"), durable=True, no_declare=not declare)


def main_queue(spec: ReliableQueue) -> Queue:
    # the shared exchange is never declared with it: a consumer's broker user may not configure it
    return Queue(
        spec.name,
        bindings=[binding(exchange(spec.exchange, declare=False), routing_key=rk) for rk in spec.bindings]
        + [binding(retry_exchange(spec), routing_key=spec.name)],  # where a back-off stage returns it
        durable=True,
        queue_arguments=dict(spec.arguments),
    )


def retry_exchange(spec: ReliableQueue) -> Exchange:
    """The consumer's own direct exchange between its queue, back-off stages and
    parking queue: not the default exchange, whose write permission reaches every queue."""
    return Exchange(spec.retry_exchange, type="direct", durable=True)


def retry_queue(spec: ReliableQueue, delay_ms: int) -> Queue:
    name = spec.retry_queue(delay_ms)
    return Queue(
        name,
        exchange=retry_exchange(spec),
        routing_key=name,
        durable=True,
        queue_arguments={
            "x-queue-type": "quorum",
            "x-message-ttl": delay_ms,
            "x-dead-letter-exchange": spec.retry_exchange,
            "x-dead-letter-routing-key": spec.name,
            # quorum queues dead-letter at most once unless told otherwise
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
        },
    )


def dead_letter_queue(spec: ReliableQueue) -> Queue:
    return Queue(spec.dead_letter_queue, exchange=retry_exchange(spec), routing_key=spec.dead_letter_queue,
                 durable=True, queue_arguments={"x-queue-type": "quorum"})


def declare_topology(amqp_uri: str, delays: tuple[int, ...] | None = None,
                     specs: tuple[ReliableQueue, ...] = RELIABLE_QUEUES) -> None:
    """Declare every exchange and consumer queue (idempotent): an administrator's
    job (provisioning declares the same with ``peluit_local.broker``; tests)."""
    declare_exchanges(amqp_uri)
    with Connection(amqp_uri) as conn:
        for spec in specs:
            declare_consumer(conn, spec, delays)


def declare_exchanges(amqp_uri: str, names=tuple(EXCHANGES)) -> None:
    """The exchanges ``names`` (cases' relay: the ones it publishes on)."""
    with Connection(amqp_uri) as conn:
        _declare_exchanges(conn, names)


def _declare_exchanges(conn: Connection, names) -> None:
    channel = conn.channel()
    try:
        for name in names:
            exchange(name)(channel).declare()
    finally:
        channel.close()


def declare_consumer(conn: Connection, spec: ReliableQueue, delays: tuple[int, ...] | None = None) -> None:
    """One consumer's own queues (main, retry stages, parking) and retry exchange.
    The exchange it binds to is provisioned; declared here only where it is
    missing (a test's fresh vhost), which needs a user allowed to."""
    delays = retry_delays_ms() if delays is None else delays
    if not _exchange_exists(conn, spec.exchange):
        _declare_exchanges(conn, [spec.exchange])
    channel = conn.channel()
    try:
        main_queue(spec)(channel).declare()
        for delay in delays:
            retry_queue(spec, delay)(channel).declare()
        dead_letter_queue(spec)(channel).declare()
    finally:
        channel.close()


def _exchange_exists(conn: Connection, name: str) -> bool:
    channel = conn.channel()
    try:
        channel.exchange_declare(name, EXCHANGES.get(name, "topic"), passive=True)
        return True
    except NotFound:
        return False
    finally:
        with contextlib.suppress(Exception):
            channel.close()


@dataclass
class ConfirmedPublisher:
    """Publishes persistent messages and returns only once the broker
    confirmed them; a nacked message raises, and so does an unroutable one
    unless ``mandatory=False`` (the public integration exchange, whose
    subscribers bind their own queues)."""

    amqp_uri: str

    def __post_init__(self):
        self.connection = Connection(self.amqp_uri, transport_options={"confirm_publish": True})

    def publish(self, body, *, exchange_name: str, routing_key: str, headers: dict | None = None,
                message_id: str | None = None, content_type: str | None = None,
                content_encoding: str | None = None, mandatory: bool = True) -> None:
        kwargs = {}
        if content_type is not None:
            kwargs.update(content_type=content_type, content_encoding=content_encoding)
        else:
            kwargs.update(serializer="json")
        with producers[self.connection].acquire(block=True, timeout=10) as producer:
            producer.publish(
                body, exchange=exchange_name, routing_key=routing_key, headers=headers or {},
                message_id=message_id, delivery_mode=2, mandatory=mandatory, retry=True,
                retry_policy={"max_retries": 3, "interval_start": 0.2, "interval_step": 0.5},
                **kwargs,
            )


class ReliableConsumer(Consumer):
    def __init__(self, spec: ReliableQueue, **kwargs):
        self.spec = spec
        self.delays = retry_delays_ms()
        super().__init__(main_queue(spec), **kwargs)

    def setup(self):
        self.publisher = ConfirmedPublisher(self.container.config[AMQP_URI_CONFIG_KEY])
        with Connection(self.container.config[AMQP_URI_CONFIG_KEY]) as conn:
            declare_consumer(conn, self.spec, self.delays)
        super().setup()

    def handle_message_processed(self, message, result=None, exc_info=None):
        if exc_info is None:
            self.queue_consumer.ack_message(message)
            return
        headers = dict(message.headers or {})
        attempt = int(headers.get(ATTEMPT_HEADER, 0)) + 1
        headers[ATTEMPT_HEADER] = attempt
        headers["x-peluit-last-error"] = exc_info[0].__name__  # the type only, never the text
        if attempt <= len(self.delays):
            target = self.spec.retry_queue(self.delays[attempt - 1])
            counter = MESSAGES_RETRIED
        else:
            target = self.spec.dead_letter_queue
            counter = MESSAGES_DEAD_LETTERED
        try:
            self.publisher.publish(
                message.body, exchange_name=self.spec.retry_exchange, routing_key=target, headers=headers,
                message_id=message.properties.get("message_id"),
                content_type=message.content_type, content_encoding=message.content_encoding,
            )
        except Exception:
            # could not park it: hand it back to the broker rather than lose it
            log.exception("could not move failed message to %s", target)
            self.queue_consumer.requeue_message(message)
            return
        counter.labels(self.spec.name).inc()
        log.warning("message failed (attempt %s): moved to %s", attempt, target,
                    extra={"fields": {"queue": self.spec.name, "error": exc_info[0].__name__}})
        self.queue_consumer.ack_message(message)


reliable_consume = ReliableConsumer.decorator
