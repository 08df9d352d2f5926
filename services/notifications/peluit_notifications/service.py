"""nameko entry module of notifications: ``nameko run peluit_notifications.service``.

Consumes domain events from its pre-declared quorum queue; the effect and the
processed-event record commit together before the ack, so a redelivery after
a crash changes nothing. Delivery to officers comes with a later issue.
"""

from __future__ import annotations

import logging

from prometheus_client import Counter

from peluit_common import green  # noqa: F401
from peluit_common.amqp import reliable_consume
from peluit_common.db import Database
from peluit_common.metrics import EntrypointMetrics, metrics_response
from peluit_common.web import http
from peluit_contracts.events import load_envelope
from peluit_contracts.topology import NOTIFICATIONS_CASE_EVENTS

from . import store

log = logging.getLogger(__name__)

EVENTS_APPLIED = Counter("peluit_notifications_events_total", "Domain events handled", ["result"])


class NotificationsService:
    name = "notifications"

    metrics = EntrypointMetrics()
    db = Database(migrate=store.migrate)

    @reliable_consume(NOTIFICATIONS_CASE_EVENTS)
    def on_case_event(self, body):
        envelope = load_envelope(body)  # a malformed message raises: retried, then parked
        with self.db.connection() as conn:
            fresh = store.record(conn, envelope)
        EVENTS_APPLIED.labels("applied" if fresh else "duplicate").inc()

    @http("GET", "/metrics")
    def metrics_endpoint(self, request):
        return metrics_response()
