"""The verifier on bundles built here (pure: no database, no network).

The trigger in the cases database computes the same hashes; that agreement
is tested against PostgreSQL in services/cases/tests/integration/test_chain.py.
"""

from __future__ import annotations

import base64
import copy
import json
import subprocess
import sys
import uuid
from datetime import datetime, timezone

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from peluit_chain import ZERO_HASH, checkpoint_message, event_hash, format_time, key_id, record_digest, record_hash
from peluit_verify.cli import main
from peluit_verify.verify import FORMAT, BundleError, verify_bundle

CASE_A, CASE_B = uuid.UUID(int=0xA), uuid.UUID(int=0xB)


def raw_public(private: Ed25519PrivateKey) -> bytes:
    return private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def chain(rows, first_prev=ZERO_HASH, heads=None):
    """rows: [(notification_id, originator_id, version, topic, state)] -> event dicts,
    hashed as the trigger does (``heads`` carries per-aggregate heads across calls)."""
    heads = {} if heads is None else heads
    out, prev = [], first_prev
    for nid, oid, version, topic, state in rows:
        prev_agg = heads.get((oid, version - 1), ZERO_HASH)
        h = event_hash(prev, prev_agg, nid, oid, version, topic, state)
        out.append({"notification_id": nid, "originator_id": str(oid), "originator_version": version,
                    "topic": topic, "state": base64.b64encode(state).decode(), "prev_log_hash": prev.hex(),
                    "prev_aggregate_hash": prev_agg.hex(), "event_hash": h.hex()})
        heads[(oid, version)] = h
        prev = h
    return out


def checkpoint(private, position, head_hex, when=None):
    public = raw_public(private)
    kid = key_id(public)
    signed_at = format_time(when or datetime(2026, 12, 2, 1, 0, tzinfo=timezone.utc))
    sig = private.sign(checkpoint_message(position, bytes.fromhex(head_hex), signed_at, kid))
    return {"position": position, "head_hash": head_hex, "signed_at": signed_at, "key_id": kid,
            "signature": sig.hex()}


ROWS = [(1, CASE_A, 1, "peluit_cases.domain:Case.Registered", b'{"x":1}'),
        (2, CASE_B, 1, "peluit_cases.domain:Case.Registered", b'{"x":2}'),
        (4, CASE_A, 2, "peluit_cases.domain:Case.VerificationStarted", b'{"x":3}'),  # gap 3: a sequence gap
        (5, CASE_B, 2, "peluit_cases.domain:Case.NoteAdded", b'{"x":4}'),
        (6, CASE_A, 3, "peluit_cases.domain:Case.Accepted", b'{"x":5}'),
        (7, CASE_B, 3, "peluit_cases.domain:Case.NoteAdded", b'{"x":6}')]


@pytest.fixture(scope="module")
def key():
    return Ed25519PrivateKey.generate()


@pytest.fixture
def bundle(key):
    events = chain(ROWS)
    return {"format": FORMAT, "created_at": "2026-12-02T01:00:00+00:00", "scope": {"kind": "log"}, "genesis": True,
            "public_keys": {key_id(raw_public(key)): raw_public(key).hex()},
            "checkpoints": [checkpoint(key, 4, events[2]["event_hash"]), checkpoint(key, 7, events[5]["event_hash"])],
            "events": events}


def first(report):
    return report.first()


def test_encoding_is_pinned():
    # a change of the byte layout must be deliberate: it invalidates every stored chain
    h = event_hash(ZERO_HASH, ZERO_HASH, 1, uuid.UUID(int=1), 1, "t", b"s")
    assert h.hex() == "d80decbfcbb641ea77f8cc6296c481f65023c17898c531c664c4a9104dfcfb03"
    # ... which is, spelled out: tag, prev log, prev aggregate, id, originator, version, topic, state
    import hashlib
    import struct

    def f(b):
        return struct.pack(">q", len(b)) + b

    spelled = b"".join([f(b"peluit-event/1"), f(bytes(32)), f(bytes(32)), f(struct.pack(">q", 1)),
                        f(uuid.UUID(int=1).bytes), f(struct.pack(">q", 1)), f(b"t"), f(b"s")])
    assert hashlib.sha256(spelled).digest() == h
    # length prefixes make field boundaries unambiguous
    assert event_hash(ZERO_HASH, ZERO_HASH, 1, uuid.UUID(int=1), 1, "ab", b"c") != \
        event_hash(ZERO_HASH, ZERO_HASH, 1, uuid.UUID(int=1), 1, "a", b"bc")
    assert event_hash(ZERO_HASH, ZERO_HASH, 1, uuid.UUID(int=1), 1, None, None) == \
        event_hash(ZERO_HASH, ZERO_HASH, 1, uuid.UUID(int=1), 1, "", b"")


