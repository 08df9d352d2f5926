"""Evidence originals in the vault: sealed at intake, encrypted at rest under
the identities' envelope scheme (real PostgreSQL), idempotent per case and
file, re-wrapped by a KEK rotation, shredded with the case's retention, and
disclosed only under dual control, sealed to the requesting officer's key."""

from __future__ import annotations

import base64
import json
import secrets
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from uuid import uuid4

import psycopg
import pytest
from nacl.public import PrivateKey, SealedBox
from nacl.signing import SigningKey
from psycopg import sql

from peluit_common.auth import TokenIssuer, TokenVerifier
from peluit_contracts.disclosure import DISCLOSURE_RPC_VERSION
from peluit_contracts.evidence import EVIDENCE_RPC_VERSION
from peluit_vault import evidence, records, retention, schema
from peluit_vault.records import ORIGINALS
from peluit_vault.crypto import DecryptionError, generate_keypair, seal
from peluit_vault.disclosure import rpc as handlers
from peluit_vault.disclosure.application import DisclosureApplication
from peluit_vault.disclosure.domain import DisclosureRequest, DomainError
from peluit_vault.keyring import Keyring, UnknownKek

ADMIN_DSN = "host=127.0.0.1 user=postgres dbname=postgres"
KEK = Keyring([secrets.token_bytes(32)])
PRIVATE, PUBLIC = generate_keypair()
NOW = datetime.now(timezone.utc)


@pytest.fixture(scope="module")
def conn():
    name = f"pt_vault_ev_{secrets.token_hex(6)}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        with psycopg.connect(f"host=127.0.0.1 user=postgres dbname={name}") as conn:
            schema.migrate(conn)
            schema.migrate(conn)
            schema.migrate(conn)  # idempotent
            yield conn
    finally:
        with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def photo() -> bytes:
    """Stands in for a JPEG whose EXIF names the reporter."""
    return b"\xff\xd8\xff\xe1" + f"Exif GPS -7.97,112.62 Artist=Canary{secrets.token_hex(8)}".encode() + bytes(64)


def command(original: bytes, case_id: str | None = None, **overrides) -> dict:
    out = {"version": EVIDENCE_RPC_VERSION, "case_id": case_id or str(uuid4()), "tenant": "35.73",
           "mime": "image/jpeg", "sealed_original": base64.b64encode(seal(PUBLIC, original)).decode()}
    out.update(overrides)
    return out


def row(conn, ref: str):
    with conn.transaction():
        return conn.execute("SELECT t::text, kek_id, wrapped_dek, ciphertext, shredded_at, case_closed_at "
                            "FROM evidence_original t WHERE original_ref = %s", (ref,)).fetchone()


# -- storage ----------------------------------------------------------------------------------

def test_the_rpc_unseals_and_stores_only_ciphertext(conn):
    original = photo()
    case_id = str(uuid4())
    out = evidence.store_evidence_original(conn, KEK, PRIVATE, command(original, case_id))
    ref = out["original_ref"]
    assert set(out) == {"original_ref"} and len(ref) >= 20
    text, kek_id, wrapped, ciphertext, shredded_at, _ = row(conn, ref)
    marker = original[original.index(b"Canary"):original.index(b"Canary") + 22]
    for needle in (marker, marker.hex().encode(), base64.b64encode(marker)[:20]):
        assert needle not in text.encode() and needle not in bytes(ciphertext)
    assert kek_id == KEK.current_id and wrapped and shredded_at is None
    assert evidence.read_original(conn, KEK, ref) == (case_id, "image/jpeg", original)
    assert evidence.original_case(conn, ref) == case_id
    assert evidence.original_case(conn, "x" * 32) is None
    assert evidence.read_original(conn, KEK, "x" * 32) is None


