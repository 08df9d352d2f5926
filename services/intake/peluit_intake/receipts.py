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

from argon2.low_level import Type, hash_secret_raw

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

    def lookup_hash(self, receipt_digits: str) -> str:
        """Argon2id; CPU-bound for ~tens of ms: call it off the eventlet hub."""
        peppered = hmac.new(self._pepper, receipt_digits.encode(), hashlib.sha256).digest()
        return hash_secret_raw(
            secret=peppered, salt=self._salt, time_cost=self.params.time_cost,
            memory_cost=self.params.memory_kib, parallelism=self.params.parallelism,
            hash_len=32, type=Type.ID,
        ).hex()
