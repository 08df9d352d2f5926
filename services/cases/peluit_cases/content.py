"""Case content: encrypted in the event store, ended by destroying keys.

What a reporter or officer wrote on a case (the report's texts, dialogue
messages, notes, reasons, plans, findings) is stored in ``cases_events`` and
``cases_snapshots`` as AES-256-GCM ciphertext; the skeleton (registration
number, tenant, category, channel, status, dates, deadline outcomes,
sanctions) stays in clear. ``domain.py`` knows nothing of it: the mapper and
event store below seal on the way in and open on the way out.

Keys, three levels, none of them in the database in clear:

* an **item key** per content field occurrence (random), wrapped by
* the **case key** (random, one per case), wrapped by
* a **key-encryption key** (KEK) from ``PELUIT_CONTENT_KEK_FILE`` (development:
  ``.keys/cases/content-kek.key``), rotatable like the vault's
  (``peluit-cases-admin rotate-content-kek``).

Wrapped keys live in ``content_case_key`` and ``content_item_key``. Destroying
an item key (``forget_field``) makes one field read as ``UNAVAILABLE``;
destroying the case key (``end_case_content``, the tenant's retention) makes
all of the case's content read so, at once. The hash chain is over the
ciphertext, so nothing stored is ever rewritten. Events stored before this
module existed keep their text in clear; once a case's content has ended
they read as ``UNAVAILABLE`` too (docs/operations.md, "Case content").

Field paths (``CONTENT``): an event attribute's name (``"text"``,
``"reason"``), ``"report.<field>"`` for each text of the report
(``"report.what"``, ``"report.who"``...), ``"recommendations.<n>.details"``.
"""

from __future__ import annotations

import base64
import functools
import os
import threading
import time
from collections import OrderedDict
from datetime import datetime, timezone
from typing import Any, Callable
from uuid import UUID, uuid4

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.domain import Snapshot
from eventsourcing.persistence import (
    EventStore,
    Mapper,
    MapperDeserialisationError,
    Notification,
    Recording,
    StoredEvent,
    find_id_convertor,
)
from eventsourcing.utils import get_topic, resolve_topic

from peluit_common.keyring import GCM_NONCE, Keyring, unwrap_key, wrap_key

from .domain import CASE_TOPIC, Case, DomainError

from .redaction import REDACTED  # noqa: F401 - what a redacted passage reads as (defined in ``redaction``)
UNAVAILABLE = "[dihapus]"  # what a field reads as once its key is gone

# the content fields of each case event (see the module docstring for paths); an event class that carries
# free text names its fields here, or that text is stored in clear
CONTENT: dict[str, tuple[str, ...]] = {
    "Registered": ("report.*",),
    "InformationRequested": ("question",),
    "ReporterMessage": ("text",),
    "OfficerMessage": ("text",),
    "NoteAdded": ("text",), "PassageRedacted": ("reason", "text"),  # a redaction's passages: in the vault
    "Forwarded": ("reason",), "Rejected": ("reason",), "Archived": ("reason",),
    "Closed": ("reason", "feedback"),
    "Accepted": ("note",),
    "InvestigationStarted": ("plan",),
    "FindingsRecorded": ("summary", "recommendations.*.details"),
    "RecommendationCompleted": ("note",),
    "OfficerRecused": ("reason",),
    "Escalated": ("reason",),
}
SNAPSHOT_TOPIC = get_topic(Snapshot)
CASE_AGGREGATE_TOPIC = get_topic(Case)
SEALED = "sealed"  # a sealed field: {"sealed": item id (hex), "c": base64(nonce || ciphertext)}
KEY_BYTES = 32
MAX_VERSION = 2**62


class ContentEnded(DomainError):
    """New content for a case whose content has ended (its key is destroyed)."""

    def __init__(self):
        super().__init__("content_ended")


class NotSealed(LookupError):
    """``forget_field``: no sealed field at that version and path (unknown, or stored in clear before encryption)."""


# -- field paths ----------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def _parts(pattern: str) -> tuple[str, ...]:
    return tuple(pattern.split("."))


