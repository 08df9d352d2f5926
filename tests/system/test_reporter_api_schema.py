"""schemathesis against the running intake: generated and mutated requests for
every documented operation; no 5xx, every reply within the documented schema."""

from __future__ import annotations

from peluit_local.testing import run_schemathesis


def test_reporter_api_keeps_its_contract(system, login):
    out = run_schemathesis(system.url("intake") + "/api/v1/openapi.json", headers=login("tono.penerima"))
    # the partner API answers this officer token 401 only (its own credentials: test_partner_reports.py)
    assert "Tested: 7" in out.stdout, out.stdout[-3000:]
    assert out.returncode == 0, out.stdout[-12000:] + out.stderr[-2000:]
