"""Tamper evidence for an append-only table: a hash chain and signed checkpoints.

One machinery for every chained log of Peluit (``Log``): the cases event
store (``cases_events``), the vault's disclosure log (``vault_events``) and
the vault's own audit (``vault_audit``). The byte layouts are ``peluit_chain``
(the offline verifier recomputes them).

- An eventsourcing event table: every row carries ``prev_log_hash`` (the
  ``event_hash`` of the row with the next lower notification id),
  ``prev_aggregate_hash`` (that of the same aggregate's previous version) and
  its own ``event_hash`` (``peluit_chain.event_hash_v2``).
- A table of records (``fields`` given): every row carries ``prev_log_hash``
  and ``event_hash`` over the table's name, the row's id and its fields as
  text (``peluit_chain.record_hash``).

A BEFORE INSERT trigger fills them, so every insert path is chained, not only
the application's, and a new kind of row is covered without a change here.
Ids come from a sequence and may have gaps: the chain, not id contiguity,
shows a deleted row. A timer signs (position, head hash, time, key id) with
an Ed25519 key read from a file (never from the database) whenever the head
moved: ``checkpoint_once`` into the log's checkpoint table.
"""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterator

import psycopg
from psycopg import sql

from peluit_chain import BUNDLE_FORMAT, EVENT_TAG, EVENT_TAG_V2, RECORD_TAG, CheckpointSigner, format_time

log = logging.getLogger(__name__)

# pg_advisory_xact_lock keys: one migration at a time (per database; cases' value since its first release)
MIGRATION_LOCK = 0x5045_4C55_0001
ZERO = "'\\x0000000000000000000000000000000000000000000000000000000000000000'::bytea"


@dataclass(frozen=True)
class Log:
    """One chained table and where its checkpoints go. ``fields``: for a table
    of records, (name, SQL text expression over ``{row}``) of what each row's
    hash commits to; empty for an eventsourcing event table."""

    table: str
    checkpoints: str
    insert_lock: int  # advisory lock that serialises inserts (eventsourcing's own LOCK TABLE comes first)
    checkpoint_lock: int  # one checkpoint writer at a time
    fields: tuple[tuple[str, str], ...] = ()
    link: str = ""  # the trigger function's name (default peluit_chain_link_<table>)

    @property
    def records(self) -> bool:
        return bool(self.fields)

    @property
    def id(self) -> str:
        return "id" if self.records else "notification_id"

    @property
    def hash_columns(self) -> tuple[str, ...]:
        return ("prev_log_hash", "event_hash") if self.records else ("prev_log_hash", "prev_aggregate_hash",
                                                                    "event_hash")

    def texts(self, row: str) -> list[str]:
        """The fields' SQL expressions over the row alias ``row`` (NEW in the trigger)."""
        return [expression.replace("{row}", row) for _, expression in self.fields]


CHECKPOINT_TABLE = """
CREATE TABLE IF NOT EXISTS {schema}.{checkpoints} (
    position bigint PRIMARY KEY,   -- id of the signed head
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

# What both event hash versions chain on after their tag (length-prefixed, as peluit_chain).
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

# Hash version 3 (``peluit_chain.record_hash``): a NULL field has length -1.
RECORD_FUNCTIONS = """
CREATE OR REPLACE FUNCTION {schema}.peluit_text_field(value text)
RETURNS bytea LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN value IS NULL THEN int8send(-1::bigint)
           ELSE int8send(length(convert_to(value, 'UTF8'))::bigint) || convert_to(value, 'UTF8') END
