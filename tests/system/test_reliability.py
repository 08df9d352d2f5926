"""Across real processes: an event published before its consumer ever started
is not lost, and a message no handler can process is parked, counted, and
does not block the ones behind it."""

from __future__ import annotations

import re
import uuid

import requests
from kombu import Connection, Queue

from peluit_common.amqp import ConfirmedPublisher
from peluit_contracts.events import DOMAIN_EXCHANGE
from peluit_contracts.topology import NOTIFICATIONS_CASE_EVENTS
from peluit_local.testing import admin_connect, eventually, running_system, sample_report, submit


def dead_lettered(system) -> float:
    text = requests.get(system.ops_url("notifications") + "/metrics", timeout=5).text
    m = re.search(r'peluit_messages_dead_lettered_total\{queue="notifications.case-events"\} ([0-9.e+]+)', text)
    return float(m.group(1)) if m else 0.0


def test_events_from_before_notifications_first_started_are_delivered():
    with running_system(["intake", "cases", "identity-vault", "reporting"]) as system:
        numbers = [submit(system, sample_report(), key=str(uuid.uuid4())).json()["registration_number"]
                   for _ in range(3)]
        # relayed already (reporting follows the log), while notifications has never run
        with admin_connect(system, "reporting") as conn:
            assert eventually(lambda: conn.execute(
                "SELECT count(*) FROM peluit.case_summary").fetchone()[0] == 3)
        system.start("notifications")
        system.wait_ready("notifications")
        with admin_connect(system, "notifications") as conn:
            assert eventually(lambda: sorted(r[0] for r in conn.execute(
                "SELECT registration_number FROM peluit.officer_notification").fetchall()) == sorted(numbers))


def test_a_poison_message_is_retried_then_parked_with_a_metric(system):
    before = dead_lettered(system)
    ConfirmedPublisher(system.amqp_uri).publish(
        {"specversion": "1.0", "type": "case.registered", "not": "an envelope"},
        exchange_name=DOMAIN_EXCHANGE, routing_key="case.registered.v1", message_id="poison-1")
    # a good report right behind it still gets through
    number = submit(system, sample_report(), key=str(uuid.uuid4())).json()["registration_number"]
    with admin_connect(system, "notifications") as conn:
        assert eventually(lambda: conn.execute(
            "SELECT count(*) FROM peluit.officer_notification WHERE registration_number = %s",
            (number,)).fetchone()[0] == 1)
    assert eventually(lambda: dead_lettered(system) == before + 1, timeout=15)
    with Connection(system.amqp_uri) as conn:
        parked = Queue(NOTIFICATIONS_CASE_EVENTS.dead_letter_queue, no_declare=True)(conn.channel()).get(no_ack=False)
        assert parked is not None and parked.properties["message_id"] == "poison-1"
        assert parked.headers["x-peluit-last-error"] == "ValidationError"
        parked.requeue()  # leave it parked for an operator
