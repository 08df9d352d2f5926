"""Checks an audit bundle: every hash, both chains, every checkpoint.

Pure: a dict in, a ``Report`` out. No database, no network.

Bundle (``peluit-audit-bundle/1``)::

    {"format": "peluit-audit-bundle/1", "created_at": "...",
     "scope": {"kind": "log"} | {"kind": "case", "case_id": "...", "aggregates": ["<uuid>", ...]},
     "genesis": true,           # the events start at the first event of the log
     "public_keys": {"<key id>": "<hex Ed25519 public key>"},
     "checkpoints": [{"position", "head_hash", "signed_at", "key_id", "signature"}],
     "events": [{"notification_id", "prev_log_hash", "event_hash", "hash_version" (2; absent: 1),
                 # full events (stubs of other cases leave these out):
                 "originator_id", "originator_version", "topic", "state" (base64), "prev_aggregate_hash",
                 # stubs of hash version 2 instead of topic and state:
                 "content_digest"}]}

A log of records (the vault's ``vault_audit``) has ``"fields": [names]`` in
its scope, next to ``"log": "<table>"``, and every event is hash version 3
with ``"record": [text or null, ...]`` (``peluit_chain.record_hash``): no
aggregates, only the log chain.

Hash version 2 (``peluit_chain.event_hash_v2``) commits to the content through
its digest, so every version-2 event is recomputed, stubs included: an event
moved from one case to another no longer matches its hash in either bundle. A
version-1 event after a version-2 one is a downgrade.

Hashes and signatures are hex. Events are in notification-id order; ids may
have gaps (a PostgreSQL sequence), so the chain, not id contiguity, shows a
deleted event.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from uuid import UUID

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from peluit_chain import BUNDLE_FORMAT as FORMAT
from peluit_chain import (
    ZERO_HASH,
    checkpoint_message,
    content_digest,
    event_hash,
    event_hash_v2,
    key_id,
    record_digest,
    record_hash,
)


class BundleError(ValueError):
    """The document is not a readable bundle (not: the bundle shows tampering)."""


@dataclass(frozen=True)
class Problem:
    kind: str  # altered | missing | inserted | reordered | aggregate_chain | signature | checkpoint_head | no_checkpoint
    position: int  # notification id where it shows (for sorting: the first problem is the lowest)
    id: str  # Bahasa Indonesia
    en: str

    def text(self) -> str:
        return f"{self.id} / {self.en}"


@dataclass
class Report:
    events: int = 0
    full_events: int = 0
    checkpoints: int = 0
    head: dict | None = None  # the newest checkpoint
    log: str | None = None  # the scope's log, when the bundle names it
    problems: list[Problem] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.problems

    def first(self) -> Problem | None:
        return min(self.problems, key=lambda p: p.position) if self.problems else None


def _hex(value, what: str, size: int | None = 32) -> bytes:
    try:
        raw = bytes.fromhex(value)
    except (TypeError, ValueError):
        raise BundleError(f"{what}: not hex") from None
    if size is not None and len(raw) != size:
        raise BundleError(f"{what}: expected {size} bytes")
    return raw


def _int(value, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise BundleError(f"{what}: not an integer")
    return value


@dataclass
class _Event:
    nid: int
    prev_log: bytes
    hash: bytes
    full: bool
    oid: UUID | None = None
    version: int | None = None
    topic: str | None = None
    state: bytes | None = None
    prev_agg: bytes | None = None
    hash_version: int = 1
    digest: bytes | None = None  # a version-2 stub's content digest
    record: list | None = None  # version 3: the row's fields as text
    log: str = ""  # version 3: the table's name

    def recomputed(self) -> bytes | None:
        """The hash from the event's own fields; None when it cannot be (a version-1 stub)."""
        if self.hash_version == 3:
            return record_hash(self.log, self.prev_log, self.nid, record_digest(self.record))
        if self.hash_version == 2:
            digest = content_digest(self.topic, self.state) if self.full else self.digest
            return event_hash_v2(self.prev_log, self.prev_agg, self.nid, self.oid, self.version, digest)
        if self.full:
            return event_hash(self.prev_log, self.prev_agg, self.nid, self.oid, self.version, self.topic, self.state)
        return None

    def name(self) -> tuple[str, str]:
        if self.record is not None:
            return f"baris {self.nid} dari {self.log}", f"row {self.nid} of {self.log}"
        if not self.full:
            return f"notifikasi {self.nid}", f"notification {self.nid}"
        return (f"notifikasi {self.nid} (agregat/kasus {self.oid}, versi {self.version})",
                f"notification {self.nid} (aggregate/case {self.oid}, version {self.version})")


