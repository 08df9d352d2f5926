"""``make bench`` part (i): officers' notifications at a burst of 1,000 new
cases. The notifications service runs in this process (a nameko container on
its own vhost and database) beside a stand-in for cases' recipients RPC (two
officers with addresses per case); the burst is published onto the domain
exchange at once; the mail goes to a real SMTP server (aiosmtpd, its own
process). Figures: events recorded per second, mails handed over per second (cases
asked whom to tell, outbox written, SMTP),
and the lag from the case event to the mail handed over (p50/p99), beside the
limit: raw SMTP sends per second to the same server over one connection.
"""

from __future__ import annotations

import os
import secrets
import smtplib
import statistics
import subprocess
import sys
import time
import uuid
from datetime import datetime, timezone
from email.message import EmailMessage

import psycopg
from nameko.containers import ServiceContainer
from nameko.rpc import rpc

from peluit_common.amqp import ConfirmedPublisher, declare_topology
from peluit_common.testing import free_port
from peluit_contracts.events import DOMAIN_EXCHANGE, dump_envelope, routing_key

from . import bootstrap

BURST = int(os.environ.get("PELUIT_BENCH_NOTIFY_CASES", "1000"))
ADMIN = "host=127.0.0.1 user=postgres dbname=postgres"
OFFICERS = [{"officer_id": str(uuid.uuid4()), "tenant": "35.73", "email": f"petugas{i}@pemda.go.id",
             "preferences": {}} for i in range(2)]


class CasesStandIn:
    name = "cases"

    @rpc
    def notification_recipients(self, query):
        return {"recipients": OFFICERS, "case": {"registration_number": f"WBS/35.73/2026/{query['case_id'][:6]}"}}


def _envelope(n: int) -> dict:
    case_id, now = uuid.uuid4(), datetime.now(timezone.utc)
    return dump_envelope(event_id=f"{case_id}:1", event_type="case.registered", version=1, time=now,
                         subject=str(case_id), tenant="35.73", position=n, data={
                             "case_id": case_id, "tenant": "35.73", "registration_number": f"WBS/35.73/2026/{n:06d}",
                             "category": "korupsi", "channel": "web", "anonymous": True, "registered_at": now})


def _raw_smtp(port: int, n: int) -> float:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "wbs@peluit.invalid", "petugas@pemda.go.id", "raw"
    msg.set_content("x" * 600)
    with smtplib.SMTP("127.0.0.1", port, timeout=15) as smtp:
        t0 = time.perf_counter()
        for _ in range(n):
            smtp.send_message(msg)
        return n / (time.perf_counter() - t0)


def _one_burst(db: str, amqp_uri: str) -> tuple[float, float, list[float]]:
    with psycopg.connect(f"host=127.0.0.1 user=postgres dbname={db}", autocommit=True) as conn:
        conn.execute("TRUNCATE notification, officer_notification, processed_event CASCADE")
        publisher = ConfirmedPublisher(amqp_uri)
        t0 = time.perf_counter()
        for n in range(BURST):
            envelope = _envelope(n)
            publisher.publish(envelope, exchange_name=DOMAIN_EXCHANGE, message_id=envelope["id"],
                              routing_key=routing_key("case.registered", 1))
        expected = BURST * len(OFFICERS)
        handled_at = None
        while True:
            done, sent = conn.execute("SELECT (SELECT count(*) FROM processed_event), (SELECT count(*) FROM "
                                      "notification WHERE channel = 'email' AND status = 'sent')").fetchone()
            if handled_at is None and done >= BURST:
                handled_at = time.perf_counter()
            if sent >= expected:
                break
            time.sleep(0.1)
        elapsed = time.perf_counter() - t0
        lags = [r[0] for r in conn.execute("SELECT extract(epoch FROM sent_at - occurred_at) FROM notification "
                                           "WHERE channel = 'email'").fetchall()]
    return BURST / (handled_at - t0), expected / elapsed, sorted(float(x) for x in lags)


def bench_notifications(runs: int = 3) -> None:
    db, vhost, smtp_port = f"pt_bench_notify_{secrets.token_hex(4)}", f"peluit-bench-{secrets.token_hex(4)}", free_port()
    with psycopg.connect(ADMIN, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {db}")
    bootstrap.create_vhost(vhost)
    amqp_uri = f"pyamqp://guest:guest@127.0.0.1:5672/{vhost}"
    sink = subprocess.Popen([sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{smtp_port}",
                             "-c", "aiosmtpd.handlers.Sink"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    saved = dict(os.environ)  # the settings below are this part's own: later parts must not inherit them
    os.environ.update({"PELUIT_DB_NAME": db, "PELUIT_DB_USER": "postgres", "PELUIT_DB_HOST": "127.0.0.1",
                       "PELUIT_OPS_ADDRESS": f"127.0.0.1:{free_port()}", "PELUIT_NOTIFY_SMTP_PORT": str(smtp_port)})
    from peluit_notifications.service import NotificationsService  # reads its settings at start

    containers = [ServiceContainer(cls, {"AMQP_URI": amqp_uri, "max_workers": 10})
                  for cls in (CasesStandIn, NotificationsService)]
    try:
        time.sleep(1.0)  # aiosmtpd's start
        declare_topology(amqp_uri)
        for c in containers:
            c.start()
        raw = statistics.median(_raw_smtp(smtp_port, 2000) for _ in range(runs))
        results = [_one_burst(db, amqp_uri) for _ in range(runs)]
    finally:
        for c in containers:
            c.stop()
        sink.terminate()
        sink.wait(10)
        bootstrap.delete_vhost(vhost)
        with psycopg.connect(ADMIN, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE {db} WITH (FORCE)")
        os.environ.clear()
        os.environ.update(saved)
    handled = statistics.median(r[0] for r in results)
    mailed = statistics.median(r[1] for r in results)
    p50 = statistics.median(r[2][len(r[2]) // 2] for r in results)
    p99 = statistics.median(r[2][int(len(r[2]) * 0.99) - 1] for r in results)
    print(f"(i) officers' notifications: a burst of {BURST} new cases, {len(OFFICERS)} officers each "
          f"(one service, 10 workers, median of {runs} runs)")
    print(f"    case events recorded by the consumer                    {handled:8.0f} /s")
    print(f"    mails handed over to SMTP                               {mailed:8.0f} /s   "
          f"({mailed / raw:.2f} of raw SMTP sends, {raw:.0f} /s over one connection)")
    print(f"    lag case event -> mail handed over                      p50 {p50:6.2f} s   p99 {p99:6.2f} s")


if __name__ == "__main__":
    import eventlet

    eventlet.monkey_patch()
    bench_notifications(int(os.environ.get("PELUIT_BENCH_RUNS", "3")))
