"""Receipts, submission ids and fingerprints.

The receipt is the reporter's only credential: 16 random digits (~53 bits),
shown as XXXX-XXXX-XXXX-XXXX and stored nowhere in clear. Cases keeps only a
slow hash (Argon2id over the receipt with a deployment salt and pepper), which
is also the lookup key, so the status page needs nothing but the receipt.

A retried submission with the same ``Idempotency-Key`` must get the same
receipt back although no clear copy exists: with a key, the receipt and the
submission id are derived from it by HMAC under intake's secret. Without a
key both are fresh randomness.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass

from argon2.exceptions import HashingError
from argon2.low_level import ARGON2_VERSION, Type, core, error_to_str, ffi, hash_secret_raw

IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9_\-]{16,128}")
RECEIPT_DIGITS = 16


def format_receipt(digits: str) -> str:
    return "-".join(digits[i:i + 4] for i in range(0, RECEIPT_DIGITS, 4))


def _digits(raw: bytes) -> str:
    return str(int.from_bytes(raw, "big") % 10**RECEIPT_DIGITS).zfill(RECEIPT_DIGITS)


@dataclass(frozen=True)
class Argon2Params:
    time_cost: int = 2
    memory_kib: int = 19456  # OWASP's minimum for Argon2id: m=19 MiB, t=2, p=1
    parallelism: int = 1


def _argon2id(secret: bytes, salt: bytes, params: Argon2Params, hash_len: int = 32) -> bytes:
    return hash_secret_raw(secret=secret, salt=salt, time_cost=params.time_cost, memory_cost=params.memory_kib,
                           parallelism=params.parallelism, hash_len=hash_len, type=Type.ID)


class WorkArea:
    """Argon2id's working memory (``memory_kib``, 19 MiB), kept and lent to one hash at a time.

    Left to malloc, every hash maps 19 MiB afresh (the pool's mallopt setting returns
    freed blocks to the system) and takes ~4,900 page faults: measured, 20 ms of CPU
    became 38. Argon2 wipes the memory itself before giving it back (``free_memory``).
    Whoever lends it (``HashPool``) gives it to one hash at a time; should a second come
    meanwhile (a waiter killed while its thread still hashes), it hashes in malloc's memory."""

    def __init__(self):
        self._memory = None
        self._free_token = [True]  # a try-lock between OS threads: list.pop is atomic under the GIL
        try:
            self._allocate = ffi.callback("allocate_fptr", self._lend, onerror=self._refused)
            self._free = ffi.callback("deallocate_fptr", lambda memory, size: None)
        except (MemoryError, RuntimeError):  # no executable trampolines here (W^X): malloc's way
            self._allocate = self._free = None

    @property
    def usable(self) -> bool:
        return self._allocate is not None

    def _lend(self, memory, size: int) -> int:
        if self._memory is None or len(self._memory) < size:
            self._memory = ffi.new("uint8_t[]", size)  # zeroed, so resident from here on
        memory[0] = self._memory
        return 0

    @staticmethod
    def _refused(exc_type, exc, traceback) -> int:  # e.g. MemoryError: Argon2 sees NULL and fails cleanly
        return -22

    def hash(self, secret: bytes, salt: bytes, params: Argon2Params, hash_len: int = 32) -> bytes:
        """``hash_secret_raw(secret, salt, ...)``, the same bytes, in this memory if it is free."""
        try:
            self._free_token.pop()
        except IndexError:
            return _argon2id(secret, salt, params, hash_len)
        try:
            return self._hash(secret, salt, params, hash_len)
        finally:
            self._free_token.append(True)

    def _hash(self, secret: bytes, salt: bytes, params: Argon2Params, hash_len: int) -> bytes:
        out = ffi.new("uint8_t[]", hash_len)
        pwd, salt_c = ffi.new("uint8_t[]", secret), ffi.new("uint8_t[]", salt)
        context = ffi.new("argon2_context *", {
            "out": out, "outlen": hash_len, "pwd": pwd, "pwdlen": len(secret), "salt": salt_c,
            "saltlen": len(salt), "secret": ffi.NULL, "secretlen": 0, "ad": ffi.NULL, "adlen": 0,
            "t_cost": params.time_cost, "m_cost": params.memory_kib, "lanes": params.parallelism,
            "threads": params.parallelism, "version": ARGON2_VERSION, "allocate_cbk": self._allocate,
            "free_cbk": self._free, "flags": 0,
        })
        code = core(context, Type.ID.value)
        if code != 0:
            raise HashingError(error_to_str(code))
        return bytes(ffi.buffer(out, hash_len))


class ReceiptKeys:
    """All of intake's derivations from one secret (``intake-secret.key``)."""

    def __init__(self, secret: bytes, params: Argon2Params = Argon2Params()):
        if len(secret) < 32:
            raise ValueError("intake secret must be at least 32 bytes")
        self._submission = self._subkey(secret, b"submission")
        self._receipt = self._subkey(secret, b"receipt")
        self._fingerprint = self._subkey(secret, b"fingerprint")
        self._pepper = self._subkey(secret, b"receipt-pepper")
        self._salt = self._subkey(secret, b"receipt-salt")[:16]
        self.params = params

    @staticmethod
    def _subkey(secret: bytes, label: bytes) -> bytes:
        return hmac.new(secret, b"peluit-intake-v1/" + label, hashlib.sha256).digest()

    def _mac(self, key: bytes, *parts: str) -> bytes:
        return hmac.new(key, "\x00".join(parts).encode(), hashlib.sha256).digest()

    def submission_id(self, tenant: str, idempotency_key: str | None) -> str:
        if idempotency_key is None:
            return secrets.token_hex(32)
        return self._mac(self._submission, tenant, idempotency_key).hex()

    def receipt(self, tenant: str, idempotency_key: str | None) -> str:
        if idempotency_key is None:
            return str(secrets.randbelow(10**RECEIPT_DIGITS)).zfill(RECEIPT_DIGITS)
        return _digits(self._mac(self._receipt, tenant, idempotency_key))

    def fingerprint(self, report: dict) -> str:
        """Keyed hash of the report (without identity): a reused
        Idempotency-Key with a different report is refused, not replayed."""
        canonical = json.dumps(report, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return self._mac(self._fingerprint, canonical).hex()

    def lookup_hash(self, receipt_digits: str, area: WorkArea | None = None) -> str:
        """Argon2id; CPU-bound for ~tens of ms: call it off the eventlet hub (``HashPool``,
        which lends it an ``area`` of memory no other hash uses meanwhile)."""
        peppered = hmac.new(self._pepper, receipt_digits.encode(), hashlib.sha256).digest()
        if area is not None and area.usable:
            return area.hash(peppered, self._salt, self.params).hex()
        return _argon2id(peppered, self._salt, self.params).hex()
