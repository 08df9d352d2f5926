"""intake's edge under load, against the running system: each public HTTP
entrypoint answers 429 with ``Retry-After`` past its limit (per client and per
receipt), a slowly sent body is a 408 and holds no worker meanwhile, and a
saturated receipt-hash pool is a 503 with ``Retry-After`` at once.

One module-wide restart of intake with tight limits (one attempt per bucket,
a one-second body deadline, one hash thread and no queue), then intake as the
other tests know it again. Each check is its own client (``X-Forwarded-For``:
the harness trusts one proxy hop). Mail and WhatsApp senders are counted in
the same throttle: tests/unit/test_whatsapp.py, tests/integration/test_mail_channel.py.
"""

from __future__ import annotations

import itertools
import secrets
import socket
import time

import eventlet
import pytest
import requests

STRICT = {
    "PELUIT_THROTTLE_SCALE": "1", "PELUIT_THROTTLE_REQUEST": "5/60", "PELUIT_THROTTLE_REPORT": "1/3600",
    "PELUIT_THROTTLE_RECEIPT": "1/3600", "PELUIT_THROTTLE_MESSAGE": "1/3600", "PELUIT_THROTTLE_EVIDENCE": "1/3600",
    "PELUIT_THROTTLE_PER_RECEIPT": "1/3600", "PELUIT_BODY_SECONDS": "1", "PELUIT_RECEIPT_HASH_THREADS": "1",
    "PELUIT_RECEIPT_HASH_QUEUE": "0",
}
_clients = itertools.count(1)


def client() -> dict:
    """The headers of a client of its own (a fresh address behind the trusted proxy)."""
    n = next(_clients)
    return {"X-Forwarded-For": f"198.51.{100 + n // 250}.{n % 250 + 1}"}


def receipt() -> str:
    return "-".join(secrets.choice("123456789") + "".join(secrets.choice("0123456789") for _ in range(3))
                    for _ in range(4))


@pytest.fixture(scope="module")
def strict(system):
    saved = dict(system.extra_env)
    system.stop("intake")
    system.extra_env.update(STRICT)
    system.start("intake")
    system.wait_ready("intake")
    try:
        yield system.url("intake")
    finally:
        system.stop("intake")
        system.extra_env.clear()
        system.extra_env.update(saved)
        system.start("intake")
        system.wait_ready("intake")


def assert_retry_after(resp, status=429):
    assert resp.status_code == status, resp.text[:300]
    assert int(resp.headers["Retry-After"]) >= 1


def test_every_json_entrypoint_answers_429_with_retry_after_per_client_and_per_receipt(strict):
    for path in ("/api/v1/reports", "/api/v1/reports/status", "/api/v1/reports/messages",
                 "/api/v1/reports/evidence"):
        who = client()
        first = requests.post(strict + path, json={}, headers=who, timeout=15)
        assert first.status_code in (400, 415), path  # counted, then refused for what it is
        second = requests.post(strict + path, json={}, headers=who, timeout=15)
        assert_retry_after(second)
        error = second.json()["error"]
        assert error["code"] == "rate_limited" and "menit" in error["message"]["id"] and (
            "minutes" in error["message"]["en"]), path
        assert requests.post(strict + path, json={}, headers=client(), timeout=15).status_code != 429  # others pass
    # one receipt, tried from two clients: the second use of it is refused before it is hashed
    tried = receipt()
    assert requests.post(strict + "/api/v1/reports/status", json={"receipt": tried}, headers=client(),
                         timeout=15).status_code == 404
    again = requests.post(strict + "/api/v1/reports/status", json={"receipt": tried}, headers=client(), timeout=15)
    assert_retry_after(again)


def test_the_portal_answers_429_with_retry_after_in_the_visitors_language(strict):
    who = client()
    for _ in range(5):
        assert requests.get(strict + "/", headers=who, timeout=15).status_code == 200
    for lang, words in (("id", "Terlalu banyak percobaan"), ("en", "Too many attempts")):
        page = requests.get(strict + "/", params={"lang": lang}, headers=who, timeout=15)
        assert_retry_after(page)
        assert words in page.text and page.headers["Content-Type"].startswith("text/html")
    assert requests.get(strict + "/static/portal.css", headers=who, timeout=15).status_code == 429


def slow_request(url: str, length: int = 200) -> socket.socket:
    """A POST that declares ``length`` bytes and sends ten of them."""
    host, port = url.split("//")[1].split(":")
    sock = socket.create_connection((host, int(port)), timeout=15)
    sock.sendall((f"POST /api/v1/reports HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                  f"Content-Length: {length}\r\nX-Forwarded-For: {client()['X-Forwarded-For']}\r\n\r\n").encode()
                 + b'{"what": "')
    return sock


def test_a_slowly_sent_body_is_a_408_and_holds_no_worker_meanwhile(strict):
    slow = [slow_request(strict) for _ in range(15)]  # more than intake's ten workers
    t0 = time.monotonic()
    fast = requests.get(strict + "/api/v1/tenants", headers=client(), timeout=15)
    assert fast.status_code == 200 and time.monotonic() - t0 < 0.9  # answered while every slow body waits
    for sock in slow:
        answer = sock.recv(4096).decode()
        assert answer.startswith("HTTP/1.1 408"), answer[:200]
        assert "Connection: close" in answer and '"request_timeout"' in answer
        assert time.monotonic() - t0 < 5
        sock.close()


def test_a_saturated_receipt_hash_pool_is_a_503_with_retry_after_at_once(strict):
    def check(_):
        t0 = time.monotonic()
        resp = requests.post(strict + "/api/v1/reports/status", json={"receipt": receipt()}, headers=client(),
                             timeout=30)
        return resp, time.monotonic() - t0

    answers = list(eventlet.GreenPool(30).imap(check, range(30)))
    busy = [(r, took) for r, took in answers if r.status_code == 503]
    assert busy, [r.status_code for r, _ in answers]
    assert {r.status_code for r, _ in answers} <= {404, 503}
    for resp, took in busy:
        assert_retry_after(resp, 503)
        assert resp.json()["error"]["code"] == "busy" and set(resp.json()["error"]["message"]) == {"id", "en"}
