"""nameko entry module of the officers' console: ``nameko run peluit_console.service``.

``ConsoleService`` only translates: each route of ``routes.ROUTES`` becomes
one HTTP entrypoint that hands the request to ``dispatch.serve`` with the
process's ``Kit`` (settings, API transport, templates, keys). The pages are
plain functions in ``pages``.
"""

from __future__ import annotations

from nameko.extensions import DependencyProvider

from peluit_common import green  # noqa: F401
from peluit_common.operations import Operations
from peluit_common.web import http

from . import web
from .dispatch import serve
from .routes import ROUTES
from .settings import Settings


class KitProvider(DependencyProvider):
    """One ``Kit`` per process, built when the container starts (a missing
    setting stops the start); its connection pool closes with the container."""

    kit = None

    def setup(self):
        self.kit = web.Kit(Settings.from_env())

    def stop(self):
        if self.kit is not None:
            self.kit.transport.session.close()

    def get_dependency(self, worker_ctx):
        return self.kit


class ConsoleService:
    """The console's one nameko service: its pages are attached below from ``routes.ROUTES``."""

    name = "console"
    kit = KitProvider()
    ops = Operations()  # /metrics and /health on the operations port, never the public one

    @http("GET", "/static/<string:name>")
    def static(self, request, name):
        return web.static(self.kit, name)


def _entrypoint(route):
    def entrypoint(self, request, **values):
        return serve(self.kit, request, route, **values)
    return entrypoint


for _route in ROUTES:
    _name = "page_" + _route.handler.__name__ + ("_post" if _route.method == "POST" else "")
    assert not hasattr(ConsoleService, _name), _name  # one entrypoint (and metric name) per page
    _function = _entrypoint(_route)
    _function.__name__ = _function.__qualname__ = _name
    setattr(ConsoleService, _name, http(_route.method, _route.path)(_function))
