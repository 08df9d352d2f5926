"""The connection budget (docs/operations.md#connection-budget): two instances
of every service, with the pool sizes the deployment files set, fit in
PostgreSQL's ``max_connections = 100`` with room to spare. Each pool's size is
what the service's own providers report (``max_connections()``), under the
settings of the manifest."""

from __future__ import annotations

import importlib

import pytest
import yaml

from peluit_common.migrate import service_classes
from peluit_common.testing import throwaway_database
from peluit_local.keys import ensure_keys
from peluit_local.system import REPO, SERVICES, System, split_instance

BY_MODULE = {svc.name: svc.module for svc in SERVICES}
MAX_CONNECTIONS = 100
INSTANCES = 2
HEADROOM = 0.15  # 15 connections stay free: psql sessions, a stuck client, the next release
# Connections that are not the services' pools (each a documented upper bound)
OTHERS = {
    "superuser_reserved_connections (PostgreSQL's default)": 3,
    "migration jobs during a release (cases: lock, event store, chain; the others one each)": 3 + 1 + 1 + 1 + 1,
    "backup: one pg_dump at a time": 1,
    "CloudNativePG's instance manager and metrics": 3,
}


def _pools(module: str, env: dict, monkeypatch) -> int:
    """Most connections one process of this service opens, under ``env``."""
    for name in ("PELUIT_MAX_WORKERS", "PELUIT_DB_POOL_SIZE", "PELUIT_EVENTSTORE_POOL_SIZE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, str(value))
    return sum(provider.max_connections() for cls in service_classes(importlib.import_module(module))
               for provider in vars(cls).values() if callable(getattr(provider, "max_connections", None)))


def _kubernetes_env(name: str) -> tuple[dict, int]:
    docs = [d for d in yaml.safe_load_all((REPO / "deploy/k8s/peluit.yaml").read_text()) if d]
    deployment = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == name)
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    surge = deployment["spec"]["strategy"]["rollingUpdate"]["maxSurge"]
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}, deployment["spec"]["replicas"] + surge


def _compose_env(name: str) -> dict:
    return yaml.safe_load((REPO / "deploy/compose/compose.yaml").read_text())["services"][name].get("environment", {})


def test_two_of_everything_fit_in_max_connections(monkeypatch):
    pools, largest = {}, 0
    for svc in SERVICES:
        env, most = _kubernetes_env(svc.name)
        assert most <= INSTANCES, f"{svc.name}: a rollout would run {most} at once"
        pools[svc.name] = _pools(svc.module, env, monkeypatch)
        assert _pools(svc.module, _compose_env(svc.name), monkeypatch) == pools[svc.name], svc.name
        largest = max(largest, pools[svc.name])
    total = INSTANCES * sum(pools.values()) + sum(OTHERS.values())
    print(f"pools per instance {pools}; {INSTANCES} of each + others = {total} of {MAX_CONNECTIONS}")
    assert pools["console"] == 0
    assert 0 < pools["intake"] <= 2  # sealed WhatsApp drafts only (docs/channels.md#whatsapp)
    assert 0 < pools["notifications"] <= pools["cases"]
    assert total <= MAX_CONNECTIONS * (1 - HEADROOM)


def test_the_harness_with_two_instances_fits_as_the_manifests_do(monkeypatch, tmp_path):
    """``PELUIT_INSTANCES=2`` (the failover test, ``make run``): each process gets the manifests'
    pools, so what the harness starts is what the budget above adds up."""
    ensure_keys(tmp_path)
    system = System(instances=INSTANCES, keys_dir=tmp_path)
    harness = {name: _pools(BY_MODULE[split_instance(name)[0]], system.env(name), monkeypatch)
               for name in system.instance_names()}
    manifests = {svc.name: _pools(svc.module, _kubernetes_env(svc.name)[0], monkeypatch) for svc in SERVICES}
    assert len(harness) == INSTANCES * len(SERVICES)
    assert all(pools == manifests[split_instance(name)[0]] for name, pools in harness.items()), harness
    assert sum(harness.values()) + sum(OTHERS.values()) <= MAX_CONNECTIONS * (1 - HEADROOM)
    # one instance (the default) keeps the development defaults: one connection per worker
    assert _pools("peluit_cases.service", System(keys_dir=tmp_path).env("cases"), monkeypatch) == 20


def test_development_defaults_follow_the_workers(monkeypatch):
    """Without settings each pool opens at most one connection per nameko worker (intake: 2)."""
    assert _pools("peluit_cases.service", {"PELUIT_MAX_WORKERS": "7"}, monkeypatch) == 14  # own pool + event store
    assert _pools("peluit_reporting.service", {}, monkeypatch) == 10
    assert _pools("peluit_vault.service", {"PELUIT_EVENTSTORE_POOL_SIZE": "2"}, monkeypatch) == 12  # + disclosures
    # intake's pool serves WhatsApp messages only, whatever its 64 workers
    assert _pools("peluit_intake.service", {"PELUIT_MAX_WORKERS": "64"}, monkeypatch) == 2


def test_the_event_store_opens_no_more_than_its_setting(monkeypatch):
    """The eventsourcing library's own pool, not our arithmetic: its size and
    overflow variables are named per version (PITFALLS), so ask the pool."""
    from peluit_cases.application import CasesApplication
    from peluit_common.eventstore import eventsourcing_env

    with throwaway_database("budget") as dbname:
        monkeypatch.setenv("PELUIT_DB_NAME", dbname)
        monkeypatch.setenv("PELUIT_DB_USER", "postgres")
        monkeypatch.setenv("PELUIT_DB_SCHEMA", "public")
        monkeypatch.setenv("PELUIT_EVENTSTORE_POOL_SIZE", "3")
        app = CasesApplication(env=eventsourcing_env(create_tables=True))
        try:
            pool = app.recorder.datastore.pool
            assert (pool.min_size, pool.max_size) == (2, 3)
        finally:
            app.close()
