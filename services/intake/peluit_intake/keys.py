"""intake's keys: its own secret (``PELUIT_INTAKE_SECRET_FILE``) with every
key derived from it, and the vault's *public* key. intake holds no key that
opens a sealed identity (its own WhatsApp drafts it does open: ``whatsapp_store``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from peluit_common.settings import env_int, secret_bytes

from .receipts import Argon2Params, ReceiptKeys


def intake_secret() -> bytes:
    return bytes.fromhex(secret_bytes("PELUIT_INTAKE_SECRET_FILE", "intake-secret.key").decode())


@dataclass(frozen=True)
class IntakeKeys:
    receipts: ReceiptKeys
    vault_public_key: bytes
    # the channels' idempotency keys, so that every intake instance maps a retried mail
    # or WhatsApp message to the same submission (a label of their own each)
    mail: bytes = field(repr=False, default=b"")
    whatsapp: bytes = field(repr=False, default=b"")
    # seals WhatsApp drafts in intake's database and hashes the numbers there (whatsapp_store)
    whatsapp_state: bytes = field(repr=False, default=b"")

    @classmethod
    def derive(cls, secret: bytes, vault_public_key: bytes, params: Argon2Params = Argon2Params()) -> IntakeKeys:
        return cls(ReceiptKeys(secret, params), vault_public_key,
                   ReceiptKeys._subkey(secret, b"mail-idempotency"),
                   ReceiptKeys._subkey(secret, b"whatsapp-idempotency"),
                   ReceiptKeys._subkey(secret, b"whatsapp-state"))

    @classmethod
    def from_env(cls) -> IntakeKeys:
        params = Argon2Params(time_cost=env_int("PELUIT_RECEIPT_ARGON2_TIME", 2),
                              memory_kib=env_int("PELUIT_RECEIPT_ARGON2_MEMORY_KIB", 19456))
        vault_public_key = bytes.fromhex(secret_bytes("PELUIT_VAULT_PUBLIC_KEY_FILE", "vault-x25519.pub").decode())
        return cls.derive(intake_secret(), vault_public_key, params)