def _slots(state: dict, pattern: str):
    """(container, key, path) of every place under ``pattern`` in ``state`` (a value may be set in place)."""
    parts = _parts(pattern)
    nodes = [(state, ())]
    for depth, part in enumerate(parts):
        last, nxt = depth == len(parts) - 1, []
        for node, path in nodes:
            if part == "*":
                keys = node.keys() if isinstance(node, dict) else range(len(node)) if isinstance(node, list) else ()
            else:
                keys = (part,) if isinstance(node, dict) and part in node else ()
            for key in keys:
                if last:
                    yield node, key, (*path, key)
                else:
                    nxt.append((node[key], (*path, key)))
        nodes = nxt


def _case_slots(topic: str, state: dict):
    """``_slots`` of every content field of a stored case event (none for other topics)."""
    if topic.startswith(CASE_TOPIC):
        for pattern in CONTENT.get(topic[len(CASE_TOPIC):], ()):
            yield from _slots(state, pattern)


def _get(state, path: tuple):
    for key in path:
        state = state[key]
    return state


def _set(state: dict, path: tuple, value) -> None:
    """Set in place; the containers along ``path`` must be copies already (``_copied``)."""
    _get(state, path[:-1])[path[-1]] = value


def _copied(state: dict, paths) -> dict:
    """``state`` with every container along ``paths`` copied (a domain event's own dicts stay as they were)."""
    done = {(): dict(state)}
    for path in paths:
        for depth in range(1, len(path)):
            prefix = path[:depth]
            if prefix not in done:
                node = _get(done[prefix[:-1]], prefix[-1:])
                done[prefix] = copy = list(node) if isinstance(node, list) else dict(node)
                done[prefix[:-1]][prefix[-1]] = copy
    return done[()]


def path_name(path: tuple) -> str:
    return ".".join(str(k) for k in path)


def _parse_path(name: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in name.split("."))


# -- crypto -------------------------------------------------------------------------------------


def _seal(key: bytes, plaintext: bytes, aad: str) -> bytes:
    nonce = os.urandom(GCM_NONCE)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad.encode())


def _unseal(key: bytes, sealed: bytes, aad: str) -> bytes:
    return AESGCM(key).decrypt(sealed[:GCM_NONCE], sealed[GCM_NONCE:], aad.encode())


def _encrypt(key: bytes, plaintext: bytes, aad: str) -> str:
    return base64.b64encode(_seal(key, plaintext, aad)).decode()


def _decrypt(key: bytes, sealed: str, aad: str) -> bytes:
    return _unseal(key, base64.b64decode(sealed), aad)


def _field_aad(case_id: UUID, version: int, path: str) -> str:
    # a field opens only where it was written: another event, case or path is another aad
    return f"peluit-content:{case_id}:{version}:{path}"


def _item_aad(case_id: UUID, item_id: str) -> str:
    return f"peluit-item:{case_id}:{item_id}"


def _case_aad(case_id: UUID) -> str:
    return f"peluit-case:{case_id}"


# -- the keys ---------------------------------------------------------------------------------------

ENDED = object()  # a case key's state once its content has ended


