"""The vault's own history is tamper-evident: the disclosure log
(``vault_events``, every request, approval, refusal, expiry and view),
``vault_audit`` (closures, shredding, KEK rotation) and the refused vault
calls (``vault_call_refused``) are chained logs of ``peluit_common.chain``,
like the cases event store.

A trigger chains every row, whatever writes it, so a new kind of disclosure
event or audit action is covered as it appears. A timer signs each head that
moved with the vault's own Ed25519 checkpoint key (``PELUIT_VAULT_CHECKPOINT_KEY_FILE``,
never in the database; its public key goes to auditors out of band), into
``<table>_checkpoint``. ``peluit-vault export-bundle`` writes any of them for ``peluit-verify`` with
plain SELECTs: a read-only role and no vault secret are enough.

Both logs live in the schema of the vault's connection (``current_schema()``:
``peluit`` as provisioned; eventsourcing's ``POSTGRES_SCHEMA`` is the same).
"""

from __future__ import annotations

from peluit_chain import CheckpointSigner
from peluit_common import chain as shared

DISCLOSURES = shared.Log(table="vault_events", checkpoints="vault_events_checkpoint",
                         insert_lock=0x5045_4C55_0011, checkpoint_lock=0x5045_4C55_0012)
# what a vault_audit row's hash commits to, each field as text: the time in UTC with microseconds
# (as peluit_chain.format_time writes it, whatever the session's time zone) and the jsonb's own text
AUDIT = shared.Log(table="vault_audit", checkpoints="vault_audit_checkpoint",
                   insert_lock=0x5045_4C55_0021, checkpoint_lock=0x5045_4C55_0022, fields=(
                       ("at", """to_char({row}.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')"""),
                       ("action", "{row}.action"),
                       ("reporter_ref", "{row}.reporter_ref"),
                       ("detail", "{row}.detail::text")))
# every vault call refused (a forged, replayed or mis-bound token: calls.py), who the token named
REFUSED_CALLS = shared.Log(table="vault_call_refused", checkpoints="vault_call_refused_checkpoint",
                           insert_lock=0x5045_4C55_0031, checkpoint_lock=0x5045_4C55_0032, fields=(
                               ("at", AUDIT.fields[0][1]),
                               ("action", "{row}.action"),
                               ("code", "{row}.code"),
                               ("officer_id", "{row}.officer_id")))
LOGS = {"disclosures": DISCLOSURES, "audit": AUDIT, "refused-calls": REFUSED_CALLS}


def schema(conn) -> str:
    with conn.transaction():  # no transaction left open behind the caller's back (autocommit off)
        return conn.execute("SELECT current_schema()").fetchone()[0]


def migrate(conn) -> None:
    """Chain both logs (each once its table exists; rows already there are
    chained in id order) and create their checkpoint tables. Idempotent."""
    name = schema(conn)
    for log in LOGS.values():
        shared.migrate(conn, log, name)


def load_signer() -> CheckpointSigner:
    from peluit_common.auth import load_signing_key

    return CheckpointSigner(load_signing_key("PELUIT_VAULT_CHECKPOINT_KEY_FILE", "vault-checkpoint.key"))


def checkpoints():
    """The service's signer for both logs (a nameko dependency)."""
    from peluit_common.eventstore import Checkpoints  # a nameko dependency: not imported by the CLI's export

    return Checkpoints(load_signer, LOGS.values(), schema)
