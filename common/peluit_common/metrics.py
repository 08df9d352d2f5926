"""Prometheus metrics: one registry per process, per-entrypoint counters and
latencies recorded by a dependency provider, and a ``/metrics`` response.

Labels name services, entrypoints and outcomes only: never a tenant-supplied
string, never anything a reporter typed.
"""

from __future__ import annotations

import time

from nameko.extensions import DependencyProvider
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from werkzeug.wrappers import Response

ENTRYPOINT_CALLS = Counter(
    "peluit_entrypoint_calls_total", "Entrypoint calls by outcome", ["service", "entrypoint", "outcome"]
)
ENTRYPOINT_SECONDS = Histogram(
    "peluit_entrypoint_duration_seconds",
    "Entrypoint latency",
    ["service", "entrypoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10),
)
MESSAGES_RETRIED = Counter("peluit_messages_retried_total", "Messages sent to a retry queue", ["queue"])
MESSAGES_DEAD_LETTERED = Counter(
    "peluit_messages_dead_lettered_total", "Messages parked in a dead-letter queue after their last retry", ["queue"]
)


class EntrypointMetrics(DependencyProvider):
    """Times every worker of the service it is attached to."""

    def worker_setup(self, worker_ctx):
        worker_ctx.data["_peluit_t0"] = time.perf_counter()

    def worker_result(self, worker_ctx, result=None, exc_info=None):
        t0 = worker_ctx.data.get("_peluit_t0")
        name = worker_ctx.entrypoint.method_name
        service = worker_ctx.service_name
        if t0 is not None:
            ENTRYPOINT_SECONDS.labels(service, name).observe(time.perf_counter() - t0)
        ENTRYPOINT_CALLS.labels(service, name, "error" if exc_info else "ok").inc()

    def get_dependency(self, worker_ctx):
        return None


def metrics_response() -> Response:
    return Response(generate_latest(), status=200, content_type=CONTENT_TYPE_LATEST)
