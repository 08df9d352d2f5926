"""Helpers for driving a running Peluit from outside: the system tests and
``make bench`` use them."""

from __future__ import annotations

import base64
import contextlib
import os
import random
import secrets
import shutil
import socket
import subprocess
import time
import uuid

import psycopg
import pyotp
import requests
from kombu import Connection, Exchange, Queue
from psycopg import sql

from peluit_common.testing import authored_pdf, gps_photo  # noqa: F401 (the forensic samples live in common)

from . import bootstrap
from .system import INSTANCE_PORT_DISTANCE, OPS_PORT_DISTANCE, REPO, System, instance_count


class Tap:
    """Every message published or delivered in the test vhost (firehose)."""

    def __init__(self, amqp_uri: str):
        self.conn = Connection(amqp_uri)
        self.channel = self.conn.channel()
        self.queue = Queue(f"test.tap.{uuid.uuid4().hex[:8]}",
                           exchange=Exchange("amq.rabbitmq.trace", type="topic", durable=True, no_declare=True),
                           routing_key="#", durable=False, auto_delete=False,
                           queue_arguments={"x-queue-type": "classic"})
        self.queue(self.channel).declare()
        self.seen: list[bytes] = []

    def drain(self) -> list[bytes]:
        bound = self.queue(self.channel)
        while True:
            msg = bound.get(no_ack=True)
            if msg is None:
                break
            self.seen.append(msg.body if isinstance(msg.body, bytes) else str(msg.body).encode())
            self.seen.append(repr(msg.headers).encode())
            self.seen.append(repr(msg.properties).encode())
        return self.seen

    def close(self):
        with contextlib.suppress(Exception):
            self.queue(self.channel).delete()
        self.conn.release()


def _free_base_port(instances: int = 1) -> int:
    for _ in range(100):
        base = random.randrange(20000, 29990, 10)
        try:
            for offset in range(8):
                for instance in range(instances):
                    port = base + offset + INSTANCE_PORT_DISTANCE * instance
                    for taken in (port, port + OPS_PORT_DISTANCE):
                        with socket.socket() as s:
                            s.bind(("127.0.0.1", taken))
            return base
        except OSError:
            continue
    raise RuntimeError("no free port range")


# every test client is 127.0.0.1: limits a thousand times the production ones, and one trusted proxy hop so
# that a test can be a client of its own (X-Forwarded-For)
TEST_LIMITS = {"PELUIT_THROTTLE_SCALE": "1000", "PELUIT_PROXY_HOPS": "1"}


@contextlib.contextmanager
def running_system(services=None, extra_env=None, tap=True, instances=None):
    """A fresh Peluit: own databases, vhost (firehose tapped), ports and keys; ``instances`` of every
    service (default ``PELUIT_INSTANCES``, 1)."""
    tag = secrets.token_hex(4)
    artifacts = REPO / "test-artifacts" / f"system-{tag}"
    instances = instances or instance_count()
    sys_ = System(
        prefix=f"pt{tag}", vhost=f"peluit-test-{tag}", base_port=_free_base_port(instances), instances=instances,
        keys_dir=artifacts / "keys", log_dir=artifacts / "logs",
        extra_env=extra_env if extra_env is not None else {
            "PELUIT_RETRY_DELAYS_MS": "200,500", "PELUIT_RPC_TIMEOUT": "5", "PELUIT_STATUS_MIN_SECONDS": "0.15",
            # a small evidence sandbox, so a 150 kB bomb (peluit_common.testing.png_bomb) shows a worker ending
            "PELUIT_CHECKPOINT_INTERVAL": "1", "PELUIT_EVIDENCE_WORKER_MEMORY_MB": "256",
            "PELUIT_NOTIFY_RETRY_CAP_SECONDS": "1",
            # every test signs in from 127.0.0.1 and some fail on purpose (the throttle: test_login_throttle.py)
            "PELUIT_LOGIN_CLIENT_FAILURES": "500", **TEST_LIMITS},
    )
    sys_.provision()
    if tap:
        bootstrap.rabbitmqctl("trace_on", "-p", sys_.vhost)
        sys_.tap = Tap(sys_.amqp_uri)
    sys_.admin_command("cases", "-m", "peluit_cases.admin", "seed-demo")
    try:
        sys_.start_all(services)
        yield sys_
    finally:
        sys_.stop_all()
        if tap:
            sys_.tap.close()
            bootstrap.rabbitmqctl("trace_off", "-p", sys_.vhost)
        sys_.unprovision_broker()
        bootstrap.drop_databases(sys_.prefix)
        shutil.rmtree(artifacts / "keys", ignore_errors=True)
        if os.environ.get("PELUIT_KEEP_ARTIFACTS") != "1" and not os.environ.get("CI"):
            shutil.rmtree(artifacts, ignore_errors=True)


