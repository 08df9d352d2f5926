"""Follow ``case.sanction_recommended`` v2 on Peluit's stream, answer ``sanction.followed_up`` v1.

Standalone on purpose (kombu and the CloudEvents SDK only): a pemda developer
copies this file. The stream is read over AMQP 0.9.1 with ``x-stream-offset``;
answers are CloudEvents in binary mode on ``peluit.inbound``, with the AMQP
``user_id`` set to our broker user (RabbitMQ checks it, Peluit trusts it).
"""

from __future__ import annotations

import argparse
import json
import socket
from datetime import date
from pathlib import Path

from cloudevents.core.bindings import rabbitmq
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from kombu import Connection, Queue

STREAM = "peluit.integration.stream"
INBOUND = "peluit.inbound"
WANTED = ("case.sanction_recommended", 2)


def decide(data: dict) -> dict:
    """Our PPK's decision. The example imposes what was recommended, dated the
    day of the recommendation (deterministic: a replay sends the same answer)."""
    return {"decision": "imposed", "level": data["level"], "sanction": data["sanction"], "months": data["months"],
            "decided_on": data["recommended_at"][:10], "decree_number": f"800/{data['recommendation_id']}/BKPSDM"}


def answer(recommended: CloudEvent, source: str) -> CloudEvent:
    data = recommended.get_data()
    return CloudEvent(
        attributes={"id": f"followup:{recommended.get_id()}", "source": source, "type": "sanction.followed_up",
                    "subject": data["case_id"], "dataversion": 1, "datacontenttype": "application/json"},
        data={"case_id": data["case_id"], "registration_number": data["registration_number"],
              "recommendation_id": data["recommendation_id"], **decide(data)})


class State:
    """The next stream offset, kept in a JSON file after each handled event."""

    def __init__(self, path: Path):
        self.path = path
        self.next_offset = json.loads(path.read_text())["next_offset"] if path.exists() else 0

    def done(self, offset: int) -> None:
        self.next_offset = offset + 1
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"next_offset": self.next_offset}))
        tmp.replace(self.path)


def follow(amqp_uri: str, user: str, tenant: str, state: State, idle_timeout: float | None = None) -> int:
    """Handle the stream from the kept offset; returns how many answers were sent
    (stops after ``idle_timeout`` seconds without a message, or never)."""
    sent = 0
    with Connection(amqp_uri, transport_options={"confirm_publish": True}) as conn:
        producer = conn.Producer()
        channel = conn.channel()
        channel.basic_qos(0, 100, False)  # RabbitMQ streams need a prefetch and manual acks
        pending = []
        queue = Queue(STREAM, no_declare=True, consumer_arguments={"x-stream-offset": state.next_offset})
        with conn.Consumer(queue, channel=channel, on_message=pending.append, auto_declare=False):
            while True:
                try:
                    conn.drain_events(timeout=idle_timeout)
                except socket.timeout:
                    return sent
                while pending:
                    message = pending.pop(0)
                    offset = message.headers["x-stream-offset"]
                    event = rabbitmq.from_rabbitmq(rabbitmq.RabbitMQMessage(
                        headers={}, content_type=message.content_type, body=message.body), JSONFormat())
                    if ((event.get_type(), event.get_extension("dataversion")) == WANTED
                            and event.get_extension("tenant") == tenant):
                        reply = rabbitmq.to_binary_event(answer(event, f"bkpsdm/{tenant}"))
                        producer.publish(reply.body, exchange=INBOUND, routing_key=f"sanction.followed_up.v1.{tenant}",
                                         headers=reply.headers, content_type=reply.content_type,
                                         content_encoding="utf-8", user_id=user, delivery_mode=2,
                                         message_id=f"followup:{event.get_id()}")
                        sent += 1
                    message.ack()
                    state.done(offset)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="bkpsdm-follower", description=__doc__.splitlines()[0])
    parser.add_argument("--amqp", required=True, help="AMQP URI with our partner user")
    parser.add_argument("--user", required=True, help="our broker user (sent as user_id)")
    parser.add_argument("--tenant", required=True, help="the Kemendagri code we answer for, e.g. 35.73")
    parser.add_argument("--state", type=Path, default=Path("bkpsdm-state.json"))
    parser.add_argument("--idle-timeout", type=float, default=None, help="stop after this many idle seconds")
    args = parser.parse_args(argv)
    sent = follow(args.amqp, args.user, args.tenant, State(args.state), args.idle_timeout)
    print(f"{sent} answers sent; next offset {State(args.state).next_offset} ({date.today()})")
    return 0
