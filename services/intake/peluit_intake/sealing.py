"""Seal identity and evidence originals to the vault's public key (libsodium sealed box)."""

from __future__ import annotations

import json

from nacl.public import PublicKey, SealedBox


def seal_identity(vault_public_key: bytes, identity: dict) -> bytes:
    plaintext = json.dumps(identity, ensure_ascii=False, sort_keys=True).encode()
    return SealedBox(PublicKey(vault_public_key)).encrypt(plaintext)


def seal_original(vault_public_key: bytes, original: bytes) -> bytes:
    return SealedBox(PublicKey(vault_public_key)).encrypt(original)


def seal_name(vault_public_key: bytes, name: str | None) -> bytes | None:
    """The reporter's own file name, sealed like its original (None: there was none)."""
    return SealedBox(PublicKey(vault_public_key)).encrypt(name.encode()) if name else None