class ContentKeys:
    """Wrapped case and item keys (in the cases database, or in memory) under
    the KEK ``keyring``. Unwrapped case keys are cached (bounded, ``ttl``):
    item keys never are, so a forgotten field is gone on the next load."""

    def __init__(self, keyring: Keyring | Callable[[], Keyring], cache_size: int = 20_000, ttl: float = 60.0):
        # a loader is called on first use: a migration creates the tables without the KEK file
        self._keyring = keyring
        self.cache_size, self.ttl = cache_size, ttl
        self._cache: OrderedDict[UUID, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def keyring(self) -> Keyring:
        if not isinstance(self._keyring, Keyring):
            self._keyring = self._keyring()
        return self._keyring

    @keyring.setter
    def keyring(self, value: Keyring) -> None:
        self._keyring = value

    # storage, by subclass
    def _case_row(self, case_id: UUID) -> tuple[str | None, bytes | None] | None:
        raise NotImplementedError

    def _insert_case(self, case_id: UUID, kek: str, wrapped: bytes) -> None:
        raise NotImplementedError

    def _items(self, wanted: dict[UUID, list[str]]) -> dict[str, bytes | None]:
        raise NotImplementedError

    def add_items(self, rows: list[tuple]) -> None:
        """(item_id, case_id, version, path, wrapped) each."""
        raise NotImplementedError

    def forget(self, case_id: UUID, version: int, path: str) -> int:
        raise NotImplementedError

    def end(self, case_id: UUID, at: datetime) -> bool:
        raise NotImplementedError

    def drop_snapshots(self, case_id: UUID) -> None:
        raise NotImplementedError

    def snapshot_usable(self, snapshot) -> bool:
        return True  # PostgreSQL: a dropped snapshot is deleted

    def epoch(self, case_id: UUID) -> tuple:
        """Changes whenever a field of the case is forgotten or its content ends (``take_snapshot``)."""
        raise NotImplementedError

    # the case key
    def case_key(self, case_id: UUID, create: bool = False):
        """The unwrapped case key, ``ENDED``, or None (no content yet and not ``create``)."""
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(case_id)
            if hit is not None and (hit[1] is ENDED or now - hit[0] < self.ttl):
                self._cache.move_to_end(case_id)
                return hit[1]
        row = self._case_row(case_id)
        if row is None and create:
            key = os.urandom(KEY_BYTES)
            self._insert_case(case_id, self.keyring.current_id, wrap_key(self.keyring.current, _case_aad(case_id), key))
            row = self._case_row(case_id)  # another writer may have won: use its key
        if row is None:
            return None
        kek, wrapped = row
        key = ENDED if wrapped is None else unwrap_key(self.keyring.get(kek), _case_aad(case_id), wrapped)
        self._remember(case_id, key, now)
        return key

    def _remember(self, case_id: UUID, key, now: float) -> None:
        with self._lock:
            self._cache[case_id] = (now, key)
            self._cache.move_to_end(case_id)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)

    def item_keys(self, wanted: dict[UUID, list[str]], wrapped: dict[str, bytes | None] | None = None
                  ) -> dict[str, bytes]:
        """Unwrapped item keys by item id, for {case: [item id]}; a forgotten one or one of an ended case is
        absent. ``wrapped``: the wrapped keys, read already (``PgContentKeys.select_events``)."""
        wrapped = self._items(wanted) if wrapped is None else wrapped
        out = {}
        for case_id, ids in wanted.items():
            case_key = self.case_key(case_id)
            if case_key is None or case_key is ENDED:
                continue
            cipher = AESGCM(case_key)  # once per case: a replay unwraps many item keys under it
            for item_id in ids:
                sealed = wrapped.get(item_id)
                if sealed is not None:
                    try:
                        out[item_id] = cipher.decrypt(sealed[:GCM_NONCE], sealed[GCM_NONCE:],
                                                      _item_aad(case_id, item_id).encode())
                    except InvalidTag:
                        continue  # a stale cached case key (ended meanwhile): unavailable, like the rest
        return out

    def forget_cached(self, case_id: UUID) -> None:
        with self._lock:
            self._cache.pop(case_id, None)


class MemoryContentKeys(ContentKeys):
    """For the in-memory event store (unit tests): the same rules in dicts."""

    def __init__(self, keyring: Keyring | None = None, **kwargs):
        super().__init__(keyring or Keyring([os.urandom(KEY_BYTES)]), **kwargs)
        self.cases: dict[UUID, list] = {}
        self.items: dict[str, list] = {}
        self.snapshots_dropped: dict[UUID, datetime] = {}

    def _case_row(self, case_id):
        row = self.cases.get(case_id)
        return None if row is None else (row[0], row[1])

    def _insert_case(self, case_id, kek, wrapped):
        self.cases.setdefault(case_id, [kek, wrapped, None])

    def _items(self, wanted):
        return {i: self.items[i][3] for ids in wanted.values() for i in ids if i in self.items}

    def add_items(self, rows):
        for item_id, case_id, version, path, wrapped in rows:
            self.items[item_id] = [case_id, version, path, wrapped]

    def forget(self, case_id, version, path):
        hits = [r for r in self.items.values() if r[:3] == [case_id, version, path] and r[3] is not None]
        for row in hits:
            row[3] = None
        return len(hits)

    def end(self, case_id, at):
        row = self.cases.setdefault(case_id, [None, None, None])
        if row[2] is not None:
            return False
        row[:] = [None, None, at]
        for item in self.items.values():
            if item[0] == case_id:
                item[3] = None
        self.forget_cached(case_id)
        return True

    def drop_snapshots(self, case_id):
        self.snapshots_dropped[case_id] = datetime.now(timezone.utc)  # the in-memory store deletes nothing

    def snapshot_usable(self, snapshot):
        dropped = self.snapshots_dropped.get(snapshot.originator_id)
        return dropped is None or snapshot.timestamp > dropped

    def epoch(self, case_id):
        forgotten = sum(1 for r in self.items.values() if r[0] == case_id and r[3] is None)
        return forgotten, (self.cases.get(case_id) or [None] * 3)[2]


