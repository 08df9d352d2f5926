"""nameko entry module of notifications: ``nameko run peluit_notifications.service``.

Consumes domain events from its pre-declared quorum queue; the effect and the
processed-event record commit together before the ack, so a redelivery after
a crash changes nothing (``handling``). Delivery to officers comes with a later issue.
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
from peluit_contracts.topology import NOTIFICATIONS_CASE_EVENTS

from . import store
from .handling import handle

log = logging.getLogger(__name__)

EVENTS_APPLIED = Counter("peluit_notifications_events_total", "Domain events handled", ["result"])
REPORTER_RELAYS = Counter("peluit_notifications_reporter_relays_total", "Reporter notices relayed by the vault",
                          ["outcome"])
RPC_TIMEOUT = env_float("PELUIT_RPC_TIMEOUT", 10.0)


class NotificationsService:
    name = "notifications"

    ops = Operations()
    db = Database(migrate=store.migrate)
    vault = RpcProxy("identity_vault", expiration=RPC_TIMEOUT)

    @reliable_consume(NOTIFICATIONS_CASE_EVENTS)
    def on_case_event(self, body):
        result, relayed = handle(body, store.Store(self.db), self._relay)
        if relayed is not None:
            REPORTER_RELAYS.labels(relayed).inc()
        EVENTS_APPLIED.labels(result).inc()

    def _relay(self, command: dict) -> dict:
        return call(self.vault.relay_to_reporter, command, timeout=RPC_TIMEOUT)
