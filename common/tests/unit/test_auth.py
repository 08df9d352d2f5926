"""Officer tokens: what verifies, and every way a token must be refused."""

from __future__ import annotations

import base64
import json
import time
from datetime import datetime, timedelta, timezone

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from peluit_common import auth
from peluit_common.auth import AuthError, TokenIssuer, TokenVerifier, bearer_token

OFFICER = "6f1c2a4e-8a53-4c1e-9a0b-2b6f1f3f0c11"


def _keypair() -> tuple[bytes, bytes]:
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return private, public


@pytest.fixture(scope="module")
def keys():
    return _keypair()


@pytest.fixture
def issuer(keys):
    return TokenIssuer(keys[0])


@pytest.fixture
def verifier(keys):
    return TokenVerifier(keys[1])


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(**overrides) -> dict:
    now = int(time.time())
    claims = {"iss": auth.ISSUER, "aud": auth.AUDIENCE, "sub": OFFICER, "tenant": "35.73",
              "roles": ["penelaah"], "username": "siti", "iat": now, "nbf": now, "exp": now + 600,
              "jti": "abc123"}
    claims.update(overrides)
    return claims


def _refused(verifier, token, code="invalid_token"):
    with pytest.raises(AuthError) as info:
        verifier.verify(token)
    assert info.value.code == code
    assert info.value.status == 401
    # the message names the code only, never the token or a claim value
    assert str(info.value) == code
    assert not token or token not in repr(info.value.args)
    assert info.value.__cause__ is None
    assert info.value.__context__ is None or info.value.__suppress_context__
    return info.value


def test_round_trip(issuer, verifier):
    before = datetime.now(timezone.utc)
    token = issuer.issue(OFFICER, "35.73", ["penelaah", "investigator"], "siti")
    claims = verifier.verify(token)
    assert claims.officer_id == OFFICER and claims.tenant == "35.73" and claims.username == "siti"
    assert claims.roles == ("penelaah", "investigator")
    assert claims.has_role("investigator") and claims.has_role("auditor", "penelaah")
    assert not claims.has_role("inspektur")
    assert timedelta(seconds=890) <= claims.expires_at - before <= timedelta(seconds=905)
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "EdDSA"
    payload = jwt.decode(token, options={"verify_signature": False})
    assert payload["iss"] == "peluit/cases" and payload["aud"] == "peluit-officer"
    assert {"iat", "nbf", "exp", "jti"} <= set(payload)
    # every token is distinct, even for the same officer in the same second
    assert verifier.verify(issuer.issue(OFFICER, "35.73", ["penelaah"], "siti")).token_id != claims.token_id


def test_expired_token(issuer, verifier):
    token = issuer.issue(OFFICER, "35", ["auditor"], "siti", ttl_seconds=60,
                         now=datetime.now(timezone.utc) - timedelta(minutes=5))
    _refused(verifier, token, "expired_token")


def test_leeway_tolerates_small_clock_skew(issuer, verifier):
    token = issuer.issue(OFFICER, "35", ["auditor"], "siti", ttl_seconds=60,
                         now=datetime.now(timezone.utc) + timedelta(seconds=2))
    assert verifier.verify(token).officer_id == OFFICER
    future = issuer.issue(OFFICER, "35", ["auditor"], "siti", ttl_seconds=60,
                          now=datetime.now(timezone.utc) + timedelta(minutes=2))
    _refused(verifier, future)


def test_tampered_signature_and_payload(issuer, verifier):
    token = issuer.issue(OFFICER, "35.73", ["penerima"], "siti")
    head, body, sig = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(sig + "=="))
    raw[0] ^= 1
    _refused(verifier, f"{head}.{body}.{_b64(bytes(raw))}")
    # a payload raised to province_admin keeps the old signature: refused
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    claims["roles"] = ["province_admin"]
    _refused(verifier, f"{head}.{_b64(json.dumps(claims).encode())}.{sig}")


def test_token_signed_by_another_key(verifier):
    other = TokenIssuer(_keypair()[0])
    _refused(verifier, other.issue(OFFICER, "35.73", ["penerima"], "siti"))


def test_alg_none_refused(verifier):
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    body = _b64(json.dumps(_claims()).encode())
    _refused(verifier, f"{header}.{body}.")
    # and with the header lying about the algorithm on top
    header = _b64(json.dumps({"alg": "None", "typ": "JWT"}).encode())
    _refused(verifier, f"{header}.{body}.")


def test_hs256_with_the_public_key_as_secret_refused(keys, verifier):
    # the classic confusion: the public key is known, so an HMAC "signed" with it
    token = jwt.encode(_claims(roles=["province_admin"]), keys[1], algorithm="HS256")
    _refused(verifier, token)
    token = jwt.encode(_claims(), keys[1].hex(), algorithm="HS256")
    _refused(verifier, token)


