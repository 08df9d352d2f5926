"""Envelope encryption: round trip, tamper and wrong-key failures; a data key
re-wrapped under another KEK still opens the record."""

from __future__ import annotations

import dataclasses
import os
import secrets

import pytest

from peluit_vault.crypto import (
    DecryptionError,
    SealedRecord,
    decrypt_record,
    encrypt_record,
    generate_keypair,
    kek_id,
    seal,
    unseal,
    unwrap_dek,
    wrap_dek,
)


def test_sealed_box_round_trip_only_with_the_private_key():
    private, public = generate_keypair()
    other_private, _ = generate_keypair()
    box = seal(public, b'{"name": "Budi"}')
    assert b"Budi" not in box
    assert unseal(private, box) == b'{"name": "Budi"}'
    with pytest.raises(DecryptionError):
        unseal(other_private, box)


def test_record_round_trip_and_fresh_data_key_each_time():
    kek = os.urandom(32)
    a = encrypt_record(kek, "ref-a", b"identity")
    b = encrypt_record(kek, "ref-a", b"identity")
    assert a.ciphertext != b.ciphertext and a.wrapped_dek != b.wrapped_dek
    assert b"identity" not in a.ciphertext
    assert decrypt_record(kek, "ref-a", a) == b"identity"


@pytest.mark.parametrize("part", ["wrapped_dek", "ciphertext"])
def test_a_flipped_byte_fails_loudly(part):
    kek = os.urandom(32)
    record = encrypt_record(kek, "ref", b"identity")
    raw = bytearray(getattr(record, part))
    raw[-1] ^= 0x01
    tampered = dataclasses.replace(record, **{part: bytes(raw)})
    with pytest.raises(DecryptionError):
        decrypt_record(kek, "ref", tampered)


def test_wrong_kek_or_swapped_row_fails():
    kek = os.urandom(32)
    record = encrypt_record(kek, "ref", b"identity")
    with pytest.raises(DecryptionError):
        decrypt_record(os.urandom(32), "ref", record)
    with pytest.raises(DecryptionError):
        decrypt_record(kek, "another-ref", record)


def test_dek_wrap_is_compatible_with_crypto():
    a, b = secrets.token_bytes(32), secrets.token_bytes(32)
    record = encrypt_record(a, "ref", b"identity")
    dek = unwrap_dek(a, "ref", record.wrapped_dek)
    moved = SealedRecord(kek_id(b), wrap_dek(b, "ref", dek), record.ciphertext)
    assert decrypt_record(b, "ref", moved) == b"identity"
    with pytest.raises(DecryptionError):
        unwrap_dek(a, "another-ref", record.wrapped_dek)
