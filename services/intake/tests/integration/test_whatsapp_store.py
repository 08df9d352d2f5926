"""WhatsApp conversations in intake's database (whatsapp_store), on a real
PostgreSQL: what is at rest opens only with intake's key, one message of a
sender at a time across instances (two pools stand for two instances), the
per-number limit counted across them, expiry and the sweep."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from peluit_common.testing import dsn_for
from peluit_intake import whatsapp_store as ws
from peluit_intake.whatsapp_conversation import Conversation

PHONE = "6281298765432"
KEY = b"s" * 32
DRAFT = Conversation(step="where", tenants=("35.73", "35"), tenant="35.73", tenant_name="Inspektorat Kota Malang",
                     categories=(("korupsi", "Korupsi"), ("pungli", "Pungutan liar")), category="pungli",
                     answers=(("what", "Kanari-draft: uang pelicin di kelurahan"),), media=(("1234567890", 2048),))


@pytest.fixture
def pools(fresh_db):
    """Two pools on one database: two intake instances."""
    made = [ConnectionPool(dsn_for(fresh_db), min_size=1, max_size=2, kwargs={"autocommit": False}, open=True)
            for _ in range(2)]
    with made[0].connection() as conn:
        ws.migrate(conn)
        ws.migrate(conn)  # idempotent
    yield made
    for pool in made:
        pool.close()


def raw(dbname) -> psycopg.Connection:
    return psycopg.connect(dsn_for(dbname), autocommit=True)


def test_a_draft_is_at_rest_only_sealed_and_opens_on_every_instance(pools, fresh_db):
    a, b = (ws.ConversationStore(pool, KEY) for pool in pools)
    with a.session(PHONE, "m1") as s:
        assert s.get() == (None, False) and not s.seen()
        s.put(DRAFT)
        s.mark_seen()
    assert b.peek(PHONE) == (DRAFT, False)  # the other instance carries it on
    with b.session(PHONE, "m1") as s:
        assert s.seen()  # Meta's retry to the other instance replays nothing
    with raw(fresh_db) as conn:
        dump = "\n".join(str(r) for t in ("whatsapp_conversation", "whatsapp_message")
                         for r in conn.execute(f"SELECT t::text FROM {t} t").fetchall())
        sender, sealed = conn.execute("SELECT sender, sealed FROM whatsapp_conversation").fetchone()
    assert PHONE not in dump and "Kanari-draft" not in dump and "pelicin" not in dump and "1234567890" not in dump
    assert sender == a.sender(PHONE)
    # another key (a rotated secret) finds and opens nothing: the reporter starts again
    assert ws.ConversationStore(pools[0], b"o" * 32).peek(PHONE) == (None, False)
    assert ws.unseal(a.state_key, sender, bytes(sealed)) == DRAFT
    assert ws.unseal(a.state_key, a.sender("6280000000000"), bytes(sealed)) is None  # moved to another sender
    assert ws.unseal(ws.ConversationStore(pools[0], b"o" * 32).state_key, sender, bytes(sealed)) is None


def test_one_message_of_a_sender_at_a_time_across_instances(pools):
    a, b = (ws.ConversationStore(pool, KEY) for pool in pools)
    inside, release, order = threading.Event(), threading.Event(), []

    def first():
        with a.session(PHONE, "x1") as s:
            inside.set()
            release.wait(10)
            s.put(DRAFT)
            order.append("first wrote")

    def second():
        with b.session(PHONE, "x2") as s:
            order.append(("second read", s.get()))

    t1 = threading.Thread(target=first)
    t1.start()
    assert inside.wait(10)
    t2 = threading.Thread(target=second)
    t2.start()
    time.sleep(0.5)
    assert order == []  # the second instance waits for the sender's lock
    with b.session("6281111111111", "y1") as s:  # another sender does not wait
        assert s.get() == (None, False)
    release.set()
    t1.join(10)
    t2.join(10)
    assert order == ["first wrote", ("second read", (DRAFT, False))]


def test_an_instance_lost_mid_message_commits_nothing_and_frees_the_sender(pools, fresh_db):
    a, b = (ws.ConversationStore(pool, KEY) for pool in pools)
    with a.session(PHONE, "k0") as s:
        s.put(DRAFT)
    ended = threading.Event()

    def doomed():
        with pytest.raises(ws.StoreUnavailable), a.session(PHONE, "k1") as s:
            s.put(Conversation(step="confirm"))
            with raw(fresh_db) as admin:  # the instance dies: its connection goes
                admin.execute("SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory'")
            s.mark_seen()
        ended.set()

    t = threading.Thread(target=doomed)
    t.start()
    t.join(10)
    assert ended.is_set()
    started = time.monotonic()
    with b.session(PHONE, "k1") as s:
        assert not s.seen() and s.get() == (DRAFT, False)  # as before the lost message; its retry will do it
    assert time.monotonic() - started < 5


def test_the_limit_per_number_counts_every_instance(pools):
    a, b = (ws.ConversationStore(pool, KEY) for pool in pools)
    for n, store in enumerate((a, b, a)):
        with store.session(PHONE, f"h{n}") as s:
            assert s.hit(3, 3600.0) is None
            s.mark_seen()
    with b.session(PHONE, "h3") as s:
        wait = s.hit(3, 3600.0)
        s.mark_seen()  # a throttled message is remembered, not counted
    assert wait is not None and 3500 < wait <= 3600
    with a.session(PHONE, "h4") as s:
        assert 3500 < s.hit(3, 3600.0) <= 3600
    with a.session("6281111111111", "z") as s:
        assert s.hit(3, 3600.0) is None  # another number is not affected


def test_expiry_and_the_sweep(pools, fresh_db):
    store = ws.ConversationStore(pools[0], KEY, ttl=0.2)
    with store.session(PHONE, "e1") as s:
        s.put(DRAFT)
        s.mark_seen()
    time.sleep(0.3)
    assert store.peek(PHONE) == (None, True)  # timed out: the reporter is told, and starts again
    ws.sweep(pools[0])
    with raw(fresh_db) as conn:
        assert conn.execute("SELECT sealed FROM whatsapp_conversation").fetchall() == [(None,)]  # draft wiped
        assert conn.execute("SELECT count(*) FROM whatsapp_message").fetchone()[0] == 1
        conn.execute("UPDATE whatsapp_conversation SET expires_at = now() - interval '2 days'")
        conn.execute("UPDATE whatsapp_message SET received_at = now() - interval '2 days'")
    assert store.peek(PHONE) == (None, True)
    ws.sweep(pools[0])
    with raw(fresh_db) as conn:
        assert conn.execute("SELECT (SELECT count(*) FROM whatsapp_conversation),"
                            " (SELECT count(*) FROM whatsapp_message)").fetchone() == (0, 0)
    assert store.peek(PHONE) == (None, False)
