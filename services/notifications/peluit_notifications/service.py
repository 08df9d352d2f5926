"""nameko entry module of notifications: ``nameko run peluit_notifications.service``.

Consumes domain events from its pre-declared quorum queue; the effect (a
notice for the officers, or the vault's relay to the reporter) and the
processed-event record commit together before the ack, so a redelivery after
a crash changes nothing (``handling``). Timers fan notices out to the officers
cases names (``fanout``), send the outbox over SMTP (``delivery``) and make
the daily digests and breach summaries (``daily``).
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from nameko.extensions import DependencyProvider
from nameko.rpc import RpcProxy
from nameko.timer import timer
from prometheus_client import Counter

from peluit_common import green  # noqa: F401
from peluit_common.amqp import reliable_consume
from peluit_common.db import Database
from peluit_common.operations import Operations
from peluit_common.rpc import call, rpc  # rpc drops a request with a forged reply address
from peluit_common.settings import env, env_float, env_int
from peluit_contracts.topology import NOTIFICATIONS_CASE_EVENTS

from . import daily, delivery, fanout, inbox, store
from .handling import handle

log = logging.getLogger(__name__)

EVENTS_APPLIED = Counter("peluit_notifications_events_total", "Domain events handled", ["result"])
REPORTER_RELAYS = Counter("peluit_notifications_reporter_relays_total", "Reporter notices relayed by the vault",
                          ["outcome"])
RPC_TIMEOUT = env_float("PELUIT_RPC_TIMEOUT", 10.0)
SEND_INTERVAL = env_float("PELUIT_NOTIFY_SEND_INTERVAL", 0.5)
TZ = env("PELUIT_TIMEZONE", "Asia/Jakarta")
DIGEST_HOUR = env_int("PELUIT_NOTIFY_DIGEST_HOUR", 7)


class Outbound(DependencyProvider):
    """SMTP settings and back-off, read from the environment at start-up."""

    def setup(self):
        self.smtp, self.backoff = delivery.SmtpSettings.from_env(), delivery.Backoff.from_env()

    def get_dependency(self, worker_ctx):
        return self


class NotificationsService:
    name = "notifications"

    ops = Operations()
    db = Database(migrate=store.migrate)
    vault = RpcProxy("identity_vault", expiration=RPC_TIMEOUT)
    cases = RpcProxy("cases", expiration=RPC_TIMEOUT)
    outbound = Outbound()

    @reliable_consume(NOTIFICATIONS_CASE_EVENTS)
    def on_case_event(self, body):
        result, relayed = handle(body, store.Store(self.db), self._relay)
        if relayed is not None:
            REPORTER_RELAYS.labels(relayed).inc()
        EVENTS_APPLIED.labels(result).inc()

    @timer(interval=SEND_INTERVAL)
    def send_due(self):
        # recorded notices become outbox rows, then the outbox is sent; a full batch means more are waiting
        smtp, backoff = self.outbound.smtp, self.outbound.backoff
        while fanout.fanout_once(self.db, self._recipients, backoff) >= 50:
            pass
        while delivery.deliver_once(self.db, delivery.Mailer(smtp), smtp, backoff)[0] >= 50:
            pass

    @timer(interval=60)
    def daily_jobs(self):
        now = datetime.now(timezone.utc)
        daily.run_digests(self.db, now, TZ, DIGEST_HOUR)
        daily.run_breach_summaries(self.db, self._recipients, now, TZ, DIGEST_HOUR)

    @rpc
    def officer_inbox(self, query) -> dict:
        """An officer's notification list; cases asks for the signed-in officer only."""
        return inbox.officer_inbox(self.db, query)

    @rpc
    def mark_read(self, command) -> dict:
        return inbox.mark_read(self.db, command)

    def _relay(self, command: dict) -> dict:
        return call(self.vault.relay_to_reporter, command, timeout=RPC_TIMEOUT)

    def _recipients(self, query: dict) -> dict:
        return call(self.cases.notification_recipients, query, timeout=RPC_TIMEOUT)
