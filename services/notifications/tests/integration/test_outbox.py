"""The outbox on a real database, sent to a real SMTP server (aiosmtpd in its
own process): the server is down during a burst, then starts; every mail
arrives exactly once, two workers never send one row twice, an address the
server refuses is retried with back-off and dead-lettered without holding up
the others, and the daily digest and breach summary are made once."""

from __future__ import annotations

import mailbox
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import eventlet
import pytest

from peluit_common.db import make_pool
from peluit_common.testing import dsn_for, free_port, wait_for
from peluit_notifications import daily, delivery, fanout, store
from peluit_notifications.handling import handle

from ..envelopes import event, registered

SINK = Path(__file__).resolve().parents[1] / "smtp_sink.py"
GOOD = [{"officer_id": str(uuid.uuid4()), "tenant": "35.73", "email": f"officer{i}@pemda.go.id", "preferences": {}}
        for i in range(3)]
REFUSED = {"officer_id": str(uuid.uuid4()), "tenant": "35.73", "email": "refuse@pemda.go.id", "preferences": {}}
DIGESTER = {"officer_id": str(uuid.uuid4()), "tenant": "35.73", "email": "digest@pemda.go.id",
            "preferences": {"case_new": "digest"}}
PROVINCE_INSPEKTUR = {"officer_id": str(uuid.uuid4()), "tenant": "35", "email": "inspektur@jatim.go.id",
                      "preferences": {}}


def directory(query):
    if query["tenant"] == "35":
        return {"recipients": [PROVINCE_INSPEKTUR], "case": None}
    return {"recipients": GOOD + [REFUSED, DIGESTER],
            "case": {"registration_number": f"WBS/35.73/2026/{query['case_id'][:6]}"}}


@pytest.fixture
def pool(fresh_db):
    pool = make_pool(dsn_for(fresh_db), max_size=4)
    with pool.connection() as conn:
        store.migrate(conn)
    yield pool
    pool.close()


