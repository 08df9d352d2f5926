"""Envelope encryption of reporter identities and evidence originals.

- In transit: intake seals each record to the vault's X25519 public key
  (libsodium sealed box); only this process holds the private key.
- Out, to the one officer who may view a disclosed record: a sealed box to
  the key of the officer's client, or the browser format (``seal_for_browser``).
- At rest: a fresh 256-bit data key per record encrypts it with
  XChaCha20-Poly1305; the data key is wrapped with AES-256-GCM under a
  key-encryption key (KEK) that lives outside the database. Both ciphertexts
  are bound to the record's reference as associated data, so rows cannot be
  swapped.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from typing import Callable

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from nacl.bindings import (
    crypto_aead_xchacha20poly1305_ietf_decrypt,
    crypto_aead_xchacha20poly1305_ietf_encrypt,
)
from nacl.public import PrivateKey, PublicKey, SealedBox

from peluit_common.keyring import UnwrapError, kek_id, unwrap_key, wrap_key  # noqa: F401  (kek_id: the vault's name)

XCHACHA_NONCE = 24
GCM_NONCE = 12
BROWSER_INFO = b"peluit-disclosure-v1"


class DecryptionError(Exception):
    """A ciphertext was altered or a key is wrong. Carries no detail on purpose."""


def seal(public_key: bytes, plaintext: bytes) -> bytes:
    return SealedBox(PublicKey(public_key)).encrypt(plaintext)


def unseal(private_key: bytes, sealed: bytes) -> bytes:
    try:
        return SealedBox(PrivateKey(private_key)).decrypt(sealed)
    except Exception:
        raise DecryptionError() from None


def seal_for_browser(public_key: bytes, plaintext: bytes, associated_data: bytes) -> dict:
    """``x25519-hkdf-sha256-aes-256-gcm``: what a browser opens with WebCrypto
    alone. An ephemeral X25519 key agrees a secret with ``public_key``; HKDF-SHA256
    (salt: ephemeral public key || recipient public key, info ``peluit-disclosure-v1``)
    derives an AES-256-GCM key; a random 12-byte nonce; ``associated_data`` binds
    the box to its request. Answers the ephemeral public key, nonce and ciphertext
    (tag at its end) in base64."""
    return browser_sealer(public_key, associated_data)(plaintext)


def browser_sealer(public_key: bytes, associated_data: bytes) -> Callable[[bytes], dict]:
    """``seal_for_browser`` in two steps: the key agreement first, so a low-order
    key (whose agreed secret anyone knows) is refused (``ValueError``) before
    anything is read to be sealed."""
    ephemeral = X25519PrivateKey.generate()
    shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(public_key))  # ValueError on a low-order key
    if not any(shared):
        raise ValueError("low-order public key")
    ephemeral_public = ephemeral.public_key().public_bytes_raw()
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=ephemeral_public + public_key,
               info=BROWSER_INFO).derive(shared)

    def seal_(plaintext: bytes) -> dict:
        nonce = os.urandom(GCM_NONCE)
        ciphertext = AESGCM(key).encrypt(nonce, plaintext, associated_data)
        return {name: base64.b64encode(value).decode() for name, value in (
            ("ephemeral_public_key", ephemeral_public), ("nonce", nonce), ("ciphertext", ciphertext))}

    return seal_


@dataclass(frozen=True)
class SealedRecord:
    kek_id: str
    wrapped_dek: bytes  # nonce || AES-GCM(kek, dek)
    ciphertext: bytes  # nonce || XChaCha20-Poly1305(dek, record)


# ``nonce || AES-256-GCM(kek, dek)`` bound to the record's reference; a KEK rotation re-wraps only this
wrap_dek = wrap_key


def unwrap_dek(kek: bytes, aad: str, wrapped: bytes) -> bytes:
    try:
        return unwrap_key(kek, aad, wrapped)
    except UnwrapError:
        raise DecryptionError() from None


def encrypt_record(kek: bytes, aad: str, plaintext: bytes) -> SealedRecord:
    """A fresh data key encrypts ``plaintext``; both ciphertexts are bound to ``aad``."""
    dek = os.urandom(32)
    nonce = os.urandom(XCHACHA_NONCE)
    ciphertext = nonce + crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, aad.encode(), nonce, dek)
    return SealedRecord(kek_id(kek), wrap_dek(kek, aad, dek), ciphertext)


def decrypt_record(kek: bytes, aad: str, record: SealedRecord) -> bytes:
    dek = unwrap_dek(kek, aad, record.wrapped_dek)
    nonce, body = record.ciphertext[:XCHACHA_NONCE], record.ciphertext[XCHACHA_NONCE:]
    try:
        return crypto_aead_xchacha20poly1305_ietf_decrypt(body, aad.encode(), nonce, dek)
    except Exception:
        raise DecryptionError() from None


def generate_keypair() -> tuple[bytes, bytes]:
    key = PrivateKey.generate()
    return bytes(key), bytes(key.public_key)
