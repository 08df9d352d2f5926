"""What notifications does with one domain event, apart from nameko, the
broker and PostgreSQL: an event officers hear of (``policy``) is recorded as a
notice, which ``fan_out`` later turns into outbox rows for the officers cases
names (so the consumer never waits for cases); a message for the reporter is
relayed by the vault (which alone knows how to reach them) and recorded with
the vault's answer. Once per event: a redelivered one changes nothing, and
the vault dedupes its relay on the event id."""

from __future__ import annotations

from typing import Callable, Protocol

from peluit_contracts.events import load_envelope
from peluit_contracts.notify import RECIPIENTS_RPC_VERSION
from peluit_contracts.relay import RELAY_VERSION

from .policy import Notice, deliveries, notice_of


class Store(Protocol):
    def processed(self, event_id: str) -> bool: ...

    def record(self, envelope: dict, template: str | None = None, outcome: str | None = None,
               notice=None) -> bool: ...


class RelayFailed(Exception):
    """The vault could not deliver (e.g. SMTP down); the message is retried."""


class DirectoryFailed(Exception):
    """cases could not name the recipients; the message is retried."""


def recipients_query(notice: Notice) -> dict:
    """One ``RecipientsQuery`` for all of a notice's audiences (they share its tenant)."""
    roles = sorted({r for a in notice.audiences for r in a.roles})
    ids = sorted({i for a in notice.audiences for i in a.officer_ids})
    return {"version": RECIPIENTS_RPC_VERSION, "tenant": notice.tenant if roles else None, "roles": roles,
            "officer_ids": ids, "case_id": notice.case_id, "acting": any(a.acting for a in notice.audiences)}


def resolve(notice: Notice, directory: Callable[[dict], dict]) -> tuple[list, dict | None]:
    """(recipients, case facts) from cases, or DirectoryFailed."""
    reply = directory(recipients_query(notice))
    if not isinstance(reply, dict) or "error" in reply:
        raise DirectoryFailed(reply.get("error") if isinstance(reply, dict) else "no_reply")
    return reply["recipients"], reply.get("case")


def fan_out(notice: Notice, directory: Callable[[dict], dict]) -> tuple[list, dict | None]:
    """(outbox rows, case facts) of one recorded notice, or DirectoryFailed."""
    found, facts = resolve(notice, directory)
    return deliveries(notice, found), facts


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
        return ("applied" if store.record(envelope, notice=notice_of(envelope)) else "duplicate"), None
    if store.processed(envelope["id"]):
        return "duplicate", None
    # the vault dedupes on the key, so a retry after a crash here sends once
    reply = relay(relay_command(envelope))
    if reply.get("error"):
        raise RelayFailed(reply["error"])
    outcome = reply["result"]
    fresh = store.record(envelope, reporter_template(envelope), outcome)
    return ("applied" if fresh else "duplicate"), outcome
