"""One report end to end: intake -> vault -> cases -> relay -> notifications, reporting."""

from __future__ import annotations

import re
import time
import uuid

import requests

from peluit_local.testing import (
    admin_connect,
    count_cases,
    eventually,
    non_json_log_lines,
    sample_report,
    submit,
)


def test_report_is_registered_acknowledged_and_followed(system):
    before = count_cases(system)
    body = sample_report(identity={"name": "Budi Santoso", "email": "budi@example.id"})
    resp = submit(system, body, key=str(uuid.uuid4()))
    assert resp.status_code == 201, resp.text
    out = resp.json()
    assert re.fullmatch(r"WBS/35\.73/\d{4}/\d{6}", out["registration_number"])
    assert re.fullmatch(r"\d{4}-\d{4}-\d{4}-\d{4}", out["receipt"])
    assert out["anonymous"] is False
    # the 201 came after the commit: the case is already in the event store
    assert count_cases(system) == before + 1

    with admin_connect(system, "cases") as conn:
        # the receipt is nowhere in the cases store, in any form we would write it
        digits = out["receipt"].replace("-", "")
        hits = conn.execute("SELECT count(*) FROM peluit.cases_events WHERE position(%s in encode(state, 'escape')) > 0",
                            (digits,)).fetchone()[0]
        assert hits == 0

    number = out["registration_number"]
    with admin_connect(system, "notifications") as conn:
        assert eventually(lambda: conn.execute(
            "SELECT count(*) FROM peluit.officer_notification WHERE registration_number = %s", (number,)
        ).fetchone()[0] == 1)
    with admin_connect(system, "reporting") as conn:
        assert eventually(lambda: conn.execute(
            "SELECT status FROM peluit.case_summary WHERE registration_number = %s", (number,)
        ).fetchone() == ("diterima",))


def test_idempotency_key_replays_the_same_receipt_without_a_second_case(system):
    key = str(uuid.uuid4())
    first = submit(system, sample_report(tenant="35.07"), key=key)
    before = count_cases(system)
    again = submit(system, sample_report(tenant="35.07"), key=key)
    assert first.status_code == again.status_code == 201
    assert again.json()["registration_number"] == first.json()["registration_number"]
    assert again.json()["receipt"] == first.json()["receipt"]
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert count_cases(system) == before

    reused = submit(system, sample_report(tenant="35.07", what="Laporan yang sama sekali berbeda isinya"), key=key)
    assert reused.status_code == 422 and reused.json()["error"]["code"] == "idempotency_key_reused"
    assert count_cases(system) == before


def test_without_a_key_every_submission_is_a_new_case_with_its_own_receipt(system):
    a = submit(system, sample_report(tenant="35.78"))
    b = submit(system, sample_report(tenant="35.78"))
    assert a.status_code == b.status_code == 201
    assert a.json()["receipt"] != b.json()["receipt"]
    assert a.json()["registration_number"] != b.json()["registration_number"]


def test_status_by_receipt_and_only_by_receipt(system):
    out = submit(system, sample_report(), key=str(uuid.uuid4())).json()
    url = system.url("intake") + "/api/v1/reports/status"
    ok = requests.post(url, json={"receipt": out["receipt"]}, timeout=10)
    assert ok.status_code == 200
    view = ok.json()
    assert view["registration_number"] == out["registration_number"]
    assert view["status"]["code"] == "diterima"
    assert view["status"]["label"]["id"] and view["status"]["label"]["en"]
    assert [t["status"] for t in view["timeline"]] == ["diterima"]

    digits = out["receipt"].replace("-", "")
    wrong = f"{(int(digits) + 1) % 10**16:016d}"
    t0 = time.monotonic()
    miss = requests.post(url, json={"receipt": wrong}, timeout=10)
    elapsed = time.monotonic() - t0
    assert miss.status_code == 404
    assert elapsed >= 0.15  # the harness's floor (PELUIT_STATUS_MIN_SECONDS): a miss is not faster than a hit
    # the registration number is not a credential
    by_number = requests.post(url, json={"receipt": out["registration_number"]}, timeout=10)
    assert by_number.status_code == 400


def test_every_service_exposes_prometheus_metrics_and_writes_json_logs(system):
    for service in ("intake", "cases", "identity-vault", "notifications", "reporting"):
        resp = requests.get(system.ops_url(service) + "/metrics", timeout=5)
        assert resp.status_code == 200
        assert "# TYPE peluit_entrypoint_duration_seconds histogram" in resp.text
        assert (system.log_dir / f"{service}.log").read_text().strip(), service
    assert non_json_log_lines(system) == []
    cases_metrics = requests.get(system.ops_url("cases") + "/metrics", timeout=5).text
    assert "peluit_relay_published_total" in cases_metrics
    reporting_metrics = requests.get(system.ops_url("reporting") + "/metrics", timeout=5).text
    assert "peluit_projection_lag_events" in reporting_metrics


def test_database_walls(system):
    """Connected as the cases role, the vault database is out of reach."""
    import psycopg
    import pytest

    from peluit_local.keys import db_password

    cases_role = system.dbname("cases")
    password = db_password(system.keys_dir, "cases")
    for other in ("identity-vault", "intake", "notifications", "reporting"):
        with pytest.raises(psycopg.OperationalError, match="permission denied"):
            psycopg.connect(host="127.0.0.1", dbname=system.dbname(other), user=cases_role, password=password)
    # and inside its own database it cannot reach another schema owner's tables
    with psycopg.connect(host="127.0.0.1", dbname=system.dbname("cases"), user=cases_role, password=password) as c:
        assert c.execute("SELECT count(*) >= 0 FROM cases_events").fetchone()[0]
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("CREATE TABLE public.sneaky (x int)")