SCHEMA = """
CREATE TABLE IF NOT EXISTS {schema}.content_case_key (
    case_id uuid PRIMARY KEY,
    kek_id text,             -- null once the content ended
    wrapped bytea,           -- nonce || AES-256-GCM(KEK, case key); null once the content ended
    created_at timestamptz NOT NULL DEFAULT now(),
    ended_at timestamptz
);
CREATE TABLE IF NOT EXISTS {schema}.content_item_key (
    item_id text PRIMARY KEY,  -- named in the sealed field
    case_id uuid NOT NULL,
    version bigint NOT NULL,   -- of the event that wrote the field
    path text NOT NULL,
    wrapped bytea,             -- nonce || AES-256-GCM(case key, item key); null once forgotten
    forgotten_at timestamptz
);
CREATE INDEX IF NOT EXISTS content_item_key_case ON {schema}.content_item_key (case_id, version);
"""


class PgContentKeys(ContentKeys):
    """The wrapped keys in the cases database, beside the event store (its pool)."""

    def __init__(self, datastore, keyring, create_tables: bool = False, **kwargs):
        super().__init__(keyring, **kwargs)
        from psycopg import sql

        self.datastore, self.sql = datastore, sql
        self.schema = sql.Identifier(datastore.schema)
        self._select = None
        if create_tables:
            with datastore.transaction(commit=True) as cur:
                cur.execute("SELECT to_regclass(%s) IS NULL AS first", (f'"{datastore.schema}".content_case_key',))
                first = cur.fetchone()["first"]
                cur.execute(self._q(SCHEMA))
                if first and self._exists(cur, "cases_snapshots"):
                    # the upgrade: case snapshots taken before hold content in clear; a cache, not chained,
                    # so they go (the next ones are sealed). Events stay as they were (docs/operations.md).
                    cur.execute(self._q("DELETE FROM {schema}.cases_snapshots WHERE "
                                        "position(%s in convert_from(state, 'UTF8')) > 0"), (CASE_AGGREGATE_TOPIC,))

    def _exists(self, cur, table: str) -> bool:
        cur.execute("SELECT to_regclass(%s) IS NOT NULL AS ok", (f'"{self.datastore.schema}".{table}',))
        return cur.fetchone()["ok"]

    def _q(self, text: str, **names):
        return self.sql.SQL(text).format(schema=self.schema, **{k: self.sql.Identifier(v) for k, v in names.items()})

    def _case_row(self, case_id):
        with self.datastore.transaction() as cur:
            cur.execute(self._q("SELECT kek_id, wrapped FROM {schema}.content_case_key WHERE case_id = %s"), (case_id,))
            row = cur.fetchone()
        return None if row is None else (row["kek_id"], row["wrapped"] and bytes(row["wrapped"]))

    def _insert_case(self, case_id, kek, wrapped):
        with self.datastore.transaction(commit=True) as cur:
            cur.execute(self._q("INSERT INTO {schema}.content_case_key (case_id, kek_id, wrapped) VALUES (%s, %s, %s) "
                                "ON CONFLICT (case_id) DO NOTHING"), (case_id, kek, wrapped))

    def _items(self, wanted):
        ids = [i for found in wanted.values() for i in found]
        with self.datastore.transaction() as cur:
            cur.execute(self._q("SELECT item_id, wrapped FROM {schema}.content_item_key WHERE item_id = ANY(%s)"),
                        (ids,))
            return {r["item_id"]: r["wrapped"] and bytes(r["wrapped"]) for r in cur.fetchall()}

    def add_items(self, rows):
        with self.datastore.transaction(commit=True) as cur:
            cur.execute(self._q(
                "INSERT INTO {schema}.content_item_key (item_id, case_id, version, path, wrapped) "
                "SELECT * FROM unnest(%s::text[], %s::uuid[], %s::bigint[], %s::text[], %s::bytea[])"),
                [list(column) for column in zip(*rows)])

    def forget(self, case_id, version, path):
        with self.datastore.transaction(commit=True) as cur:
            cur.execute(self._q("UPDATE {schema}.content_item_key SET wrapped = NULL, forgotten_at = now() "
                                "WHERE case_id = %s AND version = %s AND path = %s AND wrapped IS NOT NULL"),
                        (case_id, version, path))
            forgotten = cur.rowcount
            # with the tombstone, atomically: a snapshot writer sees both or neither (``take_snapshot``)
            cur.execute(self._q("DELETE FROM {schema}.cases_snapshots WHERE originator_id = %s"), (case_id,))
            return forgotten

    def epoch(self, case_id):
        with self.datastore.transaction() as cur:
            cur.execute(self._q(
                "SELECT (SELECT count(*) FROM {schema}.content_item_key WHERE case_id = %(id)s AND wrapped IS NULL)"
                " AS forgotten, (SELECT ended_at FROM {schema}.content_case_key WHERE case_id = %(id)s) AS ended"),
                {"id": case_id})
            row = cur.fetchone()
        return row["forgotten"], row["ended"]

    def end(self, case_id, at):
        with self.datastore.transaction(commit=True) as cur:
            cur.execute(self._q(
                "INSERT INTO {schema}.content_case_key AS k (case_id, ended_at) VALUES (%s, %s) "
                "ON CONFLICT (case_id) DO UPDATE SET kek_id = NULL, wrapped = NULL, ended_at = EXCLUDED.ended_at "
                "WHERE k.ended_at IS NULL RETURNING case_id"), (case_id, at))
            ended = cur.fetchone() is not None
            # the item keys are useless without the case key; gone too, so no copy of them outlives it
            cur.execute(self._q("DELETE FROM {schema}.content_item_key WHERE case_id = %s"), (case_id,))
        self.forget_cached(case_id)
        return ended

    def drop_snapshots(self, case_id):
        with self.datastore.transaction(commit=True) as cur:
            cur.execute(self._q("DELETE FROM {schema}.cases_snapshots WHERE originator_id = %s"), (case_id,))

    def select_events(self, recorder, case_id, gt: int | None, lte: int | None):
        """(stored events, {item id: wrapped key}) of one aggregate in one round trip: a load
        costs no more statements than without content encryption."""
        if self._select is None:
            self._select = self._q(
                "SELECT originator_version AS v, topic, state, NULL AS item_id, NULL AS wrapped "
                "FROM {schema}.{events} WHERE originator_id = %(id)s AND originator_version > %(gt)s "
                "AND originator_version <= %(lte)s UNION ALL "
                "SELECT version, NULL, NULL, item_id, wrapped FROM {schema}.content_item_key "
                "WHERE case_id = %(id)s AND version > %(gt)s AND version <= %(lte)s AND wrapped IS NOT NULL "
                "ORDER BY 1", events=recorder.events_table_name)
        events, wrapped = [], {}
        with self.datastore.get_connection() as conn, conn.cursor() as cur:
            cur.execute(self._select, {"id": case_id, "gt": 0 if gt is None else gt,
                                       "lte": MAX_VERSION if lte is None else lte}, prepare=True)
            for row in cur.fetchall():
                if row["item_id"] is None:
                    events.append(StoredEvent(originator_id=case_id, originator_version=row["v"],
                                              topic=row["topic"], state=bytes(row["state"])))
                else:
                    wrapped[row["item_id"]] = bytes(row["wrapped"])
        return events, wrapped

    def rewrap(self, batch: int = 500) -> int:
        """Re-wrap every live case key held under an older KEK of the keyring with
        the current one (batches locked ``FOR UPDATE SKIP LOCKED``; the service
        keeps running). Only the 32-byte case keys are touched, never an item key
        or an event. Keys under a KEK missing from the keyring stay (``pending``)."""
        old = [k for k in self.keyring.ids if k != self.keyring.current_id]
        total = 0
        while old:
            with self.datastore.transaction(commit=True) as cur:
                cur.execute(self._q("SELECT case_id, kek_id, wrapped FROM {schema}.content_case_key "
                                    "WHERE kek_id = ANY(%s) AND wrapped IS NOT NULL LIMIT %s FOR UPDATE SKIP LOCKED"),
                            (old, batch))
                rows = cur.fetchall()
                if not rows:
                    break
                updates = []
                for row in rows:
                    aad = _case_aad(row["case_id"])
                    key = unwrap_key(self.keyring.get(row["kek_id"]), aad, bytes(row["wrapped"]))  # loud if altered
                    updates.append((self.keyring.current_id, wrap_key(self.keyring.current, aad, key), row["case_id"]))
                cur.executemany(self._q("UPDATE {schema}.content_case_key SET kek_id = %s, wrapped = %s "
                                        "WHERE case_id = %s"), updates)
            total += len(rows)
        return total

    def pending(self) -> dict[str, int]:
        """Live case keys not under the current KEK, by KEK id (ids only, never keys)."""
        with self.datastore.transaction() as cur:
            cur.execute(self._q("SELECT kek_id, count(*) AS n FROM {schema}.content_case_key "
                                "WHERE wrapped IS NOT NULL AND kek_id <> %s GROUP BY kek_id"),
                        (self.keyring.current_id,))
            return {r["kek_id"]: r["n"] for r in cur.fetchall()}


