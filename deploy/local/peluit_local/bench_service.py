"""A one-query service for ``make bench`` part (c): does a slow query in one
worker freeze the others? Built on the same ``peluit_common`` database
dependency as the real services."""

from __future__ import annotations

from nameko.rpc import rpc

from peluit_common import green  # noqa: F401
from peluit_common.db import Database
from peluit_common.metrics import metrics_response
from peluit_common.web import http


class BenchSlow:
    name = "bench_slow"

    db = Database()

    @rpc
    def slow(self, seconds: float) -> str:
        with self.db.connection() as conn:
            conn.execute("SELECT pg_sleep(%s)", (seconds,))
        return "psycopg wait: " + green.waiting.wait.__name__

    @http("GET", "/metrics")
    def metrics_endpoint(self, request):
        return metrics_response()