def test_wrong_audience_and_issuer(keys, verifier):
    private = Ed25519PrivateKey.from_private_bytes(keys[0])
    _refused(verifier, jwt.encode(_claims(aud="peluit-reporter"), private, algorithm="EdDSA"))
    _refused(verifier, jwt.encode(_claims(iss="someone-else"), private, algorithm="EdDSA"))
    missing = _claims()
    del missing["jti"]
    _refused(verifier, jwt.encode(missing, private, algorithm="EdDSA"))


def test_unknown_role_refused(keys, issuer, verifier):
    private = Ed25519PrivateKey.from_private_bytes(keys[0])
    _refused(verifier, jwt.encode(_claims(roles=["penelaah", "superuser"]), private, algorithm="EdDSA"))
    _refused(verifier, jwt.encode(_claims(roles=[]), private, algorithm="EdDSA"))
    _refused(verifier, jwt.encode(_claims(roles="penelaah"), private, algorithm="EdDSA"))
    _refused(verifier, jwt.encode(_claims(tenant="Jawa Timur"), private, algorithm="EdDSA"))
    with pytest.raises(ValueError):
        issuer.issue(OFFICER, "35.73", ["superuser"], "siti")


def test_garbage_refused(verifier):
    for token in ("abc", "a.b.c", "x" * 5000, "eyJhbGciOiJFZERTQSJ9.e30.AAAA"):
        _refused(verifier, token)
    _refused(verifier, "", "missing_token")


def _request(headers: dict) -> Request:
    return Request(EnvironBuilder(path="/", headers=headers).get_environ())


def test_bearer_token(issuer, verifier):
    token = issuer.issue(OFFICER, "35.73", ["penerima"], "siti")
    assert bearer_token(_request({"Authorization": f"Bearer {token}"})) == token
    assert bearer_token(_request({"Authorization": f"bearer {token}"})) == token
    for headers in ({}, {"Authorization": ""}, {"Authorization": "Bearer"}, {"Authorization": "Bearer "},
                    {"Authorization": f"Basic {token}"}, {"Authorization": "Bearer not a token"}):
        with pytest.raises(AuthError) as info:
            bearer_token(_request(headers))
        assert info.value.code == "missing_token"


def test_keys_load_from_hex_files(tmp_path, monkeypatch, keys):
    (tmp_path / "officer-token.key").write_text(keys[0].hex() + "\n")
    (tmp_path / "officer-token.pub").write_text(keys[1].hex() + "\n")
    monkeypatch.delenv("PELUIT_OFFICER_TOKEN_KEY_FILE", raising=False)
    monkeypatch.delenv("PELUIT_OFFICER_TOKEN_PUBLIC_KEY_FILE", raising=False)
    monkeypatch.setenv("PELUIT_KEYS_DIR", str(tmp_path))
    token = TokenIssuer(auth.load_signing_key()).issue(OFFICER, "35", ["auditor"], "siti")
    assert TokenVerifier(auth.load_verify_key()).verify(token).officer_id == OFFICER
    (tmp_path / "short.pub").write_text("abcd")
    monkeypatch.setenv("PELUIT_OFFICER_TOKEN_PUBLIC_KEY_FILE", str(tmp_path / "short.pub"))
    with pytest.raises(auth.ConfigError):
        auth.load_verify_key()


# -- sessions and enrolment tokens --------------------------------------------------------------------

def test_session_claims_round_trip(issuer, verifier):
    signed_in = datetime.now(timezone.utc) - timedelta(hours=1)
    claims = verifier.verify(issuer.issue(OFFICER, "35.73", ["penelaah"], "siti", session_version=4,
                                          auth_time=signed_in))
    assert claims.session_version == 4 and abs(claims.auth_time - signed_in) < timedelta(seconds=1)
    fresh = verifier.verify(issuer.issue(OFFICER, "35.73", ["penelaah"], "siti", session_version=1))
    assert abs(fresh.auth_time - datetime.now(timezone.utc)) < timedelta(seconds=5)
    assert verifier.verify(issuer.issue(OFFICER, "35.73", ["penelaah"], "siti")).session_version is None
    with pytest.raises(ValueError):  # only issue() sets them
        issuer.issue(OFFICER, "35.73", ["penelaah"], "siti", extra_claims={"sv": 9})


def test_malformed_session_claims_refused(keys, verifier):
    private = Ed25519PrivateKey.from_private_bytes(keys[0])
    for bad in ({"sv": "4", "auth_time": 1}, {"sv": 4}, {"sv": 4.0, "auth_time": 1}, {"sv": True, "auth_time": 1}):
        _refused(verifier, jwt.encode(_claims(**bad), private, algorithm="EdDSA"))