# -- the mapper and the store ---------------------------------------------------------------------


class ContentMapper(Mapper):
    """The library's mapper, sealing the content fields of case events (item
    keys) and the state of case snapshots (the case key)."""

    def __init__(self, transcoder, keys: ContentKeys | None = None):
        super().__init__(transcoder)
        self.keys = keys

    # -- in --
    def to_stored_event(self, domain_event) -> StoredEvent:
        pending: list[tuple] = []
        stored = self.seal(domain_event, pending)
        if pending:
            self.keys.add_items(pending)
        return stored

    def seal(self, domain_event, pending: list[tuple]) -> StoredEvent:
        """The stored event, its new item keys appended to ``pending`` (stored before the event)."""
        topic = get_topic(type(domain_event))
        state = dict(vars(domain_event))
        case_id, version = state.pop("originator_id"), state.pop("originator_version")
        class_version = getattr(type(domain_event), "class_version", 1)
        if class_version > 1:
            state["class_version"] = class_version
        if topic.startswith(CASE_TOPIC):
            state = self._seal_fields(topic, case_id, version, state, pending)
        elif topic == SNAPSHOT_TOPIC and state.get("topic") == CASE_AGGREGATE_TOPIC:
            key = self._live_key(case_id)
            plain = self.transcoder.encode(state["state"])
            state["state"] = {SEALED: "snapshot", "c": _encrypt(key, plain, _field_aad(case_id, version, "snapshot"))}
        return StoredEvent(originator_id=case_id, originator_version=version, topic=topic,
                           state=self.transcoder.encode(state))

    def _live_key(self, case_id: UUID) -> bytes:
        key = self.keys.case_key(case_id, create=True)
        if key is ENDED:
            raise ContentEnded()
        return key

    def _seal_fields(self, topic: str, case_id: UUID, version: int, state: dict, pending: list) -> dict:
        paths = [path for node, key, path in _case_slots(topic, state) if isinstance(node[key], str)]
        if not paths:
            return state
        case_key = self._live_key(case_id)
        state = _copied(state, paths)
        for path in paths:
            item_id, item_key, where = uuid4().hex, os.urandom(KEY_BYTES), path_name(path)
            value = _encrypt(item_key, _get(state, path).encode(), _field_aad(case_id, version, where))
            _set(state, path, {SEALED: item_id, "c": value})
            pending.append((item_id, case_id, version, where, wrap_key(case_key, _item_aad(case_id, item_id), item_key)))
        return state

    # -- out --
    def to_domain_event(self, stored_event: StoredEvent):
        return self.to_domain_events([stored_event])[0]

    def to_domain_events(self, stored_events, content: bool = True, wrapped: dict | None = None) -> list:
        """Domain events, their content opened with one key query for all of
        them (none when ``wrapped``, the wrapped item keys, came with the events);
        ``content=False``: every content field reads ``UNAVAILABLE`` and no key
        is read (what only needs the skeleton: envelopes, timelines)."""
        decoded = [(s, resolve_topic(s.topic), self._decode(s)) for s in stored_events]
        sealed: dict[UUID, list] = {}  # case -> [(container, key, path, version, marker)]
        clear: set[UUID] = set()  # cases with fields stored before encryption
        for stored, cls, state in decoded:
            case_id = stored.originator_id
            for node, key, path in _case_slots(stored.topic, state):
                value = node[key]
                if not content and isinstance(value, (str, dict)):
                    node[key] = UNAVAILABLE
                elif isinstance(value, dict) and SEALED in value:
                    sealed.setdefault(case_id, []).append((node, key, path, stored.originator_version, value))
                elif isinstance(value, str):
                    clear.add(case_id)
        if not content:
            return [self._finish(stored, cls, state) for stored, cls, state in decoded]
        wanted = {c: [f[4][SEALED] for f in fields] for c, fields in sealed.items()}
        keys = self.keys.item_keys(wanted, wrapped) if wanted else {}
        for case_id, fields in sealed.items():
            for node, key, path, version, marker in fields:
                item_key = keys.get(marker[SEALED])
                node[key] = UNAVAILABLE if item_key is None else _decrypt(
                    item_key, marker["c"], _field_aad(case_id, version, path_name(path))).decode()
        for case_id in clear:
            if self.keys.case_key(case_id) is ENDED:  # in clear from before encryption, but ended
                for stored, _, state in decoded:
                    if stored.originator_id == case_id:
                        for node, key, _ in _case_slots(stored.topic, state):
                            node[key] = UNAVAILABLE
        return [self._finish(stored, cls, state) for stored, cls, state in decoded]

    def _decode(self, stored: StoredEvent) -> dict:
        try:
            state = self.transcoder.decode(stored.state)
        except Exception as e:
            raise MapperDeserialisationError(f"Failed to deserialise stored event {stored.topic} "
                                             f"{stored.originator_id} v{stored.originator_version}: {e}") from e
        if stored.topic == SNAPSHOT_TOPIC and isinstance(state.get("state"), dict) and SEALED in state["state"]:
            state["state"] = self._open_snapshot(stored, state["state"])
        return state

    def _open_snapshot(self, stored: StoredEvent, sealed: dict):
        key = self.keys.case_key(stored.originator_id)
        if key is None or key is ENDED:
            return None  # unusable: the store skips it and the case loads from its events
        plain = _decrypt(key, sealed["c"], _field_aad(stored.originator_id, stored.originator_version, "snapshot"))
        return self.transcoder.decode(plain)

    def _finish(self, stored: StoredEvent, cls, state: dict):
        """The rest of ``Mapper.to_domain_event`` (eventsourcing 9.5): ids, upcasting, the object."""
        state["originator_id"] = find_id_convertor(cls, type(stored.originator_id))(stored.originator_id)
        state["originator_version"] = stored.originator_version
        class_version = getattr(cls, "class_version", 1)
        from_version = state.pop("class_version", 1)
        while from_version < class_version:
            getattr(cls, f"upcast_v{from_version}_v{from_version + 1}")(state)
            from_version += 1
        event = object.__new__(cls)
        object.__setattr__(event, "__dict__", state)
        return event


