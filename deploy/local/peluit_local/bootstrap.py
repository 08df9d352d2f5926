"""Make sure PostgreSQL and RabbitMQ answer, then give every service its own
database and login role with least privilege.

Per service ``s``: role ``{prefix}_{s}`` (LOGIN, no superuser, no CREATEDB),
database ``{prefix}_{s}`` owned by the administrator, ``CONNECT`` revoked from
PUBLIC and granted to that role alone, and a schema ``peluit`` the role owns.
So the cases role cannot even connect to the vault's database.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import psycopg
from psycopg import sql

SERVICES = ("intake", "cases", "identity-vault", "notifications", "reporting")
ADMIN_DSN = os.environ.get("PELUIT_PG_ADMIN_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")
AMQP_HOST, AMQP_PORT = "127.0.0.1", 5672


class MissingServer(RuntimeError):
    pass


def db_ident(prefix: str, service: str) -> str:
    return f"{prefix}_{service.replace('-', '_')}"


def _pg_up() -> bool:
    try:
        with psycopg.connect(ADMIN_DSN, connect_timeout=2) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.OperationalError:
        return False


def _amqp_up() -> bool:
    try:
        with socket.create_connection((AMQP_HOST, AMQP_PORT), timeout=2):
            pass
    except OSError:
        return False
    from kombu import Connection

    try:
        with Connection(f"pyamqp://guest:guest@{AMQP_HOST}:{AMQP_PORT}//", connect_timeout=3) as conn:
            conn.connect()
        return True
    except Exception:
        return False


def _wait(check, what: str, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(1)
    raise MissingServer(f"{what} did not answer within {seconds:.0f} s")


def ensure_servers(log=print) -> None:
    """Both servers answer, or ``make servers``'s script makes them (one mechanism for all)."""
    if _pg_up() and _amqp_up():
        return
    log("PostgreSQL or RabbitMQ does not answer: running deploy/local/servers.sh ...")
    script = Path(__file__).resolve().parents[1] / "servers.sh"
    if subprocess.run(["bash", str(script)], check=False).returncode != 0:
        raise MissingServer("PostgreSQL or RabbitMQ is missing or down: see what `make servers` printed")
    _wait(_pg_up, "PostgreSQL")
    _wait(_amqp_up, "RabbitMQ", 120)


def create_databases(prefix: str, passwords: dict[str, str]) -> None:
    """Idempotent: creates what is missing, re-applies grants and passwords."""
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        for service in SERVICES:
            name = db_ident(prefix, service)
            role, db = sql.Identifier(name), sql.Identifier(name)
            exists = admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone()
            verb = "ALTER" if exists else "CREATE"
            admin.execute(sql.SQL(verb + " ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {}").format(
                role, sql.Literal(passwords[service])))
            if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
                admin.execute(sql.SQL("CREATE DATABASE {}").format(db))
            admin.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(db))
            admin.execute(sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(db, role))
            admin.execute(sql.SQL("ALTER ROLE {} IN DATABASE {} SET search_path = peluit").format(role, db))
            with psycopg.connect(_dsn_for(name), autocommit=True) as conn:
                conn.execute("REVOKE ALL ON SCHEMA public FROM PUBLIC")
                conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS peluit AUTHORIZATION {}").format(role))


def drop_databases(prefix: str) -> None:
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        for service in SERVICES:
            name = db_ident(prefix, service)
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


def _dsn_for(dbname: str) -> str:
    params = psycopg.conninfo.conninfo_to_dict(ADMIN_DSN)
    params["dbname"] = dbname
    return psycopg.conninfo.make_conninfo(**params)


def admin_dsn(dbname: str) -> str:
    """Administrator connection to one service database (tests, inspection)."""
    return _dsn_for(dbname)


def rabbitmqctl(*args: str) -> str:
    return subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, text=True).stdout