$$;
CREATE OR REPLACE FUNCTION {schema}.peluit_record_hash(log text, prev_log bytea, id bigint, digest bytea)
RETURNS bytea LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT sha256(
        int8send({tag3_length}) || convert_to({tag3}, 'UTF8')
        || int8send(length(convert_to(log, 'UTF8'))::bigint) || convert_to(log, 'UTF8')
        || int8send(length(prev_log)::bigint) || prev_log
        || int8send(8) || int8send(id)
        || int8send(length(digest)::bigint) || digest)
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
# A table of records is written by plain INSERTs that draw their id from the
# column default before any lock, so there the id is drawn again under the lock
# ({redraw}) and is then after every committed row (gaps are harmless).
LINK_FUNCTION = """
CREATE OR REPLACE FUNCTION {schema}.{link}() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    head_id bigint;
    head_hash bytea;
    agg_hash bytea;
BEGIN
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'peluit chain: rows are inserted under READ COMMITTED only'
            USING ERRCODE = 'serialization_failure';
    END IF;
    PERFORM pg_advisory_xact_lock({insert_lock});
{redraw}    SELECT {id}, event_hash INTO head_id, head_hash FROM {schema}.{table} ORDER BY {id} DESC LIMIT 1;
    IF head_id IS NOT NULL AND head_id >= NEW.{id} THEN
        RAISE EXCEPTION 'peluit chain: id % is not after the head %', NEW.{id}, head_id
            USING ERRCODE = 'serialization_failure';
    END IF;
    NEW.prev_log_hash := coalesce(head_hash, {zero});
{hashing}    RETURN NEW;
END
$$
"""
EVENT_HASHING = """    SELECT event_hash INTO agg_hash FROM {schema}.{table}
        WHERE originator_id = NEW.originator_id AND originator_version = NEW.originator_version - 1;
    NEW.prev_aggregate_hash := coalesce(agg_hash, {zero});
    NEW.hash_version := 2;
    NEW.event_hash := {schema}.peluit_event_hash_v2(NEW.prev_log_hash, NEW.prev_aggregate_hash, NEW.notification_id,
        NEW.originator_id, NEW.originator_version, {schema}.peluit_content_digest(NEW.topic, NEW.state));
"""
RECORD_HASHING = """    NEW.event_hash := {schema}.peluit_record_hash({log}, NEW.prev_log_hash, NEW.id, sha256({digest_new}));
"""

# (Re)links every row from ``from_id`` on, in id order. The migration runs it
# once over the rows that existed before the trigger, as a function of its own
# session (pg_temp) that is never installed: a ready-made "recompute every hash
# after my edit" would only serve an attacker. The tests create it as such an
# attacker would, after an edit.
RELINK_FUNCTION = """
CREATE OR REPLACE FUNCTION pg_temp.peluit_chain_relink(from_id bigint) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    r record;
    prev bytea;
    link bytea;
    agg bytea;
    n bigint := 0;
BEGIN
    SELECT event_hash INTO prev FROM {schema}.{table} WHERE {id} < from_id ORDER BY {id} DESC LIMIT 1;
    prev := coalesce(prev, {zero});
    FOR r IN SELECT * FROM {schema}.{table} WHERE {id} >= from_id ORDER BY {id} LOOP
        link := prev;
{rehash}        UPDATE {schema}.{table} SET prev_log_hash = link, event_hash = prev{set_agg} WHERE {id} = r.{id};
        n := n + 1;
    END LOOP;
    RETURN n;
END
$$
"""
EVENT_REHASH = """        SELECT event_hash INTO agg FROM {schema}.{table}
            WHERE originator_id = r.originator_id AND originator_version = r.originator_version - 1;
        agg := coalesce(agg, {zero});
        IF r.hash_version = 2 THEN
            prev := {schema}.peluit_event_hash_v2(link, agg, r.notification_id, r.originator_id,
                                                   r.originator_version, {schema}.peluit_content_digest(r.topic, r.state));
        ELSE
            prev := {schema}.peluit_event_hash(link, agg, r.notification_id, r.originator_id, r.originator_version,
                                                r.topic, r.state);
        END IF;
"""
RECORD_REHASH = """        prev := {schema}.peluit_record_hash({log}, link, r.id, sha256({digest_r}));
"""


def _digest(chain: Log, schema: str, row: str) -> sql.Composable:
    """The concatenated text fields of ``row`` (sha256 of it is the record's digest)."""
    return sql.SQL(" || ").join(sql.SQL("{}.peluit_text_field({})").format(sql.Identifier(schema), sql.SQL(text))
                                for text in chain.texts(row))


def fmt(statement: str, chain: Log, schema: str, **more) -> sql.Composed:
    """``statement`` with the log's names filled in (identifiers from ``Log``, never from input)."""
    parts = dict(schema=sql.Identifier(schema), table=sql.Identifier(chain.table),
                 checkpoints=sql.Identifier(chain.checkpoints), id=sql.Identifier(chain.id),
                 link=sql.Identifier(chain.link or f"peluit_chain_link_{chain.table}"),
                 insert_lock=sql.Literal(chain.insert_lock), log=sql.Literal(chain.table), zero=sql.SQL(ZERO),
                 tag=sql.Literal(EVENT_TAG.decode()), tag_length=sql.Literal(len(EVENT_TAG)),
                 tag2=sql.Literal(EVENT_TAG_V2.decode()), tag2_length=sql.Literal(len(EVENT_TAG_V2)),
                 tag3=sql.Literal(RECORD_TAG.decode()), tag3_length=sql.Literal(len(RECORD_TAG)))
    if chain.records:
        parts.update(digest_new=_digest(chain, schema, "NEW"), digest_r=_digest(chain, schema, "r"))
    parts.update(more)
    return sql.SQL(statement).format(**{k: v for k, v in parts.items() if "{" + k + "}" in statement})


