"""What a restore reads across a KEK rotation (docs/operations.md#backup-and-restore):
a dump from before the rotation needs the old KEK, one from after needs only the
new one; once the old KEK is destroyed, the older dump's identities stay shut.
The dumps are ``peluit-backup``'s own (``dump``/``restore_dump``)."""

from __future__ import annotations

import contextlib
import secrets

import psycopg
import pytest

from peluit_common.migrate import migrate
from peluit_common.testing import dsn_for, throwaway_database
from peluit_local.backup import dump, restore_dump
from peluit_vault.identities import read_identity, store_identity
from peluit_vault.keyring import Keyring, UnknownKek
from peluit_vault.records import rewrap


def _vault(dbname: str) -> psycopg.Connection:
    conn = psycopg.connect(dsn_for(dbname))
    conn.execute("SET search_path = peluit")
    return conn


def _fresh(stack, prefix: str) -> str:
    dbname = stack.enter_context(throwaway_database(prefix))
    with psycopg.connect(dsn_for(dbname)) as conn:  # as provisioning leaves it
        conn.execute("CREATE SCHEMA peluit")
    return dbname


def test_a_restore_reads_what_its_keyring_holds(tmp_path, monkeypatch):
    old, new = Keyring([secrets.token_bytes(32)]), Keyring([secrets.token_bytes(32)])
    rotating = Keyring([new.current, old.current])  # the KEK file during a rotation: new first
    with contextlib.ExitStack() as stack:
        live, before, after = (_fresh(stack, "kek") for _ in range(3))
        monkeypatch.setenv("PELUIT_DB_NAME", live)
        monkeypatch.setenv("PELUIT_DB_USER", "postgres")
        monkeypatch.setenv("PGOPTIONS", "-c search_path=peluit")  # as the vault's role has it (bootstrap)
        migrate("peluit_vault.service")
        with _vault(live) as conn:
            ref = store_identity(conn, old, secrets.token_hex(8), "35.73", b'{"name": "Sebelum Rotasi"}')
            conn.commit()
        dump(live, tmp_path / "before.dump")
        with _vault(live) as conn:
            assert rewrap(conn, rotating) == 1
        dump(live, tmp_path / "after.dump")
        restore_dump(tmp_path / "before.dump", before, role="postgres")
        restore_dump(tmp_path / "after.dump", after, role="postgres")

        with _vault(before) as conn:
            with pytest.raises(UnknownKek):
                read_identity(conn, new, ref)  # the old KEK destroyed: the older dump stays shut
            assert b"Sebelum Rotasi" in read_identity(conn, rotating, ref)
        with _vault(after) as conn:
            assert b"Sebelum Rotasi" in read_identity(conn, new, ref)
            with pytest.raises(UnknownKek):
                read_identity(conn, old, ref)  # a key folder saved before the rotation opens no newer dump
