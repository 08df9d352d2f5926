"""Helpers for driving a running Peluit from outside: the system tests and
``make bench`` use them."""

from __future__ import annotations

import contextlib
import time
import uuid

import psycopg
import requests
from kombu import Connection, Exchange, Queue

from . import bootstrap


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
