"""The body gate without a server: bodies read whole before a worker is taken,
the whole-body and per-step deadlines (408), the caps (413, or the route's
handler answering from the declared length), the byte budget (503), and the
connection ended after every refusal."""

from __future__ import annotations

import io
import json

import eventlet
import pytest

from peluit_common.web import BodyGate


class Dripping:
    """A request body arriving ``per_read`` bytes at a time, ``pause`` seconds apart."""

    def __init__(self, data: bytes, pause: float, per_read: int = 1):
        self.data, self.pause, self.per_read = data, pause, per_read

    def read(self, n: int) -> bytes:
        out = b""
        while len(out) < n and self.data:  # like a buffered reader: blocks until n bytes or the end
            eventlet.sleep(self.pause)
            out, self.data = out + self.data[:self.per_read], self.data[self.per_read:]
        return out


def environ(body, length: int | None = None, chunked: bool = False) -> dict:
    closed = []
    env = {"wsgi.input": body, "peluit.close_connection": lambda: closed.append(True), "closed": closed}
    if chunked:
        env["HTTP_TRANSFER_ENCODING"] = "chunked"
    elif length is not None:
        env["CONTENT_LENGTH"] = str(length)
    return env


@pytest.fixture
def gate(monkeypatch):
    monkeypatch.setenv("PELUIT_BODY_SECONDS", "0.3")
    monkeypatch.setenv("PELUIT_BODY_MIN_BYTES_PER_SECOND", "1000000")
    monkeypatch.setenv("PELUIT_MAX_REQUEST_BYTES", "1000")
    monkeypatch.setenv("PELUIT_BODY_BUFFER_BYTES", "3000")
    return BodyGate()


def error(response) -> tuple[int, str, dict]:
    return response.status_code, json.loads(response.get_data())["error"]["code"], dict(response.headers)


def test_a_body_is_read_whole_and_handed_on_in_memory(gate):
    env = environ(Dripping(b'{"a": 1}', 0.01, per_read=3), 8)
    assert gate.take_body(env) is None
    assert env["wsgi.input"].read() == b'{"a": 1}' and env["closed"] == [] and gate.reserved == 0


def test_a_slowly_sent_body_is_a_408_and_the_connection_ends(gate):
    env = environ(Dripping(b"x" * 100, 0.05), 100)
    started = eventlet.hubs.get_hub().clock()
    status, code, _ = error(gate.take_body(env))
    assert (status, code) == (408, "request_timeout") and env["closed"] == [True]
    assert eventlet.hubs.get_hub().clock() - started < 1.0 and gate.reserved == 0


def test_a_dripped_chunked_body_is_a_408_too(gate):
    env = environ(Dripping(b"x" * 500, 0.05), chunked=True)
    assert error(gate.take_body(env))[:2] == (408, "request_timeout") and gate.reserved == 0


def test_a_body_that_ends_early_is_a_408(gate):
    env = environ(io.BytesIO(b"abc"), 10)
    assert error(gate.take_body(env))[0] == 408


def test_over_the_ports_cap_is_a_413_before_a_byte_is_read(gate):
    body = io.BytesIO(b"x" * 2000)
    env = environ(body, 2000)
    status, code, _ = error(gate.take_body(env))
    assert (status, code) == (413, "payload_too_large") and body.tell() == 0 and env["closed"] == [True]


def test_over_a_routes_own_limit_the_handler_answers_from_the_declared_length_and_nothing_is_read(gate):
    body = io.BytesIO(b"x" * 5000)
    env = environ(body, 5000)
    assert gate.take_body(env, max_body=100) is None
    assert body.tell() == 0 and env["wsgi.input"].read() == b"" and env["closed"] == [True]
    assert env["CONTENT_LENGTH"] == "5000"  # what the handler refuses by
    chunked = environ(io.BytesIO(b"y" * 5000), chunked=True)
    assert gate.take_body(chunked, max_body=100) is None
    assert len(chunked["wsgi.input"].read()) == 101 and chunked["closed"] == [True]


def test_bodies_beyond_the_budget_are_a_503_with_retry_after_at_once(gate):
    slow = [environ(Dripping(b"x" * 900, 0.001, per_read=100), 900) for _ in range(3)]
    readers = [eventlet.spawn(gate.take_body, env) for env in slow]
    eventlet.sleep(0)
    assert gate.reserved == 2700
    status, code, headers = error(gate.take_body(environ(io.BytesIO(b"z" * 400), 400)))
    assert (status, code, headers["Retry-After"]) == (503, "busy", "1")
    assert [r.wait() for r in readers] == [None, None, None] and gate.reserved == 0
    assert gate.take_body(environ(io.BytesIO(b"z" * 400), 400)) is None  # room again


def test_no_body_reads_nothing(gate):
    env = environ(Dripping(b"never", 10.0))
    assert gate.take_body(env) is None and env["wsgi.input"].read() == b""
