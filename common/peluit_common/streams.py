"""The replayable integration stream (a RabbitMQ stream over AMQP 0.9.1).

Retention is by size and age (``peluit_contracts.integration``), not by
consumption: every subscriber reads the same log from the offset or
timestamp it chooses (``x-stream-offset``), so one that joins late or
restores a backup replays what it missed. RabbitMQ needs a prefetch and
manual acknowledgements for stream consumers; an ack only moves the credit.
"""

from __future__ import annotations

import socket
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from kombu import Connection, Exchange, Queue

from peluit_contracts.integration import STREAM, stream_arguments
from peluit_contracts.topology import INTEGRATION_EXCHANGE


def stream_queue(name: str = STREAM, declare: bool = True, offset=None) -> Queue:
    # bound to every routing key of the integration exchange: one publish reaches the
    # stream and the subscribers' own queues, and is routable as long as the stream exists
    return Queue(name, exchange=Exchange(INTEGRATION_EXCHANGE, type="topic", durable=True), routing_key="#",
                 durable=True, queue_arguments=stream_arguments(), no_declare=not declare,
                 consumer_arguments=None if offset is None else {"x-stream-offset": offset})


def declare_stream(amqp_uri: str, name: str = STREAM) -> None:
    """Declare the stream and its binding (idempotent; the arguments must match an existing one)."""
    with Connection(amqp_uri) as conn:
        channel = conn.channel()
        try:
            stream_queue(name)(channel).declare()
        finally:
            channel.close()


@dataclass(frozen=True)
class StreamMessage:
    offset: int
    body: bytes
    content_type: str | None
    message_id: str | None


def read_stream(amqp_uri: str, offset: int | str | datetime = "first", *, name: str = STREAM,
                idle_timeout: float = 1.0, prefetch: int = 1000, limit: int | None = None) -> Iterator[StreamMessage]:
    """Yield the stream's messages from ``offset`` (a number, ``first``, ``last``,
    ``next`` or a datetime) until none arrives for ``idle_timeout`` seconds or
    ``limit`` were read. Needs only read permission on the stream."""
    with Connection(amqp_uri) as conn:
        channel = conn.channel()
        channel.basic_qos(0, prefetch, False)
        buffer: deque = deque()
        # py-amqp writes a datetime argument as an AMQP timestamp, as x-stream-offset wants
        consumer = conn.Consumer(stream_queue(name, declare=False, offset=offset), channel=channel, no_ack=False,
                                 on_message=buffer.append, auto_declare=False)
        consumer.consume()
        count = 0
        try:
            while limit is None or count < limit:
                if not buffer:
                    try:
                        conn.drain_events(timeout=idle_timeout)
                    except socket.timeout:
                        return
                while buffer and (limit is None or count < limit):
                    message = buffer.popleft()
                    if not buffer or count % 100 == 99:  # one ack for many: on a stream it only returns credit
                        channel.basic_ack(message.delivery_tag, multiple=True)
                    count += 1
                    yield StreamMessage(offset=message.headers.get("x-stream-offset"), body=message.body,
                                        content_type=message.content_type,
                                        message_id=message.properties.get("message_id"))
        finally:
            try:
                consumer.cancel()
            finally:
                channel.close()