class ContentStore(EventStore):
    """The library's event store over ``ContentMapper``: a save stores its
    item keys in one statement before its events; a load opens its events'
    content with one key query (on PostgreSQL, ``with_keys``: in the events'
    own statement). Snapshots whose key is gone are skipped."""

    def __init__(self, mapper: ContentMapper, recorder, with_keys: bool = False):
        super().__init__(mapper, recorder)
        self.with_keys = with_keys

    def put(self, domain_events, **kwargs) -> list:
        pending: list[tuple] = []
        stored_events = [self.mapper.seal(e, pending) for e in domain_events]
        if pending:
            # before the events, in its own transaction: a conflict leaves keys no event uses (harmless)
            self.mapper.keys.add_items(pending)
        ids = self.recorder.insert_events(stored_events, **kwargs)
        if not ids:
            return []
        return [Recording(d, Notification(originator_id=s.originator_id, originator_version=s.originator_version,
                                          topic=s.topic, state=s.state, id=n))
                for d, s, n in zip(domain_events, stored_events, ids, strict=True)]

    def get(self, originator_id, *, gt=None, lte=None, desc=False, limit=None):
        wrapped = None
        if self.with_keys and not desc and limit is None:
            stored, wrapped = self.mapper.keys.select_events(self.recorder, originator_id, gt, lte)
        else:
            stored = self.recorder.select_events(originator_id=originator_id, gt=gt, lte=lte, desc=desc, limit=limit)
        events = self.mapper.to_domain_events(stored, wrapped=wrapped)
        return iter([e for e in events if not (isinstance(e, Snapshot) and not self._usable(e))])

    def _usable(self, snapshot) -> bool:
        return snapshot.state is not None and self.mapper.keys.snapshot_usable(snapshot)


