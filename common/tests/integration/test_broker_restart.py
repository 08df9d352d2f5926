"""A broker restart (``rabbitmqctl stop_app`` / ``start_app``) under load loses
nothing: on a private RabbitMQ node (the shared one is never restarted), a
publisher keeps sending confirmed messages while the broker goes down with a
backlog in the quorum queue; the consumer and an RPC service reconnect by
themselves, and every message is handled exactly once by an idempotent
consumer (redeliveries of unacknowledged messages are expected and counted)."""

from __future__ import annotations

import collections

import eventlet
import pytest
from nameko.containers import ServiceContainer
from nameko.standalone.rpc import ClusterRpcProxy

from peluit_common.amqp import ConfirmedPublisher, declare_topology, reliable_consume
from peluit_common.rpc import rpc
from peluit_common.testing import queue_depth, wait_for
from peluit_contracts.topology import ReliableQueue

MESSAGES = 200
RESTART_AFTER = 60  # published messages before the broker stops
WORK = ReliableQueue(name="restart.work", exchange="peluit.test", bindings=("work.#",))


def publish_all(amqp_uri: str, confirmed: list[int], stop_when: eventlet.Event) -> None:
    """Each message until the broker confirmed it, as an outbox relay does
    (a message whose confirm was lost may arrive twice: the consumer is idempotent)."""
    publisher = ConfirmedPublisher(amqp_uri)
    for n in range(MESSAGES):
        while True:
            try:
                publisher.publish({"id": n}, exchange_name=WORK.exchange, routing_key="work.item",
                                  message_id=f"w-{n}")
                break
            except Exception:
                eventlet.sleep(0.3)
        confirmed.append(n)
        if n == RESTART_AFTER:
            stop_when.send()
        eventlet.sleep(0.002)


def test_a_broker_restart_under_load_loses_nothing(private_rabbitmq, monkeypatch):
    broker, uri = private_rabbitmq, private_rabbitmq.amqp_uri
    monkeypatch.setenv("PELUIT_RETRY_DELAYS_MS", "200")
    declare_topology(uri, delays=(200,), specs=(WORK,))
    done: set[int] = set()  # the consumer's idempotency record: an effect is applied once per id
    deliveries = collections.Counter()

    def handle(body):
        deliveries[body["id"]] += 1
        eventlet.sleep(0.03)  # slower than the publisher: a backlog waits in the queue when the broker stops
        done.add(body["id"])

    class Worker:
        name = "restart_worker"
        work = reliable_consume(WORK)(lambda self, body: handle(body))

        @rpc
        def ping(self):
            return "pong"

    container = ServiceContainer(Worker, {"AMQP_URI": uri, "max_workers": 2})
    container.start()
    try:
        confirmed: list[int] = []
        restart_now = eventlet.Event()
        publishing = eventlet.spawn(publish_all, uri, confirmed, restart_now)
        restart_now.wait()
        backlog = queue_depth(uri, WORK.name)
        broker.stop_app()
        eventlet.sleep(1)
        broker.start_app()
        publishing.wait()
        assert backlog > 0, "no message waited in the queue when the broker stopped: the test proves nothing"
        assert wait_for(lambda: done == set(range(MESSAGES)), timeout=25), (
            f"lost: {sorted(set(range(MESSAGES)) - done)[:20]}")
        assert confirmed == list(range(MESSAGES))
        assert queue_depth(uri, WORK.dead_letter_queue) == 0  # nothing parked: only the broker failed
        with ClusterRpcProxy({"AMQP_URI": uri}, timeout=10) as cluster:
            assert cluster.restart_worker.ping() == "pong"  # the RPC consumer reconnected too
        print(f"\nbacklog at stop: {backlog}; redelivered: {sum(deliveries.values()) - MESSAGES}")
    finally:
        if not container._died.ready():
            container.stop()
        else:
            pytest.fail("the service died of the broker restart")
