"""The notifications service's consumer in a nameko container on a real
broker vhost and a real database, with a tiny real stand-in for the vault's
``relay_to_reporter`` RPC (our own interface): a message delivered twice is
recorded once, a message for the reporter asks the vault exactly once, and a
relay that keeps failing is retried, then parked in the dead-letter queue."""

from __future__ import annotations


import psycopg
import pytest
from kombu import Connection, Queue
from nameko.containers import ServiceContainer
from nameko.rpc import rpc
from prometheus_client import REGISTRY

from peluit_common.amqp import ConfirmedPublisher
from peluit_common.testing import ADMIN_DSN, dsn_for, free_port, queue_depth, wait_for
from peluit_contracts.events import DOMAIN_EXCHANGE, routing_key
from peluit_contracts.topology import NOTIFICATIONS_CASE_EVENTS
from peluit_notifications.service import NotificationsService

from ..envelopes import message_for_reporter, registered

DELAYS = (100, 200)


class VaultStandIn:
    """The vault's ``relay_to_reporter`` as notifications calls it: records
    each command and answers what the test set."""

    name = "identity_vault"
    calls: list[dict] = []
    reply: dict = {"result": "sent"}

    @rpc
    def relay_to_reporter(self, command):
        VaultStandIn.calls.append(command)
        return VaultStandIn.reply


class CasesStandIn:
    """cases' ``notification_recipients``: one penerima with an address, whoever is asked for."""

    name = "cases"
    queries: list[dict] = []

    @rpc
    def notification_recipients(self, query):
        CasesStandIn.queries.append(query)
        return {"recipients": [{"officer_id": OFFICER, "tenant": "35.73", "email": "terima@pemda.go.id",
                                "preferences": {}}], "case": {"registration_number": "WBS/35.73/2026/000001"}}


OFFICER = "0b7e7a52-3c1e-4c55-9a47-6a8f0e3c0001"


@pytest.fixture
def running(amqp_vhost, throwaway_db, monkeypatch):
    """Both services started on the module's vhost and database."""
    admin = psycopg.conninfo.conninfo_to_dict(ADMIN_DSN)
    for name, value in {"PELUIT_DB_NAME": throwaway_db, "PELUIT_DB_USER": admin.get("user", "postgres"),
                        "PELUIT_DB_HOST": admin.get("host", "127.0.0.1"), "PELUIT_DB_PORT": str(admin.get("port", 5432)),
                        "PELUIT_OPS_ADDRESS": f"127.0.0.1:{free_port()}",
                        "PELUIT_RETRY_DELAYS_MS": ",".join(map(str, DELAYS))}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PELUIT_NOTIFY_SMTP_PORT", str(free_port()))  # nobody listens: mail waits in the outbox
    VaultStandIn.calls, VaultStandIn.reply, CasesStandIn.queries = [], {"result": "sent"}, []
    containers = [ServiceContainer(cls, {"AMQP_URI": amqp_vhost, "max_workers": 4})
                  for cls in (VaultStandIn, CasesStandIn, NotificationsService)]
    for container in containers:
        container.start()
    yield amqp_vhost
    for container in containers:
        container.stop()


def publish(amqp_uri: str, envelope: dict) -> None:
    ConfirmedPublisher(amqp_uri).publish(envelope, exchange_name=DOMAIN_EXCHANGE, message_id=envelope["id"],
                                         routing_key=routing_key(envelope["type"], envelope["dataversion"]))


def handled(result: str) -> float:
    return REGISTRY.get_sample_value("peluit_notifications_events_total", {"result": result}) or 0.0


def select(dbname: str, sql: str, params=()) -> list[tuple]:
    with psycopg.connect(dsn_for(dbname)) as conn:
        return conn.execute(sql, params).fetchall()


def test_a_message_delivered_twice_is_recorded_once(running, throwaway_db):
    envelope = registered()
    applied, duplicates = handled("applied"), handled("duplicate")
    publish(running, envelope)
    publish(running, envelope)  # as after a crash before the ack
    assert wait_for(lambda: handled("applied") - applied == 1 and handled("duplicate") - duplicates == 1)
    assert select(throwaway_db, "SELECT count(*) FROM officer_notification WHERE event_id = %s",
                  (envelope["id"],)) == [(1,)]
    assert select(throwaway_db, "SELECT count(*) FROM processed_event WHERE event_id = %s",
                  (envelope["id"],)) == [(1,)]
    # the fan-out timer asks cases once and writes the officer's rows
    assert wait_for(lambda: select(throwaway_db, "SELECT officer_id::text, channel, registration_number FROM "
                                                 "notification WHERE event_id = %s ORDER BY channel",
                                   (envelope["id"],)) == [(OFFICER, "console", "WBS/35.73/2026/000001"),
                                                          (OFFICER, "email", "WBS/35.73/2026/000001")])
    assert VaultStandIn.calls == [] and len(CasesStandIn.queries) == 1


def test_a_message_for_the_reporter_asks_the_vault_exactly_once(running, throwaway_db):
    envelope = message_for_reporter("feedback")
    duplicates = handled("duplicate")
    publish(running, envelope)
    assert wait_for(lambda: select(throwaway_db, "SELECT template, outcome FROM reporter_notification "
                                                 "WHERE event_id = %s", (envelope["id"],)) == [("case_closed", "sent")])
    publish(running, envelope)
    assert wait_for(lambda: handled("duplicate") - duplicates == 1)
    assert VaultStandIn.calls == [{"version": 1, "case_id": envelope["data"]["case_id"], "template": "case_closed",
                                   "idempotency_key": envelope["id"]}]


def test_a_failing_relay_is_retried_then_parked_in_the_dead_letter_queue(running, throwaway_db):
    VaultStandIn.reply = {"error": "delivery_failed"}
    parked = queue_depth(running, NOTIFICATIONS_CASE_EVENTS.dead_letter_queue)
    envelope = message_for_reporter()
    publish(running, envelope)
    assert wait_for(lambda: queue_depth(running, NOTIFICATIONS_CASE_EVENTS.dead_letter_queue) == parked + 1)
    assert len(VaultStandIn.calls) == len(DELAYS) + 1  # the first try and one per back-off stage
    assert {c["idempotency_key"] for c in VaultStandIn.calls} == {envelope["id"]}
    assert select(throwaway_db, "SELECT count(*) FROM processed_event WHERE event_id = %s",
                  (envelope["id"],)) == [(0,)]
    with Connection(running) as conn:
        message = Queue(NOTIFICATIONS_CASE_EVENTS.dead_letter_queue, no_declare=True)(conn.channel()).get(no_ack=True)
    assert message.payload == envelope and message.headers["x-peluit-last-error"] == "RelayFailed"
