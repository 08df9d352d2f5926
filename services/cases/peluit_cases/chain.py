"""Tamper evidence for the cases event store: a hash chain and signed checkpoints.

Every row of the eventsourcing table ``cases_events`` carries
``prev_log_hash`` (the ``event_hash`` of the row with the next lower
notification id), ``prev_aggregate_hash`` (that of the same aggregate's
previous version) and its own ``event_hash``; the byte layout is
``peluit_chain.event_hash`` (the offline verifier recomputes it).

A BEFORE INSERT trigger fills them, so every insert path is chained, not only
the application's. Notification ids come from a sequence and may have gaps:
the chain, not id contiguity, shows a deleted row.

A timer signs (position, head hash, time, key id) with an Ed25519 key read
from a file (never from the database) whenever the head has moved:
``chain_checkpoint``.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from datetime import datetime, timezone

from psycopg import sql

from peluit_chain import EVENT_TAG, EVENT_TAG_V2, CheckpointSigner
from peluit_common.db import advisory_lock
from peluit_common.settings import env

log = logging.getLogger(__name__)

EVENTS_TABLE = "cases_events"  # eventsourcing: f"{CasesApplication.name}_events"
# pg_advisory_xact_lock keys: one migration and one checkpoint writer at a time
MIGRATION_LOCK = 0x5045_4C55_0001
CHECKPOINT_LOCK = 0x5045_4C55_0002
INSERT_LOCK = 0x5045_4C55_0003  # non-eventsourcing inserts, in the link function


def schema() -> str:
    return env("PELUIT_DB_SCHEMA", "peluit")


CHECKPOINT_TABLE = """
CREATE TABLE IF NOT EXISTS {schema}.chain_checkpoint (
    position bigint PRIMARY KEY,   -- notification id of the signed head
    head_hash bytea NOT NULL,
    signed_at timestamptz NOT NULL,
    key_id text NOT NULL,
    signature bytea NOT NULL
);
-- public keys only, so that a bundle names every key its checkpoints were signed with (rotation)
CREATE TABLE IF NOT EXISTS {schema}.chain_key (
    key_id text PRIMARY KEY,
    public_key bytea NOT NULL,
    first_used timestamptz NOT NULL DEFAULT now()
)
"""

# What both hash versions chain on after their tag (length-prefixed, as peluit_chain).
_LINK = """        || int8send(length(prev_log)::bigint) || prev_log
        || int8send(length(prev_agg)::bigint) || prev_agg
        || int8send(8) || int8send(nid)
        || int8send(16) || uuid_send(oid)
        || int8send(8) || int8send(ver)
"""

# sha256 over length-prefixed fields: the same bytes as peluit_chain.event_hash
HASH_FUNCTION = """
CREATE OR REPLACE FUNCTION {schema}.peluit_event_hash(
    prev_log bytea, prev_agg bytea, nid bigint, oid uuid, ver bigint, topic text, state bytea)
RETURNS bytea LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT sha256(
        int8send({tag_length}) || convert_to({tag}, 'UTF8')
""" + _LINK + """        || int8send(length(convert_to(coalesce(topic, ''), 'UTF8'))::bigint) || convert_to(coalesce(topic, ''), 'UTF8')
        || int8send(length(coalesce(state, ''::bytea))::bigint) || coalesce(state, ''::bytea))
$$
"""

# Hash version 2 (``peluit_chain.event_hash_v2``): the content enters as its digest, so a
# case bundle can carry other cases' events as (ids, version, digest) and every hash is
# recomputed: an event moved out of a case no longer matches. Rows chained before keep 1.
HASH_V2_FUNCTIONS = """
CREATE OR REPLACE FUNCTION {schema}.peluit_content_digest(topic text, state bytea)
RETURNS bytea LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT sha256(
        int8send(length(convert_to(coalesce(topic, ''), 'UTF8'))::bigint) || convert_to(coalesce(topic, ''), 'UTF8')
        || int8send(length(coalesce(state, ''::bytea))::bigint) || coalesce(state, ''::bytea))
$$;
CREATE OR REPLACE FUNCTION {schema}.peluit_event_hash_v2(
    prev_log bytea, prev_agg bytea, nid bigint, oid uuid, ver bigint, digest bytea)
RETURNS bytea LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT sha256(
        int8send({tag2_length}) || convert_to({tag2}, 'UTF8')
""" + _LINK + """        || int8send(length(digest)::bigint) || digest)
$$
"""

# The link function. eventsourcing takes LOCK TABLE ... IN EXCLUSIVE MODE before
# its INSERT (PostgresApplicationRecorder._lock_table), so its writers are
# serialised, ids are drawn in commit order and the head read here is the
# committed predecessor. That lock also conflicts with the ROW EXCLUSIVE lock
# of any other INSERT; other INSERTs among themselves are serialised by the
# advisory lock below (cheaper per row than repeating LOCK TABLE, a utility
# statement). The head query runs after the lock with a fresh READ COMMITTED
# snapshot; an insert whose id is not after the head (drawn before the lock)
# or that runs with an older snapshot is refused rather than forking the chain.
LINK_FUNCTION = """
CREATE OR REPLACE FUNCTION {schema}.peluit_chain_link() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    head_id bigint;
    head_hash bytea;
    agg_hash bytea;
