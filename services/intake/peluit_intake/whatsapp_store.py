"""Where a WhatsApp conversation waits between two messages: intake's own
PostgreSQL database, so that whichever intake instance Meta's next webhook
reaches (no sticky routing) carries the conversation on, and an instance
killed mid-message loses nothing: its transaction rolls back, its lock goes
with its connection, and Meta's retry lands on another instance.

At rest, nothing that opens without intake's key folder (docs/channels.md):

- ``whatsapp_conversation``: the sender as an HMAC of the number, the draft
  (menus sent, answers, media ids) sealed with XChaCha20-Poly1305 under a key
  derived from intake's secret, the sender hash as associated data (a sealed
  draft copied onto another sender does not open), and the idle expiry. A
  sweep wipes a draft once it expires; the empty row tells the reporter the
  conversation timed out, for a day, then goes.
- ``whatsapp_message``: an HMAC of (number, message id) for a day, so Meta's
  retries replay nothing, with the sender hash and the time, so the
  per-number limit holds across every instance.

One message of a sender at a time, across instances: a transaction-level
advisory lock on the sender hash, held while the message is handled; the
replies go out and the state is written inside that transaction.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
from dataclasses import asdict

import psycopg
from nacl.bindings import (crypto_aead_xchacha20poly1305_ietf_decrypt, crypto_aead_xchacha20poly1305_ietf_encrypt,
                           crypto_aead_xchacha20poly1305_ietf_NPUBBYTES)
from nacl.exceptions import CryptoError
from psycopg_pool import PoolTimeout

from peluit_common.db import apply_schema

from .whatsapp_conversation import Conversation

SCHEMA = """
CREATE TABLE IF NOT EXISTS whatsapp_conversation (
    sender text PRIMARY KEY,  -- HMAC of the number, never the number
    sealed bytea,  -- the draft, XChaCha20-Poly1305 (nonce first); NULL once it expired
    expires_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS whatsapp_conversation_expiry ON whatsapp_conversation (expires_at);
CREATE TABLE IF NOT EXISTS whatsapp_message (
    message text PRIMARY KEY,  -- HMAC of (number, message id): Meta's retries replay nothing
    sender text NOT NULL,
    counted boolean NOT NULL,  -- counted against the sender's limit (a throttled message is not)
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS whatsapp_message_sender ON whatsapp_message (sender, received_at);
CREATE INDEX IF NOT EXISTS whatsapp_message_received ON whatsapp_message (received_at);
"""
TOMBSTONE_SECONDS = 86400.0  # how long an expired conversation's empty row says "expired"


def migrate(conn: psycopg.Connection) -> None:
    apply_schema(conn, SCHEMA)


class StoreUnavailable(Exception):
    """intake's database did not answer: nothing committed, Meta retries (503)."""


def seal(key: bytes, sender: str, conv: Conversation) -> bytes:
    nonce = os.urandom(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES)
    plain = json.dumps(asdict(conv), ensure_ascii=False, separators=(",", ":")).encode()
    return nonce + crypto_aead_xchacha20poly1305_ietf_encrypt(plain, sender.encode(), nonce, key)


def unseal(key: bytes, sender: str, sealed: bytes) -> Conversation | None:
    """The draft, or None when it does not open (another key after a rotation, another sender's row)."""
    n = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
    try:
        plain = crypto_aead_xchacha20poly1305_ietf_decrypt(sealed[n:], sender.encode(), sealed[:n], key)
    except CryptoError:
        return None
    data = json.loads(plain)
    # JSON has lists only; the conversation is made of (nested) tuples
    return Conversation(**{k: tuple(tuple(i) if isinstance(i, list) else i for i in v) if isinstance(v, list) else v
                           for k, v in data.items()})


class Session:
    """One message of one sender, inside its transaction and under its lock."""

    def __init__(self, conn: psycopg.Connection, store: ConversationStore, sender: str, message: str):
        self.conn, self.store, self.sender, self.message = conn, store, sender, message
        self.counted = False

    def seen(self) -> bool:
        return self.conn.execute("SELECT 1 FROM whatsapp_message WHERE message = %s", (self.message,)).fetchone() \
            is not None

    def hit(self, limit: int, window: float) -> float | None:
        """Count this message against the sender (every instance's messages count):
        None if allowed, else the seconds to wait."""
        count, oldest_age = self.conn.execute(
            "SELECT count(*), extract(epoch FROM now() - min(received_at)) FROM whatsapp_message"
            " WHERE sender = %s AND counted AND received_at > now() - make_interval(secs => %s)",
            (self.sender, window)).fetchone()
        if count >= limit:
            return max(1.0, window - float(oldest_age))
        self.counted = True
        return None

    def get(self) -> tuple[Conversation | None, bool]:
        """(conversation, expired): expired says one existed and timed out."""
        row = self.conn.execute("SELECT sealed, expires_at > now() FROM whatsapp_conversation WHERE sender = %s",
                                (self.sender,)).fetchone()
        if row is None:
            return None, False
        sealed, live = row
        conv = unseal(self.store.state_key, self.sender, bytes(sealed)) if sealed is not None and live else None
        return (conv, False) if conv is not None else (None, True)

    def put(self, conv: Conversation | None) -> None:
        if conv is None:
            self.conn.execute("DELETE FROM whatsapp_conversation WHERE sender = %s", (self.sender,))
            return
        self.conn.execute(
            "INSERT INTO whatsapp_conversation (sender, sealed, expires_at)"
            " VALUES (%s, %s, now() + make_interval(secs => %s))"
            " ON CONFLICT (sender) DO UPDATE SET sealed = excluded.sealed, expires_at = excluded.expires_at",
            (self.sender, seal(self.store.state_key, self.sender, conv), self.store.ttl))

    def mark_seen(self) -> None:
        self.conn.execute("INSERT INTO whatsapp_message (message, sender, counted) VALUES (%s, %s, %s)"
                          " ON CONFLICT DO NOTHING", (self.message, self.sender, self.counted))


class ConversationStore:
    """The conversations of every intake instance, over intake's pool; ``key``
    is derived from intake's secret (``IntakeKeys.whatsapp_state``)."""

    def __init__(self, pool, key: bytes, ttl: float = 1800.0):
        self.pool, self.ttl = pool, ttl
        self._sender_key = hmac.new(key, b"sender", hashlib.sha256).digest()
        self.state_key = hmac.new(key, b"draft", hashlib.sha256).digest()

    def sender(self, phone: str) -> str:
        return hmac.new(self._sender_key, phone.encode(), hashlib.sha256).hexdigest()

    def message(self, phone: str, message_id: str) -> str:
        return hmac.new(self._sender_key, "\x00".join((phone, message_id)).encode(), hashlib.sha256).hexdigest()

    @contextlib.contextmanager
    def session(self, phone: str, message_id: str):
        """The sender's lock and transaction: committed when the block ends, rolled back if it raises."""
        sender = self.sender(phone)
        try:
            with self.pool.connection() as conn, conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (sender,))
                yield Session(conn, self, sender, self.message(phone, message_id))
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise StoreUnavailable(type(exc).__name__) from None

    def peek(self, phone: str) -> tuple[Conversation | None, bool]:
        """The sender's conversation as stored (tests, tools)."""
        with self.session(phone, "") as s:
            return s.get()


def sweep(pool, seen_seconds: float = 86400.0) -> None:
    """Expired drafts wiped, old empty rows and message ids deleted (every instance may run it)."""
    with pool.connection() as conn, conn.transaction():
        conn.execute("UPDATE whatsapp_conversation SET sealed = NULL WHERE sealed IS NOT NULL AND expires_at <= now()")
        conn.execute("DELETE FROM whatsapp_conversation WHERE expires_at <= now() - make_interval(secs => %s)",
                     (TOMBSTONE_SECONDS,))
        conn.execute("DELETE FROM whatsapp_message WHERE received_at <= now() - make_interval(secs => %s)",
                     (seen_seconds,))
