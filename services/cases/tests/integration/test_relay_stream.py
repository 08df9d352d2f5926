"""The relay on a real PostgreSQL and RabbitMQ: integration events become
CloudEvents on the integration exchange and on the replayable stream, which a
late reader replays from offset 0 or from a timestamp."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from cloudevents.core.bindings import rabbitmq
from cloudevents.core.formats.json import JSONFormat
from kombu import Connection, Exchange, Queue

from peluit_cases.relay import relay_once
from peluit_common.amqp import ConfirmedPublisher, declare_topology
from peluit_common.streams import declare_stream, read_stream
from peluit_contracts.events import INTEGRATION_TYPES, load_envelope
from peluit_contracts.integration import CLOUDEVENTS_CONTENT_TYPE

from .test_chain import app, dbname  # noqa: F401 - fixtures
from .test_envelope_log import busy_log, pool  # noqa: F401 - fixtures


@pytest.fixture
def broker(amqp_vhost):
    declare_topology(amqp_vhost, delays=())
    declare_stream(amqp_vhost)
    return amqp_vhost


def drain(pool, app, publisher):  # noqa: F811
    total = 0
    while (n := relay_once(pool, app, publisher)) > 0:
        total += n
    return total


def stream(uri, offset="first"):
    return list(read_stream(uri, offset, idle_timeout=0.5))


def test_integration_events_reach_the_stream_as_cloudevents_and_replay_from_any_offset(app, pool, broker):  # noqa: F811
    with Connection(broker) as conn:  # a subscriber bound before: gets the same events on the exchange
        tap = Queue("test.tap", exchange=Exchange("peluit.integration", "topic", durable=True), routing_key="#")
        tap(conn.channel()).declare()
        before = stream(broker)
        busy_log(app)
        publisher = ConfirmedPublisher(broker)
        assert drain(pool, app, publisher) > 0
        on_stream = stream(broker)[len(before):]
        expected = [e for e in app.domain_events(after=0, limit=1000)["events"] if e["type"] in INTEGRATION_TYPES]
        assert [m.message_id for m in on_stream] == [e["id"] for e in expected]  # every one, in order, once
        kinds = {(json.loads(m.body)["type"], json.loads(m.body)["dataversion"]) for m in on_stream}
        assert kinds == {("case.forwarded", 1), ("case.sanction_recommended", 1), ("case.sanction_recommended", 2),
                         ("case.closed", 1)}
        for message in on_stream:
            assert message.content_type == CLOUDEVENTS_CONTENT_TYPE
            event = rabbitmq.from_rabbitmq(rabbitmq.RabbitMQMessage(headers={}, content_type=message.content_type,
                                                                    body=message.body), JSONFormat())
            assert event.get_dataschema().startswith("urn:peluit:schema:")
            load_envelope(json.loads(message.body))
        v2 = next(json.loads(m.body) for m in on_stream if json.loads(m.body)["dataversion"] == 2)
        assert v2["data"]["catalogue_version"] == "pp94-2021/1"
        bound = tap(conn.channel())
        tapped = [bound.get(no_ack=True) for _ in range(len(on_stream))]
        assert [m.properties["message_id"] for m in tapped] == [m.message_id for m in on_stream]
        assert bound.get(no_ack=True) is None
        bound.delete()
        # internal events never reach the stream
        assert not {json.loads(m.body)["type"] for m in on_stream} - INTEGRATION_TYPES

    # a late subscriber starts from an offset in the middle, or from a time
    middle = on_stream[len(on_stream) // 2]
    assert [m.message_id for m in stream(broker, middle.offset)] == [m.message_id for m in on_stream][
        len(on_stream) // 2:]
    assert stream(broker, datetime.now(timezone.utc) + timedelta(minutes=1)) == []
    assert len(stream(broker, datetime.now(timezone.utc) - timedelta(minutes=5))) >= len(on_stream)


def test_the_relay_does_not_advance_when_the_stream_is_missing(app, pool, amqp_vhost):  # noqa: F811
    # the stream is declared by the relay's start-up; without it the page is not confirmed and is tried again
    with Connection(amqp_vhost) as conn:
        Queue("peluit.integration.stream", no_declare=True)(conn.channel()).delete()
    declare_topology(amqp_vhost, delays=())
    busy_log(app)
    with pytest.raises(Exception):
        drain(pool, app, ConfirmedPublisher(amqp_vhost))
    with pool.connection() as conn:
        assert conn.execute("SELECT position FROM relay_position WHERE name = 'domain'").fetchone() == (0,)
    declare_stream(amqp_vhost)
    assert drain(pool, app, ConfirmedPublisher(amqp_vhost)) > 0
