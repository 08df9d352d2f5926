"""The inbound consumer against a real RabbitMQ: the broker's word on the
sender, refused messages parked at once with their reason, bad bodies survived."""

from __future__ import annotations

import eventlet
import pytest
from amqp.exceptions import PreconditionFailed
from kombu import Connection, Queue

from peluit_common.amqp import ConfirmedPublisher, declare_topology
from peluit_common.inbound import Refused, inbound_consume
from peluit_common.testing import queue_depth, wait_for
from peluit_contracts.topology import ReliableQueue

SPEC = ReliableQueue(name="test.inbound", exchange="test.inbound.x", bindings=("#",))


@pytest.fixture
def service(amqp_vhost, container_factory, monkeypatch):
    monkeypatch.setenv("PELUIT_RETRY_DELAYS_MS", "100")
    seen = []

    class Partnered:
        name = "partnered"

        @inbound_consume(SPEC)
        def on_inbound(self, body, meta):
            seen.append((body, meta))
            if body.get("bad"):
                raise Refused("invalid_data: bad")
            if body.get("identity"):
                raise Refused("identity_in_clear", drop_body=True)

    declare_topology(amqp_vhost, delays=(100,), specs=(SPEC,))
    container = container_factory(Partnered, {"AMQP_URI": amqp_vhost, "max_workers": 2})
    container.start()
    return seen


def send(uri, body, content_type="application/json", **props):
    ConfirmedPublisher(uri).publish(body, exchange_name="test.inbound.x", routing_key="thing.v1.35.73",
                                    content_type=content_type, content_encoding="utf-8", **props)


def test_the_handler_gets_the_broker_checked_sender_and_the_routing_key(amqp_vhost, service):
    send(amqp_vhost, b'{"n": 1}', headers={"ce-type": "thing"}, message_id="m1")
    assert wait_for(lambda: service)
    body, meta = service[0]
    assert body == {"n": 1} and meta["routing_key"] == "thing.v1.35.73" and meta["headers"]["ce-type"] == "thing"
    assert meta["message_id"] == "m1"
    assert wait_for(lambda: queue_depth(amqp_vhost, SPEC.name) == 0)


def test_a_refused_message_is_parked_at_once_with_its_reason(amqp_vhost, service):
    send(amqp_vhost, b'{"bad": true}')
    assert wait_for(lambda: queue_depth(amqp_vhost, SPEC.dead_letter_queue) == 1)
    eventlet.sleep(0.4)  # no retry stage saw it: handled exactly once
    assert len(service) == 1
    with Connection(amqp_vhost) as conn:
        parked = Queue(SPEC.dead_letter_queue, no_declare=True)(conn.channel()).get(no_ack=True)
    assert parked.headers["x-peluit-reason"] == "invalid_data: bad"


def test_a_refusal_may_drop_the_body_so_not_even_the_dead_letter_queue_keeps_it(amqp_vhost, service):
    send(amqp_vhost, b'{"identity": "Siti Pelapor"}')
    assert wait_for(lambda: queue_depth(amqp_vhost, SPEC.dead_letter_queue) == 1)
    with Connection(amqp_vhost) as conn:
        parked = Queue(SPEC.dead_letter_queue, no_declare=True)(conn.channel()).get(no_ack=True)
    assert parked.headers["x-peluit-reason"] == "identity_in_clear" and not parked.body


def test_a_body_that_is_not_json_does_not_stop_the_consumer(amqp_vhost, service):
    send(amqp_vhost, b"{not json")
    send(amqp_vhost, b"<xml/>", content_type="application/xml")
    send(amqp_vhost, b'{"n": 2}')
    assert wait_for(lambda: any(body == {"n": 2} for body, _ in service))
    # both parked with their reason, not acknowledged into the void (kombu's default)
    assert wait_for(lambda: queue_depth(amqp_vhost, SPEC.dead_letter_queue) == 2)
    with Connection(amqp_vhost) as conn:
        dead = Queue(SPEC.dead_letter_queue, no_declare=True)(conn.channel())
        reasons = {dead.get(no_ack=True).headers["x-peluit-reason"] for _ in range(2)}
    assert reasons == {"undecodable_body: DecodeError", "undecodable_body: ContentDisallowed"}


def test_the_broker_refuses_a_user_id_that_is_not_the_senders(amqp_vhost):
    # what Peluit relies on: user_id is the authenticated broker user, or the message is refused
    with Connection(amqp_vhost) as conn:
        channel = conn.channel()
        producer = conn.Producer(channel)
        producer.publish(b"{}", exchange="", routing_key="nowhere", user_id="partner-someone-else")
        with pytest.raises(PreconditionFailed):
            channel.basic_qos(0, 1, False)