def publish_statistics(system) -> None:
    """The public statistics published now (they are otherwise published once a day)."""
    system.admin_command("reporting", "-m", "peluit_reporting.admin", "publish")


def admin_connect(system, service: str) -> psycopg.Connection:
    return psycopg.connect(bootstrap.admin_dsn(system.dbname(service)), autocommit=True)


def sample_report(**overrides) -> dict:
    report = {
        "tenant": "35.73", "category": "korupsi",
        "what": "Dana hibah dipotong 20% oleh pejabat dinas", "where": "Dinas Sosial Kota Malang",
        "when": "Oktober 2026", "who": "Kepala Bidang Bantuan Sosial",
        "how": "Potongan diminta tunai saat pencairan",
    }
    report.update(overrides)
    return report


def submit(system, body, key: str | None = None, timeout: float = 30, **kwargs) -> requests.Response:
    headers = {"Idempotency-Key": key} if key else {}
    return requests.post(system.url("intake") + "/api/v1/reports", json=body, headers=headers,
                         timeout=timeout, **kwargs)


def new_case(system, tenant: str = "35.73", identity: dict | None = None) -> tuple[str, str]:
    """Submit a sample report; its case id (once the case index has it) and receipt."""
    body = sample_report(tenant=tenant, identity=identity) if identity else sample_report(tenant=tenant)
    out = submit(system, body, key=str(uuid.uuid4()))
    assert out.status_code == 201, out.text
    with admin_connect(system, "cases") as conn:
        row = eventually(lambda: conn.execute(
            "SELECT case_id FROM peluit.case_index WHERE registration_number = %s",
            (out.json()["registration_number"],)).fetchone())
    assert row, "the case index follows the log"
    return str(row[0]), out.json()["receipt"]


def stored_counts(system) -> tuple[int, int, int, int]:
    """Everything a report writes: case events, identities, evidence copies and originals."""
    with admin_connect(system, "cases") as c:
        events = c.execute("SELECT count(*) FROM peluit.cases_events").fetchone()[0]
        blobs = c.execute("SELECT count(*) FROM peluit.evidence_blob").fetchone()[0]
    with admin_connect(system, "identity-vault") as v:
        identities = v.execute("SELECT count(*) FROM peluit.reporter").fetchone()[0]
        originals = v.execute("SELECT count(*) FROM peluit.evidence_original").fetchone()[0]
    return events, identities, blobs, originals


OFFICER_PASSWORD = "kata-sandi-yang-panjang-sekali"


def direct_officer(system, tenant: str, roles: list[str], prefix: str = "uji") -> dict:
    """An officer created straight in the cases database (the test-only path: the
    API and the CLI only invite), signed in once: {id, username, secret, headers}."""
    from peluit_cases import officers

    totp_key = bytes.fromhex((system.keys_dir / "cases" / "officer-totp.key").read_text().strip())
    username = f"{prefix}.{uuid.uuid4().hex[:8]}"
    with psycopg.connect(bootstrap.admin_dsn(system.dbname("cases"))) as conn:
        conn.execute("SET search_path = peluit")
        officer_id, secret = officers.create_officer(conn, totp_key, tenant=tenant, username=username,
                                                     display_name="Petugas Uji", password=OFFICER_PASSWORD,
                                                     roles=roles)
        conn.commit()
    step = int(time.time()) // 30
    signed_in = requests.post(system.url("cases") + "/api/v1/officer/login", timeout=10, json={
        "username": username, "password": OFFICER_PASSWORD, "totp": pyotp.TOTP(secret).at(step * 30)})
    assert signed_in.status_code == 200, signed_in.text
    return {"id": str(officer_id), "username": username, "secret": secret, "last_step": step,
            "headers": {"Authorization": f"Bearer {signed_in.json()['token']}"}}


