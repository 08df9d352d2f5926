"""nameko answers an RPC request to whatever ``reply_to`` it carries; against a
real RabbitMQ, a request without a usable one kills a plain nameko service and
is dropped by ``peluit_common.rpc.rpc``, which keeps answering."""

from __future__ import annotations

import json

import amqp
from kombu import Connection
from nameko.rpc import rpc as nameko_rpc
from nameko.standalone.rpc import ClusterRpcProxy
from prometheus_client import REGISTRY

from peluit_common.rpc import rpc
from peluit_common.testing import wait_for


class Plain:
    name = "plain_echo"

    @nameko_rpc
    def echo(self, value):
        return value


class Guarded:
    name = "guarded_echo"

    @rpc
    def echo(self, value):
        return value


def send_without_a_reply_address(amqp_uri: str, service: str, reply_to: str | None) -> None:
    with Connection(amqp_uri) as conn:
        channel = conn.connection.channel()
        properties = {"content_type": "application/json"} | ({"reply_to": reply_to} if reply_to else {})
        channel.basic_publish(amqp.Message(json.dumps({"args": ["x"], "kwargs": {}}), **properties),
                              exchange="nameko-rpc", routing_key=f"{service}.echo")
        channel.close()


def test_nameko_kills_a_service_that_cannot_answer_and_the_guard_drops_the_request(amqp_vhost, nameko_service):
    plain = nameko_service(Plain)
    send_without_a_reply_address(amqp_vhost, "plain_echo", None)
    assert wait_for(lambda: plain._died.ready(), timeout=10), "nameko 2.14 no longer dies of it: the guard may go"

    guarded = nameko_service(Guarded)
    dropped = REGISTRY.get_sample_value("peluit_rpc_dropped_total") or 0.0
    for reply_to in (None, "someone.else", "#"):
        send_without_a_reply_address(amqp_vhost, "guarded_echo", reply_to)
    assert wait_for(lambda: (REGISTRY.get_sample_value("peluit_rpc_dropped_total") or 0.0) == dropped + 3)
    assert not guarded._died.ready()
    with ClusterRpcProxy({"AMQP_URI": amqp_vhost}, timeout=10) as cluster:
        assert cluster.guarded_echo.echo("hello") == "hello"
