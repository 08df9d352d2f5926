"""The deployment manifests name the same services, modules, ports and
secrets as the local runner (which the system tests exercise)."""

from __future__ import annotations

import yaml

from peluit_local.system import REPO, SERVICES


def test_kubernetes_deployments_match_the_services():
    docs = [d for d in yaml.safe_load_all((REPO / "deploy/k8s/peluit.yaml").read_text()) if d]
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    assert set(deployments) == {s.name for s in SERVICES}
    for svc in SERVICES:
        container = deployments[svc.name]["spec"]["template"]["spec"]["containers"][0]
        assert container["args"] == [svc.module]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["WEB_SERVER_ADDRESS"].endswith(f":{8000 + svc.port_offset}")
        # metrics and probes on the operations port, never the public one
        ops = 9000 + svc.port_offset
        assert env["PELUIT_OPS_ADDRESS"].endswith(f":{ops}")
        template = deployments[svc.name]["spec"]["template"]
        assert template["metadata"]["annotations"]["prometheus.io/port"] == str(ops)
        assert container["readinessProbe"]["httpGet"] == {"path": "/health", "port": ops}
        # only the vault mounts the vault's private key and KEK
        vault_keys = {"PELUIT_VAULT_PRIVATE_KEY_FILE", "PELUIT_VAULT_KEK_FILE"}
        assert (vault_keys <= set(env)) == (svc.name == "identity-vault")


def test_compose_services_mount_only_their_own_keys():
    compose = yaml.safe_load((REPO / "deploy/compose/compose.yaml").read_text())
    for svc in SERVICES:
        spec = compose["services"][svc.name]
        assert spec["command"] == [svc.module]
        assert spec["secrets"] == [svc.name.replace("-", "_") + "_keys"]
        assert spec["environment"]["PELUIT_OPS_ADDRESS"].endswith(f":{9000 + svc.port_offset}")


def test_only_cases_holds_the_officer_token_signing_key():
    docs = [d for d in yaml.safe_load_all((REPO / "deploy/k8s/peluit.yaml").read_text()) if d]
    for d in docs:
        if d["kind"] != "Deployment":
            continue
        env = {e["name"] for e in d["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert ("PELUIT_OFFICER_TOKEN_KEY_FILE" in env) == (d["metadata"]["name"] == "cases")


def test_only_public_ports_are_exposed_and_monitoring_reaches_only_the_operations_ports():
    public = {8000 + s.port_offset for s in SERVICES}
    ops = {9000 + s.port_offset for s in SERVICES}
    docs = [d for d in yaml.safe_load_all((REPO / "deploy/k8s/peluit.yaml").read_text()) if d]
    services = [d for d in docs if d["kind"] == "Service"]
    assert services and all({p["port"] for p in d["spec"]["ports"]} <= public for d in services)
    assert all({p["targetPort"] for p in d["spec"]["ports"]} <= public for d in services)
    policies = {d["metadata"]["name"]: d for d in docs if d["kind"] == "NetworkPolicy"}
    monitoring = policies["metrics-from-monitoring"]["spec"]["ingress"]
    assert all(rule.get("ports") and {p["port"] for p in rule["ports"]} <= ops for rule in monitoring)
    for name, policy in policies.items():
        if name != "metrics-from-monitoring":
            for rule in policy["spec"].get("ingress", []):
                assert not {p["port"] for p in rule.get("ports", [])} & ops, name
    compose = yaml.safe_load((REPO / "deploy/compose/compose.yaml").read_text())
    for name, spec in compose["services"].items():
        for mapping in spec.get("ports", []):
            host, _, container = str(mapping).rpartition(":")
            assert int(container) in public and int(host or container) in public, (name, mapping)
