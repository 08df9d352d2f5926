"""The officers' desk, as plain functions the HTTP entrypoints call: the work
queue, the case page (the commands the officer may give now and the open
deadlines), what changed since a stale version, and the catalogue the
console's forms choose from (the data the commands validate against)."""

from __future__ import annotations

from datetime import datetime, timezone
from uuid import UUID

from peluit_contracts.disclosure import LEGAL_BASES

from . import case_index, catalogue
from .access import Access, Actor, Directory
from .commands import allowed_commands
from .deadlines import is_open, queue_state
from .bodies import external_bodies
from .domain import RECOMMENDATION_KINDS, SANCTIONS, TUKIN_MONTHS, Case
from .officer_api import case_document_from


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(timezone.utc)


def work_queue(app, conn, directory: Directory, actor: Actor, query: dict, now: datetime | None = None) -> dict:
    """``GET /api/v1/cases``: the cases the actor may see (``case_index.search``)."""
    return case_index.search(conn, Access(app, directory).tenants(actor), status=query.get("status"),
                             category=query.get("category"), channel=query.get("channel"),
                             number=query.get("number"), deadline=query.get("deadline"), sort=query["sort"],
                             page=query["page"], per_page=query["per_page"], now=_now(now),
                             officer_id=actor.officer_id)


def open_deadlines(case: Case, pack, calendar, now: datetime) -> list[dict]:
    """The case's open rules as the case page shows them (state as in the work queue)."""
    return [{"rule": d.rule_code, "label": d.label, "due_at": d.due_at.isoformat(),
             "approaching_at": d.approaching_at.isoformat(), "state": queue_state(d, now),
             "paused": d.state == "paused"}
            for d in case.deadlines(pack, calendar, now) if is_open(d)]


def case_page(app, directory: Directory, deadline_config, actor: Actor, case: Case,
              now: datetime | None = None) -> dict:
    """The case document (replayed from every event), the commands the actor
    may give on that version and its open deadlines."""
    replayed, history, messages = app.transcript(case.id)
    document = case_document_from(replayed, history, messages)
    document["allowed_commands"] = allowed_commands(actor, replayed, directory)
    document["deadlines"] = open_deadlines(replayed, *deadline_config(replayed.handling_tenant), _now(now))
    return document


def case_page_as_of(replayed: tuple, deadline_config, as_of: datetime) -> dict:
    """The case as of a moment: read-only (no commands), its deadlines as they stood then."""
    case = replayed[0]
    document = case_document_from(*replayed)
    document["as_of"] = as_of.isoformat()
    document["allowed_commands"] = []
    document["deadlines"] = open_deadlines(case, *deadline_config(case.handling_tenant), as_of)
    return document


def changes_since(app, case_id: str | UUID, version: int) -> tuple[int, list[dict]]:
    """(the current version, the history steps recorded after ``version``),
    for a ``409 stale_version``: the officer sees what changed and decides again."""
    case_id = case_id if isinstance(case_id, UUID) else UUID(case_id)
    case = app.repository.get(case_id, version=version) if version >= 1 else None
    steps = []
    for event in app.events.get(case_id, gt=max(version, 0)):
        case = event.mutate(case)
        if case._last_step:
            steps.append(case._last_step)
    return case.version, steps


def forms(conn, deadline_config, actor: Actor) -> dict:
    """``GET /api/v1/catalogue``: tenants, destinations, the own tenant's
    categories and deadline rules, sanctions, recommendation kinds, legal bases."""
    tenants = catalogue.load(conn)["tenants"]
    own = next((t["categories"] for t in tenants if t["code"] == actor.tenant), [])
    pack, _ = deadline_config(actor.tenant)
    return {
        "tenants": [{"code": t["code"], "name": t["name"], "parent": t["parent"]} for t in tenants],
        "external_destinations": [b.code for b in external_bodies()],
        "external_bodies": [b.catalogue() for b in external_bodies()],
        "categories": [{"code": c["code"], "label_id": c["name"]["id"], "label_en": c["name"]["en"]} for c in own],
        "sanctions": {level: sorted(types) for level, types in SANCTIONS.items()},
        "tukin_months": sorted(TUKIN_MONTHS),
        "recommendation_kinds": sorted(RECOMMENDATION_KINDS),
        "legal_bases": list(LEGAL_BASES),
        "deadline_rules": [{"code": r.code, "label_id": r.label["id"], "label_en": r.label["en"]} for r in pack.rules],
    }
