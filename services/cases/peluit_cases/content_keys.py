"""The wrapped keys of case content (``content``): a case key per case, under
the KEK file's current key; an item key per text, under its case key. Held in
the cases database (``content_case_key``, ``content_item_key``) or, for the
in-memory event store, in dicts. Unwrapped case keys are cached (bounded,
``ttl``); item keys never are, so a forgotten field is gone on the next load.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from datetime import datetime, timezone
from typing import Any, Callable
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from peluit_common.keyring import GCM_NONCE, Keyring, unwrap_key, wrap_key

from .domain import Case

KEY_BYTES = 32
MAX_VERSION = 2**62
CASE_AGGREGATE_TOPIC = get_topic(Case)


def _item_aad(case_id: UUID | str, item_id: str) -> str:
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
            cipher, case = AESGCM(case_key), str(case_id)  # once per case: a replay unwraps many item keys
            for item_id in ids:
                sealed = wrapped.get(item_id)
                if sealed is not None:
                    try:
                        out[item_id] = cipher.decrypt(sealed[:GCM_NONCE], sealed[GCM_NONCE:],
                                                      _item_aad(case, item_id).encode())
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