def _parse_event(raw, index: int, log: str | None) -> _Event:
    """``log``: the table's name when the bundle is a log of records (every event is one, version 3)."""
    if not isinstance(raw, dict):
        raise BundleError(f"events[{index}]: not an object")
    where = f"events[{index}]"
    ev = _Event(nid=_int(raw.get("notification_id"), f"{where}.notification_id"),
                prev_log=_hex(raw.get("prev_log_hash"), f"{where}.prev_log_hash"),
                hash=_hex(raw.get("event_hash"), f"{where}.event_hash"), full="state" in raw,
                hash_version=_int(raw.get("hash_version", 1), f"{where}.hash_version"))
    if log is not None:
        record = raw.get("record")
        if ev.hash_version != 3 or not isinstance(record, list) \
                or not all(v is None or isinstance(v, str) for v in record):
            raise BundleError(f"{where}: a log of records holds version-3 records (a list of texts and nulls)")
        ev.full, ev.record, ev.log = True, record, log
        return ev
    if ev.hash_version not in (1, 2):
        raise BundleError(f"{where}.hash_version: 1 or 2")
    if not ev.full and ev.hash_version == 2:
        try:
            ev.oid = UUID(str(raw["originator_id"]))
        except (KeyError, ValueError):
            raise BundleError(f"{where}: bad originator_id") from None
        ev.version = _int(raw.get("originator_version"), f"{where}.originator_version")
        ev.prev_agg = _hex(raw.get("prev_aggregate_hash"), f"{where}.prev_aggregate_hash")
        ev.digest = _hex(raw.get("content_digest"), f"{where}.content_digest")
    if ev.full:
        try:
            ev.oid = UUID(str(raw["originator_id"]))
            ev.state = base64.b64decode(raw.get("state") or "", validate=True)
        except (ValueError, binascii.Error):
            raise BundleError(f"{where}: bad originator_id or state") from None
        ev.version = _int(raw.get("originator_version"), f"{where}.originator_version")
        ev.topic = raw.get("topic")
        if ev.topic is not None and not isinstance(ev.topic, str):
            raise BundleError(f"{where}.topic: not a string")
        ev.prev_agg = _hex(raw.get("prev_aggregate_hash"), f"{where}.prev_aggregate_hash")
    return ev


def _load_key(hex_key: str, what: str) -> tuple[str, Ed25519PublicKey]:
    raw = _hex(hex_key, what)
    return key_id(raw), Ed25519PublicKey.from_public_bytes(raw)


