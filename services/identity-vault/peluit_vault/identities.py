"""Reporter identities: one sealed record per submission (``records.IDENTITIES``).

The row's ``case_id`` is derived from the submission id as cases derives it
(``peluit_contracts.reports.case_id_for``), so the vault can check which case
a reporter_ref belongs to and start its retention clock when the case ends,
without being told.
"""

from __future__ import annotations

from peluit_contracts.reports import case_id_for

from .keyring import Keyring
from .records import IDENTITIES


def store_identity(conn, keyring: bytes | Keyring, submission_id: str, tenant: str, plaintext: bytes) -> str:
    """Store once per submission under the current KEK; a repeat returns the first reporter_ref."""
    ref, _ = IDENTITIES.store(conn, keyring, plaintext, case_id_for(submission_id), submission_id=submission_id,
                              tenant=tenant)
    return ref


def read_identity(conn, keyring: bytes | Keyring, reporter_ref: str) -> bytes | None:
    """The clear identity; None if the reference is unknown (raises as ``SealedRecords.read``)."""
    found = IDENTITIES.read(conn, keyring, reporter_ref)
    return found[0] if found else None


def reporter_of_case(conn, case_id: str) -> str | None:
    """The reporter_ref of a case's reporter; None for an anonymous report."""
    with conn.transaction():
        row = conn.execute("SELECT reporter_ref FROM reporter WHERE case_id = %s", (case_id,)).fetchone()
    return row[0] if row else None