BEGIN
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'peluit chain: events are inserted under READ COMMITTED only'
            USING ERRCODE = 'serialization_failure';
    END IF;
    PERFORM pg_advisory_xact_lock({insert_lock});
    SELECT notification_id, event_hash INTO head_id, head_hash
        FROM {schema}.{table} ORDER BY notification_id DESC LIMIT 1;
    IF head_id IS NOT NULL AND head_id >= NEW.notification_id THEN
        RAISE EXCEPTION 'peluit chain: notification id % is not after the head %', NEW.notification_id, head_id
            USING ERRCODE = 'serialization_failure';
    END IF;
    SELECT event_hash INTO agg_hash FROM {schema}.{table}
        WHERE originator_id = NEW.originator_id AND originator_version = NEW.originator_version - 1;
    NEW.prev_log_hash := coalesce(head_hash, '\\x0000000000000000000000000000000000000000000000000000000000000000'::bytea);
    NEW.prev_aggregate_hash := coalesce(agg_hash, '\\x0000000000000000000000000000000000000000000000000000000000000000'::bytea);
    NEW.hash_version := 2;
    NEW.event_hash := {schema}.peluit_event_hash_v2(NEW.prev_log_hash, NEW.prev_aggregate_hash, NEW.notification_id,
        NEW.originator_id, NEW.originator_version, {schema}.peluit_content_digest(NEW.topic, NEW.state));
    RETURN NEW;
END
$$
"""

# (Re)links every row from ``from_id`` on, in notification-id order. The
# migration runs it once over the rows that existed before the trigger, as a
# function of its own session (pg_temp) that is never installed: a ready-made
# "recompute every hash after my edit" would only serve an attacker. The
# tests create it as such an attacker would, after an edit.
RELINK_FUNCTION = """
CREATE OR REPLACE FUNCTION pg_temp.peluit_chain_relink(from_id bigint) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    r record;
    prev bytea;
    link bytea;
    agg bytea;
    n bigint := 0;
    zero bytea := '\\x0000000000000000000000000000000000000000000000000000000000000000'::bytea;
BEGIN
    SELECT event_hash INTO prev FROM {schema}.{table} WHERE notification_id < from_id
        ORDER BY notification_id DESC LIMIT 1;
    prev := coalesce(prev, zero);
    FOR r IN SELECT notification_id, originator_id, originator_version, topic, state, hash_version
             FROM {schema}.{table} WHERE notification_id >= from_id ORDER BY notification_id LOOP
        SELECT event_hash INTO agg FROM {schema}.{table}
            WHERE originator_id = r.originator_id AND originator_version = r.originator_version - 1;
        agg := coalesce(agg, zero);
        link := prev;
        IF r.hash_version = 2 THEN
            prev := {schema}.peluit_event_hash_v2(link, agg, r.notification_id, r.originator_id,
                                                   r.originator_version, {schema}.peluit_content_digest(r.topic, r.state));
        ELSE
            prev := {schema}.peluit_event_hash(link, agg, r.notification_id, r.originator_id, r.originator_version,
                                                r.topic, r.state);
        END IF;
        UPDATE {schema}.{table} SET prev_log_hash = link, prev_aggregate_hash = agg, event_hash = prev
            WHERE notification_id = r.notification_id;
        n := n + 1;
    END LOOP;
    RETURN n;
END
$$
"""


def _fmt(statement: str, schema_name: str) -> sql.Composed:
    return sql.SQL(statement).format(schema=sql.Identifier(schema_name), table=sql.Identifier(EVENTS_TABLE),
                                     insert_lock=sql.Literal(INSERT_LOCK), tag=sql.Literal(EVENT_TAG.decode()),
                                     tag_length=sql.Literal(len(EVENT_TAG)), tag2=sql.Literal(EVENT_TAG_V2.decode()),
                                     tag2_length=sql.Literal(len(EVENT_TAG_V2)))


def relink_function(schema_name: str | None = None) -> sql.Composed:
    """The relink function, for a session's pg_temp (the migration; tests playing the attacker)."""
    return _fmt(RELINK_FUNCTION, schema_name or schema())


def events_table_exists(conn, schema_name: str) -> bool:
    return conn.execute("SELECT to_regclass(%s) IS NOT NULL",
                        (f'"{schema_name}"."{EVENTS_TABLE}"',)).fetchone()[0]


def _installed(conn, schema_name: str) -> bool:
    row = conn.execute(
        "SELECT (SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
        "         JOIN pg_namespace n ON n.oid = c.relnamespace"
        "         WHERE n.nspname = %s AND c.relname = %s AND t.tgname = 'peluit_chain_link'),"
        "       (SELECT count(*) FROM information_schema.columns WHERE table_schema = %s AND table_name = %s"
        "         AND column_name IN ('prev_log_hash', 'prev_aggregate_hash', 'event_hash') AND is_nullable = 'NO')",
        (schema_name, EVENTS_TABLE, schema_name, EVENTS_TABLE)).fetchone()
    return row == (1, 3)


