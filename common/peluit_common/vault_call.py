"""Vault-call tokens: what cases gives the identity vault instead of an
officer's bearer token.

cases checks the officer (signature, session version, tenant wall) and then
signs, with its own Ed25519 key (``vault-call.key``, held by cases only), a
token for ONE vault command: it names the action and the digest of the
command's other fields (case, reporter_ref or original, request, reason,
public key...), the officer, and facts only cases knows (``context``: the
approvers' administrators, the tenant's approval policy, the case of a
request). It lives at most 60 seconds and its id (``jti``) is taken once by
the vault. An officer's bearer token therefore never crosses the broker, and
a sniffed or altered vault call is worth nothing: replayed, it is
``call_replayed``; changed, ``call_mismatch``; late, ``call_expired``.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .auth import ISSUER, TENANT_RE, OfficerClaims, _check_roles, _load_hex_key


AUDIENCE = "peluit-vault-call"
ALGORITHM = "EdDSA"
MAX_TTL_SECONDS = 60
DEFAULT_TTL_SECONDS = 30
MAX_TOKEN_CHARS = 8192
CODES = ("call_missing", "call_invalid", "call_expired", "call_mismatch", "call_replayed")
_REQUIRED = ["iss", "aud", "sub", "exp", "iat", "nbf", "jti", "act", "bind"]


class VaultCallError(Exception):
    """A vault call refused; ``code`` is one of ``CODES``; ``officer_id``: who
    it names when the signature was good (for the record), else None."""

    def __init__(self, code: str, officer_id: str | None = None):
        super().__init__(code)
        self.code, self.officer_id = code, officer_id


@dataclass(frozen=True)
class CallClaims(OfficerClaims):
    """The officer of one vault call, and what cases vouched for about it."""

    context: dict = field(default_factory=dict)


def binding(action: str, command: dict) -> str:
    """SHA-256 over the action and every field of the command but the token
    (canonical JSON), so no field can change without the token noticing."""
    body = {k: v for k, v in command.items() if k != "token"}
    text = json.dumps({"action": action, "command": body}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class VaultCallSigner:
    """cases' side: ``sign(action, command, officer)`` returns the command with its token."""

    def __init__(self, private_key_bytes_32: bytes):
        if len(private_key_bytes_32) != 32:
            raise ValueError("an Ed25519 private key is 32 bytes")
        self._key = Ed25519PrivateKey.from_private_bytes(bytes(private_key_bytes_32))

    def sign(self, action: str, command: dict, officer: dict, *, step_up: bool = False, context: dict | None = None,
             ttl_seconds: int = DEFAULT_TTL_SECONDS, now: datetime | None = None) -> dict:
        """``officer``: {officer_id, username, roles, tenant} of the checked session."""
        if not 0 < int(ttl_seconds) <= MAX_TTL_SECONDS:
            raise ValueError(f"ttl_seconds must be within 1..{MAX_TTL_SECONDS}")
        issued = int((now or datetime.now(timezone.utc)).timestamp())
        payload = {"iss": ISSUER, "aud": AUDIENCE, "sub": officer["officer_id"], "tenant": officer["tenant"],
                   "roles": list(_check_roles(officer["roles"])), "username": officer["username"],
                   "act": action, "bind": binding(action, command), "step_up": bool(step_up),
                   "ctx": dict(context or {}), "iat": issued, "nbf": issued, "exp": issued + int(ttl_seconds),
                   "jti": secrets.token_urlsafe(16)}
        return {**command, "token": jwt.encode(payload, self._key, algorithm=ALGORITHM, headers={"typ": "JWT"})}


class VaultCallVerifier:
    """The vault's side: ``verify(action, command)`` checks signature, audience,
    lifetime, action and binding, then takes the token's id once through
    ``take(jti, expires_at) -> bool`` (False: already taken)."""

    def __init__(self, public_key_bytes_32: bytes, take, leeway: int = 2):
        if len(public_key_bytes_32) != 32:
            raise ValueError("an Ed25519 public key is 32 bytes")
        self._key = Ed25519PublicKey.from_public_bytes(bytes(public_key_bytes_32))
        self._take, self._leeway = take, leeway

    def verify(self, action: str, command: dict) -> CallClaims:
        token = command.get("token") if isinstance(command, dict) else None
        if not token or not isinstance(token, str):
            raise VaultCallError("call_missing")
        if len(token) > MAX_TOKEN_CHARS:
            raise VaultCallError("call_invalid")
        try:
            if jwt.get_unverified_header(token).get("alg") != ALGORITHM:
                raise VaultCallError("call_invalid")
            claims = jwt.decode(token, self._key, algorithms=[ALGORITHM], audience=AUDIENCE, issuer=ISSUER,
                                leeway=self._leeway, options={"require": _REQUIRED})
        except VaultCallError:
            raise
        except jwt.ExpiredSignatureError:
            raise VaultCallError("call_expired") from None
        except Exception:  # noqa: BLE001 - any malformed or forged token: one answer, no detail
            raise VaultCallError("call_invalid") from None
        out = _claims(claims)
        if not (isinstance(claims["exp"], int) and isinstance(claims["iat"], int)
                and claims["exp"] - claims["iat"] <= MAX_TTL_SECONDS):
            raise VaultCallError("call_invalid", out.officer_id)
        if claims["act"] != action or claims["bind"] != binding(action, command):
            raise VaultCallError("call_mismatch", out.officer_id)
        if not self._take(out.token_id, out.expires_at):
            raise VaultCallError("call_replayed", out.officer_id)
        return out


def _claims(claims: dict) -> CallClaims:
    sub, tenant, username, roles = claims.get("sub"), claims.get("tenant"), claims.get("username"), claims.get("roles")
    ctx = claims.get("ctx")
    if not (isinstance(sub, str) and sub and isinstance(tenant, str) and TENANT_RE.fullmatch(tenant)
            and isinstance(username, str) and username and isinstance(roles, list) and isinstance(ctx, dict)
            and isinstance(claims.get("jti"), str)):
        raise VaultCallError("call_invalid")
    try:
        roles = _check_roles(roles)
    except (ValueError, TypeError):
        raise VaultCallError("call_invalid") from None
    return CallClaims(officer_id=sub, tenant=tenant, roles=roles, username=username, token_id=claims["jti"],
                      expires_at=datetime.fromtimestamp(int(claims["exp"]), timezone.utc),
                      step_up=claims.get("step_up") is True, context=ctx)


def load_signer() -> VaultCallSigner:
    """cases: ``PELUIT_VAULT_CALL_KEY_FILE`` (dev: ``vault-call.key``)."""
    return VaultCallSigner(_load_hex_key("PELUIT_VAULT_CALL_KEY_FILE", "vault-call.key"))


def load_public_key() -> bytes:
    """the vault: ``PELUIT_VAULT_CALL_PUBLIC_KEY_FILE`` (dev: ``vault-call.pub``)."""
    return _load_hex_key("PELUIT_VAULT_CALL_PUBLIC_KEY_FILE", "vault-call.pub")