def test_the_same_file_for_the_same_case_is_stored_once(conn):
    original, case_id = photo(), str(uuid4())
    first = evidence.store_evidence_original(conn, KEK, PRIVATE, command(original, case_id))
    again = evidence.store_evidence_original(conn, KEK, PRIVATE, command(original, case_id))  # a retried upload
    other_case = evidence.store_evidence_original(conn, KEK, PRIVATE, command(original))
    assert first == again and other_case != first
    with conn.transaction():
        digests = conn.execute("SELECT digest FROM evidence_original WHERE original_ref = ANY(%s)",
                               ([first["original_ref"], other_case["original_ref"]],)).fetchall()
    # keyed: not the plain hash of the file, so a dump cannot confirm a known photo
    import hashlib
    assert all(bytes(d[0]) not in (hashlib.sha256(original).digest(), hashlib.blake2b(original, digest_size=32).digest())
               for d in digests)


def test_bad_commands_boxes_and_sizes_are_refused_without_detail(conn, monkeypatch):
    original = photo()
    assert evidence.store_evidence_original(conn, KEK, PRIVATE, None) == {"error": "invalid_command"}
    assert evidence.store_evidence_original(conn, KEK, PRIVATE, command(original, mime="text/html")) == {
        "error": "invalid_command"}
    assert evidence.store_evidence_original(conn, KEK, PRIVATE, command(original, sealed_original="!!")) == {
        "error": "invalid_command"}
    assert evidence.store_evidence_original(conn, KEK, PRIVATE, command(original, version=2)) == {
        "error": "unsupported_version"}
    _, other_public = generate_keypair()
    wrong_key = base64.b64encode(seal(other_public, original)).decode()
    assert evidence.store_evidence_original(conn, KEK, PRIVATE, command(original, sealed_original=wrong_key)) == {
        "error": "invalid_sealed_original"}
    monkeypatch.setenv("PELUIT_EVIDENCE_MAX_FILE_BYTES", "50")
    assert evidence.store_evidence_original(conn, KEK, PRIVATE, command(original)) == {"error": "too_large"}


def test_rows_are_bound_to_their_reference_and_a_wrong_key_fails_loudly(conn):
    a = evidence.store_evidence_original(conn, KEK, PRIVATE, command(photo()))["original_ref"]
    b = evidence.store_evidence_original(conn, KEK, PRIVATE, command(photo()))["original_ref"]
    with conn.transaction():
        conn.execute("UPDATE evidence_original SET ciphertext = (SELECT ciphertext FROM evidence_original "
                     "WHERE original_ref = %s) WHERE original_ref = %s", (b, a))
    with pytest.raises(DecryptionError):
        evidence.read_original(conn, KEK, a)
    assert evidence.read_original(conn, KEK, b) is not None
    with conn.transaction():  # one flipped byte in the wrapped data key
        conn.execute("UPDATE evidence_original SET wrapped_dek = set_byte(wrapped_dek, 20, get_byte(wrapped_dek, 20) # 1)"
                     " WHERE original_ref = %s", (b,))
    with pytest.raises(DecryptionError):
        evidence.read_original(conn, KEK, b)
    with pytest.raises(UnknownKek):
        evidence.read_original(conn, Keyring([secrets.token_bytes(32)]), b)
    # a rotation refuses to carry an altered key along (loudly, naming only the reference)
    with pytest.raises(records.RewrapFailed):
        ORIGINALS.rewrap(conn, Keyring([secrets.token_bytes(32), KEK.current]))
    with conn.transaction():
        conn.execute("DELETE FROM evidence_original WHERE original_ref = ANY(%s)", ([a, b],))


def test_a_kek_rotation_rewraps_originals_and_they_still_open(conn):
    original = photo()
    ref = evidence.store_evidence_original(conn, KEK, PRIVATE, command(original))["original_ref"]
    rotated = Keyring([secrets.token_bytes(32), KEK.current])
    assert ORIGINALS.pending(conn, rotated).get(KEK.current_id, 0) >= 1
    before = bytes(row(conn, ref)[3])
    assert ORIGINALS.rewrap(conn, rotated) >= 1
    assert ORIGINALS.pending(conn, rotated) == {}
    _, kek_id, _, ciphertext, _, _ = row(conn, ref)
    assert kek_id == rotated.current_id and bytes(ciphertext) == before  # only the data key moved
    assert evidence.read_original(conn, Keyring([rotated.current]), ref)[2] == original
    # put everything back under the module's KEK for the other tests
    ORIGINALS.rewrap(conn, Keyring([KEK.current, rotated.current]))