def link_function(chain: Log, schema: str, sequence: str | None = None) -> sql.Composed:
    """The trigger function of ``chain`` (``sequence``: a table of records' id sequence)."""
    if chain.records:
        template = LINK_FUNCTION.replace("{redraw}", "    NEW.id := nextval({sequence}::regclass);\n") \
            .replace("{hashing}", RECORD_HASHING)
        return fmt(template, chain, schema, sequence=sql.Literal(sequence))
    return fmt(LINK_FUNCTION.replace("{redraw}", "").replace("{hashing}", EVENT_HASHING), chain, schema)


def relink_function(chain: Log, schema: str) -> sql.Composed:
    """The relink function, for a session's pg_temp (the migration; tests playing the attacker)."""
    rehash, set_agg = (RECORD_REHASH, "") if chain.records else (EVENT_REHASH, ", prev_aggregate_hash = agg")
    return fmt(RELINK_FUNCTION.replace("{rehash}", rehash).replace("{set_agg}", set_agg), chain, schema)


def table_exists(conn, chain: Log, schema: str) -> bool:
    return conn.execute("SELECT to_regclass(%s) IS NOT NULL",
                        (sql.Identifier(schema, chain.table).as_string(conn),)).fetchone()[0]


def _installed(conn, chain: Log, schema: str) -> bool:
    row = conn.execute(
        "SELECT (SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
        "         JOIN pg_namespace n ON n.oid = c.relnamespace"
        "         WHERE n.nspname = %s AND c.relname = %s AND t.tgname = 'peluit_chain_link'),"
        "       (SELECT count(*) FROM information_schema.columns WHERE table_schema = %s AND table_name = %s"
        "         AND column_name = ANY(%s) AND is_nullable = 'NO')",
        (schema, chain.table, schema, chain.table, list(chain.hash_columns))).fetchone()
    return row == (1, len(chain.hash_columns))


def migration_lock(conninfo: str):
    """Held while an instance creates an event store's tables: instances
    starting together on a new database raced on CREATE TABLE IF NOT EXISTS
    (PostgreSQL: "tuple concurrently updated" / "pg_type_typname_nsp_index")."""
    from .db import advisory_lock

    return advisory_lock(conninfo, MIGRATION_LOCK)


def _column_exists(conn, schema: str, table: str, column: str) -> bool:
    return conn.execute("SELECT 1 FROM information_schema.columns WHERE table_schema = %s AND table_name = %s"
                        " AND column_name = %s", (schema, table, column)).fetchone() is not None


def migrate(conn, chain: Log, schema: str) -> bool:
    """Idempotent. Creates the checkpoint tables and, once the table exists,
    the chain columns, functions and trigger (the functions are replaced on
    every start, so a new version takes effect). Rows that were there before
    are chained once, in id order, under the table lock (no writer can slip in
    between). True when the chain is on."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))  # one instance at a time
        conn.execute(fmt(CHECKPOINT_TABLE, chain, schema))
        if not table_exists(conn, chain, schema):
            return False  # the service creates it (CREATE_TABLE=y) and calls migrate again
        if chain.records:
            conn.execute(fmt(RECORD_FUNCTIONS, chain, schema))
            sequence = conn.execute("SELECT pg_get_serial_sequence(%s, 'id')",
                                    (sql.Identifier(schema, chain.table).as_string(conn),)).fetchone()[0]
            conn.execute(link_function(chain, schema, sequence))
        else:
            conn.execute(fmt(HASH_FUNCTION, chain, schema))
            conn.execute(fmt(HASH_V2_FUNCTIONS, chain, schema))
            if not _column_exists(conn, schema, chain.table, "hash_version"):
                # rows chained before version 2 keep version 1; rows never chained are chained as 2
                first = 1 if _column_exists(conn, schema, chain.table, "event_hash") else 2
                conn.execute(fmt(f"ALTER TABLE {{schema}}.{{table}} ADD COLUMN hash_version smallint NOT NULL"
                                 f" DEFAULT {first}", chain, schema))
            conn.execute(link_function(chain, schema))
            conn.execute(fmt("DROP FUNCTION IF EXISTS {schema}.peluit_chain_relink(bigint)", chain, schema))
        if _installed(conn, chain, schema):
            return True
        conn.execute(fmt("LOCK TABLE {schema}.{table} IN EXCLUSIVE MODE", chain, schema))
        for column in chain.hash_columns:
            conn.execute(fmt(f"ALTER TABLE {{schema}}.{{table}} ADD COLUMN IF NOT EXISTS {column} bytea", chain, schema))
        unchained = conn.execute(fmt("SELECT min({id}) FROM {schema}.{table} WHERE event_hash IS NULL",
                                     chain, schema)).fetchone()[0]
        if unchained is not None:
            conn.execute(relink_function(chain, schema))
            count = conn.execute("SELECT pg_temp.peluit_chain_relink(%s)", (unchained,)).fetchone()[0]
            conn.execute("DROP FUNCTION pg_temp.peluit_chain_relink(bigint)")
            log.info("chained existing rows", extra={"table": chain.table, "rows": count})
        for column in chain.hash_columns:
            conn.execute(fmt(f"ALTER TABLE {{schema}}.{{table}} ALTER COLUMN {column} SET NOT NULL", chain, schema))
        conn.execute(fmt("DROP TRIGGER IF EXISTS peluit_chain_link ON {schema}.{table}", chain, schema))
        conn.execute(fmt("CREATE TRIGGER peluit_chain_link BEFORE INSERT ON {schema}.{table}"
                         " FOR EACH ROW EXECUTE FUNCTION {schema}.{link}()", chain, schema))
    return True


def install(migrate) -> None:
    """``migrate(conn)`` on a connection as the service's own role: once an
    event store's tables exist, before its first insert (EventStoreApp.after_tables)."""
    from .settings import db_conninfo

    with psycopg.connect(db_conninfo()) as conn:
        migrate(conn)


