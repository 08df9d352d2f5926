"""Reporter identities: one sealed record per submission (``records.IDENTITIES``).

The row's ``case_id`` is derived from the submission id as cases derives it
(``peluit_contracts.reports.case_id_for``), so the vault can check which case
a reporter_ref belongs to and start its retention clock when the case ends,
without being told.
"""

from __future__ import annotations

import base64
import binascii
import json

from marshmallow import ValidationError
from prometheus_client import Counter

from peluit_contracts.reports import IdentitySchema, StoreIdentityCommand, case_id_for

from .crypto import DecryptionError, unseal
from .keyring import Keyring
from .records import IDENTITIES

IDENTITIES_STORED = Counter("peluit_vault_identities_stored_total", "Identities stored (new)")
SEALED_REFUSED = Counter("peluit_vault_sealed_refused_total", "Sealed identities refused", ["reason"])


def accept(conn, keyring: Keyring, private_key: bytes, command) -> dict:
    """``store_identity``: unseal, validate, encrypt at rest. Returns
    {"reporter_ref"} or {"error"}; never says why a box did not open."""
    try:
        cmd = StoreIdentityCommand().load(command)
        sealed = base64.b64decode(cmd["sealed_identity"], validate=True)
    except (ValidationError, binascii.Error, ValueError, TypeError):
        SEALED_REFUSED.labels("command").inc()
        return {"error": "invalid_command"}
    try:
        plaintext = unseal(private_key, sealed)
        IdentitySchema().load(json.loads(plaintext))
    except (DecryptionError, ValueError, ValidationError):
        SEALED_REFUSED.labels("sealed_identity").inc()
        return {"error": "invalid_sealed_identity"}
    ref, created = _store(conn, keyring, cmd["submission_id"], cmd["tenant"], plaintext)
    del plaintext
    if created:
        IDENTITIES_STORED.inc()
    return {"reporter_ref": ref}


def store_identity(conn, keyring: bytes | Keyring, submission_id: str, tenant: str, plaintext: bytes) -> str:
    """Store once per submission under the current KEK; a repeat returns the first reporter_ref."""
    return _store(conn, keyring, submission_id, tenant, plaintext)[0]


def _store(conn, keyring, submission_id: str, tenant: str, plaintext: bytes) -> tuple[str, bool]:
    return IDENTITIES.store(conn, keyring, plaintext, case_id_for(submission_id), submission_id=submission_id,
                            tenant=tenant)


def read_identity(conn, keyring: bytes | Keyring, reporter_ref: str) -> bytes | None:
    """The clear identity; None if the reference is unknown (raises as ``SealedRecords.read``)."""
    found = IDENTITIES.read(conn, keyring, reporter_ref)
    return found[0] if found else None


def reporter_of_case(conn, case_id: str) -> str | None:
    """The reporter_ref of a case's reporter; None for an anonymous report."""
    with conn.transaction():
        row = conn.execute("SELECT reporter_ref FROM reporter WHERE case_id = %s", (case_id,)).fetchone()
    return row[0] if row else None


def case_of(conn, reporter_ref: str) -> str | None:
    """The case a reporter_ref was registered for; None if the vault has no such reporter."""
    with conn.transaction():
        row = conn.execute("SELECT case_id FROM reporter WHERE reporter_ref = %s", (reporter_ref,)).fetchone()
    return str(row[0]) if row and row[0] else None