def test_intact_bundle_with_gaps_in_notification_ids(bundle, key):
    report = verify_bundle(bundle, [raw_public(key)])
    assert report.intact, report.problems
    assert report.head["position"] == 7 and report.events == 6 and report.checkpoints == 2


def test_altered_state_is_named(bundle, key):
    bundle["events"][3]["state"] = base64.b64encode(b'{"x":40}').decode()
    p = first(verify_bundle(bundle, [raw_public(key)]))
    assert p.kind == "altered" and p.position == 5
    assert f"notification 5 (aggregate/case {CASE_B}, version 2)" in p.en


def test_deleted_event_is_missing(bundle, key):
    del bundle["events"][3]
    p = first(verify_bundle(bundle, [raw_public(key)]))
    assert p.kind == "missing" and p.position == 6 and "after notification 4" in p.en
    # a deleted event that a checkpoint names: its head is gone from the chain
    del bundle["events"][2]
    assert first(verify_bundle(bundle, [raw_public(key)])).en.startswith(
        "Checkpoint head not found in chain: no event at notification 4")


def test_deleted_first_event_is_missing_at_genesis(bundle, key):
    del bundle["events"][0]
    p = first(verify_bundle(bundle, [raw_public(key)]))
    assert p.kind == "missing" and p.position == 2 and "start of the log" in p.en


def test_deleted_last_event_leaves_the_checkpoint_head_without_event(bundle, key):
    del bundle["events"][-1]
    p = first(verify_bundle(bundle, [raw_public(key)]))
    assert p.kind == "checkpoint_head" and "no event at notification 7" in p.en


def test_swapped_notification_ids_are_reordered(bundle, key):
    events = bundle["events"]
    events[1]["notification_id"], events[3]["notification_id"] = events[3]["notification_id"], \
        events[1]["notification_id"]
    events[1], events[3] = events[3], events[1]  # the export reads in notification-id order
    p = first(verify_bundle(bundle, [raw_public(key)]))
    assert p.kind == "reordered" and p.position == 2 and "chained after notification 4" in p.en


def test_events_out_of_order_in_the_document(bundle, key):
    events = bundle["events"]
    events[1], events[2] = events[2], events[1]
    assert first(verify_bundle(bundle, [raw_public(key)])).kind == "reordered"


def test_broken_aggregate_chain(bundle, key):
    # a rewritten event that keeps the log link but points at a wrong aggregate predecessor
    events = bundle["events"]
    rows = [r for r in ROWS]
    rebuilt = chain(rows[:4])
    bad_prev_agg = bytes(32)
    nid, oid, version, topic, state = rows[4]
    prev = bytes.fromhex(rebuilt[3]["event_hash"])
    h = event_hash(prev, bad_prev_agg, nid, oid, version, topic, state)
    events[4].update(prev_aggregate_hash=bad_prev_agg.hex(), event_hash=h.hex())
    events[5]["prev_log_hash"] = h.hex()
    problems = verify_bundle(bundle, [raw_public(key)]).problems
    assert any(p.kind == "aggregate_chain" and p.position == 6 for p in problems)


def test_recomputed_chain_after_an_edit_fails_on_the_checkpoint(bundle, key):
    rows = list(ROWS)
    rows[3] = rows[3][:4] + (b'{"x":"changed"}',)
    bundle["events"] = chain(rows)  # an attacker with database access re-hashes everything
    p = first(verify_bundle(bundle, [raw_public(key)]))
    assert p.kind == "checkpoint_head" and p.position == 7
    assert "after the intact checkpoint at 4" in p.en


def test_forged_signature_is_refused(bundle, key):
    sig = bytearray(bytes.fromhex(bundle["checkpoints"][1]["signature"]))
    sig[0] ^= 1
    bundle["checkpoints"][1]["signature"] = sig.hex()
    p = first(verify_bundle(bundle, [raw_public(key)]))
    assert p.kind == "signature" and p.position == 7 and "wrong signature" in p.en


