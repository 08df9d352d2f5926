"""Auditor replay and tamper evidence: export bundles, timelines, time travel.

- ``iter_bundle``: the ``peluit-audit-bundle/1`` document that ``peluit-verify``
  checks offline: the whole log up to the newest checkpoint, or one case (its
  events in full; every other event in the range only as notification id,
  previous and own hash, so the chain still links to the signed head without
  showing other cases).
- ``timeline`` and ``case_as_of``: what an auditor sees of one case, with
  notification ids and hashes, and the case replayed up to a moment.

Queries run on the connection the caller gives (and inside its transaction),
so a test can tamper with rows in a transaction, export from the same
connection and roll back.
"""

from __future__ import annotations

import itertools
import json
from datetime import datetime
from typing import Iterator
from uuid import UUID

import psycopg
from eventsourcing.persistence import StoredEvent
from psycopg import sql

from peluit_common import chain as shared

from . import chain
from .domain import Case, transcript
from .errors import CasesError
from .ledgers import AccessLog


def _q(statement: str) -> sql.Composed:
    return sql.SQL(statement).format(schema=sql.Identifier(chain.schema()), table=sql.Identifier(chain.EVENTS_TABLE))


# -- export -----------------------------------------------------------------------


def case_aggregates(case_id: UUID) -> list[UUID]:
    """What belongs to one case's record: the case and its access log."""
    return [case_id, AccessLog.create_id(case_id)]


class NotCheckpointed(CasesError):
    def __init__(self):
        super().__init__("not_checkpointed")


def iter_bundle(conn: psycopg.Connection, case_id: UUID | None = None, *,
                created_at: datetime | None = None) -> Iterator[str]:
    """The bundle as JSON text in chunks (``peluit_common.chain.iter_bundle``).
    Raises NotCheckpointed before yielding anything when no checkpoint covers
    the requested events."""
    name = chain.schema()
    newest = shared.newest_checkpoint(conn, chain.LOG, name)
    if newest is None:
        raise NotCheckpointed()
    if case_id is None:
        return _shared_bundle(conn, name, scope={"kind": "log"}, created_at=created_at)
    # the aggregates that have covered events (a case nobody read has no access log yet)
    present = conn.execute(_q("SELECT originator_id, min(notification_id) FROM {schema}.{table}"
                              " WHERE originator_id = ANY(%s) AND notification_id <= %s GROUP BY originator_id"),
                           (case_aggregates(case_id), newest)).fetchall()
    if not any(oid == case_id for oid, _ in present):
        raise NotCheckpointed()
    members = [oid for oid, _ in present]
    first = min(n for _, n in present)
    scope = {"kind": "case", "case_id": str(case_id), "aggregates": sorted(str(m) for m in members)}
    # the chain before the case's first event is not needed to prove its events
    genesis = conn.execute(_q("SELECT NOT EXISTS (SELECT 1 FROM {schema}.{table} WHERE notification_id < %s)"),
                           (first,)).fetchone()[0]
    return _shared_bundle(conn, name, scope=scope, members=members, first=first, genesis=genesis,
                          created_at=created_at)


def _shared_bundle(conn, name: str, **kwargs) -> Iterator[str]:
    chunks = shared.iter_bundle(conn, chain.LOG, name, **kwargs)
    try:
        first = next(chunks)  # a checkpoint vanishing meanwhile is still a refusal, not a broken stream
    except shared.NotCheckpointed:
        raise NotCheckpointed() from None
    return itertools.chain([first], chunks)


def bundle(conn, case_id: UUID | None = None, **kwargs) -> dict:
    return json.loads("".join(iter_bundle(conn, case_id, **kwargs)))


# -- one case: timeline and time travel ------------------------------------------------


def _stored_rows(conn, aggregate_id: UUID):
    return conn.execute(_q("SELECT notification_id, originator_version, topic, state, event_hash"
                           " FROM {schema}.{table} WHERE originator_id = %s ORDER BY originator_version"),
                        (aggregate_id,)).fetchall()


def _decode(app, aggregate_id: UUID, row):
    nid, version, topic, state, event_hash = row
    # the timeline names who and when, never what was written: no content key is read
    event, = app.mapper.to_domain_events([StoredEvent(originator_id=aggregate_id, originator_version=version,
                                                      topic=topic, state=bytes(state))], content=False)
    return nid, event, bytes(event_hash).hex()


def _type(topic: str) -> str:
    return topic.rsplit(":", 1)[-1]


def timeline(app, conn, case_id: UUID) -> dict:
    """Every event of the case (type, version, time, actor, notification id,
    hash) and of its access log (who read it, how, allowed or refused)."""
    events = []
    with conn.transaction():
        case_rows = _stored_rows(conn, case_id)
        access_rows = _stored_rows(conn, AccessLog.create_id(case_id))
    for row in case_rows:
        nid, event, digest = _decode(app, case_id, row)
        actor = getattr(event, "actor", None) or getattr(event, "assisted_by", None)
        events.append({"type": _type(row[2]), "version": row[1], "timestamp": event.timestamp.isoformat(),
                       "actor": actor, "notification_id": nid, "event_hash": digest})
    access = []
    for row in access_rows:
        nid, event, digest = _decode(app, AccessLog.create_id(case_id), row)
        if not isinstance(event, AccessLog.Accessed):
            continue
        access.append({"timestamp": event.timestamp.isoformat(), "officer_id": event.officer_id,
                       "tenant": event.tenant, "roles": event.roles, "action": event.action,
                       "allowed": event.allowed, "notification_id": nid, "event_hash": digest})
    return {"case_id": str(case_id), "events": events, "access_log": access}


def case_as_of(app, case_id: UUID, as_of: datetime):
    """(case, history, messages) replayed from the events up to ``as_of``
    (inclusive), or None when the case did not exist yet."""
    events = []
    for event in app.events.get(case_id):
        if event.timestamp > as_of:
            break  # an aggregate's events are in time order
        events.append(event)
    if not events:
        return None
    case, history, messages = transcript(events)
    return case if isinstance(case, Case) else None, history, messages
