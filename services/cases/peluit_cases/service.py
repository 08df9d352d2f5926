"""nameko entry module of the cases service: ``nameko run peluit_cases.service``.

Thin adapter: RPC/HTTP/timer entrypoints translate to the application.
"""

from __future__ import annotations

import logging

import eventlet
from marshmallow import ValidationError
from nameko.constants import AMQP_URI_CONFIG_KEY
from nameko.extensions import DependencyProvider
from nameko.rpc import rpc
from nameko.timer import timer

from peluit_common import green  # noqa: F401  (psycopg waits through the hub)
from peluit_common.amqp import ConfirmedPublisher, declare_topology
from peluit_common.db import Database
from peluit_common.metrics import EntrypointMetrics, metrics_response
from peluit_common.settings import db_password, env, env_float
from peluit_common.web import http
from peluit_contracts.i18n import bilingual_errors
from peluit_contracts.reports import RegisterReportCommand

from . import catalogue
from .application import CasesApplication
from .domain import DomainError
from .relay import relay_once

log = logging.getLogger(__name__)


def eventsourcing_env() -> dict:
    """The eventsourcing library's settings, from this service's PELUIT_DB_*."""
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": env("PELUIT_DB_NAME"),
        "POSTGRES_HOST": env("PELUIT_DB_HOST", "127.0.0.1"),
        "POSTGRES_PORT": env("PELUIT_DB_PORT", "5432"),
        "POSTGRES_USER": env("PELUIT_DB_USER"),
        "POSTGRES_PASSWORD": db_password() or "",
        "POSTGRES_SCHEMA": env("PELUIT_DB_SCHEMA", "peluit"),
        "POSTGRES_POOL_SIZE": env("PELUIT_DB_POOL_SIZE", "10"),
        "POSTGRES_MAX_OVERFLOW": "10",
        "CREATE_TABLE": "y",
    }


class CasesApp(DependencyProvider):
    def setup(self):
        self.app = CasesApplication(env=eventsourcing_env(), timezone=env("PELUIT_TIMEZONE", "Asia/Jakarta"))

    def stop(self):
        self.app.close()

    def get_dependency(self, worker_ctx):
        return self.app


class Relay(DependencyProvider):
    """Publisher for the relay; declares the whole topology first so that no
    consumer queue is missing when the first event goes out."""

    def setup(self):
        uri = self.container.config[AMQP_URI_CONFIG_KEY]
        declare_topology(uri)
        self.publisher = ConfirmedPublisher(uri)

    def get_dependency(self, worker_ctx):
        return self.publisher


class CasesService:
    name = "cases"

    metrics = EntrypointMetrics()
    db = Database(migrate=catalogue.migrate)
    app = CasesApp()
    publisher = Relay()

    @rpc
    def register_report(self, command: dict) -> dict:
        """Durably register a report (idempotent per submission_id).

        Returns {"case_id", "registration_number", "status", "created"} or
        {"error": code[, "fields": ...]}; returns only after the commit.
        """
        try:
            cmd = RegisterReportCommand().load(command)
        except ValidationError as err:
            return {"error": "invalid_command", "fields": bilingual_errors(err.messages)}
        with self.db.connection() as conn:
            problem = catalogue.check(conn, cmd["tenant"], cmd["category"])
        if problem:
            return {"error": problem}
        try:
            result = self.app.register_report(cmd)
        except DomainError as err:
            return {"error": err.code}
        return {"case_id": str(result.case_id), "registration_number": result.registration_number,
                "status": result.status, "created": result.created}

    @rpc
    def reporter_view(self, receipt_hash: str) -> dict | None:
        if not isinstance(receipt_hash, str) or len(receipt_hash) != 64:
            return None
        return self.app.reporter_view(receipt_hash)

    @rpc
    def catalogue(self) -> dict:
        with self.db.connection() as conn:
            return catalogue.load(conn)

    @rpc
    def domain_events(self, after: int, limit: int = 500) -> dict:
        """A page of the notification log as public envelopes (followers pull this)."""
        return self.app.domain_events(after=int(after), limit=max(1, min(int(limit), 1000)))

    @timer(interval=env_float("PELUIT_RELAY_INTERVAL", 0.2))
    def relay(self):
        # keep going while there is a backlog, so a burst drains at full speed
        while relay_once(self.db, self.app, self.publisher) > 0:
            eventlet.sleep(0)

    @http("GET", "/metrics")
    def metrics_endpoint(self, request):
        return metrics_response()

    @http("GET", "/health")
    def health(self, request):
        return 200, "ok"
