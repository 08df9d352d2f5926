"""The ``store_evidence_original`` RPC on the real PostgreSQL: an original
sealed at intake is unsealed and stored only as ciphertext, once per case and
file (a keyed digest), and a bad command, box or size is refused without
detail. Rotation, tamper and retention of originals: test_records.py and
test_retention.py; their disclosure: unit/test_disclosure.py."""

from __future__ import annotations

import base64
import hashlib
import secrets
from uuid import uuid4

from peluit_contracts.evidence import EVIDENCE_RPC_VERSION
from peluit_vault import evidence
from peluit_vault.crypto import generate_keypair, seal
from peluit_vault.keyring import Keyring

KEK = Keyring([secrets.token_bytes(32)])
PRIVATE, PUBLIC = generate_keypair()


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
    out = evidence.accept(conn, KEK, PRIVATE, command(original, case_id))
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


def test_the_reporters_file_name_is_stored_encrypted_with_the_original(conn):
    original, name = photo(), f"Laporan_Canary{secrets.token_hex(6)}_198701012010011001.jpg"
    sealed_name = base64.b64encode(seal(PUBLIC, name.encode())).decode()
    ref = evidence.accept(conn, KEK, PRIVATE, command(original, sealed_name=sealed_name))["original_ref"]
    text, _, _, ciphertext, _, _ = row(conn, ref)
    assert name.split("_")[1].encode() not in text.encode() + bytes(ciphertext)
    assert evidence.read_original_named(conn, KEK, ref)[2:] == (original, name)
    assert evidence.read_original(conn, KEK, ref)[2] == original  # the disclosed original, byte for byte
    unnamed = evidence.accept(conn, KEK, PRIVATE, command(photo()))["original_ref"]
    assert evidence.read_original_named(conn, KEK, unnamed)[3] is None
    for bad in (base64.b64encode(b"x" * 60).decode(), base64.b64encode(seal(PUBLIC, b"a\nb")).decode()):
        assert evidence.accept(conn, KEK, PRIVATE, command(photo(), sealed_name=bad)) == {
            "error": "invalid_sealed_name"}


def test_the_same_file_for_the_same_case_is_stored_once(conn):
    original, case_id = photo(), str(uuid4())
    first = evidence.accept(conn, KEK, PRIVATE, command(original, case_id))
    again = evidence.accept(conn, KEK, PRIVATE, command(original, case_id))  # a retried upload
    other_case = evidence.accept(conn, KEK, PRIVATE, command(original))
    assert first == again and other_case != first
    with conn.transaction():
        digests = conn.execute("SELECT digest FROM evidence_original WHERE original_ref = ANY(%s)",
                               ([first["original_ref"], other_case["original_ref"]],)).fetchall()
    # keyed: not the plain hash of the file, so a dump cannot confirm a known photo
    plain_hashes = (hashlib.sha256(original).digest(), hashlib.blake2b(original, digest_size=32).digest())
    assert all(bytes(d[0]) not in plain_hashes for d in digests)


def test_bad_commands_boxes_and_sizes_are_refused_without_detail(conn, monkeypatch):
    original = photo()
    assert evidence.accept(conn, KEK, PRIVATE, None) == {"error": "invalid_command"}
    assert evidence.accept(conn, KEK, PRIVATE, command(original, mime="text/html")) == {
        "error": "invalid_command"}
    assert evidence.accept(conn, KEK, PRIVATE, command(original, sealed_original="!!")) == {
        "error": "invalid_command"}
    assert evidence.accept(conn, KEK, PRIVATE, command(original, version=2)) == {
        "error": "unsupported_version"}
    _, other_public = generate_keypair()
    wrong_key = base64.b64encode(seal(other_public, original)).decode()
    assert evidence.accept(conn, KEK, PRIVATE, command(original, sealed_original=wrong_key)) == {
        "error": "invalid_sealed_original"}
    monkeypatch.setenv("PELUIT_EVIDENCE_MAX_FILE_BYTES", "50")
    assert evidence.accept(conn, KEK, PRIVATE, command(original)) == {"error": "too_large"}
