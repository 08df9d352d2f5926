"""Who hears what: plain functions from a domain event to the officers to tell.

``notice_of(envelope)`` names the kind and the audiences (by tenant and role,
by officer id, or "acting on the case"); cases resolves audiences to officers
(``peluit_contracts.notify``); ``deliveries`` turns the officers and their
preferences into one row per (event, officer, channel). No broker, no
database: unit-tested with fakes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from peluit_contracts.notify import effective_mode


@dataclass(frozen=True)
class Audience:
    """Officers of ``tenant`` with any of ``roles``; ``officer_ids``; with
    ``acting``, those acting on the notice's case (its team once there is one)."""

    tenant: str | None = None
    roles: tuple[str, ...] = ()
    officer_ids: tuple[str, ...] = ()
    acting: bool = False


@dataclass(frozen=True)
class Notice:
    event_id: str
    kind: str
    tenant: str
    case_id: str | None
    occurred_at: datetime
    audiences: tuple[Audience, ...]
    rule: str | None = None
    due_at: datetime | None = None


@dataclass(frozen=True)
class Delivery:
    """One row of the outbox. ``status``: pending (send now), digest (wait for
    the officer's daily digest) or unread (the console list)."""

    event_id: str
    officer_id: str
    channel: str
    kind: str
    status: str
    address: str | None = None


TEAM = "team"  # the step's responsible are the officers acting on the case
# the role responsible for the step a deadline rule measures (packs: lapor, wise, eu2019_1937)
RESPONSIBLE = {
    "first_response": "penerima", "response": "penerima", "acknowledge": "penerima",
    "verification": "penelaah", "information_request": "penelaah", "feedback": "penelaah",
    "investigation": TEAM, "field_investigation": TEAM,
}
DEFAULT_RESPONSIBLE = "penelaah"
ARRIVALS = ("forwarded", "escalated")


def province_of(tenant: str) -> str:
    return tenant.split(".", 1)[0]


def responsible(tenant: str, rule: str) -> Audience:
    role = RESPONSIBLE.get(rule, DEFAULT_RESPONSIBLE)
    return Audience(acting=True) if role == TEAM else Audience(tenant=tenant, roles=(role,))


def notice_of(envelope: dict) -> Notice | None:
    """The notice one (validated) envelope gives, or None when no officer hears of it."""
    kind_of, data = envelope["type"], envelope["data"]
    tenant = data.get("tenant", envelope["tenant"])
    case_id = str(data["case_id"]) if data.get("case_id") else None
    base = {"event_id": envelope["id"], "tenant": tenant, "case_id": case_id,
            "occurred_at": datetime.fromisoformat(envelope["time"]) if isinstance(envelope["time"], str)
            else envelope["time"]}
    if kind_of == "case.registered":
        return Notice(kind="case_new", audiences=(Audience(tenant, ("penerima", "penelaah")),), **base)
    if kind_of == "case.status_changed" and data["step"] in ARRIVALS and data["status"] != "dilimpahkan":
        # forwarded to another tenant or escalated: the receiving tenant hears (an external body is not ours)
        return Notice(kind="case_arrived", audiences=(Audience(tenant, ("penerima", "inspektur")),), **base)
    if kind_of == "case.reporter_wrote":
        return Notice(kind="reporter_wrote", audiences=(Audience(acting=True),), **base)
    if kind_of == "case.team_assigned":
        return Notice(kind="team_assigned", audiences=(Audience(officer_ids=tuple(map(str, data["team"]))),), **base)
    if kind_of == "disclosure.requested":
        return Notice(kind="disclosure_waiting", audiences=(Audience(tenant, ("inspektur",)),), **base)
    if kind_of == "disclosure.approved":
        return Notice(kind="disclosure_approved", audiences=(Audience(officer_ids=(str(data["requested_by"]),)),),
                      **base)
    if kind_of == "case.deadline_approaching":
        return Notice(kind="deadline_approaching", audiences=(responsible(tenant, data["rule"]),),
                      rule=data["rule"], due_at=data["due_at"], **base)
    if kind_of == "case.deadline_breached":
        return Notice(kind="deadline_breached", rule=data["rule"], due_at=data["due_at"],
                      audiences=(responsible(tenant, data["rule"]), Audience(tenant, ("inspektur",))), **base)
    return None


def breach_summary(province: str, day: date, at: datetime) -> Notice:
    """The daily summary of one province's breaches, for its inspektur."""
    return Notice(event_id=f"breach-summary:{province}:{day.isoformat()}", kind="breach_summary", tenant=province,
                  case_id=None, occurred_at=at, audiences=(Audience(province, ("inspektur",)),))


def deliveries(notice: Notice, recipients: list[dict]) -> list[Delivery]:
    """One row per officer and channel: the console list always (unless the
    officer switched the kind off), e-mail now or in the digest when the
    officer has an address. Each officer once, however many audiences name them."""
    out, seen = [], set()
    for r in recipients:
        officer = str(r["officer_id"])
        if officer in seen:
            continue
        seen.add(officer)
        mode = effective_mode(r.get("preferences") or {}, notice.kind)
        if mode == "off":
            continue
        out.append(Delivery(notice.event_id, officer, "console", notice.kind, "unread"))
        if r.get("email"):
            out.append(Delivery(notice.event_id, officer, "email", notice.kind,
                                "pending" if mode == "immediately" else "digest", r["email"]))
    return out