# -- the seam: forgetting one field, ending a case's content -----------------------------------------


def forget_field(app, case_id: UUID, version: int, path: str) -> None:
    """Destroy the item key of one content field written by the case's event
    at ``version`` (``path`` as in ``CONTENT``: ``"text"``, ``"report.what"``,
    ``"recommendations.0.details"``) and drop the case's snapshots, so that no
    snapshot holds it: afterwards the field reads as ``UNAVAILABLE`` on every
    load. ``NotSealed`` when no sealed field is there (a wrong path, or an event
    stored in clear before content encryption).

    A snapshot another instance was taking meanwhile (from a load before
    this call) is dropped by that instance: ``CasesApplication.take_snapshot``
    compares ``ContentKeys.epoch`` before and after."""
    keys: ContentKeys = app.mapper.keys
    if keys.forget(case_id, version, path) == 0:
        raise NotSealed(f"no sealed content at {case_id} v{version} {path}")
    keys.drop_snapshots(case_id)


def end_case_content(app, case_id: UUID, at: datetime) -> bool:
    """Retention: destroy the case key (and every item key under it), drop
    the snapshots; the case's content reads ``UNAVAILABLE`` everywhere from
    now on. False when it had ended already. (The ``ContentEnded`` history
    event and the evidence copies: ``retention.end_content``.)"""
    keys: ContentKeys = app.mapper.keys
    ended = keys.end(case_id, at)
    keys.drop_snapshots(case_id)
    return ended


