"""The portal's small security parts: CSRF tokens and the session blob (its
throttle is intake's one ``throttle.Throttle``). Plain Python, no nameko, so
each is unit-tested on its own (``tests/test_portal.py``).

Every key is a subkey of intake's one secret, derived the way
``ReceiptKeys`` derives its own (``HMAC(secret, "peluit-intake-v1/" + label)``)
with labels of the portal's own (``portal-csrf``, ``portal-session``,
``portal-ratelimit``), so no portal key can stand in for a receipt key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Callable

from nacl.exceptions import CryptoError
from nacl.secret import SecretBox

from .receipts import ReceiptKeys

Clock = Callable[[], float]


def portal_subkey(secret: bytes, label: str) -> bytes:
    """A 32-byte subkey of intake's secret for one portal purpose."""
    if len(secret) < 32:
        raise ValueError("intake secret must be at least 32 bytes")
    return ReceiptKeys._subkey(secret, b"portal-" + label.encode())


def _b64e(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _b64d(text: str, limit: int) -> bytes | None:
    if not isinstance(text, str) or not text or len(text) > limit:
        return None
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None


# -- CSRF -------------------------------------------------------------------------


class CsrfTokens:
    """Stateless signed form tokens: ``nonce(16) | issued(8) | HMAC(32)``.

    The MAC covers the nonce, the time and a *binding*: ``""`` for the forms
    that work before any session exists (report form, receipt entry), and the
    session's random id for the forms that act on a session (reply, evidence,
    sign out), so a token of one session is worthless for another and an
    unbound token is worthless for a session form.
    """

    SKEW = 60.0

    def __init__(self, key: bytes, max_age: float = 2 * 3600, clock: Clock = time.time):
        self._key, self.max_age, self._clock = key, max_age, clock

    def _mac(self, binding: str, nonce: bytes, issued: bytes) -> bytes:
        return hmac.new(self._key, b"csrf-v1\x00" + binding.encode() + b"\x00" + nonce + issued,
                        hashlib.sha256).digest()

    def issue(self, binding: str = "") -> str:
        nonce = secrets.token_bytes(16)
        issued = int(self._clock()).to_bytes(8, "big")
        return _b64e(nonce + issued + self._mac(binding, nonce, issued))

    def check(self, token: str | None, binding: str = "") -> str:
        """``"ok"``, ``"expired"`` (genuine but too old) or ``"invalid"``."""
        raw = _b64d(token or "", 128)
        if raw is None or len(raw) != 56:
            return "invalid"
        nonce, issued, mac = raw[:16], raw[16:24], raw[24:]
        if not hmac.compare_digest(mac, self._mac(binding, nonce, issued)):
            return "invalid"
        age = self._clock() - int.from_bytes(issued, "big")
        if age < -self.SKEW:
            return "invalid"
        return "ok" if age <= self.max_age else "expired"


# -- session ----------------------------------------------------------------------


@dataclass(frozen=True)
class Session:
    receipt_hash: str  # the receipt's Argon2id lookup hash, never the receipt
    sid: str  # random, fixed for the session's life: CSRF tokens bind to it
    started: int
    last_seen: int


class SessionBlobs:
    """The one cookie: an encrypted, authenticated blob (libsodium secretbox,
    XSalsa20-Poly1305, fresh random nonce each time) holding the lookup hash,
    a session id and two times. Re-issued on every request; refused once it
    has been idle longer than ``idle`` seconds or lived longer than
    ``absolute``, whatever the browser kept."""

    VERSION = 1
    SKEW = 60

    def __init__(self, key: bytes, idle: int = 30 * 60, absolute: int = 8 * 3600, clock: Clock = time.time):
        self._box = SecretBox(key)
        self.idle, self.absolute, self._clock = idle, absolute, clock

    def start(self, receipt_hash: str) -> Session:
        now = int(self._clock())
        return Session(receipt_hash, secrets.token_hex(16), now, now)

    def seal(self, session: Session) -> str:
        """The blob for ``session``, with last-seen moved to now."""
        body = json.dumps({"v": self.VERSION, "h": session.receipt_hash, "s": session.sid,
                           "i": session.started, "t": int(self._clock())}, separators=(",", ":"))
        return _b64e(bytes(self._box.encrypt(body.encode())))

    def open(self, blob: str | None) -> Session | None:
        raw = _b64d(blob or "", 1024)
        if raw is None or len(raw) < SecretBox.NONCE_SIZE + SecretBox.MACBYTES:
            return None
        try:
            data = json.loads(self._box.decrypt(raw))
            if data.get("v") != self.VERSION:
                return None
            session = Session(str(data["h"]), str(data["s"]), int(data["i"]), int(data["t"]))
        except (CryptoError, ValueError, KeyError, TypeError, AttributeError):
            return None
        now = int(self._clock())
        if session.last_seen > now + self.SKEW or session.started > session.last_seen:
            return None
        if now - session.last_seen > self.idle or now - session.started > self.absolute:
            return None
        if len(session.receipt_hash) != 64:
            return None
        return session
