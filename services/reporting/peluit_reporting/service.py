"""nameko entry module of reporting: ``nameko run peluit_reporting.service``.

Pulls the cases notification log page by page over RPC (never reads the cases
database) and applies each page with its tracking position in one transaction.
"""

from __future__ import annotations

import eventlet
from nameko.rpc import RpcProxy
from nameko.timer import timer
from prometheus_client import Gauge

from peluit_common import green  # noqa: F401
from peluit_common.db import Database
from peluit_common.metrics import EntrypointMetrics, metrics_response
from peluit_common.rpc import call
from peluit_common.settings import env_float
from peluit_common.web import http, json_endpoint, json_response
from peluit_contracts.events import load_envelope

from . import projection

PROJECTION_POSITION = Gauge("peluit_projection_position", "Last applied cases notification id", ["projection"])
PROJECTION_LAG = Gauge("peluit_projection_lag_events", "Cases notifications not yet applied", ["projection"])

RPC_TIMEOUT = env_float("PELUIT_RPC_TIMEOUT", 10.0)


class ReportingService:
    name = "reporting"

    metrics = EntrypointMetrics()
    db = Database(migrate=projection.migrate)
    cases = RpcProxy("cases", expiration=RPC_TIMEOUT)

    @timer(interval=env_float("PELUIT_FOLLOW_INTERVAL", 0.25))
    def follow(self):
        while self._apply_next_page():
            eventlet.sleep(0)

    def _apply_next_page(self) -> bool:
        with self.db.connection() as conn, conn.transaction():
            position = projection.lock_position(conn)
            if position is None:
                return False  # another instance is following
            page = call(self.cases.domain_events, after=position, limit=500, timeout=RPC_TIMEOUT)
            for envelope in page["events"]:
                projection.apply(conn, load_envelope(envelope))
            if page["next"] != position:
                projection.advance(conn, page["next"])
        PROJECTION_POSITION.labels("case_summary").set(page["next"])
        PROJECTION_LAG.labels("case_summary").set(max(page["head"] - page["next"], 0))
        return page["next"] != position

    @http("GET", "/api/v1/public/stats")
    @json_endpoint
    def public_stats(self, request):
        with self.db.connection() as conn:
            return json_response(200, {"counts": projection.public_counts(conn), "small_cell_threshold": 5})

    @http("GET", "/metrics")
    def metrics_endpoint(self, request):
        return metrics_response()
