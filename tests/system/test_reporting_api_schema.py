"""schemathesis against the running reporting service: generated and mutated
requests for every documented operation of the statistics API (the province
exports included), as an inspektur of a kota and as a province
inspektur/admin; no 5xx, no undocumented status code or content type, every
reply within its schema."""

from __future__ import annotations

import requests

from peluit_local.testing import eventually, run_schemathesis, sample_report, submit


def test_statistics_api_keeps_its_contract(system, login):
    # a few cases, so that replies carry figures and not only empty tables
    for category in ("korupsi", "pungli"):
        assert submit(system, sample_report(category=category)).status_code == 201
    headers = login("agus.inspektur")
    assert eventually(lambda: requests.get(system.url("reporting") + "/api/v1/stats", headers=headers,
                                           timeout=10).json().get("total", 0) >= 2, timeout=30)
    url = system.url("reporting") + "/api/v1/openapi.json"  # its own operation is left out: nine are tested
    for who in ("agus.inspektur", "prov.admin"):
        out = run_schemathesis(url, headers=login(who), max_examples=100)
        assert "Tested: 9" in out.stdout, out.stdout[-3000:]
        assert out.returncode == 0, who + "\n" + out.stdout[-12000:] + out.stderr[-2000:]


def test_a_year_0000_is_a_bilingual_400(system, login):
    for who, path in (("agus.inspektur", "/api/v1/stats"), ("prov.admin", "/api/v1/stats/province")):
        for args in ({"to": "0000-01"}, {"from": "0000-01"}, {"from": "9999-12", "to": "9999-12"}):
            resp = requests.get(system.url("reporting") + path, params=args, headers=login(who), timeout=10)
            assert resp.status_code == 400, (path, args, resp.text)
            error = resp.json()["error"]
            assert error["code"] == "validation_failed" and set(error["message"]) == {"id", "en"}
            assert set(error["fields"]) == set(args) and all(
                set(m) == {"id", "en"} for messages in error["fields"].values() for m in messages)
