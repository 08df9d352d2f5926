"""Sign-in is throttled per client as well as per account: after the
client's allowance of failures, its next attempts are refused (429) before
any account is read, so nobody can keep every inspektur locked out from one
address; other clients sign in as before."""

from __future__ import annotations

import contextlib
from types import SimpleNamespace

import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from peluit_cases import accounts_api, officers
from peluit_cases.errors import CasesError
from peluit_cases.officer_api import http_error
from peluit_common.ratelimit import RateLimiter


def request(address: str) -> Request:
    return Request(EnvironBuilder(method="POST", json={"username": "agus.inspektur", "password": "x" * 12,
                                                       "totp": "123456"},
                                  environ_base={"REMOTE_ADDR": address}).get_environ())


@pytest.fixture
def svc(monkeypatch):
    tried = []

    def authenticate(conn, key, username, password, totp):
        tried.append(username)
        raise officers.LoginFailed("invalid_credentials")

    monkeypatch.setattr(officers, "authenticate", authenticate)
    throttle = SimpleNamespace(limiter=RateLimiter(b"k" * 32, {"login": (3, 900.0)}), proxy_hops=0)
    return SimpleNamespace(login_throttle=throttle, db=SimpleNamespace(connection=contextlib.nullcontext),
                           keys=SimpleNamespace(totp_key=b"t" * 32), tried=tried)


def test_a_client_past_its_failures_is_refused_before_any_account_is_read(svc):
    for _ in range(3):
        with pytest.raises(CasesError) as err:
            accounts_api.login(svc, request("198.51.100.7"))
        assert err.value.code == "invalid_credentials"
    with pytest.raises(CasesError) as err:
        accounts_api.login(svc, request("198.51.100.7"))
    answer = http_error(err.value)
    assert (err.value.code, answer.status) == ("too_many_attempts", 429)
    assert "from this address" in answer.message["en"] and "dari alamat ini" in answer.message["id"]
    assert len(svc.tried) == 3  # the fourth never reached the account (no lockout counted for it)
    with pytest.raises(CasesError) as err:  # another address is another client
        accounts_api.login(svc, request("198.51.100.8"))
    assert err.value.code == "invalid_credentials" and len(svc.tried) == 4


def test_wrong_enrolment_codes_count_for_the_client_too(svc, monkeypatch):
    from peluit_cases import enrolment

    def start(conn, key, username, code):
        raise enrolment.EnrolmentFailed("invalid_enrolment")

    monkeypatch.setattr(enrolment, "start", start)
    def enrol():
        return Request(EnvironBuilder(method="POST", json={"username": "baru.petugas", "enrolment_code": "A" * 20},
                                      environ_base={"REMOTE_ADDR": "198.51.100.9"}).get_environ())

    codes = []
    for _ in range(4):
        with pytest.raises(CasesError) as err:
            accounts_api.start_enrolment(svc, enrol())
        codes.append(err.value.code)
    assert codes == ["invalid_enrolment"] * 3 + ["too_many_attempts"]
    with pytest.raises(CasesError) as err:  # the same client's sign-ins wait too: one allowance for guesses
        accounts_api.login(svc, request("198.51.100.9"))
    assert err.value.code == "too_many_attempts" and svc.tried == []
