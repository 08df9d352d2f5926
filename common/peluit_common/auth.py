"""Short-lived officer tokens: EdDSA (Ed25519) JWTs.

Only cases holds the signing key; intake, reporting and the vault hold the
public key and verify signatures on their own. A token also names its
session version (``sv``): ``OfficerAuth`` with a session source ends it on
the next request once the officer logs out, is deactivated or changes roles,
password or factor (docs/officer-api.md, "Sessions"). Nothing here puts a
token or a claim value into an exception text: ``str(AuthError)`` is its
code, and the cause is never chained.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Iterable

import jwt
from nameko.extensions import DependencyProvider
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .rpc import call
from .settings import ConfigError, env_float, secret_bytes
from .web import HttpError

log = logging.getLogger(__name__)

ROLES = ("penerima", "penelaah", "investigator", "inspektur", "auditor", "tenant_admin", "province_admin")

ISSUER = "peluit/cases"
AUDIENCE = "peluit-officer"
# enrolment tokens are for one step of cases only: no API verifier accepts this audience
ENROLMENT_AUDIENCE = "peluit-officer-enrolment"
ALGORITHM = "EdDSA"
DEFAULT_TTL_SECONDS = 900
# a working day at most: a leaked token must expire on its own
MAX_TTL_SECONDS = 8 * 3600
# real tokens are ~500 bytes; refuse anything absurd before parsing it
MAX_TOKEN_CHARS = 4096

# ASCII digits only: \d would also accept other scripts' digits
TENANT_RE = re.compile(r"[0-9]{2}(\.[0-9]{2})?")
_BEARER_RE = re.compile(r"Bearer +([A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*)", re.IGNORECASE)
_REQUIRED = ["iss", "aud", "sub", "exp", "iat", "nbf", "jti"]
# claims issue() sets itself; extra_claims may not replace them
_RESERVED = frozenset(_REQUIRED) | {"tenant", "roles", "username", "sv", "auth_time", "scope"}

class AuthError(HttpError):
    """401 with a stable ``code``: missing_token, invalid_token, expired_token,
    session_ended (a valid signature, but the officer's session is over).

    An ``HttpError`` so that ``json_endpoint`` answers it as is.
    """

    CODES = ("missing_token", "invalid_token", "expired_token", "session_ended")

    def __init__(self, code: str):
        if code not in self.CODES:
            raise ValueError("unknown AuthError code")
        super().__init__(401, code)


@dataclass(frozen=True)
class OfficerClaims:
    officer_id: str
    tenant: str
    roles: tuple[str, ...]
    username: str
    token_id: str
    expires_at: datetime
    # a short-lived token cases issues right after a fresh TOTP code (dual-control approvals)
    step_up: bool = False
    # the officer's session version when the token was issued (None: a token from before sessions)
    session_version: int | None = None
    # when the officer last proved password and TOTP (refreshes keep it)
    auth_time: datetime | None = None

    def has_role(self, *roles: str) -> bool:
        """True when the officer holds at least one of ``roles``."""
        return any(role in self.roles for role in roles)


def _check_roles(roles: Iterable[str]) -> tuple[str, ...]:
    roles = tuple(dict.fromkeys(roles))
    if not roles or any(not isinstance(r, str) or r not in ROLES for r in roles):
        raise ValueError("roles must be a non-empty subset of ROLES")
    return roles


class TokenIssuer:
    def __init__(self, private_key_bytes_32: bytes):
        if len(private_key_bytes_32) != 32:
            raise ValueError("an Ed25519 private key is 32 bytes")
        self._key = Ed25519PrivateKey.from_private_bytes(bytes(private_key_bytes_32))

    def issue(self, officer_id: str, tenant: str, roles: Iterable[str], username: str,
              ttl_seconds: int = DEFAULT_TTL_SECONDS, *, now: datetime | None = None,
              extra_claims: dict | None = None, session_version: int | None = None,
              auth_time: datetime | None = None) -> str:
        """A signed token for an officer who has just proven password and TOTP
        (or refreshes a live session: ``auth_time`` is then the first sign-in).

        ``extra_claims`` adds claims such as ``{"amr": ["pwd", "otp"], "step_up": True}``
        for a step-up token; the standard and officer claims cannot be replaced."""
        if not officer_id or not isinstance(officer_id, str):
            raise ValueError("officer_id must be a non-empty string")
        if not isinstance(tenant, str) or not TENANT_RE.fullmatch(tenant):
            raise ValueError("tenant must be a region code like 35 or 35.73")
        if not username or not isinstance(username, str):
            raise ValueError("username must be a non-empty string")
        if not 0 < int(ttl_seconds) <= MAX_TTL_SECONDS:
            raise ValueError(f"ttl_seconds must be within 1..{MAX_TTL_SECONDS}")
        extra = dict(extra_claims or {})
        if set(extra) & _RESERVED:
            raise ValueError("extra_claims may not replace standard or officer claims")
        issued = int((now or datetime.now(timezone.utc)).timestamp())
        payload = {
            "iss": ISSUER, "aud": AUDIENCE, "sub": officer_id, "tenant": tenant,
            "roles": list(_check_roles(roles)), "username": username,
            "iat": issued, "nbf": issued, "exp": issued + int(ttl_seconds),
            "jti": secrets.token_urlsafe(16), **extra,
        }
        if session_version is not None:
            payload["sv"] = int(session_version)
            payload["auth_time"] = int(auth_time.timestamp()) if auth_time else issued
        return jwt.encode(payload, self._key, algorithm=ALGORITHM, headers={"typ": "JWT"})

    def issue_enrolment(self, officer_id: str, session_version: int, ttl_seconds: int,
                        *, now: datetime | None = None) -> str:
        """A token for the last enrolment step only (its own audience, no roles):
        it names the officer and the session version the first step left."""
        if not 0 < int(ttl_seconds) <= MAX_TTL_SECONDS:
            raise ValueError(f"ttl_seconds must be within 1..{MAX_TTL_SECONDS}")
        issued = int((now or datetime.now(timezone.utc)).timestamp())
        payload = {"iss": ISSUER, "aud": ENROLMENT_AUDIENCE, "sub": officer_id, "scope": "enrol",
                   "sv": int(session_version), "iat": issued, "nbf": issued, "exp": issued + int(ttl_seconds),
                   "jti": secrets.token_urlsafe(16)}
        return jwt.encode(payload, self._key, algorithm=ALGORITHM, headers={"typ": "JWT"})


class TokenVerifier:
    def __init__(self, public_key_bytes_32: bytes, leeway: int = 5):
        if len(public_key_bytes_32) != 32:
            raise ValueError("an Ed25519 public key is 32 bytes")
        # a key object (not bytes) also means no HMAC algorithm could use it as a secret
        self._key = Ed25519PublicKey.from_public_bytes(bytes(public_key_bytes_32))
        self._leeway = leeway

    def verify(self, token: str) -> OfficerClaims:
        return _claims(self._decode(token, AUDIENCE))

    def verify_enrolment(self, token: str) -> tuple[str, int]:
        """``(officer_id, session_version)`` of an enrolment token (``issue_enrolment``)."""
        claims = self._decode(token, ENROLMENT_AUDIENCE)
        sub, version = claims.get("sub"), claims.get("sv")
        if claims.get("scope") != "enrol" or not isinstance(sub, str) or not sub or type(version) is not int:
            raise AuthError("invalid_token")
        return sub, version

    def _decode(self, token: str, audience: str) -> dict:
        return decode_eddsa(token, self._key, audience=audience, leeway=self._leeway, require=_REQUIRED,
                            error=AuthError, codes=("missing_token", "invalid_token", "expired_token"))


def decode_eddsa(token, key, *, audience: str, leeway: float, require, error, codes: tuple[str, str, str],
                 max_chars: int = MAX_TOKEN_CHARS) -> dict:
    """A Peluit JWT's claims, signature, expiry, audience and issuer checked; ``error(code)`` is raised
    with ``codes`` = (missing, invalid, expired). Officer tokens and vault-call tokens both decode here."""
    missing, invalid, expired = codes
    if not token or not isinstance(token, str):
        raise error(missing)
    if len(token) > max_chars:
        raise error(invalid)
    try:
        # checked before decode as well: only EdDSA, whatever the library's defaults
        if jwt.get_unverified_header(token).get("alg") != ALGORITHM:
            raise error(invalid)
        return jwt.decode(
            token, key, algorithms=[ALGORITHM], audience=audience, issuer=ISSUER, leeway=leeway,
            options={"require": require, "verify_signature": True, "verify_exp": True,
                     "verify_nbf": True, "verify_iat": True, "verify_aud": True, "verify_iss": True},
        )
    except error:
        raise
    except jwt.ExpiredSignatureError:
        raise error(expired) from None
    except Exception:
        # PyJWTError and anything a malformed token provokes: one answer, no detail
        raise error(invalid) from None


def _claims(claims: dict) -> OfficerClaims:
    sub, tenant = claims.get("sub"), claims.get("tenant")
    username, jti, roles = claims.get("username"), claims.get("jti"), claims.get("roles")
    if not (isinstance(sub, str) and sub and isinstance(tenant, str) and TENANT_RE.fullmatch(tenant)
            and isinstance(username, str) and username and isinstance(jti, str) and jti
            and isinstance(roles, list)):
        raise AuthError("invalid_token")
    try:
        roles = _check_roles(roles)
    except (ValueError, TypeError):
        raise AuthError("invalid_token") from None
    # step-up only when both say so: a stray "step_up" claim alone proves no second factor
    amr = claims.get("amr")
    step_up = claims.get("step_up") is True and isinstance(amr, list) and "otp" in amr
    version, auth_time = claims.get("sv"), claims.get("auth_time")
    if version is not None and (type(version) is not int or type(auth_time) is not int):
        raise AuthError("invalid_token")
    return OfficerClaims(officer_id=sub, tenant=tenant, roles=roles, username=username, token_id=jti,
                         expires_at=datetime.fromtimestamp(int(claims["exp"]), timezone.utc), step_up=step_up,
                         session_version=version,
                         auth_time=datetime.fromtimestamp(auth_time, timezone.utc) if version is not None else None)


def bearer_token(request) -> str:
    """The token of ``Authorization: Bearer <token>`` on a werkzeug request."""
    header = request.headers.get("Authorization", "")
    match = _BEARER_RE.fullmatch(header.strip()) if len(header) <= MAX_TOKEN_CHARS + 16 else None
    if match is None:
        raise AuthError("missing_token")
    return match.group(1)


def _load_hex_key(name_env: str, dev_filename: str) -> bytes:
    try:
        key = bytes.fromhex(secret_bytes(name_env, dev_filename).decode("ascii"))
    except (ValueError, UnicodeDecodeError):
        raise ConfigError(f"{name_env}: the key file must hold 32 bytes as hex") from None
    if len(key) != 32:
        raise ConfigError(f"{name_env}: the key file must hold 32 bytes as hex")
    return key


def load_signing_key(name_env: str = "PELUIT_OFFICER_TOKEN_KEY_FILE",
                     dev_filename: str = "officer-token.key") -> bytes:
    """The raw 32-byte Ed25519 private key (cases only)."""
    return _load_hex_key(name_env, dev_filename)


def load_verify_key(name_env: str = "PELUIT_OFFICER_TOKEN_PUBLIC_KEY_FILE",
                    dev_filename: str = "officer-token.pub") -> bytes:
    """The raw 32-byte Ed25519 public key (every service that checks officer tokens)."""
    return _load_hex_key(name_env, dev_filename)



@dataclass(frozen=True)
class SessionState:
    """An officer's session as cases keeps it: the answer of ``cases.officer_session``."""

    active: bool
    session_version: int
    roles: tuple[str, ...]

    @classmethod
    def from_reply(cls, reply) -> SessionState | None:
        if reply is None:
            return None
        if not isinstance(reply, dict) or type(reply.get("session_version")) is not int:
            raise ValueError("not a session reply")
        return cls(active=reply.get("active") is True, session_version=reply["session_version"],
                   roles=tuple(reply.get("roles") or ()))

    def reply(self) -> dict:
        return {"active": self.active, "session_version": self.session_version, "roles": list(self.roles)}

    def admits(self, claims: OfficerClaims) -> bool:
        """The token belongs to this session: same version, active, same roles."""
        return (self.active and claims.session_version == self.session_version
                and set(claims.roles) == set(self.roles))


# how a service learns an officer's session: ``lookup(service, officer_id)`` (the worker's
# service instance, for its database or RPC proxy); None when no such officer
SessionLookup = Callable[[object, str], "SessionState | None"]
SESSION_RPC_TIMEOUT = 2.0


def sessions_over_rpc(proxy: str = "cases", timeout: float = SESSION_RPC_TIMEOUT) -> SessionLookup:
    """Ask cases (``cases.officer_session``) through the service's RpcProxy named ``proxy``."""

    def lookup(service, officer_id: str) -> SessionState | None:
        return SessionState.from_reply(call(getattr(service, proxy).officer_session, officer_id, timeout=timeout))

    return lookup


class OfficerAuth(DependencyProvider):
    """A service's one officer-token check: cases' public key only, so no
    service but cases can mint a token. ``claims(request)`` verifies the
    bearer token of an HTTP request, ``verify(token)`` one passed along.

    With ``sessions`` (a ``SessionLookup``), every verified token must also
    belong to the officer's current session (``SessionState.admits``), asked
    at most once a second per officer (``PELUIT_SESSION_CACHE_SECONDS``). A
    stale token is ``401 session_ended``; when the answer cannot be had, the
    request is ``503 session_unavailable``, never accepted. Without
    ``sessions`` (the vault, which only sees tokens cases already checked)
    only the signature and expiry count."""

    def __init__(self, sessions: SessionLookup | None = None, **kwargs):
        super().__init__(**kwargs)
        self.sessions = sessions
        self._cache: dict[str, tuple[float, SessionState | None]] = {}

    def setup(self):
        self.verifier = TokenVerifier(load_verify_key())
        self.cache_seconds = min(env_float("PELUIT_SESSION_CACHE_SECONDS", 1.0), 1.0)

    def get_dependency(self, worker_ctx):
        return _WorkerAuth(self, worker_ctx.service)

    def forget(self, officer_id: str) -> None:
        """Drop what this process knows of the officer's session (after changing it)."""
        self._cache.pop(officer_id, None)

    def verify(self, token: str, service=None) -> OfficerClaims:
        """The token's claims; ``service``: the worker's, for the session lookup."""
        return self.check(self.verifier.verify(token), service)

    def check(self, claims: OfficerClaims, service) -> OfficerClaims:
        if self.sessions is None:
            return claims
        state = self._session(claims.officer_id, service)
        if state is None or not state.admits(claims):
            raise AuthError("session_ended")
        return claims

    def _session(self, officer_id: str, service) -> SessionState | None:
        now = time.monotonic()
        hit = self._cache.get(officer_id)
        if hit is not None and now - hit[0] < self.cache_seconds:
            return hit[1]
        try:
            state = self.sessions(service, officer_id)
        except Exception as exc:  # noqa: BLE001 - cases unreachable, late or odd: never "accept"
            log.warning("officer session unavailable: %s", type(exc).__name__)
            raise HttpError(503, "session_unavailable") from None
        if len(self._cache) > 10_000:  # ids come from signed tokens only; this just bounds memory
            self._cache.clear()
        self._cache[officer_id] = (now, state)
        return state


class _WorkerAuth:
    """What a worker sees of ``OfficerAuth``: checks bound to its service instance."""

    def __init__(self, provider: OfficerAuth, service):
        self.provider, self.service = provider, service

    @property
    def verifier(self) -> TokenVerifier:
        return self.provider.verifier

    def verify(self, token: str) -> OfficerClaims:
        return self.provider.verify(token, self.service)

    def claims(self, request) -> OfficerClaims:
        return self.verify(bearer_token(request))

    def forget(self, officer_id: str) -> None:
        self.provider.forget(officer_id)
