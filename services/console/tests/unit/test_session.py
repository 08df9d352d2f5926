"""The session cookie and the sign-in form's token, apart from any request."""

from __future__ import annotations

import os

import pytest

from peluit_console.session import SessionCookies, SignInTokens, subkey


class Clock:
    def __init__(self):
        self.now = 1_790_000_000.0

    def __call__(self):
        return self.now


LOGIN = {"token": "aaa.bbb.ccc", "expires_in": 900,
         "officer": {"id": "o-1", "username": "sari", "tenant": "35.73", "roles": ["penelaah"]}}


def test_a_sealed_session_opens_only_with_its_key_and_unchanged():
    key, clock = os.urandom(32), Clock()
    cookies = SessionCookies(key, idle=900, clock=clock)
    session = cookies.start(LOGIN)
    sealed = cookies.seal(session)
    assert "aaa.bbb.ccc" not in sealed and "sari" not in sealed
    opened = cookies.open(sealed)
    assert opened.token == "aaa.bbb.ccc" and opened.officer.roles == ("penelaah",) and opened.csrf == session.csrf
    assert SessionCookies(os.urandom(32), clock=clock).open(sealed) is None
    flipped = sealed[:10] + ("A" if sealed[10] != "A" else "B") + sealed[11:]
    assert cookies.open(flipped) is None
    assert cookies.open("") is None and cookies.open("x" * 9000) is None and cookies.open("!!!") is None


def test_the_session_ends_after_the_idle_limit_and_with_its_token():
    clock = Clock()
    cookies = SessionCookies(os.urandom(32), idle=900, clock=clock)
    sealed = cookies.seal(cookies.start({**LOGIN, "expires_in": 3600}))
    clock.now += 899
    resealed = cookies.seal(cookies.open(sealed))  # activity moves the idle limit on
    clock.now += 899
    assert cookies.open(resealed) is not None
    assert cookies.open(sealed) is None  # the old cookie was idle too long
    clock.now += 1000
    assert cookies.open(resealed) is None
    short = SessionCookies(os.urandom(32), idle=900, clock=clock)
    sealed = short.seal(short.start({**LOGIN, "expires_in": 60}))
    clock.now += 61
    assert short.open(sealed) is None  # the token expired: so did the session


def test_form_values_are_sealed_for_one_purpose_and_a_while():
    clock = Clock()
    cookies = SessionCookies(os.urandom(32), clock=clock)
    sealed = cookies.seal_value({"secret": "JBSWY3DP"}, "enrolment")
    assert "JBSWY3DP" not in sealed
    assert cookies.open_value(sealed, "enrolment") == {"secret": "JBSWY3DP"}
    assert cookies.open_value(sealed, "other") is None
    assert cookies.open(sealed) is None  # never a session
    clock.now += 901
    assert cookies.open_value(sealed, "enrolment") is None


def test_form_tokens_match_the_session_only():
    cookies = SessionCookies(os.urandom(32))
    session = cookies.start(LOGIN)
    assert cookies.form_token_ok(session, session.csrf)
    assert not cookies.form_token_ok(session, cookies.start(LOGIN).csrf)
    assert not cookies.form_token_ok(session, None) and not cookies.form_token_ok(session, "")


def test_sign_in_tokens_are_signed_and_timed():
    key, clock = os.urandom(32), Clock()
    tokens = SignInTokens(key, max_age=3600, clock=clock)
    token = tokens.issue()
    assert tokens.check(token)
    assert not SignInTokens(os.urandom(32), clock=clock).check(token)
    assert not tokens.check(token[:-2] + "AA") and not tokens.check(None) and not tokens.check("x")
    clock.now += 3601
    assert not tokens.check(token)


def test_the_two_keys_are_distinct_subkeys():
    key = os.urandom(32)
    assert subkey(key, "session") != subkey(key, "sign-in-form") != key
    with pytest.raises(ValueError):
        SessionCookies(b"short")


def test_sign_in_forwards_the_browsers_address_so_cases_throttles_per_browser(browser, transport):
    browser.sign_in(transport)
    [(method, _, headers, _, body)] = [c for c in transport.calls if c[1] == "/api/v1/officer/login"]
    assert method == "POST" and body["username"] == "sari.penelaah"
    assert headers["X-Forwarded-For"] == "192.0.2.10"  # the browser's, as the console saw it