# -- signed checkpoints -------------------------------------------------------


def register_key(conn, schema: str, signer: CheckpointSigner) -> None:
    with conn.transaction():
        conn.execute(sql.SQL("INSERT INTO {}.chain_key (key_id, public_key) VALUES (%s, %s)"
                             " ON CONFLICT (key_id) DO NOTHING").format(sql.Identifier(schema)),
                     (signer.key_id, signer.public_key))


def checkpoint_once(conn, chain: Log, schema: str, signer: CheckpointSigner,
                    now: datetime | None = None) -> dict | None:
    """Sign the current head if it moved since the newest checkpoint. One
    instance at a time (advisory lock; the others skip), and the position is
    the primary key, so a race can never store two checkpoints for one head."""
    with conn.transaction():
        if not conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (chain.checkpoint_lock,)).fetchone()[0]:
            return None
        head = conn.execute(fmt("SELECT {id}, event_hash FROM {schema}.{table} ORDER BY {id} DESC LIMIT 1",
                                chain, schema)).fetchone()
        if head is None:
            return None
        last = conn.execute(fmt("SELECT max(position) FROM {schema}.{checkpoints}", chain, schema)).fetchone()[0]
        position, head_hash = head[0], bytes(head[1])
        if last is not None and last >= position:
            return None
        # microseconds: what PostgreSQL stores, so the exported text is the signed text
        signed_at = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
        signature = signer.sign(position, head_hash, signed_at)
        conn.execute(fmt("INSERT INTO {schema}.{checkpoints} (position, head_hash, signed_at, key_id, signature)"
                         " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (position) DO NOTHING", chain, schema),
                     (position, head_hash, signed_at, signer.key_id, signature))
    return {"position": position, "key_id": signer.key_id}


# -- export -----------------------------------------------------------------------


class NotCheckpointed(Exception):
    """No signed checkpoint covers what was asked for yet."""


def newest_checkpoint(conn, chain: Log, schema: str) -> int | None:
    return conn.execute(fmt("SELECT max(position) FROM {schema}.{checkpoints}", chain, schema)).fetchone()[0]


def _checkpoints(conn, chain: Log, schema: str, first: int, last: int) -> list[dict]:
    rows = conn.execute(fmt("SELECT position, head_hash, signed_at, key_id, signature FROM {schema}.{checkpoints}"
                            " WHERE position >= %s AND position <= %s ORDER BY position", chain, schema),
                        (first, last)).fetchall()
    return [{"position": p, "head_hash": bytes(h).hex(), "signed_at": format_time(at), "key_id": k,
             "signature": bytes(s).hex()} for p, h, at, k, s in rows]


def _public_keys(conn, schema: str, key_ids) -> dict:
    rows = conn.execute(sql.SQL("SELECT key_id, public_key FROM {}.chain_key WHERE key_id = ANY(%s)").format(
        sql.Identifier(schema)), (sorted(set(key_ids)),)).fetchall()
    return {k: bytes(pk).hex() for k, pk in rows}


