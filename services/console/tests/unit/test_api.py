"""The API client: every call carries the officer's token and a deadline,
and every kind of answer becomes its typed exception."""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import requests

from peluit_console.api import (
    Api,
    Conflict,
    Forbidden,
    HttpTransport,
    NotFound,
    Refused,
    Reply,
    SignedOut,
    Unavailable,
)


class Recorder:
    def __init__(self, reply: Reply | Exception):
        self.reply, self.calls = reply, []

    def __call__(self, method, url, *, headers, params, body, timeout):
        self.calls.append({"method": method, "url": url, "headers": headers, "params": params, "body": body,
                           "timeout": timeout})
        if isinstance(self.reply, Exception):
            raise self.reply
        return self.reply


def api(reply, token="tok.en.x") -> tuple[Api, Recorder]:
    recorder = Recorder(reply)
    return Api({"cases": "http://cases", "reporting": "http://reporting", "intake": "http://intake"}, recorder,
               token, call_seconds=4, download_seconds=30), recorder


def error(status: int, code: str, **extra) -> Reply:
    body = {"error": {"code": code, "message": {"id": "pesan", "en": "message"}, **extra.pop("error", {})}, **extra}
    return Reply(status, {}, json.dumps(body).encode())


def test_every_call_carries_the_officers_token_a_deadline_and_no_empty_parameter():
    client, seen = api(Reply(200, {}, b'{"items": []}'))
    client.cases(status="verifikasi", category="", page=2)
    call = seen.calls[0]
    assert call["headers"]["Authorization"] == "Bearer tok.en.x"
    assert call["url"] == "http://cases/api/v1/cases" and call["params"] == {"status": "verifikasi", "page": 2}
    assert call["timeout"] == 4
    client.evidence("c", "e")
    assert seen.calls[1]["timeout"] == 30  # downloads have their own, longer deadline


def test_a_command_sends_its_body_and_the_version_it_was_decided_on():
    client, seen = api(Reply(200, {}, b'{"version": 3}'))
    client.command("0b9c", "request-information", {"question": "Berapa?"}, 2)
    call = seen.calls[0]
    assert call["method"] == "POST" and call["url"] == "http://cases/api/v1/cases/0b9c/request-information"
    assert call["headers"]["If-Match"] == '"2"' and json.loads(call["body"]) == {"question": "Berapa?"}


def test_path_segments_cannot_leave_their_place():
    client, seen = api(Reply(200, {}, b"{}"))
    client.case("../officers?x=1")
    assert seen.calls[0]["url"] == "http://cases/api/v1/cases/..%2Fofficers%3Fx%3D1"


@pytest.mark.parametrize("status, kind", [(401, SignedOut), (403, Forbidden), (404, NotFound), (409, Conflict),
                                          (400, Refused), (422, Refused), (429, Refused)])
def test_each_refusal_is_its_type_with_the_apis_words_and_fields(status, kind):
    fields = {"reason": [{"id": "Wajib diisi.", "en": "This field is required."}]}
    client, _ = api(error(status, "some_code", error={"fields": fields}))
    with pytest.raises(kind) as caught:
        client.case("x")
    assert caught.value.status == status and caught.value.code == "some_code"
    assert caught.value.message == {"id": "pesan", "en": "message"} and caught.value.fields == fields
    assert str(caught.value) == f"{status} some_code"


def test_a_stale_version_brings_what_changed():
    client, _ = api(error(409, "stale_version", current_version=5, changes=[{"kind": "note"}]))
    with pytest.raises(Conflict) as caught:
        client.command("c", "accept", {}, 3)
    assert caught.value.current_version == 5 and caught.value.changes == [{"kind": "note"}]
    client, _ = api(error(409, "stale_version"))
    with pytest.raises(Conflict) as caught:
        client.command("c", "accept", {}, 3)
    assert caught.value.current_version is None and caught.value.changes is None


@pytest.mark.parametrize("reply", [Reply(500, {}, b"{}"), Reply(503, {}, b"oops"), requests.Timeout("t"),
                                   requests.ConnectionError("refused"), OSError("reset")])
def test_failures_and_silence_are_unavailable_in_both_languages(reply, caplog):
    client, _ = api(reply)
    with caplog.at_level(logging.WARNING), pytest.raises(Unavailable) as caught:
        client.cases(number="2026/000001")
    assert caught.value.status == 503 and set(caught.value.message) == {"id", "en"}
    assert "2026/000001" not in caplog.text and "tok.en.x" not in caplog.text


def test_a_success_we_cannot_read_is_unavailable():
    client, _ = api(Reply(200, {}, b"<html>a proxy's page</html>"))
    with pytest.raises(Unavailable):
        client.cases()


def test_a_refusal_we_cannot_read_is_still_a_refusal():
    client, _ = api(Reply(400, {}, b"<html>bad</html>"))
    with pytest.raises(Refused) as caught:
        client.case("x")
    assert caught.value.code == "bad_request" and set(caught.value.message) == {"id", "en"}


class _Slow(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Length", "1000")
        self.end_headers()
        for _ in range(20):  # a byte at a time, never finishing in time
            self.wfile.write(b"x")
            self.wfile.flush()
            threading.Event().wait(0.2)

    def log_message(self, *args):
        pass


def test_the_http_transport_gives_up_at_the_deadline_even_on_a_trickle():
    server = HTTPServer(("127.0.0.1", 0), _Slow)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        client = Api({"cases": f"http://127.0.0.1:{server.server_port}"}, HttpTransport(), "t", call_seconds=1)
        with pytest.raises(Unavailable):
            client.cases()
        closed = Api({"cases": "http://127.0.0.1:9"}, HttpTransport(), "t", call_seconds=1)
        with pytest.raises(Unavailable):
            closed.cases()
    finally:
        server.shutdown()