def evidence_path(evidence_id) -> str:
    """The path of a stripped evidence copy (its item key's ``version`` is 0: no event wrote it)."""
    return f"evidence/{evidence_id}"


def seal_blob(app, case_id: UUID, evidence_id, data: bytes) -> tuple[str, bytes]:
    """(item id, ciphertext) of a stripped evidence copy, under an item key of its
    own (``forget_field(app, case_id, 0, evidence_path(evidence_id))`` destroys it)."""
    keys: ContentKeys = app.mapper.keys
    case_key = app.mapper._live_key(case_id)
    item_id, item_key, where = uuid4().hex, os.urandom(KEY_BYTES), evidence_path(evidence_id)
    sealed = _seal(item_key, data, _field_aad(case_id, 0, where))
    keys.add_items([(item_id, case_id, 0, where, wrap_key(case_key, _item_aad(case_id, item_id), item_key))])
    return item_id, sealed


def open_blob(app, case_id: UUID, evidence_id, item_id: str, sealed: bytes) -> bytes | None:
    """The stripped copy, or None once its key (or the case's) is gone."""
    key = app.mapper.keys.item_keys({case_id: [item_id]}).get(item_id)
    return None if key is None else _unseal(key, sealed, _field_aad(case_id, 0, evidence_path(evidence_id)))


def load_keyring() -> Keyring:
    """The content KEKs: ``PELUIT_CONTENT_KEK_FILE`` (development: ``$PELUIT_KEYS_DIR/content-kek.key``)."""
    return Keyring.from_file("PELUIT_CONTENT_KEK_FILE", "content-kek.key")


def content_ended(app, case_id: UUID) -> bool:
    return app.mapper.keys.case_key(case_id) is ENDED
