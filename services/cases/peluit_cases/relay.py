"""The event-store outbox relay: notification log -> RabbitMQ.

No dual write: the event store is the only thing a command writes; this relay
follows its notification log from the last confirmed position and publishes
with publisher confirms. The position row is locked ``FOR UPDATE SKIP LOCKED``
so with several cases instances exactly one relays at a time. A crash between
confirm and position update republishes; consumers dedupe on the envelope id.
"""

from __future__ import annotations

import logging

import orjson

from prometheus_client import Counter, Gauge

from peluit_contracts.events import DOMAIN_EXCHANGE, INTEGRATION_TYPES, routing_key
from peluit_contracts.integration import CLOUDEVENTS_CONTENT_TYPE, to_cloudevent
from peluit_contracts.topology import INTEGRATION_EXCHANGE

log = logging.getLogger(__name__)

RELAY_PUBLISHED = Counter("peluit_relay_published_total", "Domain events published by the relay")
RELAY_POSITION = Gauge("peluit_relay_position", "Last notification id the relay has published")
RELAY_LAG = Gauge("peluit_relay_lag_events", "Notification ids written but not yet relayed")


def publish_integration(publisher, envelope: dict, key: str) -> None:
    """A CloudEvent in structured JSON mode to the integration exchange, whose
    replayable stream is bound to every key (``peluit_common.streams``): mandatory,
    so a missing stream stops the relay instead of losing the event."""
    publisher.publish(orjson.dumps(to_cloudevent(envelope)), exchange_name=INTEGRATION_EXCHANGE, routing_key=key,
                      message_id=envelope["id"], content_type=CLOUDEVENTS_CONTENT_TYPE, content_encoding="utf-8")


def relay_once(pool, app, publisher, batch: int = 200) -> int:
    """Publish the next page; returns how many envelopes went out (0 = idle or not leader)."""
    with pool.connection() as conn, conn.transaction():
        row = conn.execute(
            "SELECT position FROM relay_position WHERE name = 'domain' FOR UPDATE SKIP LOCKED"
        ).fetchone()
        if row is None:
            return 0  # another instance is relaying
        position = row[0]
        page = app.domain_events(after=position, limit=batch)
        for envelope in page["events"]:
            key = routing_key(envelope["type"], envelope["dataversion"])
            if envelope["type"] in INTEGRATION_TYPES:
                publish_integration(publisher, envelope, key)
            else:
                publisher.publish(envelope, exchange_name=DOMAIN_EXCHANGE, routing_key=key, message_id=envelope["id"])
            RELAY_PUBLISHED.inc()
        if page["next"] != position:
            conn.execute("UPDATE relay_position SET position = %s WHERE name = 'domain'", (page["next"],))
        RELAY_POSITION.set(page["next"])
        RELAY_LAG.set(max(app.max_position() - page["next"], 0))
        return len(page["events"])