@contextmanager
def migration_lock(conninfo: str):
    """Held while an instance creates the event store's tables: instances
    starting together on a new database raced on CREATE TABLE IF NOT EXISTS
    (PostgreSQL: "tuple concurrently updated"; seen with two generator
    processes in the province bench)."""
    with advisory_lock(conninfo, MIGRATION_LOCK):
        yield


def migrate(conn) -> bool:
    """Idempotent. Creates the checkpoint tables and, once the eventsourcing
    table exists, the chain columns, functions and trigger (the functions are
    replaced on every start, so a new version takes effect). Rows that were
    there before are chained once, in notification-id order, under the table
    lock (no writer can slip in between). True when the chain is on."""
    name = schema()
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))  # one instance at a time
        conn.execute(_fmt(CHECKPOINT_TABLE, name))
        if not events_table_exists(conn, name):
            return False  # the service creates it (CREATE_TABLE=y) and calls migrate again
        conn.execute(_fmt(HASH_FUNCTION, name))
        conn.execute(_fmt(HASH_V2_FUNCTIONS, name))
        if not conn.execute("SELECT 1 FROM information_schema.columns WHERE table_schema = %s AND table_name = %s"
                            " AND column_name = 'hash_version'", (name, EVENTS_TABLE)).fetchone():
            # rows chained before version 2 keep version 1; the link function writes 2
            conn.execute(_fmt("ALTER TABLE {schema}.{table} ADD COLUMN hash_version smallint NOT NULL DEFAULT 1",
                              name))
        conn.execute(_fmt(LINK_FUNCTION, name))
        conn.execute(_fmt("DROP FUNCTION IF EXISTS {schema}.peluit_chain_relink(bigint)", name))  # older versions
        if _installed(conn, name):
            return True
        conn.execute(_fmt("LOCK TABLE {schema}.{table} IN EXCLUSIVE MODE", name))
        for column in ("prev_log_hash", "prev_aggregate_hash", "event_hash"):
            conn.execute(_fmt(f"ALTER TABLE {{schema}}.{{table}} ADD COLUMN IF NOT EXISTS {column} bytea", name))
        unchained = conn.execute(_fmt("SELECT min(notification_id) FROM {schema}.{table} WHERE event_hash IS NULL",
                                      name)).fetchone()[0]
        if unchained is not None:
            conn.execute(relink_function(name))
            count = conn.execute("SELECT pg_temp.peluit_chain_relink(%s)", (unchained,)).fetchone()[0]
            conn.execute("DROP FUNCTION pg_temp.peluit_chain_relink(bigint)")
            log.info("chained existing events", extra={"events": count})
        for column in ("prev_log_hash", "prev_aggregate_hash", "event_hash"):
            conn.execute(_fmt(f"ALTER TABLE {{schema}}.{{table}} ALTER COLUMN {column} SET NOT NULL", name))
        conn.execute(_fmt("DROP TRIGGER IF EXISTS peluit_chain_link ON {schema}.{table}", name))
        conn.execute(_fmt("CREATE TRIGGER peluit_chain_link BEFORE INSERT ON {schema}.{table}"
                          " FOR EACH ROW EXECUTE FUNCTION {schema}.peluit_chain_link()", name))
    return True


# -- signed checkpoints -------------------------------------------------------


def load_signer() -> CheckpointSigner:
    from peluit_common.auth import load_signing_key

    return CheckpointSigner(load_signing_key("PELUIT_CHECKPOINT_KEY_FILE", "checkpoint.key"))


def register_key(conn, signer: CheckpointSigner) -> None:
    with conn.transaction():
        conn.execute(_fmt("INSERT INTO {schema}.chain_key (key_id, public_key) VALUES (%s, %s)"
                          " ON CONFLICT (key_id) DO NOTHING", schema()), (signer.key_id, signer.public_key))


def checkpoint_once(conn, signer: CheckpointSigner, now: datetime | None = None) -> dict | None:
    """Sign the current head if it moved since the newest checkpoint. One
    instance at a time (advisory lock; the others skip), and the position is
    the primary key, so a race can never store two checkpoints for one head."""
    name = schema()
    with conn.transaction():
        if not conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (CHECKPOINT_LOCK,)).fetchone()[0]:
            return None
        head = conn.execute(_fmt("SELECT notification_id, event_hash FROM {schema}.{table}"
                                 " ORDER BY notification_id DESC LIMIT 1", name)).fetchone()
        if head is None:
            return None
        last = conn.execute(_fmt("SELECT max(position) FROM {schema}.chain_checkpoint", name)).fetchone()[0]
        position, head_hash = head[0], bytes(head[1])
        if last is not None and last >= position:
            return None
        # microseconds: what PostgreSQL stores, so the exported text is the signed text
        signed_at = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
        signature = signer.sign(position, head_hash, signed_at)
        conn.execute(_fmt("INSERT INTO {schema}.chain_checkpoint (position, head_hash, signed_at, key_id, signature)"
                          " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (position) DO NOTHING", name),
                     (position, head_hash, signed_at, signer.key_id, signature))
    return {"position": position, "key_id": signer.key_id}
