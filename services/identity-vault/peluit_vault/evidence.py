"""Evidence originals: the untouched files reporters attach, kept like identities.

An original may identify its reporter (GPS, a PDF's author), so intake seals
it at once and the vault stores it as a sealed record bound to its case: it is
disclosed only within that case, under dual control, and shredded with it.
The dedupe key is keyed by a secret of the vault's, so a database dump cannot
even confirm that a known photo was submitted.
"""

from __future__ import annotations

import binascii
import hashlib
from uuid import UUID

from marshmallow import ValidationError
from prometheus_client import Counter as Metric

from peluit_common.settings import env_int
from peluit_contracts.evidence import EVIDENCE_RPC_VERSION, LABEL_MAX, StoreEvidenceOriginalCommand

from .crypto import DecryptionError, unseal
from .keyring import Keyring
from .records import ORIGINALS

ORIGINALS_STORED = Metric("peluit_vault_evidence_originals_stored_total", "Evidence originals stored (new)")
ORIGINALS_REFUSED = Metric("peluit_vault_evidence_originals_refused_total", "Evidence originals refused",
                           ["reason"])

DEFAULT_MAX_BYTES = 10 * 1000 * 1000


def digest_key(private_key: bytes) -> bytes:
    """The dedupe key, derived from (never equal to) the vault's private key."""
    return hashlib.blake2b(b"peluit evidence digest v1", key=private_key, digest_size=32).digest()


def digest(key: bytes, original: bytes) -> bytes:
    return hashlib.blake2b(original, key=key, digest_size=32).digest()


def store_original(conn, keyring: bytes | Keyring, dedupe_key: bytes, case_id: UUID | str, tenant: str,
                   mime: str, original: bytes, name: str | None = None) -> tuple[str, bool]:
    """Store once per (case, file); returns (original_ref, created). ``name``, the
    file name the reporter's device gave it (it may name them), is encrypted
    with the original: it leads the plaintext, ``name_bytes`` long."""
    label = (name or "").encode()
    return ORIGINALS.store(conn, keyring, label + original, UUID(str(case_id)), tenant=tenant,
                           digest=digest(dedupe_key, original), mime=mime, size=len(original),
                           name_bytes=len(label) or None)


def original_case(conn, original_ref: str) -> str | None:
    """The case an original belongs to (str), or None if the reference is unknown."""
    with conn.transaction():
        row = conn.execute("SELECT case_id FROM evidence_original WHERE original_ref = %s",
                           (original_ref,)).fetchone()
    return str(row[0]) if row else None


def read_original(conn, keyring: bytes | Keyring, original_ref: str) -> tuple[str, str, bytes] | None:
    """(case_id, mime, bytes) of one original; None if unknown (raises as ``SealedRecords.read``)."""
    found = read_original_named(conn, keyring, original_ref)
    return found[:3] if found else None


def read_original_named(conn, keyring: bytes | Keyring, original_ref: str) -> tuple[str, str, bytes, str | None] | None:
    """(case_id, mime, bytes, the reporter's file name or None) of one original."""
    found = ORIGINALS.read(conn, keyring, original_ref, "case_id", "mime", "name_bytes")
    if found is None:
        return None
    case_id, mime, name_bytes, plaintext = found
    name_bytes = name_bytes or 0
    return str(case_id), mime, plaintext[name_bytes:], plaintext[:name_bytes].decode() if name_bytes else None


# -- the RPC -------------------------------------------------------------------------

def accept(conn, keyring: Keyring, private_key: bytes, command) -> dict:
    """``store_evidence_original``: unseal, bound the size, encrypt at rest.
    Returns {"original_ref"} or {"error"}; never says why a box did not open."""
    try:
        cmd = StoreEvidenceOriginalCommand().load(command)
    except (ValidationError, TypeError, ValueError, binascii.Error):
        ORIGINALS_REFUSED.labels("command").inc()
        return {"error": "invalid_command"}
    if cmd["version"] != EVIDENCE_RPC_VERSION:
        return {"error": "unsupported_version"}
    try:
        original = unseal(private_key, cmd["sealed_original"])
    except DecryptionError:
        ORIGINALS_REFUSED.labels("sealed_original").inc()
        return {"error": "invalid_sealed_original"}
    if not original or len(original) > env_int("PELUIT_EVIDENCE_MAX_FILE_BYTES", DEFAULT_MAX_BYTES):
        ORIGINALS_REFUSED.labels("size").inc()
        return {"error": "too_large"}
    name = None
    if cmd.get("sealed_name"):
        try:
            name = unseal(private_key, cmd["sealed_name"]).decode()
        except (DecryptionError, UnicodeDecodeError):
            ORIGINALS_REFUSED.labels("sealed_name").inc()
            return {"error": "invalid_sealed_name"}
        if len(name) > LABEL_MAX or not name.isprintable():
            ORIGINALS_REFUSED.labels("sealed_name").inc()
            return {"error": "invalid_sealed_name"}
    ref, created = store_original(conn, keyring, digest_key(private_key), cmd["case_id"], cmd["tenant"],
                                  cmd["mime"], original, name)
    del original
    if created:
        ORIGINALS_STORED.inc()
    return {"original_ref": ref}
