"""The operations port: metrics and health beside a service, never on its
public port, and one process per address (no silent SO_REUSEPORT sharing)."""

from __future__ import annotations


import pytest
import requests

from peluit_common.operations import Operations
from peluit_common.testing import free_port
from peluit_common.web import SECURITY_HEADERS, http


class Sample:
    name = "ops_sample"
    ops = Operations()

    @http("GET", "/api/v1/hello")
    def hello(self, request):
        return 200, "hello"



@pytest.fixture
def started(monkeypatch, container_factory):
    def start(ops_port: int):
        monkeypatch.setenv("PELUIT_OPS_ADDRESS", f"127.0.0.1:{ops_port}")
        public = free_port()
        container_factory(Sample, {"WEB_SERVER_ADDRESS": f"127.0.0.1:{public}"}).start()
        return public

    return start


def test_metrics_and_health_are_on_the_operations_port_only(started):
    ops = free_port()
    public = started(ops)
    assert requests.get(f"http://127.0.0.1:{public}/api/v1/hello", timeout=5).text == "hello"
    metrics = requests.get(f"http://127.0.0.1:{ops}/metrics", timeout=5)
    assert metrics.status_code == 200
    # the entrypoint just called is timed by the same provider
    assert 'peluit_entrypoint_calls_total{entrypoint="hello",outcome="ok",service="ops_sample"}' in metrics.text
    health = requests.get(f"http://127.0.0.1:{ops}/health", timeout=5)
    assert (health.status_code, health.text) == (200, "ok\n")
    for resp in (metrics, health):
        for name, value in SECURITY_HEADERS.items():
            assert resp.headers[name] == value
    assert requests.post(f"http://127.0.0.1:{ops}/metrics", timeout=5).status_code == 405
    assert requests.get(f"http://127.0.0.1:{ops}/api/v1/hello", timeout=5).status_code == 404
    assert requests.get(f"http://127.0.0.1:{public}/metrics", timeout=5).status_code == 404


def test_a_second_process_on_the_same_operations_address_fails_to_start(started):
    ops = free_port()
    started(ops)
    with pytest.raises(OSError):
        started(ops)


def test_health_waits_until_every_consumer_consumes():
    """Healthy only once the queues are consumed: before, a caller's RPC would go unrouted."""
    from types import SimpleNamespace

    from eventlet.event import Event

    from peluit_common.operations import started

    consumer = SimpleNamespace(_consumers_ready=Event())
    container = SimpleNamespace(extensions=[SimpleNamespace(), consumer])
    assert not started(container)
    consumer._consumers_ready.send(None)
    assert started(container)
