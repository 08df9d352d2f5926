"""Key-encryption keys (KEKs), held in a file outside the database (the
vault's ``PELUIT_VAULT_KEK_FILE``, cases' ``PELUIT_CONTENT_KEK_FILE``), and
the envelope around a data key: ``wrap_key`` / ``unwrap_key`` (AES-256-GCM).

The file holds one hex-encoded 32-byte KEK per line:

    <new key, hex>      first line: the current key, wraps every new data key
    <old key, hex>      further lines: still accepted for unwrapping

Blank lines and lines starting with ``#`` are ignored. A single-line file (what
``make keys`` writes) is a keyring of one. Rotation: put a new key on the
first line, keep the old one below it, restart every instance, run the
service's ``rotate-kek``; then remove the old line and destroy the old key.
"""

from __future__ import annotations

import hashlib
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .settings import secret_bytes

KEK_BYTES = 32
GCM_NONCE = 12


class UnwrapError(Exception):
    """A wrapped key was altered or the key is wrong. Carries no detail on purpose."""


def kek_id(kek: bytes) -> str:
    return hashlib.sha256(b"peluit-kek-id" + kek).hexdigest()[:16]


def wrap_key(kek: bytes, aad: str, key: bytes) -> bytes:
    """``nonce || AES-256-GCM(kek, key)`` bound to ``aad`` (the reference of
    what the key protects). A KEK rotation re-wraps only this."""
    nonce = os.urandom(GCM_NONCE)
    return nonce + AESGCM(kek).encrypt(nonce, key, aad.encode())


def unwrap_key(kek: bytes, aad: str, wrapped: bytes) -> bytes:
    try:
        return AESGCM(kek).decrypt(wrapped[:GCM_NONCE], wrapped[GCM_NONCE:], aad.encode())
    except Exception:
        raise UnwrapError() from None


class KeyringError(RuntimeError):
    """The KEK file is unusable. Messages name line numbers, never key material."""


class UnknownKek(KeyringError, LookupError):
    """A row is wrapped under a KEK that is not in the keyring (only its id is named)."""

    def __init__(self, wanted: str):
        super().__init__(f"KEK {wanted} is not in the keyring; restore that key (below the current one) "
                         "in the KEK file")
        self.kek_id = wanted


class Keyring:
    """An ordered set of KEKs; the first is current. ``repr`` shows ids only."""

    __slots__ = ("_keys", "_by_id")

    def __init__(self, keys):
        keys = tuple(bytes(k) for k in keys)
        if not keys:
            raise KeyringError("the keyring holds no KEK")
        for n, key in enumerate(keys, 1):
            if len(key) != KEK_BYTES:
                raise KeyringError(f"KEK {n} must be {KEK_BYTES} bytes, found {len(key)}")
        self._keys = keys
        self._by_id: dict[str, bytes] = {}
        for key in keys:
            self._by_id.setdefault(kek_id(key), key)  # a repeated line is harmless

    @classmethod
    def parse(cls, text: str | bytes, source: str = "KEK file") -> Keyring:
        if isinstance(text, bytes):
            try:
                text = text.decode("ascii")
            except UnicodeDecodeError:
                raise KeyringError(f"{source}: not ASCII hex") from None
        keys = []
        for number, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            try:
                key = bytes.fromhex(line)
            except ValueError:
                # the offending line is not echoed: it may be (part of) a key
                raise KeyringError(f"{source} line {number}: not a hex string") from None
            if len(key) != KEK_BYTES:
                raise KeyringError(
                    f"{source} line {number}: a KEK is {KEK_BYTES} bytes ({2 * KEK_BYTES} hex digits), "
                    f"found {len(key)} bytes")
            keys.append(key)
        if not keys:
            raise KeyringError(f"{source}: no KEK found")
        return cls(keys)

    @classmethod
    def from_file(cls, variable: str, dev_file: str) -> Keyring:
        """Read the file named by ``variable`` (in development ``$PELUIT_KEYS_DIR/<dev_file>``)."""
        return cls.parse(secret_bytes(variable, dev_file), variable)

    @classmethod
    def of(cls, kek_or_keyring: bytes | Keyring) -> Keyring:
        """Accept raw KEK bytes (older callers) as a keyring of one."""
        if isinstance(kek_or_keyring, Keyring):
            return kek_or_keyring
        if isinstance(kek_or_keyring, (bytes, bytearray, memoryview)):
            return cls([bytes(kek_or_keyring)])
        raise TypeError("expected KEK bytes or a Keyring")

    @property
    def current(self) -> bytes:
        return self._keys[0]

    @property
    def current_id(self) -> str:
        return kek_id(self._keys[0])

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(kek_id(k) for k in self._keys)

    def get(self, wanted: str) -> bytes:
        try:
            return self._by_id[wanted]
        except KeyError:
            raise UnknownKek(wanted) from None

    def __contains__(self, wanted: str) -> bool:
        return wanted in self._by_id

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"Keyring(current={self.current_id}, ids={list(self.ids)})"