class Sink:
    def __init__(self, tmp_path: Path):
        self.port, self.dir, self.proc = free_port(), tmp_path / "mail", None

    def start(self):
        self.proc = subprocess.Popen([sys.executable, str(SINK), str(self.port), str(self.dir)],
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "ready"

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None

    def messages(self) -> list:
        return list(mailbox.Maildir(self.dir, create=True)) if self.dir.exists() else []


@pytest.fixture
def sink(tmp_path):
    s = Sink(tmp_path)
    yield s
    s.stop()


def status_counts(pool) -> dict:
    with pool.connection() as conn:
        return dict(conn.execute("SELECT status, count(*) FROM notification WHERE channel = 'email' "
                                 "GROUP BY status").fetchall())


def test_smtp_down_during_a_burst_then_every_mail_arrives_exactly_once(pool, sink):
    settings = delivery.SmtpSettings("127.0.0.1", sink.port, "wbs@peluit.invalid", timeout=5)
    backoff = delivery.Backoff(base=0.05, cap=0.2, attempts=6)
    burst = [registered() for _ in range(40)]
    for envelope in burst:
        handle(envelope, store.Store(pool), relay=None)
    assert fanout.fanout_once(pool, directory, backoff, batch=500) == 40
    # the server is down: every row fails, none is lost, none is dead yet
    sent, failed = delivery.deliver_once(pool, delivery.Mailer(settings), settings, backoff, batch=500)
    assert (sent, failed) == (0, 40 * 4) and status_counts(pool) == {"pending": 160, "digest": 40}
    sink.start()

    def worker():  # two instances share the outbox: SKIP LOCKED keeps them apart
        while status_counts(pool).get("pending"):
            delivery.deliver_once(pool, delivery.Mailer(settings), settings, backoff, batch=7)
            eventlet.sleep(0.02)

    workers = [eventlet.spawn(worker) for _ in range(2)]
    for w in workers:
        w.wait()
    assert status_counts(pool) == {"sent": 120, "dead": 40, "digest": 40}
    ids = [m["Message-ID"] for m in sink.messages()]
    assert len(ids) == len(set(ids)) == 120  # each (event, officer) once, the refused address never
    assert {m["To"] for m in sink.messages()} == {o["email"] for o in GOOD}
    with pool.connection() as conn:
        assert conn.execute("SELECT DISTINCT attempts, last_error FROM notification WHERE status = 'dead'"
                            ).fetchall() == [(6, "SMTPRecipientsRefused")]
        console = conn.execute("SELECT count(*) FROM notification WHERE channel = 'console'").fetchone()[0]
    assert console == 40 * 5  # the console list has every officer's, mail or not

    # the digest officer gets one mail with a line per case, once, however often the job runs
    now = datetime.now(timezone.utc) + timedelta(days=1)
    assert daily.run_digests(pool, now.replace(hour=1), hour=7) == 1  # 08:00 WIB
    assert daily.run_digests(pool, now.replace(hour=1), hour=7) == 0
    delivery.deliver_once(pool, delivery.Mailer(settings), settings, backoff)
    digests = [m for m in sink.messages() if m["To"] == "digest@pemda.go.id"]
    assert len(digests) == 1 and digests[0].get_payload(decode=True).decode().count("New report received: WBS/") == 40


def test_the_provinces_breach_summary_is_made_once_a_day(pool, sink):
    noticed = datetime(2026, 3, 2, 3, 0, tzinfo=timezone.utc)  # 10:00 WIB on 2 March
    for tenant in ("35.73", "35.07"):
        envelope = event("case.deadline_breached", tenant=tenant, rule="first_response", due_at=noticed,
                         noticed_at=noticed)
        handle(envelope, store.Store(pool), relay=None)
    assert fanout.fanout_once(pool, directory, delivery.Backoff()) == 2
    next_morning = datetime(2026, 3, 3, 1, 0, tzinfo=timezone.utc)  # 08:00 WIB on 3 March
    assert daily.run_breach_summaries(pool, directory, next_morning - timedelta(hours=2)) == 0  # before 07:00
    assert daily.run_breach_summaries(pool, directory, next_morning) == 1
    assert daily.run_breach_summaries(pool, directory, next_morning) == 0
    with pool.connection() as conn:
        rows = conn.execute("SELECT officer_id::text, channel, items FROM notification WHERE kind = 'breach_summary'"
                            ).fetchall()
    assert {(r[0], r[1]) for r in rows} == {(PROVINCE_INSPEKTUR["officer_id"], "email"),
                                            (PROVINCE_INSPEKTUR["officer_id"], "console")}
    assert len(rows[0][2]) == 2
    sink.start()
    settings = delivery.SmtpSettings("127.0.0.1", sink.port, "wbs@peluit.invalid", timeout=5)
    delivery.deliver_once(pool, delivery.Mailer(settings), settings, delivery.Backoff())
    assert wait_for(lambda: any(m["To"] == "inspektur@jatim.go.id" for m in sink.messages()))


def test_the_inbox_lists_an_officers_own_console_rows_and_marks_them_read(pool):
    from peluit_notifications import inbox

    for _ in range(3):
        handle(registered(), store.Store(pool), relay=None)
    fanout.fanout_once(pool, directory, delivery.Backoff())
    me, other = GOOD[0]["officer_id"], GOOD[1]["officer_id"]
    first = inbox.officer_inbox(pool, {"version": 1, "officer_id": me, "limit": 2})
    assert first["unread"] == 3 and len(first["items"]) == 2 and first["items"][0]["id"] > first["items"][1]["id"]
    assert first["items"][0]["kind"] == "case_new" and first["items"][0]["registration_number"].startswith("WBS/")
    rest = inbox.officer_inbox(pool, {"version": 1, "officer_id": me, "before": first["items"][1]["id"]})
    assert len(rest["items"]) == 1
    assert inbox.mark_read(pool, {"version": 1, "officer_id": me, "ids": [first["items"][0]["id"]]}) == {"unread": 2}
    # another officer's ids change nothing of mine, and mine nothing of theirs
    assert inbox.mark_read(pool, {"version": 1, "officer_id": other, "ids": [rest["items"][0]["id"]]}) == {"unread": 3}
    assert inbox.mark_read(pool, {"version": 1, "officer_id": me, "all": True}) == {"unread": 0}
    assert inbox.officer_inbox(pool, {"version": 1, "officer_id": me, "unread": True})["items"] == []
    assert inbox.officer_inbox(pool, {"version": 2, "officer_id": me}) == {"error": "unsupported_version"}
    assert inbox.officer_inbox(pool, {"version": 1, "officer_id": "nope"}) == {"error": "invalid"}


def test_a_notice_waits_while_cases_does_not_answer_and_fans_out_once_it_does(pool):
    backoff = delivery.Backoff(base=0.01, cap=0.01, attempts=3)
    envelope = registered()
    handle(envelope, store.Store(pool), relay=None)  # recorded without asking anyone

    def away(query):
        raise TimeoutError("cases is away")

    assert fanout.fanout_once(pool, away, backoff) == 0
    with pool.connection() as conn:
        assert conn.execute("SELECT status, attempts, last_error FROM notice WHERE event_id = %s",
                            (envelope["id"],)).fetchone() == ("pending", 1, "TimeoutError")
    time.sleep(0.05)
    assert fanout.fanout_once(pool, directory, backoff) == 1
    assert fanout.fanout_once(pool, directory, backoff) == 0  # done once
    with pool.connection() as conn:
        assert conn.execute("SELECT count(*) FROM notification WHERE event_id = %s",
                            (envelope["id"],)).fetchone()[0] == 10  # console and e-mail for each of the five