def test_a_bundle_signed_by_its_own_key_fails_only_with_the_auditors_key(bundle, key):
    forger = Ed25519PrivateKey.generate()
    rows = list(ROWS)
    rows[0] = rows[0][:4] + (b'{"x":"forged"}',)
    events = chain(rows)
    forged = {**bundle, "events": events, "public_keys": {key_id(raw_public(forger)): raw_public(forger).hex()},
              "checkpoints": [checkpoint(forger, 7, events[-1]["event_hash"])]}
    assert verify_bundle(forged).intact  # the bundle's own key proves nothing...
    p = first(verify_bundle(forged, [raw_public(key)]))  # ...the key the auditor holds does
    assert p.kind == "signature" and "did not give" in p.en


def test_no_checkpoint_is_a_failure_and_later_events_a_warning(bundle, key):
    no_cp = {**bundle, "checkpoints": []}
    assert first(verify_bundle(no_cp, [raw_public(key)])).kind == "no_checkpoint"
    early = {**bundle, "checkpoints": bundle["checkpoints"][:1]}
    report = verify_bundle(early, [raw_public(key)])
    assert report.intact and "notifications 5..7" in report.warnings[0][1]


def stubbed(events, keep):
    return [e if uuid.UUID(e["originator_id"]) in keep else
            {k: e[k] for k in ("notification_id", "prev_log_hash", "event_hash")} for e in events]


def test_case_scope_with_stubs_of_other_cases(key):
    events = chain(ROWS)
    case_events = stubbed(events, {CASE_A})
    bundle = {"format": FORMAT, "scope": {"kind": "case", "case_id": str(CASE_A), "aggregates": [str(CASE_A)]},
              "genesis": False, "public_keys": {key_id(raw_public(key)): raw_public(key).hex()},
              "checkpoints": [checkpoint(key, 7, events[-1]["event_hash"])], "events": case_events}
    assert verify_bundle(bundle, [raw_public(key)]).intact
    assert all("state" not in e for e in case_events if e["event_hash"] in {events[1]["event_hash"]})
    # a deleted event of another case still breaks the log chain
    broken = copy.deepcopy(bundle)
    del broken["events"][1]
    assert first(verify_bundle(broken, [raw_public(key)])).kind == "missing"
    # a case bundle without the case's registration: the aggregate chain starts at version 2
    later = copy.deepcopy(bundle)
    del later["events"][0]
    assert first(verify_bundle(later, [raw_public(key)])).kind == "aggregate_chain"


def test_unreadable_bundles_raise(bundle):
    with pytest.raises(BundleError):
        verify_bundle({"format": "other"})
    bad = copy.deepcopy(bundle)
    bad["events"][0]["event_hash"] = "zz"
    with pytest.raises(BundleError):
        verify_bundle(bad)


def test_cli_exit_codes_and_messages(bundle, key, tmp_path, capsys):
    path, pub = tmp_path / "bundle.json", tmp_path / "checkpoint.pub"
    pub.write_text(raw_public(key).hex() + "\n")
    path.write_text(json.dumps(bundle))
    assert main([str(path), "--public-key", str(pub)]) == 0
    out = capsys.readouterr()
    assert out.out.startswith("intact:") and "warning" not in out.err
    assert main([str(path)]) == 3  # no key: nothing wrong found, nothing proven
    out = capsys.readouterr()
    assert out.out.startswith("TIDAK TERBUKTI") and "intact" not in out.out and "without --public-key" in out.err
    assert main([str(path), "--no-key"]) == 0
    assert capsys.readouterr().out.startswith("intact:")
    bundle["events"][0]["state"] = base64.b64encode(b"{}").decode()
    path.write_text(json.dumps(bundle))
    assert main([str(path), "--public-key", str(pub)]) == 1
    assert capsys.readouterr().out.startswith(f"TAMPERED: Peristiwa diubah: notifikasi 1 (agregat/kasus {CASE_A}")
    path.write_text("{not json")
    assert main([str(path)]) == 2


