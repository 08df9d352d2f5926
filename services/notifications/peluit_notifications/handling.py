"""What notifications does with one domain event, apart from nameko, the
broker and PostgreSQL: a new case is recorded for the officers, a message for
the reporter is relayed by the vault (which alone knows how to reach them)
and recorded with the vault's answer. Once per event: a redelivered one
changes nothing, and the vault dedupes its relay on the event id."""

from __future__ import annotations

from typing import Callable, Protocol

from peluit_contracts.events import load_envelope
from peluit_contracts.relay import RELAY_VERSION


class Store(Protocol):
    def processed(self, event_id: str) -> bool: ...

    def record(self, envelope: dict, template: str | None = None, outcome: str | None = None) -> bool: ...


class RelayFailed(Exception):
    """The vault could not deliver (e.g. SMTP down); the message is retried."""


def reporter_template(envelope: dict) -> str:
    """The notice the reporter gets: closing feedback says the case is closed, anything else that a message waits."""
    return "case_closed" if envelope["data"]["kind"] == "feedback" else "new_message"


def relay_command(envelope: dict) -> dict:
    """The vault's ``relay_to_reporter`` command for a message event (no text, no address: the vault finds them)."""
    return {"version": RELAY_VERSION, "case_id": str(envelope["data"]["case_id"]),
            "template": reporter_template(envelope), "idempotency_key": envelope["id"]}


def handle(body: dict, store: Store, relay: Callable[[dict], dict]) -> tuple[str, str | None]:
    """Handle one message body; returns ("applied" | "duplicate", the vault's
    relay outcome or None). A malformed body or a failed relay raises: the
    consumer retries it with back-off, then parks it."""
    envelope = load_envelope(body)
    if envelope["type"] != "case.message_for_reporter":
        return ("applied" if store.record(envelope) else "duplicate"), None
    if store.processed(envelope["id"]):
        return "duplicate", None
    # the vault dedupes on the key, so a retry after a crash here sends once
    reply = relay(relay_command(envelope))
    if reply.get("error"):
        raise RelayFailed(reply["error"])
    outcome = reply["result"]
    fresh = store.record(envelope, reporter_template(envelope), outcome)
    return ("applied" if fresh else "duplicate"), outcome