def next_totp(officer: dict) -> str:
    """A code the server has not seen from this officer (``direct_officer``, ``enrol``):
    it takes the current 30 s step ±1, each step once, so this waits when needed."""
    while True:
        now = int(time.time()) // 30
        step = max(now - 1, officer["last_step"] + 1)
        if step <= now + 1:
            officer["last_step"] = step
            return pyotp.TOTP(officer["secret"]).at(step * 30)
        time.sleep(1)


def enrol(system, username: str, code: str, password: str = "kata-sandi-pilihan-sendiri") -> dict:
    """The officer's own enrolment over HTTP with the code an administrator got:
    its own password and TOTP secret; returns it signed in ({id, username,
    password, secret, headers, replies: both reply bodies, for canary searches})."""
    cases = system.url("cases")
    started = requests.post(cases + "/api/v1/officer/enrolment", json={"username": username, "enrolment_code": code},
                            timeout=10)
    assert started.status_code == 200, started.text
    secret = started.json()["totp_secret"]
    step = int(time.time()) // 30
    done = requests.post(cases + "/api/v1/officer/enrolment/complete", timeout=20, json={
        "enrolment_token": started.json()["enrolment_token"], "password": password,
        "totp": pyotp.TOTP(secret).at(step * 30)})
    assert done.status_code == 200, done.text
    return {"id": done.json()["officer"]["id"], "username": username, "password": password, "secret": secret,
            "last_step": step, "headers": {"Authorization": f"Bearer {done.json()['token']}"},
            "replies": [started.content, done.content]}


def count_cases(system) -> int:
    with admin_connect(system, "cases") as conn:
        return conn.execute(
            "SELECT count(*) FROM peluit.cases_events WHERE topic LIKE %s", ("%Case.Registered",)
        ).fetchone()[0]


def eventually(check, timeout: float = 20, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            return result
        time.sleep(interval)


def non_json_log_lines(system) -> list[str]:
    """Log lines that are not JSON objects (a raw traceback, a banner)."""
    import json

    bad = []
    for path in sorted(system.log_dir.glob("*.log")):
        for line in path.read_text().splitlines():
            try:
                if not isinstance(json.loads(line), dict):
                    bad.append(f"{path.name}: {line[:200]}")
            except ValueError:
                bad.append(f"{path.name}: {line[:200]}")
    return bad


# -- the privacy canary's search, shared by every test that plants a marker

SERVICES = ("intake", "cases", "identity-vault", "notifications", "reporting")


def encodings(needle: str) -> set[bytes]:
    """The needle as UTF-8, hex, and base64/urlsafe-base64 at all three byte alignments."""
    raw = needle.encode()
    out = {raw, raw.hex().encode(), raw.hex().upper().encode()}
    for pad in range(3):
        for enc in (base64.b64encode, base64.urlsafe_b64encode):
            coded = enc(b"\0" * pad + raw)
            core = coded[4 if pad else 0:-4]
            if len(core) >= 12:
                out.add(core)
    return out


def table_dump(system, service: str, except_columns: dict | None = None) -> bytes:
    """Every row of every table as text; ``except_columns``: {table: [column, ...]}
    left out (an officer's own password hash and encrypted secret, say)."""
    chunks, except_columns = [], except_columns or {}
    with admin_connect(system, service) as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') AND table_type = 'BASE TABLE'"
        ).fetchall()
        assert tables or service == "intake"
        for schema, table in tables:
            row = (sql.SQL("(to_jsonb(t) - {}::text[])::text").format(sql.Literal(list(except_columns[table])))
                   if table in except_columns else sql.SQL("t::text"))
            rows = conn.execute(sql.SQL("SELECT {} FROM {}.{} t").format(
                row, sql.Identifier(schema), sql.Identifier(table))).fetchall()
            chunks.extend(r[0].encode() for r in rows)
    return b"\n".join(chunks)