def test_enrolment_tokens_open_the_enrolment_step_only(issuer, verifier):
    token = issuer.issue_enrolment(OFFICER, 3, 600)
    assert verifier.verify_enrolment(token) == (OFFICER, 3)
    _refused(verifier, token)  # not a bearer token for any API: another audience, no roles
    with pytest.raises(AuthError):
        verifier.verify_enrolment(issuer.issue(OFFICER, "35.73", ["penelaah"], "siti", session_version=3))
    with pytest.raises(AuthError) as info:
        verifier.verify_enrolment(issuer.issue_enrolment(OFFICER, 3, 60, now=datetime.now(timezone.utc)
                                                         - timedelta(minutes=5)))
    assert info.value.code == "expired_token"


class _Service:
    """A worker's service instance: what a session lookup gets."""


@pytest.fixture
def sessions(keys, tmp_path, monkeypatch):
    """An ``OfficerAuth`` over a fake session source, set up as nameko would."""
    (tmp_path / "officer-token.pub").write_text(keys[1].hex())
    monkeypatch.setenv("PELUIT_OFFICER_TOKEN_PUBLIC_KEY_FILE", str(tmp_path / "officer-token.pub"))
    state = {"session": auth.SessionState(active=True, session_version=2, roles=("penelaah",)), "calls": 0}

    def lookup(service, officer_id):
        state["calls"] += 1
        assert isinstance(service, _Service) and officer_id == OFFICER
        if isinstance(state["session"], Exception):
            raise state["session"]
        return state["session"]

    provider = auth.OfficerAuth(sessions=lookup)
    provider.setup()
    state["auth"] = provider.get_dependency(type("Ctx", (), {"service": _Service()})())
    return state


def test_a_token_lives_only_as_long_as_its_session(sessions, issuer):
    token = issuer.issue(OFFICER, "35.73", ["penelaah"], "siti", session_version=2)
    check = sessions["auth"]
    assert check.verify(token).session_version == 2
    for session in (auth.SessionState(active=True, session_version=3, roles=("penelaah",)),  # logged out
                    auth.SessionState(active=False, session_version=2, roles=("penelaah",)),  # deactivated
                    auth.SessionState(active=True, session_version=2, roles=("inspektur",)),  # other roles
                    None):  # no such officer
        sessions["session"] = session
        check.forget(OFFICER)
        with pytest.raises(AuthError) as info:
            check.verify(token)
        assert (info.value.status, info.value.code) == (401, "session_ended")
    # a token from before sessions has no version: ended too
    sessions["session"] = auth.SessionState(active=True, session_version=2, roles=("penelaah",))
    check.forget(OFFICER)
    with pytest.raises(AuthError):
        check.verify(issuer.issue(OFFICER, "35.73", ["penelaah"], "siti"))


def test_sessions_are_asked_at_most_once_a_second(sessions, issuer, monkeypatch):
    token = issuer.issue(OFFICER, "35.73", ["penelaah"], "siti", session_version=2)
    clock = [1000.0]
    monkeypatch.setattr(auth.time, "monotonic", lambda: clock[0])
    for _ in range(5):
        sessions["auth"].verify(token)
    assert sessions["calls"] == 1
    sessions["session"] = auth.SessionState(active=False, session_version=2, roles=("penelaah",))
    clock[0] += 0.5
    sessions["auth"].verify(token)  # still within the second
    clock[0] += 0.6
    with pytest.raises(AuthError):
        sessions["auth"].verify(token)
    assert sessions["calls"] == 2


def test_an_unanswered_session_check_is_503_never_accept(sessions, issuer):
    from peluit_common.rpc import RpcTimeout
    from peluit_common.web import HttpError

    token = issuer.issue(OFFICER, "35.73", ["penelaah"], "siti", session_version=2)
    for failure in (RpcTimeout("no reply"), OSError("down"), ValueError("odd reply")):
        sessions["session"] = failure
        with pytest.raises(HttpError) as info:
            sessions["auth"].verify(token)
        assert (info.value.status, info.value.code) == (503, "session_unavailable")
        assert info.value.message["id"] and info.value.message["en"]
        assert info.value.__cause__ is None and token not in repr(info.value.args)


def test_sessions_over_rpc_read_the_reply_of_cases():
    class Cases:
        def __init__(self, reply):
            self.reply = reply

        def officer_session(self, officer_id):
            return self.reply

    service = type("S", (), {})()
    lookup = auth.sessions_over_rpc("cases", timeout=1)
    service.cases = Cases({"active": True, "session_version": 7, "roles": ["auditor"]})
    assert lookup(service, OFFICER) == auth.SessionState(active=True, session_version=7, roles=("auditor",))
    service.cases = Cases(None)
    assert lookup(service, OFFICER) is None
    service.cases = Cases({"active": True, "session_version": "7"})
    with pytest.raises(ValueError):
        lookup(service, OFFICER)