def test_originals_are_shredded_with_their_case_and_a_late_upload_inherits_the_clock(conn):
    case_id = str(uuid4())
    ref = evidence.store_evidence_original(conn, KEK, PRIVATE, command(photo(), case_id))["original_ref"]
    keep = evidence.store_evidence_original(conn, KEK, PRIVATE, command(photo()))["original_ref"]
    closed = NOW - timedelta(days=365 * 6)
    assert retention.record_case_closed(conn, case_id, closed.isoformat()) == 1
    assert retention.record_case_closed(conn, case_id, closed - timedelta(days=1)) == 0  # the latest closure wins
    late = evidence.store_evidence_original(conn, KEK, PRIVATE, command(photo(), case_id))["original_ref"]
    assert row(conn, late)[5] == closed

    assert retention.shred_expired(conn, NOW)["evidence_original"] == 2
    for shredded in (ref, late):
        _, _, wrapped, ciphertext, shredded_at, _ = row(conn, shredded)
        assert wrapped is None and bytes(ciphertext) == b"" and shredded_at == NOW
        with pytest.raises(records.Erased):
            evidence.read_original(conn, KEK, shredded)
    assert evidence.read_original(conn, KEK, keep) is not None
    assert retention.shred_expired(conn, NOW)["evidence_original"] == 0
    with conn.transaction():
        audits = conn.execute("SELECT detail FROM vault_audit WHERE action = 'evidence_original_shredded'"
                              " AND detail->>'case_id' = %s", (case_id,)).fetchall()
    assert len(audits) == 2 and all(a[0]["kek_id"] == KEK.current_id for a in audits)


# -- disclosure of an original under dual control -------------------------------------------

T0 = datetime(2026, 11, 23, 3, 0, tzinfo=timezone.utc)
CASE = str(uuid4())
REF = "o" * 32


def officer(name: str, tenant: str = "35.73", *roles: str) -> dict:
    return {"officer_id": str(uuid4()), "username": name, "roles": list(roles), "tenant": tenant}


DEWI = officer("dewi", "35.73", "investigator")
AGUS = officer("agus", "35.73", "inspektur")


@pytest.fixture
def app():
    return DisclosureApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, request_hours=72, view_minutes=30)


def file_evidence(app, owner=CASE, **overrides):
    args = dict(case_id=CASE, reporter_ref=None, tenant="35.73", reason="Perintah pengadilan nomor 12/2026",
                legal_basis="court_order", now=T0, subject="evidence", original_ref=REF, original_case_id=owner)
    args.update(overrides)
    return app.request(DEWI, **args)


def test_an_original_is_disclosed_only_within_its_case_and_after_approval(app):
    for owner in (None, str(uuid4())):
        with pytest.raises(DomainError) as err:
            file_evidence(app, owner=owner)
        assert err.value.code == "unknown_original"
    with pytest.raises(DomainError) as err:
        file_evidence(app, subject="something")
    assert err.value.code == "invalid_subject"

    req = file_evidence(app)  # anonymous reports have originals too: no reporter_ref needed
    assert (req.subject, req.original_ref, req.reporter_ref) == ("evidence", REF, None)
    never = lambda ref: pytest.fail("must not reveal")  # noqa: E731
    with pytest.raises(DomainError) as err:
        app.view(req.id, DEWI, never, reveal_original=never, now=T0 + timedelta(minutes=1))
    assert err.value.code == "not_approved"
    app.approve(req.id, AGUS, step_up=True, step_up_token_id=uuid4().hex, now=T0 + timedelta(hours=1))
    seen = []
    out = app.view(req.id, DEWI, never, reveal_original=lambda ref: seen.append(ref) or b"sealed-original",
                   now=T0 + timedelta(hours=1, minutes=5))
    assert out == b"sealed-original" and seen == [REF]
    trail = app.trail("35.73", now=T0 + timedelta(hours=2))
    requested = next(e for e in trail if e["type"] == "requested" and e["request_id"] == str(req.id))
    assert requested["subject"] == "evidence" and requested["original_ref"] == REF
    assert [e["type"] for e in trail if e["request_id"] == str(req.id)] == [
        "requested", "attempt_refused", "approved", "viewed"]