NOTIFY_SENDER = "wbs-notifikasi@peluit.invalid"  # notifications' default From (the vault's differs)


def officer_mail(system) -> list:
    """Every mail notifications handed to the local sink (the reporters' relays left out)."""
    import mailbox

    if not system.mail_dir.exists():
        return []
    return [m for m in mailbox.Maildir(system.mail_dir, create=False) if NOTIFY_SENDER in (m["From"] or "")]


def hits_outside_the_vault(system, needles, replies: bytes = b"", min_broker_bytes: int = 1000,
                           except_columns: dict | None = None) -> list[tuple[str, str]]:
    """(place, needle) for every needle found, in any encoding, in a database
    (the vault's too: never in clear), log, metrics output, broker message or
    the given replies. ``min_broker_bytes``: what the tap must at least have seen;
    ``except_columns``: {service: {table: [column, ...]}} not searched."""
    places = {}
    for service in (*SERVICES, "console"):  # the console keeps no database: its log and metrics
        if service in SERVICES:
            places[f"database {service}"] = table_dump(system, service, (except_columns or {}).get(service))
        for name in system.instance_names(service):
            places[f"log {name}"] = (system.log_dir / f"{name}.log").read_bytes()
            places[f"metrics {name}"] = requests.get(system.ops_url(name) + "/metrics", timeout=5).content
    places["broker messages"] = b"\n".join(system.tap.drain())
    places["officer mail"] = b"\n".join(m.as_bytes() for m in officer_mail(system))
    places["http replies"] = replies
    assert len(places["broker messages"]) > min_broker_bytes  # the tap did see the traffic
    return [(place, needle) for needle in needles for place, blob in places.items()
            for pattern in encodings(needle) if pattern in blob]


SCHEMATHESIS_CHECKS = ("not_a_server_error,response_schema_conformance,status_code_conformance,"
                       "content_type_conformance,response_headers_conformance")


def run_schemathesis(openapi_url: str, *, headers: dict | None = None, max_examples: int = 25,
                     extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """schemathesis's CLI against a running API (its pytest plugin does not load
    under pytest 9): generated and mutated requests for every documented
    operation, deterministic, with the conformance checks."""
    import sys
    from pathlib import Path

    schemathesis = Path(sys.executable).with_name("schemathesis")
    argv = [str(schemathesis), "run", openapi_url, "--checks", SCHEMATHESIS_CHECKS,
            "--max-examples", str(max_examples), "--seed", "1", "--phases", "examples,coverage,fuzzing",
            "--suppress-health-check", "all", "--generation-deterministic"]
    for name, value in (headers or {}).items():
        argv += ["-H", f"{name}: {value}"]
    return subprocess.run([*argv, *extra], capture_output=True, text=True, timeout=900)


def smtp_client(system):
    """A client of intake's mail listener, which may start a moment after its HTTP server."""
    import smtplib

    deadline = time.monotonic() + 20
    while True:
        try:
            return smtplib.SMTP("127.0.0.1", system.mail_intake_port, timeout=60)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def put_on_team(system, inspektur: dict, case_id: str, member_ids: list[str]) -> None:
    """Verify, accept and start an investigation with ``member_ids`` as the team
    (the case's team may request a disclosure; ``inspektur``: login headers)."""
    url = f"{system.url('cases')}/api/v1/cases/{case_id}"
    version = requests.get(url, headers=inspektur, timeout=15).json()["version"]
    for name, body in (("start-verification", {}), ("accept", {}),
                       ("start-investigation", {"team": member_ids, "plan": "Wawancara dan periksa dokumen",
                                                "due_on": "2027-06-30"})):
        resp = requests.post(f"{url}/{name}", json=body, headers={**inspektur, "If-Match": f'"{version}"'},
                             timeout=15)
        assert resp.status_code == 200, resp.text
        version = resp.json()["version"]
