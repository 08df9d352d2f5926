"""schemathesis against the running intake: generated and mutated requests for
every documented operation; no 5xx, every reply within the documented schema.

Run through schemathesis's CLI (its pytest plugin does not load under pytest 9)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_reporter_api_keeps_its_contract(system, login):
    token = login("tono.penerima")["Authorization"]
    schemathesis = Path(sys.executable).with_name("schemathesis")
    out = subprocess.run(
        [str(schemathesis), "run", system.url("intake") + "/api/v1/openapi.json",
         "--checks", "not_a_server_error,response_schema_conformance,status_code_conformance,"
                     "content_type_conformance,response_headers_conformance",
         "--max-examples", "25", "--seed", "1", "--phases", "examples,coverage,fuzzing",
         "--suppress-health-check", "all", "--generation-deterministic", "-H", f"Authorization: {token}"],
        capture_output=True, text=True, timeout=600)
    assert "Tested: 6" in out.stdout, out.stdout[-3000:]
    assert out.returncode == 0, out.stdout[-12000:] + out.stderr[-2000:]