def verify_bundle(bundle: dict, trusted_keys: list[bytes] | None = None) -> Report:
    """Check everything; ``trusted_keys`` are public keys the auditor got from
    the Inspektorat through another channel (without them a forged bundle
    with its own key would pass, so the caller should warn)."""
    if not isinstance(bundle, dict) or bundle.get("format") != FORMAT:
        raise BundleError(f"not a {FORMAT} document")
    events_raw, checkpoints_raw = bundle.get("events"), bundle.get("checkpoints")
    keys_raw = bundle.get("public_keys")
    if not isinstance(events_raw, list) or not isinstance(checkpoints_raw, list) or not isinstance(keys_raw, dict):
        raise BundleError("events, checkpoints and public_keys are required")
    scope = bundle.get("scope") or {}
    genesis = bundle.get("genesis") is True
    scoped = {UUID(str(a)) for a in scope.get("aggregates", [])} if scope.get("kind") == "case" else None
    records = "fields" in scope
    if records and not isinstance(scope.get("log"), str):
        raise BundleError("scope.log: a log of records names its table")

    report = Report(log=scope.get("log"))
    problems = report.problems
    events = [_parse_event(e, i, scope["log"] if records else None) for i, e in enumerate(events_raw)]
    report.events, report.full_events = len(events), sum(e.full for e in events)
    by_hash = {e.hash: e for e in events}
    index = {id(e): i for i, e in enumerate(events)}
    linked_to = {e.prev_log for e in events}  # hashes some event links to
    by_nid: dict[int, _Event] = {}
    aggregates: dict[UUID, _Event] = {}  # the last full event seen per aggregate

    previous: _Event | None = None
    for ev in events:
        id_name, en_name = ev.name()
        # 1. the log chain: linked to the event before it?
        expected = previous.hash if previous is not None else (ZERO_HASH if genesis else None)
        if previous is not None and ev.nid <= previous.nid:
            problems.append(Problem("reordered", ev.nid,
                                    f"Urutan berubah: {id_name} muncul setelah notifikasi {previous.nid}",
                                    f"Reordered: {en_name} appears after notification {previous.nid}"))
        elif expected is not None and ev.prev_log != expected:
            linked = by_hash.get(ev.prev_log)
            skipped = events[index[id(linked)] + 1:index[id(ev)]] if linked is not None else []
            if linked is not None and skipped and linked.nid < ev.nid and not any(e.hash in linked_to for e in skipped):
                # the chain goes round rows that no event links to: they were put in afterwards
                for extra in skipped:
                    id_extra, en_extra = extra.name()
                    problems.append(Problem(
                        "inserted", extra.nid,
                        f"Peristiwa disisipkan: {id_extra} tidak ada di rantai ({id_name} dirantai langsung setelah "
                        f"notifikasi {linked.nid})",
                        f"Inserted event: {en_extra} is not in the chain ({en_name} was chained right after "
                        f"notification {linked.nid})"))
            elif linked is not None and linked is not ev:
                problems.append(Problem(
                    "reordered", ev.nid,
                    f"Urutan berubah: {id_name} dirantai setelah notifikasi {linked.nid}, "
                    f"tetapi berada setelah {previous.nid if previous else 'awal log'}",
                    f"Reordered: {en_name} was chained after notification {linked.nid} "
                    f"but stands after {previous.nid if previous else 'the start of the log'}"))
            else:
                after = f"notifikasi {previous.nid}" if previous else "awal log"
                after_en = f"notification {previous.nid}" if previous else "the start of the log"
                problems.append(Problem("missing", ev.nid,
                                        f"Peristiwa hilang sebelum {id_name} (setelah {after})",
                                        f"Missing event(s) before {en_name} (after {after_en})"))
        # 2. the content: does the event still hash to what was chained? (version-2 stubs too)
        recomputed = ev.recomputed()
        if recomputed is not None and recomputed != ev.hash:
            problems.append(Problem("altered", ev.nid, f"Peristiwa diubah: {id_name}", f"Altered event: {en_name}"))
        if previous is not None and previous.hash_version == 2 and ev.hash_version == 1:
            problems.append(Problem("downgraded", ev.nid, f"Versi hash diturunkan di {id_name}",
                                    f"Hash version downgraded at {en_name}"))
        if not ev.full and scoped is not None and ev.oid in scoped:
            problems.append(Problem("missing", ev.nid,
                                    f"Peristiwa kasus ini hanya diberikan sebagai ringkasan: {id_name}",
                                    f"An event of this case is given without its content: {en_name}"))
        if ev.full and ev.record is None:
            # 3. the aggregate's own chain: version after version
            last = aggregates.get(ev.oid)
            if last is not None:
                ok = ev.version == last.version + 1 and ev.prev_agg == last.hash
                detail = (f"versi sebelumnya {last.version} di notifikasi {last.nid}",
                          f"previous version {last.version} at notification {last.nid}")
            elif ev.version == 1:
                ok, detail = ev.prev_agg == ZERO_HASH, ("versi pertama", "first version")
            else:
                # earlier versions must be here when the bundle claims the whole aggregate
                ok = not (genesis or (scoped is not None and ev.oid in scoped))
                detail = ("versi sebelumnya tidak ada", "earlier versions are missing")
            if not ok:
                problems.append(Problem("aggregate_chain", ev.nid,
                                        f"Rantai agregat putus di {id_name}: {detail[0]}",
                                        f"Broken per-aggregate chain at {en_name}: {detail[1]}"))
            aggregates[ev.oid] = ev
        by_nid.setdefault(ev.nid, ev)
        previous = ev

    if scoped is not None:
        for oid in sorted(scoped - set(aggregates), key=str):
            problems.append(Problem("missing", events[0].nid if events else 0,
                                    f"Tidak ada peristiwa untuk agregat {oid}",
                                    f"No event of aggregate {oid} in the bundle"))

    _check_checkpoints(bundle, checkpoints_raw, keys_raw, trusted_keys, by_nid, events, report)
    return report


