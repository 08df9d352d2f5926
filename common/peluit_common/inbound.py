"""A reliable consumer for messages from outside Peluit (partner systems).

Like ``reliable_consume``, plus: the handler gets the broker's facts beside
the body (``user_id``, which RabbitMQ has checked against the sender's
connection, the routing key, the ``ce-*`` CloudEvents headers), and a
message the handler refuses (``Refused``) is not retried: it is parked at
once in ``<queue>.dead`` with the reason in a header, and nothing is recorded.
"""

from __future__ import annotations

import logging

from nameko.exceptions import ContainerBeingKilled
from nameko.messaging import QueueConsumer
from prometheus_client import Counter

from peluit_contracts.inbound import REASON_HEADER

from .amqp import ReliableConsumer

log = logging.getLogger(__name__)

INBOUND_REFUSED = Counter("peluit_inbound_refused_total", "Inbound messages refused and parked", ["queue", "reason"])


class Refused(Exception):
    """The message is invalid for good (bad shape, unknown case, wrong sender): park it with ``reason``."""

    def __init__(self, reason: str, drop_body: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.drop_body = drop_body  # e.g. an identity sent in clear: not even the dead-letter queue keeps it


class _ParkingQueueConsumer(QueueConsumer):
    """kombu acknowledges a body it cannot decode and logs it, raw: from
    outside, that loses the message and may write what it carries into a log.
    Park it with a reason instead (one inbound consumer per service)."""

    def on_decode_error(self, message, exc):
        provider = next(p for p in self._providers if isinstance(p, InboundConsumer))
        provider.park(message, f"undecodable_body: {type(exc).__name__}")


class InboundConsumer(ReliableConsumer):
    queue_consumer = _ParkingQueueConsumer()

    def handle_message(self, body, message):
        meta = {"user_id": message.properties.get("user_id"), "routing_key": message.delivery_info.get("routing_key"),
                "message_id": message.properties.get("message_id"), "headers": dict(message.headers or {})}

        def handle_result(worker_ctx, result=None, exc_info=None):
            self.handle_message_processed(message, result, exc_info)
            return result, exc_info

        try:
            self.container.spawn_worker(self, (body, meta), {}, context_data={}, handle_result=handle_result)
        except ContainerBeingKilled:
            self.queue_consumer.requeue_message(message)

    def handle_message_processed(self, message, result=None, exc_info=None):
        if exc_info is None or not issubclass(exc_info[0], Refused):
            return super().handle_message_processed(message, result, exc_info)
        self.park(message, exc_info[1].reason, exc_info[1].drop_body)

    def park(self, message, reason: str, drop_body: bool = False) -> None:
        """Into ``<queue>.dead`` at once, with the reason (codes and field names, never content)."""
        headers = {**(message.headers or {}), REASON_HEADER: reason}
        try:
            self.publisher.publish(b"" if drop_body else message.body, exchange_name=self.spec.retry_exchange,
                                   routing_key=self.spec.dead_letter_queue,
                                   headers=headers, message_id=message.properties.get("message_id"),
                                   content_type=message.content_type, content_encoding=message.content_encoding)
        except Exception:
            log.exception("could not park a refused message")
            self.queue_consumer.requeue_message(message)
            return
        INBOUND_REFUSED.labels(self.spec.name, reason.split(":")[0]).inc()
        log.warning("inbound message refused: %s", reason.split(":")[0],
                    extra={"fields": {"queue": self.spec.name, "reason": reason}})
        self.queue_consumer.ack_message(message)


inbound_consume = InboundConsumer.decorator
