"""Tamper evidence for the cases event store: ``cases_events`` is a chained log
of ``peluit_common.chain`` (the trigger, checkpoints and export are there,
shared with the vault's logs); this module names it and its key.

Every row carries ``prev_log_hash``, ``prev_aggregate_hash`` and its own
``event_hash`` (``peluit_chain.event_hash_v2``; rows chained before version 2
keep version 1). A timer signs the head with the Ed25519 key of
``PELUIT_CHECKPOINT_KEY_FILE`` into ``chain_checkpoint`` whenever it moved.
"""

from __future__ import annotations

from peluit_chain import CheckpointSigner
from peluit_common import chain as shared
from peluit_common.settings import env

EVENTS_TABLE = "cases_events"  # eventsourcing: f"{CasesApplication.name}_events"
# pg_advisory_xact_lock keys, unchanged since the first release (old and new instances share them)
CHECKPOINT_LOCK = 0x5045_4C55_0002
INSERT_LOCK = 0x5045_4C55_0003  # non-eventsourcing inserts, in the link function

LOG = shared.Log(table=EVENTS_TABLE, checkpoints="chain_checkpoint", insert_lock=INSERT_LOCK,
                 checkpoint_lock=CHECKPOINT_LOCK, link="peluit_chain_link")


def schema(conn=None) -> str:
    return env("PELUIT_DB_SCHEMA", "peluit")


def relink_function(schema_name: str | None = None):
    """The relink function, for a session's pg_temp (the migration; tests playing the attacker)."""
    return shared.relink_function(LOG, schema_name or schema())


def migrate(conn) -> bool:
    """The checkpoint tables, and the chain once eventsourcing made the table (``shared.migrate``)."""
    return shared.migrate(conn, LOG, schema())


def register_key(conn, signer: CheckpointSigner) -> None:
    shared.register_key(conn, schema(), signer)


def checkpoint_once(conn, signer: CheckpointSigner, now=None) -> dict | None:
    return shared.checkpoint_once(conn, LOG, schema(), signer, now)


def load_signer() -> CheckpointSigner:
    from peluit_common.auth import load_signing_key

    return CheckpointSigner(load_signing_key("PELUIT_CHECKPOINT_KEY_FILE", "checkpoint.key"))


def checkpoints():
    """The service's signer for the event store (a nameko dependency)."""
    from peluit_common.eventstore import Checkpoints  # a nameko dependency: not imported by the CLI's export

    return Checkpoints(load_signer, [LOG], schema)