def _check_checkpoints(bundle, checkpoints_raw, keys_raw, trusted_keys, by_nid, events, report: Report) -> None:
    problems = report.problems
    bundle_keys = {}
    for kid, hex_key in keys_raw.items():
        computed, key = _load_key(hex_key, f"public_keys[{kid}]")
        if computed != kid:
            raise BundleError(f"public_keys[{kid}]: the key id does not match the key")
        bundle_keys[kid] = key
    trusted = dict(_load_key(k.hex(), "trusted key") for k in trusted_keys) if trusted_keys else None

    newest = None
    first_nid = events[0].nid if events else None
    previous_ok = None
    for i, raw in enumerate(sorted(checkpoints_raw, key=lambda c: c.get("position", 0) if isinstance(c, dict) else 0)):
        if not isinstance(raw, dict):
            raise BundleError(f"checkpoints[{i}]: not an object")
        position = _int(raw.get("position"), f"checkpoints[{i}].position")
        head = _hex(raw.get("head_hash"), f"checkpoints[{i}].head_hash")
        signature = _hex(raw.get("signature"), f"checkpoints[{i}].signature", 64)
        signed_at, kid = raw.get("signed_at"), raw.get("key_id")
        if not isinstance(signed_at, str) or not isinstance(kid, str) or not signed_at.isascii() or not kid.isascii():
            raise BundleError(f"checkpoints[{i}]: signed_at and key_id are required")
        report.checkpoints += 1
        message = checkpoint_message(position, head, signed_at, kid)
        keys = trusted if trusted is not None else bundle_keys
        key = keys.get(kid)
        valid = False
        if key is not None:
            try:
                key.verify(signature, message)
                valid = True
            except InvalidSignature:
                pass
        if not valid:
            why = ("kunci tidak dikenal" if key is None else "tanda tangan salah",
                   "unknown key" if key is None else "wrong signature")
            if trusted is not None and key is None:
                why = ("ditandatangani kunci yang tidak Anda berikan", "signed by a key you did not give")
            problems.append(Problem("signature", position,
                                    f"Tanda tangan checkpoint di posisi {position} tidak sah ({why[0]}, kunci {kid})",
                                    f"Checkpoint signature invalid at position {position} ({why[1]}, key {kid})"))
            continue
        target = by_nid.get(position)
        if target is None:
            if first_nid is not None and position < first_nid:
                continue  # before this bundle's range (a case bundle starts at the case)
            problems.append(Problem("checkpoint_head", position,
                                    f"Kepala checkpoint tidak ditemukan di rantai: tidak ada peristiwa di notifikasi {position}",
                                    f"Checkpoint head not found in chain: no event at notification {position}"))
        elif target.hash != head:
            since = f"setelah checkpoint utuh di {previous_ok}" if previous_ok else "sejak awal rentang"
            since_en = f"after the intact checkpoint at {previous_ok}" if previous_ok else "since the start of the range"
            problems.append(Problem(
                "checkpoint_head", position,
                f"Kepala checkpoint di posisi {position} tidak cocok dengan rantai: peristiwa sampai notifikasi "
                f"{position} ({since}) diubah dan hash-nya dihitung ulang",
                f"Checkpoint head at position {position} does not match the chain: events up to notification "
                f"{position} ({since_en}) were altered and their hashes recomputed"))
        else:
            previous_ok = position
            newest = {"position": position, "signed_at": signed_at, "key_id": kid}
    report.head = newest
    if report.checkpoints == 0:
        problems.append(Problem("no_checkpoint", events[-1].nid if events else 0,
                                "Tidak ada checkpoint bertanda tangan: isi bundel ini tidak terbukti",
                                "No signed checkpoint: nothing in this bundle is proven"))
    elif newest is not None and events and events[-1].nid > newest["position"]:
        after = [e.nid for e in events if e.nid > newest["position"]]
        report.warnings.append((
            f"{len(after)} peristiwa setelah checkpoint terbaru (notifikasi {after[0]}..{after[-1]}) belum tercakup tanda tangan",
            f"{len(after)} event(s) after the newest checkpoint (notifications {after[0]}..{after[-1]}) are not covered "
            "by a signature"))
