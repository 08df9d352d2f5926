"""Reports from partner systems (LAPOR!, a Smart City app): the contract and a small client.

``POST /api/v1/partner/reports`` on intake, with ``Authorization: Bearer
<system>.<secret>`` (one credential per partner system, scoped to tenants,
revocable). A partner never sends an identity in clear: it seals it to the
vault's public key itself (``seal_identity`` below, libsodium's sealed box),
so intake, cases, the broker and every log see ciphertext only; a body with
``identity`` is refused. ``(system, source_id)`` makes the request
idempotent: the same report again gets the same registration number.
"""

from __future__ import annotations

import base64
import json

from .fields import Pattern, Text
from .reports import SOURCE_ID, IdentitySchema, ReportFieldsSchema, tenant_field

MAX_SEALED = 12_000  # base64 of a sealed box around the largest identity IdentitySchema allows


class PartnerReportSchema(ReportFieldsSchema):
    """The body a partner posts: the 5W+1H, where, and its own reference."""

    source_id = Pattern(SOURCE_ID, "code", required=True, max_len=100)
    tenant = tenant_field(required=True)
    category = Pattern(r"[a-z0-9_\-]{2,64}", "code", required=True, max_len=64)
    sealed_identity = Text(max_len=MAX_SEALED, multiline=False, load_default=None)


def seal_identity(vault_public_key: bytes, identity: dict) -> str:
    """The partner's side: validate the identity and seal it to the vault's
    X25519 public key (``identity-vault.pub``); base64, for ``sealed_identity``."""
    from nacl.public import PublicKey, SealedBox  # PyNaCl: only partners and intake need it

    checked = IdentitySchema().load(identity)
    plaintext = json.dumps(checked, ensure_ascii=False, sort_keys=True).encode()
    return base64.b64encode(SealedBox(PublicKey(vault_public_key)).encrypt(plaintext)).decode()
