"""A stream subscriber's broker user reads the integration stream and can do nothing else."""

from __future__ import annotations

import secrets
import urllib.parse

import pytest
from amqp import Message
from amqp.exceptions import AccessRefused
from kombu import Connection, Exchange, Queue

from peluit_common.streams import declare_stream, read_stream
from peluit_contracts.integration import STREAM
from peluit_contracts.topology import INTEGRATION_EXCHANGE
from peluit_local import stream_readers


@pytest.fixture(scope="module")
def reader(amqp_vhost):
    vhost = urllib.parse.urlsplit(amqp_vhost).path[1:]
    declare_stream(amqp_vhost)
    Queue("other.queue", durable=True)(Connection(amqp_vhost).channel()).declare()
    with Connection(amqp_vhost, transport_options={"confirm_publish": True}) as conn:
        producer = conn.Producer()
        for n in range(3):
            producer.publish({"n": n}, exchange=INTEGRATION_EXCHANGE, routing_key="case.closed.v1", mandatory=True)
    name = f"t{secrets.token_hex(4)}"
    password = stream_readers.add(name, vhost)
    yield f"pyamqp://{stream_readers.user_name(name)}:{password}@127.0.0.1:5672/{vhost}", name
    stream_readers.revoke(name)


def refused(uri, action) -> bool:
    with Connection(uri) as conn:
        try:
            channel = conn.channel()
            action(channel)
            channel.basic_qos(0, 1, False)  # a round trip: a refused publish closes the channel asynchronously
        except AccessRefused:
            return True
    return False


def test_a_reader_replays_the_stream_from_the_start(reader):
    uri, _ = reader
    assert [m.offset for m in read_stream(uri, "first", idle_timeout=0.5)] == [0, 1, 2]


def test_a_reader_cannot_write_declare_delete_bind_or_read_anything_else(reader):
    uri, _ = reader
    assert refused(uri, lambda ch: ch.basic_publish(Message(b"x"), exchange=INTEGRATION_EXCHANGE, routing_key="case.closed.v1"))
    assert refused(uri, lambda ch: ch.basic_publish(Message(b"x"), exchange="", routing_key=STREAM))
    assert refused(uri, lambda ch: ch.queue_declare("mine", durable=True))
    assert refused(uri, lambda ch: ch.queue_delete(STREAM))
    assert refused(uri, lambda ch: ch.queue_bind(STREAM, "amq.topic", "#"))
    assert refused(uri, lambda ch: ch.basic_get("other.queue"))
    assert refused(uri, lambda ch: Exchange("mine", "topic")(ch).declare())
    # and the check can fail: guest may do what the reader may not
    admin = uri.split("@")[0].split("//")[0] + "//guest:guest@" + uri.split("@")[1]
    assert not refused(admin, lambda ch: ch.basic_get("other.queue"))


def test_a_revoked_reader_cannot_connect(amqp_vhost):
    vhost = urllib.parse.urlsplit(amqp_vhost).path[1:]
    name = f"t{secrets.token_hex(4)}"
    uri = f"pyamqp://{stream_readers.user_name(name)}:{stream_readers.add(name, vhost)}@127.0.0.1:5672/{vhost}"
    with Connection(uri) as conn:
        conn.connect()
    stream_readers.revoke(name)
    with pytest.raises(Exception):
        with Connection(uri) as conn:
            conn.ensure_connection(max_retries=1)


def test_reader_names_are_checked():
    with pytest.raises(ValueError):
        stream_readers.user_name("guest; rm -rf")
