"""nameko entry module of notifications: ``nameko run peluit_notifications.service``.

Consumes domain events from its pre-declared quorum queue; the effect and the
processed-event record commit together before the ack, so a redelivery after
a crash changes nothing. Delivery to officers comes with a later issue.
"""

from __future__ import annotations

import logging

from nameko.rpc import RpcProxy
from prometheus_client import Counter

from peluit_common import green  # noqa: F401
from peluit_common.amqp import reliable_consume
from peluit_common.db import Database
from peluit_common.operations import Operations
from peluit_common.rpc import call
from peluit_common.settings import env_float
from peluit_contracts.events import load_envelope
from peluit_contracts.relay import RELAY_VERSION
from peluit_contracts.topology import NOTIFICATIONS_CASE_EVENTS

from . import store

log = logging.getLogger(__name__)

EVENTS_APPLIED = Counter("peluit_notifications_events_total", "Domain events handled", ["result"])
REPORTER_RELAYS = Counter("peluit_notifications_reporter_relays_total", "Reporter notices relayed by the vault",
                          ["outcome"])
RPC_TIMEOUT = env_float("PELUIT_RPC_TIMEOUT", 10.0)


class RelayFailed(Exception):
    """The vault could not deliver (e.g. SMTP down); the message is retried."""


class NotificationsService:
    name = "notifications"

    ops = Operations()
    db = Database(migrate=store.migrate)
    vault = RpcProxy("identity_vault", expiration=RPC_TIMEOUT)

    @reliable_consume(NOTIFICATIONS_CASE_EVENTS)
    def on_case_event(self, body):
        envelope = load_envelope(body)  # a malformed message raises: retried, then parked
        outcome = None
        if envelope["type"] == "case.message_for_reporter":
            with self.db.connection() as conn:
                if store.processed(conn, envelope["id"]):
                    EVENTS_APPLIED.labels("duplicate").inc()
                    return
            # the vault dedupes on the key, so a retry after a crash here sends once
            reply = call(self.vault.relay_to_reporter, {
                "version": RELAY_VERSION, "case_id": str(envelope["data"]["case_id"]),
                "template": store.reporter_template(envelope), "idempotency_key": envelope["id"]},
                timeout=RPC_TIMEOUT)
            if reply.get("error"):
                raise RelayFailed(reply["error"])  # retried with back-off, then parked
            outcome = reply["result"]
            REPORTER_RELAYS.labels(outcome).inc()
        with self.db.connection() as conn:
            fresh = store.record(conn, envelope, outcome)
        EVENTS_APPLIED.labels("applied" if fresh else "duplicate").inc()
