"""peluit_common.web on a real nameko web server: every response carries the
security headers, and werkzeug's own 404/405 are bilingual JSON, never HTML."""

from __future__ import annotations

import contextlib
import socket
import time

import requests
from nameko.containers import ServiceContainer

from peluit_common.web import SECURITY_HEADERS, http, json_endpoint, json_response


class Sample:
    name = "web_sample"

    @http("GET", "/plain")
    def plain(self, request):
        return 200, "ok"

    @http("POST", "/json")
    @json_endpoint
    def json(self, request):
        return json_response(201, {"ok": True}, headers={"Content-Security-Policy": "sandbox"})

    @http("GET", "/boom")
    def boom(self, request):
        raise RuntimeError("secret detail 0xDEADBEEF")

    @http("GET", "/dir/")
    def directory(self, request):
        return 200, "dir"


@contextlib.contextmanager
def serving():
    """(base URL, the web server extension) of a running Sample."""
    container = ServiceContainer(Sample, {"WEB_SERVER_ADDRESS": "127.0.0.1:0"})
    container.start()
    try:
        server = next(e for e in container.extensions if hasattr(e, "_sock") and hasattr(e, "get_wsgi_app"))
        yield f"http://127.0.0.1:{server._sock.getsockname()[1]}", server
    finally:
        container.stop()


def run(check):
    with serving() as (base, _):
        check(base)


def assert_secured(resp, csp=SECURITY_HEADERS["Content-Security-Policy"]):
    for name, value in SECURITY_HEADERS.items():
        expected = csp if name == "Content-Security-Policy" else value
        assert resp.headers.get(name) == expected, (name, resp.status_code)


def assert_bilingual(resp, status, code):
    assert resp.status_code == status
    assert resp.headers["Content-Type"].startswith("application/json")
    error = resp.json()["error"]
    assert error["code"] == code
    assert error["message"]["id"] and error["message"]["en"] and error["message"]["id"] != error["message"]["en"]


def test_every_response_has_the_headers_and_routing_errors_are_bilingual_json():
    def check(base):
        assert_secured(requests.get(base + "/plain", timeout=5))
        # a handler's own value wins over the default
        assert_secured(requests.post(base + "/json", timeout=5), csp="sandbox")

        unknown = requests.get(base + "/nope/../../etc/passwd", timeout=5)
        assert_bilingual(unknown, 404, "not_found")
        assert_secured(unknown)

        wrong = requests.delete(base + "/plain", timeout=5)
        assert_bilingual(wrong, 405, "method_not_allowed")
        assert_secured(wrong)
        assert "GET" in wrong.headers["Allow"]

        boom = requests.get(base + "/boom", timeout=5)
        assert_bilingual(boom, 500, "internal_error")
        assert "DEADBEEF" not in boom.text and "RuntimeError" not in boom.text
        assert_secured(boom)

        redirect = requests.get(base + "/dir", timeout=5, allow_redirects=False)
        assert redirect.status_code == 308
        assert_secured(redirect)

    run(check)


def test_replies_are_not_held_back_by_nagle_on_a_kept_alive_connection():
    """Without TCP_NODELAY a reply's tail waited for the client's delayed ACK: ~40 ms per request
    on a kept-alive connection (what the console's calls to the APIs are)."""
    with serving() as (base, server), requests.Session() as session:
        assert server._sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        session.get(base + "/plain", timeout=5)
        started = time.perf_counter()
        for _ in range(10):
            assert session.post(base + "/json", json={}, timeout=5).status_code == 201
        assert (time.perf_counter() - started) / 10 < 0.035
