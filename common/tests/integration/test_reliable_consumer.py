"""nameko's defaults are not trusted: against a real RabbitMQ (own vhost).

The first two tests pin down the nameko 2.14 behaviour that Peluit works
around (if a nameko upgrade changes it, they say so); the rest show that
``reliable_consume`` loses nothing.
"""

from __future__ import annotations

import time

import eventlet
import pytest
from kombu import Connection, Queue
from nameko.events import EventDispatcher, event_handler
from nameko.messaging import consume
from nameko.rpc import rpc
from prometheus_client import REGISTRY

from peluit_common.amqp import ATTEMPT_HEADER, ConfirmedPublisher, declare_topology, reliable_consume
from peluit_common.testing import queue_depth, wait_for
from peluit_contracts.topology import ReliableQueue

DELAYS = (100, 200)


@pytest.fixture(scope="module")
def amqp_uri(amqp_vhost):
    # one vhost for the module (rabbitmqctl is slow); queue names differ per test
    return amqp_vhost


@pytest.fixture
def run(nameko_service, monkeypatch):
    monkeypatch.setenv("PELUIT_RETRY_DELAYS_MS", ",".join(map(str, DELAYS)))
    return nameko_service


def metric(name: str, queue: str) -> float:
    return REGISTRY.get_sample_value(name, {"queue": queue}) or 0.0


def publish(amqp_uri, queue_name, body):
    ConfirmedPublisher(amqp_uri).publish(body, exchange_name="", routing_key=queue_name)


def test_nameko_default_consumer_acks_a_failing_message_and_loses_it(amqp_uri, run):
    calls = []
    queue = Queue("baseline.plain", exchange=None, durable=True)

    class Plain:
        name = "plain"

        @consume(queue)
        def handle(self, body):
            calls.append(body)
            raise RuntimeError("boom")

    run(Plain)
    publish(amqp_uri, "baseline.plain", {"n": 1})
    assert wait_for(lambda: calls)
    eventlet.sleep(0.5)
    assert calls == [{"n": 1}] and queue_depth(amqp_uri, "baseline.plain") == 0  # gone


def test_nameko_event_published_before_any_handler_started_is_dropped(amqp_uri, run):
    received = []

    class Publisher:
        name = "publisher"
        dispatch = EventDispatcher()

        @rpc
        def fire(self):
            self.dispatch("happened", {"n": 1})

    class Listener:
        name = "listener"

        @event_handler("publisher", "happened")
        def on(self, payload):
            received.append(payload)

    from nameko.standalone.rpc import ServiceRpcProxy

    run(Publisher)
    with ServiceRpcProxy("publisher", {"AMQP_URI": amqp_uri}) as proxy:
        proxy.fire()  # confirmed by the broker ...
    run(Listener)
    eventlet.sleep(1)
    assert received == []  # ... and dropped: nobody's queue existed yet


def spec(name: str) -> ReliableQueue:
    return ReliableQueue(name=name, exchange="peluit.test", bindings=("thing.#",))


def consumer_of(s: ReliableQueue, handle):
    """A one-method service that consumes ``s`` with ``reliable_consume``, calling ``handle(body)``."""
    service_name = s.name.replace(".", "_")
    return type(service_name, (), {"name": service_name,
                                   "handle": reliable_consume(s)(lambda self, body: handle(body))})


def test_a_failing_message_is_retried_with_back_off_then_succeeds(amqp_uri, run):
    s = spec("test.flaky")
    attempts = []

    def flaky(body):
        attempts.append(time.monotonic())
        if len(attempts) < 3:
            raise RuntimeError("transient")

    retried_before = metric("peluit_messages_retried_total", s.name)
    run(consumer_of(s, flaky))
    ConfirmedPublisher(amqp_uri).publish({"n": 1}, exchange_name="peluit.test", routing_key="thing.created")
    assert wait_for(lambda: len(attempts) == 3)
    eventlet.sleep(0.5)
    assert len(attempts) == 3
    # back-off: the stages' delays lie between the attempts
    assert attempts[1] - attempts[0] >= DELAYS[0] / 1000 * 0.9
    assert attempts[2] - attempts[1] >= DELAYS[1] / 1000 * 0.9
    assert queue_depth(amqp_uri, s.dead_letter_queue) == 0
    assert queue_depth(amqp_uri, s.name) == 0
    assert metric("peluit_messages_retried_total", s.name) - retried_before == 2


def test_a_message_that_keeps_failing_is_parked_in_the_dead_letter_queue(amqp_uri, run):
    s = spec("test.poison")
    attempts = []

    def poisoned(body):
        attempts.append(body)
        raise ValueError("never works")

    parked_before = metric("peluit_messages_dead_lettered_total", s.name)
    run(consumer_of(s, poisoned))
    ConfirmedPublisher(amqp_uri).publish({"n": 7}, exchange_name="peluit.test", routing_key="thing.created",
                                         message_id="m-7")
    assert wait_for(lambda: queue_depth(amqp_uri, s.dead_letter_queue) == 1)
    assert len(attempts) == len(DELAYS) + 1
    assert metric("peluit_messages_dead_lettered_total", s.name) - parked_before == 1
    with Connection(amqp_uri) as conn:
        msg = Queue(s.dead_letter_queue, no_declare=True)(conn.channel()).get(no_ack=True)
    assert msg.payload == {"n": 7}
    assert msg.headers[ATTEMPT_HEADER] == len(DELAYS) + 1
    assert msg.headers["x-peluit-last-error"] == "ValueError"
    assert msg.properties["message_id"] == "m-7"


def test_events_published_before_the_consumer_first_starts_wait_in_its_declared_queue(amqp_uri, run):
    s = spec("test.late")
    declare_topology(amqp_uri, DELAYS, (s,))  # what the publisher (cases' relay) does at start-up
    ConfirmedPublisher(amqp_uri).publish({"n": 1}, exchange_name="peluit.test", routing_key="thing.created")
    received = []

    run(consumer_of(s, received.append))
    assert wait_for(lambda: received == [{"n": 1}])


def test_a_crash_before_the_ack_redelivers(amqp_uri, run):
    """The ack follows the handler: a worker killed mid-handler leaves the
    message on the queue for the next consumer."""
    s = spec("test.crash")
    started = eventlet.Event()

    def slow(body):
        started.send(True)
        eventlet.sleep(30)

    container = run(consumer_of(s, slow))
    ConfirmedPublisher(amqp_uri).publish({"n": 1}, exchange_name="peluit.test", routing_key="thing.created")
    started.wait()
    container.kill()  # no ack was sent
    assert wait_for(lambda: queue_depth(amqp_uri, s.name) == 1)
