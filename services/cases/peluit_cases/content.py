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
  (``peluit-cases rotate-content-kek``).

Wrapped keys live in ``content_case_key`` and ``content_item_key``. Destroying
an item key (``forget_field``) makes one field read as ``UNAVAILABLE``;
destroying the case key (``end_case_content``, the tenant's retention) makes
all of the case's content read so, at once. The hash chain is over the
ciphertext, so nothing stored is ever rewritten. Events stored before this
module existed keep their text in clear; once a case's content has ended
they read as ``UNAVAILABLE`` too (docs/operations.md, "Case content").

Field paths (``CONTENT``): an event attribute's name (``"text"``,
``"reason"``), ``"report.<field>"`` for each text of the report
(``"report.what"``, ``"report.who"``...), ``"recommendations.<n>.details"``;
a stripped evidence copy is ``evidence_path(evidence_id)`` at version 0. A new
event class that carries free text must name its fields in ``CONTENT``, or
its text is stored in clear.
"""

from __future__ import annotations

import base64
import functools
import os
import secrets
from datetime import datetime
from uuid import UUID

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

from peluit_common.keyring import GCM_NONCE, Keyring, wrap_key

from .content_keys import CASE_AGGREGATE_TOPIC, ENDED, KEY_BYTES, ContentKeys, _item_aad
from .domain import CASE_TOPIC, DomainError

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
SEALED = "sealed"  # a sealed snapshot state: {"sealed": "snapshot", "c": base64(nonce || ciphertext)}
# a sealed field: one string, MARK + item id + ":" + base64(nonce || ciphertext); a string is cheaper to parse
# than an object. No text a reporter or officer can send holds a control character (``peluit_contracts.fields``);
# U+0001, not NUL: PostgreSQL's jsonb refuses \u0000, and operators read states as jsonb
MARK = "\x01c1:"


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


@functools.lru_cache(maxsize=4096)
def path_name(path: tuple) -> str:
    return ".".join(str(k) for k in path)


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


def _field_aad(case_id: UUID | str, version: int, path: str) -> str:
    # a field opens only where it was written: another event, case or path is another aad
    return f"peluit-content:{case_id}:{version}:{path}"


def _item_id() -> str:
    return secrets.token_urlsafe(12)  # 96 random bits: unique, and short in every sealed field


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
            item_id, item_key, where = _item_id(), os.urandom(KEY_BYTES), path_name(path)
            value = _encrypt(item_key, _get(state, path).encode(), _field_aad(case_id, version, where))
            _set(state, path, f"{MARK}{item_id}:{value}")
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
                if not isinstance(value, str):
                    continue
                if not content:
                    node[key] = UNAVAILABLE
                elif value.startswith(MARK):
                    item_id, _, sealed_text = value[len(MARK):].partition(":")
                    sealed.setdefault(case_id, []).append((node, key, path, stored.originator_version, item_id,
                                                           sealed_text))
                else:
                    clear.add(case_id)
        if not content:
            return [self._finish(stored, cls, state) for stored, cls, state in decoded]
        wanted = {c: [f[4] for f in fields] for c, fields in sealed.items()}
        keys = self.keys.item_keys(wanted, wrapped) if wanted else {}
        for case_id, fields in sealed.items():
            case = str(case_id)  # once: a UUID's str is not free
            for node, key, path, version, item_id, sealed_text in fields:
                item_key = keys.get(item_id)
                node[key] = UNAVAILABLE if item_key is None else _decrypt(
                    item_key, sealed_text, _field_aad(case, version, path_name(path))).decode()
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
    item_id, item_key, where = _item_id(), os.urandom(KEY_BYTES), evidence_path(evidence_id)
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
