"""Every queue that holds work is a quorum queue with a delivery limit, against
a real RabbitMQ (own vhost): a message whose consumer dies each time it
handles it (a poison message) is parked with its reason after
``DELIVERY_LIMIT`` redeliveries, never looped forever nor dropped."""

from __future__ import annotations

import subprocess

import pytest
from kombu import Connection, Queue
from nameko.standalone.rpc import ClusterRpcProxy

from peluit_common.amqp import ConfirmedPublisher, declare_topology
from peluit_common.rpc import rpc
from peluit_common.testing import queue_depth, wait_for
from peluit_contracts.topology import DELIVERY_LIMIT, ReliableQueue, rpc_dead_letter_queue


@pytest.fixture(scope="module")
def amqp_uri(amqp_vhost):
    return amqp_vhost


def queue_types(amqp_uri: str) -> dict[str, str]:
    vhost = amqp_uri.rsplit("/", 1)[1]
    out = subprocess.run(["rabbitmqctl", "-q", "list_queues", "-p", vhost, "--no-table-headers", "name", "type"],
                         check=True, capture_output=True, text=True).stdout
    return dict(line.split("\t")[:2] for line in out.splitlines() if "\t" in line)


def receive_and_die(amqp_uri: str, queue: str):
    """A consumer that takes one message and dies before acknowledging it (its
    connection drops, as when the process crashes); the message or None."""
    conn = Connection(amqp_uri)
    try:
        message = Queue(queue, no_declare=True)(conn.channel()).get(no_ack=False)
        return message and (message.headers or {}).get("x-delivery-count", 0)
    finally:
        conn.release()  # no ack: the broker returns the message and counts the delivery


def deliveries_until_parked(amqp_uri: str, queue: str) -> int:
    deliveries = 0
    for _ in range(DELIVERY_LIMIT + 5):  # bounded: a loop forever is what is tested against
        if receive_and_die(amqp_uri, queue) is None:
            break
        deliveries += 1
    return deliveries


def parked(amqp_uri: str, dead_queue: str):
    with Connection(amqp_uri) as conn:
        return Queue(dead_queue, no_declare=True)(conn.channel()).get(no_ack=True)


def test_a_message_that_kills_its_consumer_is_parked_after_the_delivery_limit(amqp_uri):
    spec = ReliableQueue(name="test.killer", exchange="peluit.test", bindings=("thing.#",))
    declare_topology(amqp_uri, delays=(100,), specs=(spec,))
    types = queue_types(amqp_uri)
    assert {types[name] for name in (spec.name, spec.retry_queue(100), spec.dead_letter_queue)} == {"quorum"}

    ConfirmedPublisher(amqp_uri).publish({"n": 1}, exchange_name="peluit.test", routing_key="thing.created",
                                         message_id="m-1")
    assert wait_for(lambda: queue_depth(amqp_uri, spec.name) == 1)
    assert deliveries_until_parked(amqp_uri, spec.name) == DELIVERY_LIMIT + 1
    assert wait_for(lambda: queue_depth(amqp_uri, spec.dead_letter_queue) == 1)
    message = parked(amqp_uri, spec.dead_letter_queue)
    assert message.payload == {"n": 1} and message.properties["message_id"] == "m-1"
    (death,) = message.headers["x-death"]
    assert death["reason"] == "delivery_limit" and death["queue"] == spec.name
    assert queue_depth(amqp_uri, spec.name) == 0


class Echo:
    name = "quorum_echo"

    @rpc
    def echo(self, value):
        return value


def test_rpc_request_queue_is_quorum_and_parks_a_request_that_kills_the_service(amqp_uri, nameko_service):
    container = nameko_service(Echo)
    with ClusterRpcProxy({"AMQP_URI": amqp_uri}, timeout=10) as cluster:
        assert cluster.quorum_echo.echo("hello") == "hello"
        types = queue_types(amqp_uri)
        reply_queues = [t for name, t in types.items() if name.startswith("rpc.reply-")]
        assert types["rpc-quorum_echo"] == types["rpc-quorum_echo.dead"] == "quorum"
        assert reply_queues and set(reply_queues) == {"classic"}  # exclusive, auto-deleted: never quorum
    container.stop()

    # a request that kills the service at every start
    ConfirmedPublisher(amqp_uri).publish({"args": ["boom"], "kwargs": {}}, exchange_name="nameko-rpc",
                                         routing_key="quorum_echo.echo", message_id="r-1")
    assert deliveries_until_parked(amqp_uri, "rpc-quorum_echo") == DELIVERY_LIMIT + 1
    dead = rpc_dead_letter_queue("rpc-quorum_echo")
    assert wait_for(lambda: queue_depth(amqp_uri, dead) == 1)
    assert parked(amqp_uri, dead).headers["x-death"][0]["reason"] == "delivery_limit"

    # the service starts again on the same (quorum) queue: its arguments did not change
    nameko_service(Echo)
    with ClusterRpcProxy({"AMQP_URI": amqp_uri}, timeout=10) as cluster:
        assert cluster.quorum_echo.echo("again") == "again"