def test_console_module_runs_without_peluit_installed(bundle, key, tmp_path):
    # the verifier needs nothing of Peluit but the chain encoding: run it with only those two folders on the path
    path = tmp_path / "b.json"
    path.write_text(json.dumps(bundle))
    from pathlib import Path

    here = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-S", "-c",
                          "import sys; sys.path[:0] = sys.argv[1:4]; from peluit_verify.cli import main;"
                          "raise SystemExit(main([sys.argv[4], '--no-key']))",
                          str(here), str(here.parent / "chain"), _site_packages(), str(path)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("intact:")


def test_since_a_trusted_checkpoint(bundle, key, tmp_path, capsys):
    path, pub, since = tmp_path / "bundle.json", tmp_path / "checkpoint.pub", tmp_path / "since.json"
    pub.write_text(raw_public(key).hex())
    path.write_text(json.dumps(bundle))
    held = bundle["checkpoints"][0]  # position 4, as a witness got it from the stream
    since.write_text(json.dumps({"type": "chain.checkpoint", "data": held}))
    assert main([str(path), "--public-key", str(pub), "--since", str(since)]) == 0
    capsys.readouterr()

    # the whole history rewritten from event 2 on and re-signed with the real key (an insider with the key file)
    rows = [(n, o, v, t, b'{"rewritten":1}' if n == 4 else st) for n, o, v, t, st in ROWS]
    forged = chain(rows)
    rewritten = {**bundle, "events": forged,
                 "checkpoints": [checkpoint(key, 4, forged[2]["event_hash"]), checkpoint(key, 7, forged[5]["event_hash"])]}
    path.write_text(json.dumps(rewritten))
    assert main([str(path), "--public-key", str(pub)]) == 0  # consistent in itself ...
    capsys.readouterr()
    assert main([str(path), "--public-key", str(pub), "--since", str(since)]) == 1  # ... but not an extension
    assert "does not extend the trusted checkpoint: the event at notification 4 differs" in capsys.readouterr().out

    # a history cut before the trusted checkpoint
    path.write_text(json.dumps({**bundle, "events": bundle["events"][:2], "checkpoints": []}))
    assert main([str(path), "--public-key", str(pub), "--since", str(since)]) == 1
    assert "no event at notification 4" in capsys.readouterr().out

    # a "trusted" checkpoint signed by someone else proves nothing
    other = Ed25519PrivateKey.generate()
    since.write_text(json.dumps(checkpoint(other, 4, bundle["events"][2]["event_hash"])))
    path.write_text(json.dumps(bundle))
    assert main([str(path), "--public-key", str(pub), "--since", str(since)]) == 1
    assert "--since checkpoint at position 4 is not validly signed" in capsys.readouterr().out
    since.write_text("{}")
    assert main([str(path), "--public-key", str(pub), "--since", str(since)]) == 2


def _site_packages() -> str:
    import cryptography

    from pathlib import Path

    return str(Path(cryptography.__file__).resolve().parents[1])


def chain_v2(rows, first_prev=ZERO_HASH):
    """Hash version 2 (content digest), as the trigger writes today."""
    from peluit_chain import content_digest, event_hash_v2

    out, prev, heads = [], first_prev, {}
    for nid, oid, version, topic, state in rows:
        prev_agg = heads.get((oid, version - 1), ZERO_HASH)
        h = event_hash_v2(prev, prev_agg, nid, oid, version, content_digest(topic, state))
        out.append({"notification_id": nid, "originator_id": str(oid), "originator_version": version, "topic": topic,
                    "state": base64.b64encode(state).decode(), "prev_log_hash": prev.hex(),
                    "prev_aggregate_hash": prev_agg.hex(), "event_hash": h.hex(), "hash_version": 2,
                    "content_digest": content_digest(topic, state).hex()})
        heads[(oid, version)] = h
        prev = h
    return out


def case_bundle_v2(key, events, case=CASE_A):
    """Case A's bundle: B's events as version-2 stubs (ids, version, digest; no content)."""
    stubbed = [dict(e) if e["originator_id"] == str(case) else
               {k: e[k] for k in ("notification_id", "prev_log_hash", "event_hash", "hash_version", "originator_id",
                                  "originator_version", "prev_aggregate_hash", "content_digest")} for e in events]
    for e in stubbed:
        if "state" in e:
            e.pop("content_digest", None)
    return {"format": FORMAT, "created_at": "2026-12-02T01:00:00+00:00", "genesis": True,
            "scope": {"kind": "case", "case_id": str(case), "aggregates": [str(case)]},
            "public_keys": {key_id(raw_public(key)): raw_public(key).hex()},
            "checkpoints": [checkpoint(key, 7, events[-1]["event_hash"])], "events": stubbed}


