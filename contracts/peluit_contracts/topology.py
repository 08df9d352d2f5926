"""The broker topology, declared up front by provisioning (peluit_local.broker).

nameko declares a handler's queue only when that handler first starts, so an
event published earlier is confirmed and dropped. Provisioning declares every
consumer queue from this one table before any service starts, which closes
that gap; each consumer re-declares only its own queues, and cases only the
exchanges it publishes on (each service's broker user may configure no more).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .events import DOMAIN_EXCHANGE

INTEGRATION_EXCHANGE = "peluit.integration"


@dataclass(frozen=True)
class ReliableQueue:
    """A quorum queue with staged retry queues and a dead-letter (parking) queue."""

    name: str
    exchange: str
    bindings: tuple[str, ...]
    arguments: dict = field(default_factory=lambda: {"x-queue-type": "quorum"})

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
