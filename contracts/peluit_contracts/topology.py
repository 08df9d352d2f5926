"""The broker topology, declared up front by provisioning (peluit_local.broker).

nameko declares a handler's queue only when that handler first starts, so an
event published earlier is confirmed and dropped. Provisioning declares every
consumer queue from this one table before any service starts, which closes
that gap; each consumer re-declares only its own queues, and cases only the
exchanges it publishes on (each service's broker user may configure no more).
"""

from __future__ import annotations

from dataclasses import dataclass

from .events import DOMAIN_EXCHANGE

INTEGRATION_EXCHANGE = "peluit.integration"

DELIVERY_LIMIT = 5
"""Redeliveries (a consumer died or returned the message) before the broker
parks a message: a poison message that kills its consumer loops no further.
A queue's arguments never change, so this is a constant, not a setting."""


def parking_arguments(dead_letter_exchange: str, dead_letter_queue: str) -> dict:
    """A quorum queue that parks a message delivered ``DELIVERY_LIMIT`` times
    in ``dead_letter_queue`` (its ``x-death`` says ``delivery_limit``)."""
    return {
        "x-queue-type": "quorum",
        "x-delivery-limit": DELIVERY_LIMIT,
        "x-dead-letter-exchange": dead_letter_exchange,
        "x-dead-letter-routing-key": dead_letter_queue,
        # quorum queues dead-letter at most once (may drop) unless told otherwise; needs reject-publish
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }


@dataclass(frozen=True)
class ReliableQueue:
    """A quorum queue with staged retry queues and a dead-letter (parking) queue."""

    name: str
    exchange: str
    bindings: tuple[str, ...]

    @property
    def arguments(self) -> dict:
        return parking_arguments(self.retry_exchange, self.dead_letter_queue)

    def retry_queue(self, delay_ms: int) -> str:
        # not ".retry.<n>ms": those dead-lettered through the default exchange, and a queue's arguments never change
        return f"{self.name}.backoff.{delay_ms}ms"

    @property
    def dead_letter_queue(self) -> str:
        return f"{self.name}.dead"

    @property
    def retry_exchange(self) -> str:
        """The consumer's own direct exchange to its retry and parking queues."""
        return f"{self.name}.retry"


def rpc_dead_letter_queue(rpc_queue: str) -> str:
    """Where nameko's RPC request queue ``rpc-<service>`` parks a poison request,
    through a fanout exchange of the same name."""
    return f"{rpc_queue}.dead"


EXCHANGES = {DOMAIN_EXCHANGE: "topic", INTEGRATION_EXCHANGE: "topic"}

NOTIFICATIONS_CASE_EVENTS = ReliableQueue(
    name="notifications.case-events",
    exchange=DOMAIN_EXCHANGE,
    bindings=("case.#", "disclosure.#"),
)

# the vault learns when a case ends (retention clock), nothing else
VAULT_CASE_EVENTS = ReliableQueue(
    name="identity-vault.case-events",
    exchange=DOMAIN_EXCHANGE,
    bindings=("case.status_changed.v1",),
)

RELIABLE_QUEUES = (NOTIFICATIONS_CASE_EVENTS, VAULT_CASE_EVENTS)
