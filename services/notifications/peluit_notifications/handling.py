"""What notifications does with one domain event, apart from nameko, the
broker and PostgreSQL: an event officers hear of (``policy``) becomes outbox
rows for the officers cases names; a message for the reporter is relayed by
the vault (which alone knows how to reach them) and recorded with the vault's
answer. Once per event: a redelivered one changes nothing, and the vault
dedupes its relay on the event id."""

from __future__ import annotations

from typing import Callable, Protocol

from peluit_contracts.events import load_envelope
from peluit_contracts.notify import RECIPIENTS_RPC_VERSION
from peluit_contracts.relay import RELAY_VERSION

from .policy import Notice, deliveries, notice_of


class Store(Protocol):
    def processed(self, event_id: str) -> bool: ...

    def record(self, envelope: dict, template: str | None = None, outcome: str | None = None, notice=None,
               facts: dict | None = None, deliveries=()) -> list | None: ...


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


def reporter_template(envelope: dict) -> str:
    """The notice the reporter gets: closing feedback says the case is closed, anything else that a message waits."""
    return "case_closed" if envelope["data"]["kind"] == "feedback" else "new_message"


def relay_command(envelope: dict) -> dict:
    """The vault's ``relay_to_reporter`` command for a message event (no text, no address: the vault finds them)."""
    return {"version": RELAY_VERSION, "case_id": str(envelope["data"]["case_id"]),
            "template": reporter_template(envelope), "idempotency_key": envelope["id"]}


def handle(body: dict, store: Store, relay: Callable[[dict], dict],
           directory: Callable[[dict], dict] | None = None) -> tuple[str, str | None, list]:
    """Handle one message body; returns ("applied" | "duplicate", the vault's
    relay outcome or None, the new outbox rows as (channel, kind)). A malformed
    body, a failed relay or an unanswered directory raises: the consumer
    retries it with back-off, then parks it."""
    envelope = load_envelope(body)
    notice = notice_of(envelope)
    if envelope["type"] != "case.message_for_reporter" and notice is None:
        return ("applied" if store.record(envelope) is not None else "duplicate"), None, []
    if store.processed(envelope["id"]):
        return "duplicate", None, []
    if notice is not None:
        found, facts = resolve(notice, directory)
        fresh = store.record(envelope, notice=notice, facts=facts, deliveries=deliveries(notice, found))
        return ("applied", None, fresh) if fresh is not None else ("duplicate", None, [])
    # the vault dedupes on the key, so a retry after a crash here sends once
    reply = relay(relay_command(envelope))
    if reply.get("error"):
        raise RelayFailed(reply["error"])
    outcome = reply["result"]
    fresh = store.record(envelope, reporter_template(envelope), outcome)
    return ("applied" if fresh is not None else "duplicate"), outcome, []