def test_version_2_stubs_are_recomputed_so_a_case_event_moved_away_is_found(key):
    events = chain_v2(ROWS)
    intact = case_bundle_v2(key, events)
    assert verify_bundle(intact, [raw_public(key)]).intact
    assert not any("state" in e for e in intact["events"] if e["originator_id"] == str(CASE_B))
    # A's newest event (nid 6) moved to B in the database: in A's bundle it is now B's stub, its hash no longer fits
    moved = copy.deepcopy(events)
    moved[4]["originator_id"], moved[4]["originator_version"] = str(CASE_B), 3
    report = verify_bundle(case_bundle_v2(key, moved), [raw_public(key)])
    assert [(p.kind, p.position) for p in report.problems] == [("altered", 6)]
    # an exporter that hides one of the case's own events as a stub is caught too
    hidden = case_bundle_v2(key, events)
    own = hidden["events"][4]
    hidden["events"][4] = {k: own[k] for k in ("notification_id", "prev_log_hash", "event_hash", "hash_version",
                                               "originator_id", "originator_version", "prev_aggregate_hash")}
    hidden["events"][4]["content_digest"] = events[4]["content_digest"]
    assert "given without its content" in verify_bundle(hidden, [raw_public(key)]).first().en


def test_a_version_1_event_after_version_2_is_a_downgrade(key):
    events = chain_v2(ROWS)
    for e in events:
        e.pop("content_digest")
    bundle = {"format": FORMAT, "created_at": "x", "scope": {"kind": "log"}, "genesis": True,
              "public_keys": {key_id(raw_public(key)): raw_public(key).hex()},
              "checkpoints": [checkpoint(key, 7, events[-1]["event_hash"])], "events": events}
    assert verify_bundle(bundle, [raw_public(key)]).intact
    downgraded = copy.deepcopy(bundle)
    downgraded["events"][3].pop("hash_version")  # claims the old encoding, which is not recomputed for stubs
    assert "downgraded" in {p.kind for p in verify_bundle(downgraded, [raw_public(key)]).problems}


# -- logs of records (hash version 3: the vault's vault_audit) --------------------------------

AUDIT_ROWS = [(2, ["2026-12-02T01:00:00.000001+00:00", "case_closed", "r" * 32, '{"case_id": "c1"}']),
              (4, ["2026-12-02T01:00:01.000000+00:00", "kek_rotated", None, '{"current": "k2"}']),
              (6, ["2026-12-02T01:00:02.000000+00:00", "identity_shredded", "s" * 32, '{"tenant": "35.73"}']),
              (8, ["2026-12-02T01:00:03.000000+00:00", "kek_rewrapped", None, "{}"])]


def records(rows, log="vault_audit", prev=ZERO_HASH):
    out = []
    for position, record in rows:
        h = record_hash(log, prev, position, record_digest(record))
        out.append({"notification_id": position, "prev_log_hash": prev.hex(), "event_hash": h.hex(),
                    "hash_version": 3, "record": record})
        prev = h
    return out


@pytest.fixture
def audit_bundle(key):
    events = records(AUDIT_ROWS)
    return {"format": FORMAT, "created_at": "2026-12-02T01:00:05+00:00", "genesis": True,
            "scope": {"kind": "log", "log": "vault_audit", "fields": ["at", "action", "reporter_ref", "detail"]},
            "public_keys": {key_id(raw_public(key)): raw_public(key).hex()},
            "checkpoints": [checkpoint(key, 8, events[-1]["event_hash"])], "events": events}


def test_record_encoding_is_pinned():
    import hashlib
    import struct

    def f(b):
        return struct.pack(">q", len(b)) + b

    digest = record_digest(["a", None, ""])
    # NULL is length -1: neither the empty string nor a missing field
    assert digest == hashlib.sha256(f(b"a") + struct.pack(">q", -1) + f(b"")).digest()
    assert digest != record_digest(["a", "", ""]) and digest != record_digest(["a", ""])
    assert record_hash("vault_audit", ZERO_HASH, 1, digest) == hashlib.sha256(b"".join(
        [f(b"peluit-record/1"), f(b"vault_audit"), f(bytes(32)), f(struct.pack(">q", 1)), f(digest)])).digest()
    # the table's name is hashed: a row does not verify in another chained table
    assert record_hash("vault_events", ZERO_HASH, 1, digest) != record_hash("vault_audit", ZERO_HASH, 1, digest)


