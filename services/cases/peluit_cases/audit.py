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

import base64
import json
from datetime import datetime, timezone
from typing import Iterator
from uuid import UUID

import psycopg
from eventsourcing.persistence import StoredEvent
from nameko.extensions import DependencyProvider
from psycopg import sql

from peluit_chain import BUNDLE_FORMAT, format_time

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


def _checkpoints(conn, from_position: int, to_position: int) -> list[dict]:
    rows = conn.execute(_q("SELECT position, head_hash, signed_at, key_id, signature FROM {schema}.chain_checkpoint"
                           " WHERE position >= %s AND position <= %s ORDER BY position"),
                        (from_position, to_position)).fetchall()
    return [{"position": p, "head_hash": bytes(h).hex(), "signed_at": format_time(at), "key_id": k,
             "signature": bytes(s).hex()} for p, h, at, k, s in rows]


def _public_keys(conn, key_ids) -> dict:
    rows = conn.execute(_q("SELECT key_id, public_key FROM {schema}.chain_key WHERE key_id = ANY(%s)"),
                        (sorted(set(key_ids)),)).fetchall()
    return {k: bytes(pk).hex() for k, pk in rows}


def _event_json(row) -> str:
    nid, member, oid, version, topic, state, prev_log, prev_agg, event_hash, hash_version, digest = row
    out = {"notification_id": nid, "prev_log_hash": bytes(prev_log).hex(), "event_hash": bytes(event_hash).hex()}
    if hash_version == 2:
        out["hash_version"] = 2
    if member:
        out.update(originator_id=str(oid), originator_version=version, topic=topic,
                   state=base64.b64encode(bytes(state or b"")).decode(), prev_aggregate_hash=bytes(prev_agg).hex())
    elif hash_version == 2:
        # another case's event: what its hash needs, never its content (version 1: only the links)
        out.update(originator_id=str(oid), originator_version=version, prev_aggregate_hash=bytes(prev_agg).hex(),
                   content_digest=bytes(digest).hex())
    return json.dumps(out)


class NotCheckpointed(CasesError):
    def __init__(self):
        super().__init__("not_checkpointed")


def iter_bundle(conn: psycopg.Connection, case_id: UUID | None = None, *,
                created_at: datetime | None = None) -> Iterator[str]:
    """The bundle as JSON text in chunks (a whole log does not fit in memory).
    Raises NotCheckpointed before yielding anything when no checkpoint covers
    the requested events."""
    newest = conn.execute(_q("SELECT max(position) FROM {schema}.chain_checkpoint")).fetchone()[0]
    if newest is None:
        raise NotCheckpointed()
    if case_id is None:
        scope, members = {"kind": "log"}, None
        first = conn.execute(_q("SELECT min(notification_id) FROM {schema}.{table}")).fetchone()[0] or 0
        genesis = True
    else:
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
    checkpoints = _checkpoints(conn, first, newest)
    head = {
        "format": BUNDLE_FORMAT,
        "created_at": format_time(created_at or datetime.now(timezone.utc)),
        "scope": scope,
        "genesis": genesis,
        "range": {"first": first, "last": newest},
        "public_keys": _public_keys(conn, [c["key_id"] for c in checkpoints]),
        "checkpoints": checkpoints,
    }
    yield json.dumps(head)[:-1] + ', "events": ['
    # other cases' content never leaves the database: their events go out as links (and, hash
    # version 2, as ids, version and content digest)
    columns = ("m, originator_id, originator_version, CASE WHEN m THEN topic END, CASE WHEN m THEN state END,"
               " prev_log_hash, prev_aggregate_hash, event_hash, hash_version,"
               " CASE WHEN NOT m AND hash_version = 2 THEN {schema}.peluit_content_digest(topic, state) END")
    member = "true" if members is None else "originator_id = ANY(%s)"
    params: tuple = (first, newest) if members is None else (members, first, newest)
    query = ("SELECT notification_id, " + columns + " FROM (SELECT *, " + member + " AS m FROM {schema}.{table}) e"
             " WHERE notification_id >= %s AND notification_id <= %s ORDER BY notification_id")
    separator = ""
    with conn.cursor() as cur:
        cur.execute(_q(query), params)
        while rows := cur.fetchmany(1000):
            chunk = ",".join(_event_json(r) for r in rows)
            yield separator + chunk
            separator = ","
    yield "]}"


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


# -- the service's checkpoint key and timer -----------------------------------------------


class Checkpoints(DependencyProvider):
    """The checkpoint signer (key from PELUIT_CHECKPOINT_KEY_FILE); its public
    key is registered in ``chain_key`` so that bundles carry every key id."""

    def setup(self):
        self.signer = chain.load_signer()
        self.registered = False

    def get_dependency(self, worker_ctx):
        return self

    def run(self, pool) -> dict | None:
        with pool.connection() as conn:
            if not self.registered:
                chain.register_key(conn, self.signer)
                self.registered = True
            return chain.checkpoint_once(conn, self.signer)


def install_chain() -> None:
    """Called once the eventsourcing tables exist (CasesApp.setup)."""
    from peluit_common.settings import db_conninfo

    with psycopg.connect(db_conninfo()) as conn:
        chain.migrate(conn)