def _event_json(row) -> dict:
    nid, member, oid, version, topic, state, prev_log, prev_agg, event_hash, hash_version, digest = row
    out = {"notification_id": nid, "prev_log_hash": bytes(prev_log).hex(), "event_hash": bytes(event_hash).hex()}
    if hash_version == 2:
        out["hash_version"] = 2
    if member:
        out.update(originator_id=str(oid), originator_version=version, topic=topic,
                   state=base64.b64encode(bytes(state or b"")).decode(), prev_aggregate_hash=bytes(prev_agg).hex())
    elif hash_version == 2:
        # another case's event: what its hash needs, never its content (version 1: only the links)
        out.update(originator_id=str(oid), originator_version=version, prev_aggregate_hash=bytes(prev_agg).hex(),
                   content_digest=bytes(digest).hex())
    return out


def _record_json(row) -> dict:
    rid, prev_log, event_hash, *values = row
    return {"notification_id": rid, "prev_log_hash": bytes(prev_log).hex(), "event_hash": bytes(event_hash).hex(),
            "hash_version": 3, "record": values}


def iter_bundle(conn: psycopg.Connection, chain: Log, schema: str, *, members=None, scope: dict | None = None,
                first: int | None = None, genesis: bool = True, created_at: datetime | None = None) -> Iterator[str]:
    """The ``peluit-audit-bundle/1`` document as JSON text in chunks (a whole
    log does not fit in memory): every row from ``first`` (default: the first)
    up to the newest checkpoint. ``members``: aggregates whose events go out in
    full, the others as links only (a case bundle); None: all in full. Plain
    SELECTs only, so a read-only role can export. Raises NotCheckpointed before
    yielding anything when no checkpoint exists."""
    newest = newest_checkpoint(conn, chain, schema)
    if newest is None:
        raise NotCheckpointed()
    if first is None:
        first = conn.execute(fmt("SELECT min({id}) FROM {schema}.{table}", chain, schema)).fetchone()[0] or 0
    checkpoints = _checkpoints(conn, chain, schema, first, newest)
    scope = scope or {"kind": "log", "log": chain.table}
    if chain.records:
        scope = {**scope, "fields": [name for name, _ in chain.fields]}
    head = {
        "format": BUNDLE_FORMAT,
        "created_at": format_time(created_at or datetime.now(timezone.utc)),
        "scope": scope,
        "genesis": genesis,
        "range": {"first": first, "last": newest},
        "public_keys": _public_keys(conn, schema, [c["key_id"] for c in checkpoints]),
        "checkpoints": checkpoints,
    }
    yield json.dumps(head)[:-1] + ', "events": ['
    if chain.records:
        columns, params, to_json = sql.SQL(", ").join(map(sql.SQL, chain.texts("e"))), (first, newest), _record_json
        query = fmt("SELECT id, prev_log_hash, event_hash, {columns} FROM {schema}.{table} e"
                    " WHERE id >= %s AND id <= %s ORDER BY id", chain, schema, columns=columns)
    else:
        # other cases' content never leaves the database: their events go out as links (and, hash
        # version 2, as ids, version and content digest)
        member = sql.SQL("true" if members is None else "originator_id = ANY(%s)")
        params = (first, newest) if members is None else (list(members), first, newest)
        to_json = _event_json
        query = fmt("SELECT notification_id, m, originator_id, originator_version, CASE WHEN m THEN topic END,"
                    " CASE WHEN m THEN state END, prev_log_hash, prev_aggregate_hash, event_hash, hash_version,"
                    " CASE WHEN NOT m AND hash_version = 2 THEN {schema}.peluit_content_digest(topic, state) END"
                    " FROM (SELECT *, {member} AS m FROM {schema}.{table}) e"
                    " WHERE notification_id >= %s AND notification_id <= %s ORDER BY notification_id",
                    chain, schema, member=member)
    separator = ""
    with conn.cursor() as cur:
        cur.execute(query, params)
        while rows := cur.fetchmany(1000):
            yield separator + ",".join(json.dumps(to_json(r)) for r in rows)
            separator = ","
    yield "]}"


def write_bundle(chunks, out: str) -> None:
    """A bundle's chunks into the file ``out`` ('-': standard output), as they come."""
    import sys

    target = sys.stdout if out == "-" else open(out, "w", encoding="utf-8")
    try:
        for chunk in chunks:
            target.write(chunk)
    finally:
        if target is not sys.stdout:
            target.close()


def bundle(conn, chain: Log, schema: str, **kwargs) -> dict:
    return json.loads("".join(iter_bundle(conn, chain, schema, **kwargs)))
