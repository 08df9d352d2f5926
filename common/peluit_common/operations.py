"""The operations port: ``/metrics`` and ``/health`` of one service process,
on an address of their own (``PELUIT_OPS_ADDRESS``), never the public port.

Prometheus and the orchestrator's probes reach it; reporters and officers
never do, so live counters are no side channel on the public edge.
"""

from __future__ import annotations

import logging

import eventlet
from eventlet import wsgi
from nameko.web.server import WebServer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from werkzeug.wrappers import Request, Response

from .metrics import EntrypointMetrics
from .settings import env
from .web import SECURITY_HEADERS

log = logging.getLogger(__name__)

# ARCHITECTURE's table: 9000 + the service's offset among the public ports
DEFAULT_PORTS = {"intake": 9000, "cases": 9001, "identity_vault": 9002, "notifications": 9003,
                 "reporting": 9004, "console": 9007}


def parse_address(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return host or "127.0.0.1", int(port)


class Operations(EntrypointMetrics):
    """Times every entrypoint of its service and serves the operations
    endpoints beside it; nothing to inject.

    The socket is bound without ``SO_REUSEPORT``: a second process on the same
    address fails at start instead of silently sharing another's metrics."""

    def __init__(self):
        self.sock = self.address = self.thread = None

    def setup(self):
        default = f"127.0.0.1:{DEFAULT_PORTS.get(self.container.service_name, 9000)}"
        self.address = parse_address(env("PELUIT_OPS_ADDRESS", default))
        self.sock = eventlet.listen(self.address, reuse_port=False)

    def start(self):
        self.thread = self.container.spawn_managed_thread(self._serve, identifier="operations")

    def _serve(self):
        wsgi.server(self.sock, operations_app(self.container), log=log, log_output=False, debug=False)

    def stop(self):
        if self.thread is not None:
            self.thread.kill()
            self.thread = None
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def kill(self):
        self.stop()


def started(container) -> bool:
    """Every consumer of the service consumes and its web server accepts.

    nameko starts extensions side by side, this one among them: healthy before
    the RPC queues are consumed would let a caller's message go unrouted. The
    attributes are nameko 2.14's own (its last release, pinned)."""
    for extension in container.extensions:
        ready = getattr(extension, "_consumers_ready", None)
        if ready is not None and not ready.ready():
            return False
        if isinstance(extension, WebServer) and extension._gt is None:
            return False
    return True


def operations_app(container):
    def app(environ, start_response):
        request = Request(environ, shallow=True)
        text = "text/plain; charset=utf-8"
        if request.method != "GET":
            response = Response("method not allowed\n", status=405, headers={"Allow": "GET"})
        elif request.path == "/metrics":
            response = Response(generate_latest(), status=200, content_type=CONTENT_TYPE_LATEST)
        elif request.path == "/health":
            ok = started(container)
            response = Response("ok\n" if ok else "starting\n", status=200 if ok else 503, content_type=text)
        else:
            response = Response("not found\n", status=404, content_type=text)
        response.headers.update(SECURITY_HEADERS)
        return response(environ, start_response)

    return app
