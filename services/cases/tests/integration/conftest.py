"""What the officer-account tests share: a database of their own per module
with the account tables, a second connection to look behind the API's back,
and a TOTP key."""

from __future__ import annotations

import secrets

import psycopg
import pytest

from peluit_cases import access, catalogue, officers
from peluit_common.testing import dsn_for


@pytest.fixture(scope="module")
def conn(throwaway_db):
    """The connection the code under test uses: autocommit off, as the service's pool."""
    with psycopg.connect(dsn_for(throwaway_db)) as conn:
        catalogue.migrate(conn)
        officers.migrate(conn)
        officers.migrate(conn)  # idempotent
        access.migrate(conn)
        yield conn


@pytest.fixture(scope="module")
def inspect(throwaway_db):
    """A second, autocommit connection for looking at rows behind the API's back."""
    with psycopg.connect(dsn_for(throwaway_db), autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="module")
def key():
    return secrets.token_bytes(32)