def test_identity_requests_are_unchanged_and_old_events_upcast_to_identity(app):
    req = app.request(DEWI, case_id=CASE, reporter_ref="r" * 32, tenant="35.73", reason="Permohonan LPSK nomor 1",
                      legal_basis="lpsk_protection", now=T0)
    assert (req.subject, req.original_ref) == ("identity", None)
    # a Requested event stored before v2 (no subject, no original_ref) reads as an identity request
    [stored] = [s for s in app.recorder.select_events(req.id) if s.topic.endswith("DisclosureRequest.Requested")]
    state = app.mapper.transcoder.decode(stored.state)
    assert state.pop("class_version") == 2
    del state["subject"], state["original_ref"]
    old = type(stored)(originator_id=stored.originator_id, originator_version=stored.originator_version,
                       topic=stored.topic, state=app.mapper.transcoder.encode(state))
    event = app.mapper.to_domain_event(old)
    assert isinstance(event, DisclosureRequest.Requested)
    assert (event.subject, event.original_ref, event.reporter_ref) == ("identity", None, "r" * 32)


# -- the RPC handlers with real tokens ------------------------------------------------------

@pytest.fixture
def rpc(app):
    signing = SigningKey.generate()
    issuer = TokenIssuer(bytes(signing))
    auth = TokenVerifier(bytes(signing.verify_key))  # what OfficerAuth.verify runs

    def token(who: dict, step_up: bool = False) -> str:
        extra = {"amr": ["pwd", "otp"], "step_up": True} if step_up else None
        return issuer.issue(who["officer_id"], who["tenant"], who["roles"], who["username"],
                            ttl_seconds=60 if step_up else 900, extra_claims=extra)

    return SimpleNamespace(auth=auth, token=token)


def test_rpc_flow_seals_the_original_to_the_requesters_key(rpc, app):
    original = photo()
    owners = {REF: CASE}
    base = {"version": DISCLOSURE_RPC_VERSION, "case_id": CASE, "tenant": "35.73",
            "reason": "Perintah pengadilan nomor 12/2026", "legal_basis": "court_order"}
    wrong = handlers.request_disclosure(app, rpc.auth, {**base, "token": rpc.token(DEWI), "subject": "evidence",
                                                      "original_ref": "p" * 32}, original_case=owners.get)
    assert wrong == {"error": "unknown_original"}
    filed = handlers.request_disclosure(app, rpc.auth, {**base, "token": rpc.token(DEWI), "subject": "evidence",
                                                      "original_ref": REF}, original_case=owners.get)
    assert filed["status"] == "pending" and filed["subject"] == "evidence" and filed["original_ref"] == REF
    rid = filed["request_id"]
    approved = handlers.approve_disclosure(app, rpc.auth, {"version": 1, "token": rpc.token(AGUS, step_up=True),
                                                         "request_id": rid})
    assert approved["status"] == "approved"
    client = PrivateKey.generate()
    key = base64.b64encode(bytes(client.public_key)).decode()

    def no_identity(ref):
        pytest.fail("an evidence request must not read the identity")

    out = handlers.view_disclosure(app, rpc.auth, {"version": 1, "token": rpc.token(DEWI), "request_id": rid,
                                                 "public_key": key}, no_identity,
                                     read_original=lambda ref: original if ref == REF else None)
    assert set(out) == {"request_id", "subject", "original_ref", "sealed_original"}
    assert original not in json.dumps(out).encode()
    assert SealedBox(client).decrypt(base64.b64decode(out["sealed_original"])) == original


def test_rpc_view_of_a_shredded_original(rpc, app):
    now = datetime.now(timezone.utc)  # the RPC path reads the wall clock, so not T0
    req = file_evidence(app, now=now)
    app.approve(req.id, AGUS, step_up=True, step_up_token_id=uuid4().hex, now=now)

    def shredded(ref):
        raise records.Erased()

    key = base64.b64encode(bytes(PrivateKey.generate().public_key)).decode()
    out = handlers.view_disclosure(app, rpc.auth, {"version": 1, "token": rpc.token(DEWI), "request_id": str(req.id),
                                                 "public_key": key}, shredded, read_original=shredded)
    assert out == {"error": "original_erased"}
