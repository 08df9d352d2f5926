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


def test_every_broker_service_logs_in_as_its_own_user_with_its_own_password():
    from peluit_local import broker

    docs = [d for d in yaml.safe_load_all((REPO / "deploy/k8s/peluit.yaml").read_text()) if d]
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    compose = yaml.safe_load((REPO / "deploy/compose/compose.yaml").read_text())["services"]
    for svc in SERVICES:
        k8s = {e["name"]: e.get("value") for e in deployments[svc.name]["spec"]["template"]["spec"]["containers"][0]["env"]}
        local = compose[svc.name]["environment"]
        if svc.name not in broker.BY_SERVICE:  # the console: no broker at all
            assert "AMQP_URI" not in k8s and "AMQP_URI" not in local
            continue
        user = broker.user_name("peluit", svc.name)
        assert k8s["AMQP_URI"].startswith(f"pyamqp://{user}@") and local["AMQP_URI"].startswith(f"pyamqp://{user}@")
        assert k8s["PELUIT_AMQP_PASSWORD_FILE"] == "/keys/amqp.password"
        assert local["PELUIT_AMQP_PASSWORD_FILE"].endswith(f"{svc.name.replace('-', '_')}_keys/amqp.password")


def test_only_cases_signs_vault_calls_and_only_the_vault_checks_them_without_an_officer_key():
    docs = [d for d in yaml.safe_load_all((REPO / "deploy/k8s/peluit.yaml").read_text()) if d]
    compose = yaml.safe_load((REPO / "deploy/compose/compose.yaml").read_text())["services"]
    for d in docs:
        if d["kind"] != "Deployment":
            continue
        name = d["metadata"]["name"]
        envs = [{e["name"] for e in d["spec"]["template"]["spec"]["containers"][0]["env"]},
                set(compose[name]["environment"])]
        for env in envs:
            assert ("PELUIT_VAULT_CALL_KEY_FILE" in env) == (name == "cases")
            assert ("PELUIT_VAULT_CALL_PUBLIC_KEY_FILE" in env) == (name == "identity-vault")
            if name == "identity-vault":  # no officer token reaches the vault
                assert not {"PELUIT_OFFICER_TOKEN_PUBLIC_KEY_FILE", "PELUIT_OFFICER_TOKEN_KEY_FILE"} & env
