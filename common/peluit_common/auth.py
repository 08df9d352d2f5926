"""Short-lived officer tokens: EdDSA (Ed25519) JWTs.

Only cases holds the signing key; intake and reporting hold the public key
and verify on their own, so no service needs a session store or an RPC per
request. Nothing here puts a token or a claim value into an exception text:
``str(AuthError)`` is its code, and the cause is never chained.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterable

import jwt
from nameko.extensions import DependencyProvider
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .settings import ConfigError, secret_bytes
from .web import HttpError

ROLES = ("penerima", "penelaah", "investigator", "inspektur", "auditor", "tenant_admin", "province_admin")

ISSUER = "peluit/cases"
AUDIENCE = "peluit-officer"
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
_RESERVED = frozenset(_REQUIRED) | {"tenant", "roles", "username"}

class AuthError(HttpError):
    """401 with a stable ``code``: missing_token, invalid_token, expired_token.

    An ``HttpError`` so that ``json_endpoint`` answers it as is.
    """

    CODES = ("missing_token", "invalid_token", "expired_token")

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
              extra_claims: dict | None = None) -> str:
        """A signed token for an officer who has just proven password and TOTP.

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
        return jwt.encode(payload, self._key, algorithm=ALGORITHM, headers={"typ": "JWT"})


class TokenVerifier:
    def __init__(self, public_key_bytes_32: bytes, leeway: int = 5):
        if len(public_key_bytes_32) != 32:
            raise ValueError("an Ed25519 public key is 32 bytes")
        # a key object (not bytes) also means no HMAC algorithm could use it as a secret
        self._key = Ed25519PublicKey.from_public_bytes(bytes(public_key_bytes_32))
        self._leeway = leeway

    def verify(self, token: str) -> OfficerClaims:
        if not token or not isinstance(token, str):
            raise AuthError("missing_token")
        if len(token) > MAX_TOKEN_CHARS:
            raise AuthError("invalid_token")
        try:
            # checked before decode as well: only EdDSA, whatever the library's defaults
            if jwt.get_unverified_header(token).get("alg") != ALGORITHM:
                raise AuthError("invalid_token")
            claims = jwt.decode(
                token, self._key, algorithms=[ALGORITHM], audience=AUDIENCE, issuer=ISSUER,
                leeway=self._leeway,
                options={"require": _REQUIRED, "verify_signature": True, "verify_exp": True,
                         "verify_nbf": True, "verify_iat": True, "verify_aud": True, "verify_iss": True},
            )
        except AuthError:
            raise
        except jwt.ExpiredSignatureError:
            raise AuthError("expired_token") from None
        except Exception:
            # PyJWTError and anything a malformed token provokes: one answer, no detail
            raise AuthError("invalid_token") from None
        return _claims(claims)


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
    return OfficerClaims(officer_id=sub, tenant=tenant, roles=roles, username=username, token_id=jti,
                         expires_at=datetime.fromtimestamp(int(claims["exp"]), timezone.utc), step_up=step_up)


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



class OfficerAuth(DependencyProvider):
    """A service's one officer-token check: cases' public key only, so no
    service but cases can mint a token. ``claims(request)`` verifies the
    bearer token of an HTTP request, ``verify(token)`` one passed along."""

    def setup(self):
        self.verifier = TokenVerifier(load_verify_key())

    def get_dependency(self, worker_ctx):
        return self

    def verify(self, token: str) -> OfficerClaims:
        return self.verifier.verify(token)

    def claims(self, request) -> OfficerClaims:
        return self.verifier.verify(bearer_token(request))
