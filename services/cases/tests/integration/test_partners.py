"""Partner credentials on a real PostgreSQL: shown once, stored hashed, scoped, revocable."""

from __future__ import annotations

import hashlib

import pytest

from peluit_cases import catalogue, partners


@pytest.fixture
def conn(conn):  # the module's connection (conftest) with the tables
    catalogue.migrate(conn)
    catalogue.seed_demo(conn)
    partners.migrate(conn)
    return conn


def digest(credential: str) -> str:
    return hashlib.sha256(credential.partition(".")[2].encode()).hexdigest()


def test_a_credential_is_checked_by_its_hash_and_revoked(conn, inspect):
    credential = partners.create(conn, "lapor-3573", ["35.73"])
    name, _, secret = credential.partition(".")
    stored = inspect.execute("SELECT secret_sha256 FROM partner_system WHERE name = %s", (name,)).fetchone()[0]
    assert secret.encode() not in bytes(stored) and bytes(stored) == hashlib.sha256(secret.encode()).digest()
    assert partners.check(conn, name, digest(credential)) == {"name": name, "tenants": ["35.73"]}
    assert partners.check(conn, name, hashlib.sha256(b"guess").hexdigest()) is None
    assert partners.check(conn, "other", digest(credential)) is None
    assert partners.check(conn, name, "zz") is None
    assert partners.revoke(conn, name) is True
    assert partners.check(conn, name, digest(credential)) is None
    assert partners.revoke(conn, name) is False
    again = partners.create(conn, name, ["35.73", "35.07"])  # a new credential; the old one stays dead
    assert partners.check(conn, name, digest(credential)) is None
    assert partners.check(conn, name, digest(again))["tenants"] == ["35.73", "35.07"]


def test_a_partner_needs_known_tenants_and_a_plain_name(conn):
    with pytest.raises(ValueError):
        partners.create(conn, "lapor", ["99.99"])
    with pytest.raises(ValueError):
        partners.create(conn, "Lapor System", ["35.73"])