def test_a_log_of_records_verifies_and_names_an_edit_a_deletion_and_an_insertion(audit_bundle, key):
    trusted = [raw_public(key)]
    report = verify_bundle(audit_bundle, trusted)
    assert report.intact and report.events == 4 and report.log == "vault_audit", report.problems

    edited = copy.deepcopy(audit_bundle)
    edited["events"][1]["record"][3] = '{"current": "k3"}'
    assert [(p.kind, p.position, p.en) for p in verify_bundle(edited, trusted).problems] == [
        ("altered", 4, "Altered event: row 4 of vault_audit")]
    nulled = copy.deepcopy(audit_bundle)
    nulled["events"][0]["record"][2] = None  # the reporter's reference taken out of a closure
    assert first(verify_bundle(nulled, trusted)).kind == "altered"

    deleted = copy.deepcopy(audit_bundle)
    del deleted["events"][1]
    p = first(verify_bundle(deleted, trusted))
    assert p.kind == "missing" and p.position == 6 and "before row 6 of vault_audit (after notification 2)" in p.en

    # a row put between 2 and 4 with its own hashes made right: row 4 still links to row 2
    inserted = copy.deepcopy(audit_bundle)
    extra = records([(3, ["2026-12-02T01:00:00.500000+00:00", "closure_refused", None, "{}"])],
                    prev=bytes.fromhex(inserted["events"][0]["event_hash"]))[0]
    inserted["events"].insert(1, extra)
    problems = verify_bundle(inserted, trusted).problems
    assert [(p.kind, p.position) for p in problems] == [("inserted", 3)]
    assert problems[0].en == ("Inserted event: row 3 of vault_audit is not in the chain (row 4 of vault_audit was "
                              "chained right after notification 2)")
    assert problems[0].id.startswith("Peristiwa disisipkan: baris 3 dari vault_audit")

    # the same log under another table's name: nothing verifies
    renamed = copy.deepcopy(audit_bundle)
    renamed["scope"]["log"] = "vault_events"
    assert [p.kind for p in verify_bundle(renamed, trusted).problems] == ["altered"] * 4


def test_an_inserted_case_event_is_named(bundle, key):
    trusted = [raw_public(key)]
    events = bundle["events"]
    # between notification 2 and 4: a new aggregate's event hashed right, linked to 2, that 4 does not link to
    case_c = uuid.UUID(int=0xC)
    forged = chain([(3, case_c, 1, "peluit_cases.domain:Case.Registered", b'{"x":9}')],
                   first_prev=bytes.fromhex(events[1]["event_hash"]))[0]
    events.insert(2, forged)
    found = verify_bundle(bundle, trusted).problems
    assert [(p.kind, p.position) for p in found] == [("inserted", 3)], found
    assert found[0].en.startswith(f"Inserted event: notification 3 (aggregate/case {case_c}, version 1) is not "
                                  "in the chain (notification 4 (aggregate/case")


def test_a_log_of_records_holds_records_only(audit_bundle, key):
    mixed = copy.deepcopy(audit_bundle)
    mixed["events"][0] = chain(ROWS[:1])[0]
    with pytest.raises(BundleError, match="version-3 records"):
        verify_bundle(mixed)
    unnamed = copy.deepcopy(audit_bundle)
    del unnamed["scope"]["log"]
    with pytest.raises(BundleError, match="names its table"):
        verify_bundle(unnamed)
    bad = copy.deepcopy(audit_bundle)
    bad["events"][0]["record"] = [1, 2]
    with pytest.raises(BundleError):
        verify_bundle(bad)


def test_cli_names_the_log(audit_bundle, key, tmp_path, capsys):
    path, pub = tmp_path / "audit.json", tmp_path / "vault-checkpoint.pub"
    path.write_text(json.dumps(audit_bundle))
    pub.write_text(raw_public(key).hex())
    assert main([str(path), "--public-key", str(pub)]) == 0
    assert capsys.readouterr().out.startswith("intact: 4 events of vault_audit (4 in full), 1 checkpoints")
