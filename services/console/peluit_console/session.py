"""The console's session: one cookie, sealed with AES-256-GCM under the key
in ``console-session.key``, holding the officer's token, the session's CSRF
secret, who the officer is (as the login reply said) and two times. The
server keeps nothing: the cookie is re-sealed on every request with a fresh
last-activity time and refused once idle longer than the limit.

Before sign-in there is no cookie, so the sign-in form carries a signed,
timed token of its own (``SignInTokens``). Both keys are subkeys of the one
session key, so neither can stand in for the other.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, replace
from typing import Callable, NamedTuple

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

Clock = Callable[[], float]
COOKIE = "peluit_konsol"
COOKIE_TLS = "__Host-peluit_konsol"  # the __Host- prefix pins Secure, Path=/ and no Domain
ABSOLUTE_SECONDS = 12 * 3600  # a working day and a half at most, whatever the refreshes
ASSOCIATED = b"peluit-console-session-v1"


def subkey(key: bytes, label: str) -> bytes:
    return hmac.new(key, b"peluit-console/" + label.encode(), hashlib.sha256).digest()


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _decode(text: str, limit: int) -> bytes | None:
    if not text or len(text) > limit:
        return None
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None


class Officer(NamedTuple):
    """Who is signed in, as the officer API's login reply said (the APIs decide again on every call)."""

    id: str
    username: str
    tenant: str
    roles: tuple

    def has(self, *roles: str) -> bool:
        return not set(roles).isdisjoint(self.roles)


@dataclass(frozen=True)
class Session:
    token: str
    expires: int  # when the token expires (epoch seconds)
    officer: Officer
    csrf: str  # the session's form secret
    started: int
    seen: int  # last activity

    def with_token(self, token: str, expires: int) -> Session:
        return replace(self, token=token, expires=expires)


class SessionCookies:
    """Seals and opens the session cookie; ``idle`` seconds without a request end it."""

    def __init__(self, key: bytes, idle: int = 900, clock: Clock = time.time):
        if len(key) != 32:
            raise ValueError("the session key is 32 bytes")
        self._aead = AESGCM(subkey(key, "session"))
        self.idle, self._clock = idle, clock

    def start(self, login: dict) -> Session:
        """A session from the officer API's login reply."""
        now = int(self._clock())
        who = login["officer"]
        officer = Officer(str(who["id"]), str(who["username"]), str(who["tenant"]), tuple(who["roles"]))
        return Session(token=login["token"], expires=now + int(login["expires_in"]), officer=officer,
                       csrf=secrets.token_urlsafe(24), started=now, seen=now)

    def seal(self, session: Session) -> str:
        body = {"t": session.token, "x": session.expires, "c": session.csrf, "s": session.started,
                "l": int(self._clock()), "o": [session.officer.id, session.officer.username, session.officer.tenant,
                                               list(session.officer.roles)]}
        nonce = secrets.token_bytes(12)
        return _encode(nonce + self._aead.encrypt(nonce, json.dumps(body, separators=(",", ":")).encode(), ASSOCIATED))

    def open(self, value: str | None) -> Session | None:
        """The session, or None: not ours, changed, idle too long, too old, or its token expired."""
        raw = _decode(value or "", 8192)
        if raw is None or len(raw) < 12 + 16:
            return None
        try:
            body = json.loads(self._aead.decrypt(raw[:12], raw[12:], ASSOCIATED))
            officer_id, username, tenant, roles = body["o"]
            session = Session(token=str(body["t"]), expires=int(body["x"]), csrf=str(body["c"]),
                              started=int(body["s"]), seen=int(body["l"]),
                              officer=Officer(str(officer_id), str(username), str(tenant), tuple(map(str, roles))))
        except (InvalidTag, ValueError, KeyError, TypeError):
            return None
        now = self._clock()
        if now - session.seen > self.idle or now - session.started > ABSOLUTE_SECONDS or now >= session.expires:
            return None
        if session.seen > now + 60:  # from the future: not a cookie this clock sealed
            return None
        return session

    def seal_value(self, value: dict, purpose: str) -> str:
        """A small value sealed for one form round trip (never a session: another associated label)."""
        nonce = secrets.token_bytes(12)
        body = json.dumps({"v": value, "t": int(self._clock())}, separators=(",", ":")).encode()
        return _encode(nonce + self._aead.encrypt(nonce, body, b"peluit-console-form/" + purpose.encode()))

    def open_value(self, sealed: str | None, purpose: str, max_age: int = 900) -> dict | None:
        raw = _decode(sealed or "", 8192)
        if raw is None or len(raw) < 28:
            return None
        try:
            body = json.loads(self._aead.decrypt(raw[:12], raw[12:], b"peluit-console-form/" + purpose.encode()))
            value, sealed_at = body["v"], int(body["t"])
        except (InvalidTag, ValueError, KeyError, TypeError):
            return None
        return value if isinstance(value, dict) and 0 <= self._clock() - sealed_at <= max_age else None

    @staticmethod
    def form_token_ok(session: Session, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(session.csrf.encode(), str(token).encode())


class SignInTokens:
    """Form tokens for the pages used before a session exists (sign-in):
    ``issued(8) | nonce(16) | HMAC(32)``, valid ``max_age`` seconds."""

    def __init__(self, key: bytes, max_age: int = 3600, clock: Clock = time.time):
        self._key, self.max_age, self._clock = subkey(key, "sign-in-form"), max_age, clock

    def _mac(self, head: bytes) -> bytes:
        return hmac.new(self._key, head, hashlib.sha256).digest()

    def issue(self) -> str:
        head = int(self._clock()).to_bytes(8, "big") + secrets.token_bytes(16)
        return _encode(head + self._mac(head))

    def check(self, token: str | None) -> bool:
        raw = _decode(token or "", 128)
        if raw is None or len(raw) != 56 or not hmac.compare_digest(raw[24:], self._mac(raw[:24])):
            return False
        age = self._clock() - int.from_bytes(raw[:8], "big")
        return -60 <= age <= self.max_age
