"""The byte encodings that Peluit's hash-chained logs hash and sign.

Shared by the services, which compute ``event_hash`` in a PostgreSQL trigger
(``peluit_common.chain``: the cases event store, the vault's disclosure log
and ``vault_audit``) and sign checkpoints, and the offline verifier
``peluit-verify``, which recomputes both. Each field is
length-prefixed (8-byte big-endian length, then the bytes) after a versioned
domain tag, so no two different field tuples can encode to the same bytes.
The standard library and ``cryptography`` only: auditors install it on
their own machines.
"""

from __future__ import annotations

import hashlib
import struct
from datetime import datetime, timezone
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

EVENT_TAG = b"peluit-event/1"
CHECKPOINT_TAG = b"peluit-checkpoint/1"
ZERO_HASH = bytes(32)
BUNDLE_FORMAT = "peluit-audit-bundle/1"  # what ``peluit-cases`` / ``peluit-vault export-bundle`` write, the verifier reads


def _field(value: bytes) -> bytes:
    return struct.pack(">q", len(value)) + value


def _int8(value: int) -> bytes:
    return struct.pack(">q", value)


def event_hash(prev_log_hash: bytes, prev_aggregate_hash: bytes, notification_id: int, originator_id: UUID | str,
               originator_version: int, topic: str | None, state: bytes | None) -> bytes:
    """sha256 over the tag and the length-prefixed fields; a NULL topic or
    state (never written by eventsourcing) counts as empty."""
    oid = originator_id if isinstance(originator_id, UUID) else UUID(str(originator_id))
    data = b"".join([
        _field(EVENT_TAG), _field(prev_log_hash), _field(prev_aggregate_hash), _field(_int8(notification_id)),
        _field(oid.bytes), _field(_int8(originator_version)), _field((topic or "").encode("utf-8")),
        _field(state or b""),
    ])
    return hashlib.sha256(data).digest()


EVENT_TAG_V2 = b"peluit-event/2"  # hash_version 2: the content enters as a digest


def content_digest(topic: str | None, state: bytes | None) -> bytes:
    """What of an event's content hash version 2 commits to: a case bundle can
    carry it for other cases' events without their content."""
    return hashlib.sha256(_field((topic or "").encode("utf-8")) + _field(state or b"")).digest()


def event_hash_v2(prev_log_hash: bytes, prev_aggregate_hash: bytes, notification_id: int,
                  originator_id: UUID | str, originator_version: int, digest: bytes) -> bytes:
    """Version 2: like ``event_hash`` with ``content_digest`` in place of topic and
    state, so anyone can recompute it from (ids, version, digest): an event moved to
    another aggregate no longer matches its hash in any bundle."""
    oid = originator_id if isinstance(originator_id, UUID) else UUID(str(originator_id))
    data = b"".join([
        _field(EVENT_TAG_V2), _field(prev_log_hash), _field(prev_aggregate_hash), _field(_int8(notification_id)),
        _field(oid.bytes), _field(_int8(originator_version)), _field(digest),
    ])
    return hashlib.sha256(data).digest()


RECORD_TAG = b"peluit-record/1"  # hash version 3: a row of a plain table (the vault's ``vault_audit``)


def _text(value: str | None) -> bytes:
    """A text field; NULL has length -1, so it differs from the empty string."""
    return _int8(-1) if value is None else _field(value.encode("utf-8"))


def record_digest(values) -> bytes:
    """What a record's hash commits to: its fields as the log renders them to text, in order."""
    return hashlib.sha256(b"".join(_text(v) for v in values)).digest()


def record_hash(log: str, prev_log_hash: bytes, position: int, digest: bytes) -> bytes:
    """Version 3: a row of the table ``log`` at id ``position``, linked to the row before it.
    The table's name is hashed too, so a row cannot move to another chained table."""
    data = b"".join([_field(RECORD_TAG), _field(log.encode("utf-8")), _field(prev_log_hash),
                     _field(_int8(position)), _field(digest)])
    return hashlib.sha256(data).digest()


def checkpoint_message(position: int, head_hash: bytes, signed_at: str, key_id: str) -> bytes:
    """What a checkpoint's Ed25519 signature covers. ``signed_at`` is the
    exact ISO-8601 text stored in the bundle (see ``format_time``)."""
    return b"".join([_field(CHECKPOINT_TAG), _field(_int8(position)), _field(head_hash),
                     _field(signed_at.encode("ascii")), _field(key_id.encode("ascii"))])


def key_id(public_key: bytes) -> str:
    """Short name of a checkpoint key, so that rotated keys can coexist."""
    return hashlib.sha256(public_key).hexdigest()[:16]


def format_time(moment: datetime) -> str:
    """UTC, always with microseconds: the same text on signing and on export."""
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


class CheckpointSigner:
    """Signs checkpoints with an Ed25519 key (32 raw private bytes); where the
    key comes from is the caller's business (cases reads it from a file)."""

    def __init__(self, private_key_32: bytes):
        if len(private_key_32) != 32:
            raise ValueError("an Ed25519 private key is 32 bytes")
        self._key = Ed25519PrivateKey.from_private_bytes(bytes(private_key_32))
        self.public_key = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.key_id = key_id(self.public_key)

    def sign(self, position: int, head_hash: bytes, signed_at: datetime) -> bytes:
        return self._key.sign(checkpoint_message(position, head_hash, format_time(signed_at), self.key_id))
