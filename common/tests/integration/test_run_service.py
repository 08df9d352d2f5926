"""``peluit_common.run_service`` stops a service on SIGTERM at once, also one
with no broker traffic to wake its hub and with OS threads (tpool) about."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time

from peluit_common.testing import free_port

SERVICE = textwrap.dedent("""
    from eventlet import tpool
    from nameko.web.handlers import http

    tpool.execute(sum, [1, 2])  # OS threads exist: the kernel may hand a signal to one of them

    class Quiet:
        name = "quiet"

        @http("GET", "/")
        def index(self, request):
            return 200, "ok"
""")


def test_sigterm_stops_an_idle_http_only_service_at_once(tmp_path):
    (tmp_path / "quiet_service.py").write_text(SERVICE)
    config = tmp_path / "nameko.yaml"
    config.write_text(f"AMQP_URI: pyamqp://guest:guest@127.0.0.1:5672/\nWEB_SERVER_ADDRESS: 127.0.0.1:{free_port()}\n")
    proc = subprocess.Popen([sys.executable, "-m", "peluit_common.run_service", "--config", str(config),
                             "quiet_service"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        time.sleep(3)  # fully started and idle
        assert proc.poll() is None, proc.stdout.read().decode()
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
        assert time.monotonic() - started < 5
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
