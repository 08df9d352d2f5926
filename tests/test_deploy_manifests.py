"""The deployment files boot: compose and Kubernetes give every service each
setting its code requires in production (derived from the code by
``peluit_local.required_settings``, not listed here), every key file they name
is mounted from that service's own secret, and the files are valid against the
compose specification and the Kubernetes schemas (offline validators)."""

from __future__ import annotations

import json
import re
from importlib import resources

import jsonschema
import kubernetes_validate
import pytest
import yaml

from peluit_local.required_settings import required_settings
from peluit_local.system import REPO, SERVICES

K8S = REPO / "deploy/k8s/peluit.yaml"
COMPOSE = REPO / "deploy/compose/compose.yaml"
KUBERNETES_VERSION = "1.30.0"
# Custom resources of the operators: no schema ships with the validators (docs/operations.md#kubernetes)
OPERATOR_KINDS = {("rabbitmq.com/v1beta1", "RabbitmqCluster"), ("postgresql.cnpg.io/v1", "Cluster")}
# Read with no default, but only once the channel is on (its gate set); both files leave it off
WHEN_ON = {"PELUIT_WHATSAPP_ACCESS_TOKEN_FILE": "PELUIT_WHATSAPP_APP_SECRET_FILE",
           "PELUIT_WHATSAPP_PHONE_NUMBER_ID": "PELUIT_WHATSAPP_APP_SECRET_FILE"}


@pytest.fixture(scope="module")
def required():
    return required_settings()


@pytest.fixture(scope="module")
def k8s():
    return [d for d in yaml.safe_load_all(K8S.read_text()) if d]


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load(COMPOSE.read_text())


def of_kind(docs, kind):
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def k8s_env(docs, container) -> dict:
    """A container's environment: its ConfigMaps, then its own entries (secret refs as '<secret>')."""
    maps = of_kind(docs, "ConfigMap")
    env = {}
    for source in container.get("envFrom", []):
        env.update(maps[source["configMapRef"]["name"]]["data"])
    for entry in container.get("env", []):
        env[entry["name"]] = entry.get("value", "<secret>")
    return env


def needed(required, service, env) -> set:
    return {name for name in required[service] if name not in WHEN_ON or WHEN_ON[name] in env}


# -- what the code requires -------------------------------------------------------------

def test_the_derivation_finds_what_the_code_reads(required):
    """Spot checks that the scan follows helpers: the officer-token key through
    OfficerAuth (reporting exited at start without it), the database through
    db_conninfo's f-string, a loopback default (the vault's SMTP host)."""
    assert "PELUIT_OFFICER_TOKEN_PUBLIC_KEY_FILE" in required["reporting"]
    assert {"PELUIT_DB_NAME", "PELUIT_DB_USER", "PELUIT_DB_HOST"} <= required["notifications"]
    assert "PELUIT_VAULT_SMTP_HOST" in required["identity-vault"]
    assert "PELUIT_OFFICER_TOKEN_KEY_FILE" in required["cases"] and "PELUIT_CHECKPOINT_KEY_FILE" in required["cases"]
    assert "AMQP_URI" not in required["console"]  # no broker: the console is an HTTP client only
    assert not any(name.startswith("PELUIT_DB_") for name in required["console"])
    assert {"PELUIT_DB_NAME", "PELUIT_DB_USER"} <= required["intake"]  # its sealed WhatsApp drafts
    for name in WHEN_ON:  # an exemption the code no longer needs must go
        assert name in required["intake"]


# -- Kubernetes -------------------------------------------------------------------------

def test_kubernetes_validates_offline(k8s):
    for doc in k8s:
        if (doc["apiVersion"], doc["kind"]) in OPERATOR_KINDS:
            continue
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_kubernetes_gives_every_service_what_it_requires(k8s, required):
    deployments = of_kind(k8s, "Deployment")
    assert set(deployments) == {s.name for s in SERVICES}
    for svc in SERVICES:
        spec = deployments[svc.name]["spec"]["template"]["spec"]
        container = spec["containers"][0]
        assert container["args"] == [svc.module]
        env = k8s_env(k8s, container)
        assert env["PELUIT_ENV"] == "production"
        missing = needed(required, svc.name, env) - set(env)
        assert not missing, f"{svc.name} exits at start without {sorted(missing)}"
        assert env["PELUIT_MIGRATE_AT_START"] == "0"
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        secrets = {v["name"]: v["secret"]["secretName"] for v in spec["volumes"] if "secret" in v}
        for name, value in env.items():
            if name.endswith("_FILE"):  # each key file from this service's own secret
                folder = next((m for m in mounts if value.startswith(m.rstrip("/") + "/")), None)
                assert folder and secrets.get(mounts[folder]) == f"peluit-{svc.name}-keys", (svc.name, name)


def test_kubernetes_pods_are_hardened_and_probed(k8s):
    for svc in SERVICES:
        deployment = of_kind(k8s, "Deployment")[svc.name]
        spec = deployment["spec"]["template"]["spec"]
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert spec["securityContext"]["runAsNonRoot"] is True and spec["automountServiceAccountToken"] is False
        container = spec["containers"][0]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        ops = 9000 + svc.port_offset
        env = k8s_env(k8s, container)
        assert env["WEB_SERVER_ADDRESS"] == f"0.0.0.0:{8000 + svc.port_offset}"
        assert env["PELUIT_OPS_ADDRESS"] == f"0.0.0.0:{ops}"  # probes and metrics on the operations port
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert container[probe]["httpGet"] == {"path": "/health", "port": ops}, (svc.name, probe)
        assert deployment["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"] == str(ops)
        # only the vault mounts the vault's private key and KEK; only cases the token signing key
        assert ({"PELUIT_VAULT_PRIVATE_KEY_FILE", "PELUIT_VAULT_KEK_FILE"} <= set(env)) == (svc.name == "identity-vault")
        assert ("PELUIT_OFFICER_TOKEN_KEY_FILE" in env) == (svc.name == "cases")
        budgets = [p for p in of_kind(k8s, "PodDisruptionBudget").values()
                   if p["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": svc.name}]
        assert len(budgets) == 1 and budgets[0]["spec"]["minAvailable"] >= 1
        assert deployment["spec"]["replicas"] >= 2


def test_kubernetes_migrates_in_a_versioned_job_before_the_rollout(k8s):
    jobs = [j for j in of_kind(k8s, "Job").values() if j["metadata"]["labels"].get("peluit.id/stage") == "migrate"]
    migrated = {}
    for job in jobs:
        version = job["metadata"]["labels"]["app.kubernetes.io/version"]
        assert job["metadata"]["name"].endswith(version.replace(".", "-"))  # a new release is a new Job
        container = job["spec"]["template"]["spec"]["containers"][0]
        assert container["command"][:3] == ["python", "-m", "peluit_common.migrate"]
        env = k8s_env(k8s, container)
        assert {"PELUIT_DB_NAME", "PELUIT_DB_USER", "PELUIT_DB_HOST", "PELUIT_DB_PASSWORD_FILE"} <= set(env)
        migrated[container["command"][3]] = version
    for deployment in of_kind(k8s, "Deployment").values():
        assert deployment["metadata"]["labels"]["peluit.id/stage"] == "rollout"  # applied after the jobs
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        if any(e["name"] == "PELUIT_DB_NAME" for e in container["env"]):
            assert migrated.get(container["args"][0]) == deployment["metadata"]["labels"]["app.kubernetes.io/version"]


def test_kubernetes_uses_the_operators_for_state(k8s):
    broker = next(d for d in k8s if d["kind"] == "RabbitmqCluster")
    assert broker["spec"]["replicas"] == 3
    database = next(d for d in k8s if d["kind"] == "Cluster")
    assert database["spec"]["instances"] == 3  # a primary and two replicas
    host = of_kind(k8s, "ConfigMap")["peluit-common"]["data"]["PELUIT_DB_HOST"]
    assert host.startswith(database["metadata"]["name"] + "-rw.")  # the primary's service


def _admits(policy, pod_labels, direction):
    selector = policy["spec"]["podSelector"]
    if not _matches(selector, pod_labels):
        return []
    return policy["spec"].get(direction, [])


def _matches(selector, labels) -> bool:
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expr in selector.get("matchExpressions", []):
        if expr["operator"] == "In" and labels.get(expr["key"]) not in expr["values"]:
            return False
    return True


def test_kubernetes_network_policies(k8s):
    policies = list(of_kind(k8s, "NetworkPolicy").values())
    deny = [p for p in policies if p["spec"]["podSelector"] == {} and not p["spec"].get("ingress")
            and not p["spec"].get("egress")]
    assert deny and set(deny[0]["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    vault = {"app.kubernetes.io/name": "identity-vault"}
    # nothing reaches the vault but the monitoring namespace's scrape: it works through the broker
    for policy in policies:
        for rule in _admits(policy, vault, "ingress"):
            for peer in rule.get("from", [{}]):
                assert "podSelector" not in peer
                assert peer.get("namespaceSelector") == {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}
    # the broker and the database are allowed in by name (a default deny blocked the broker before)
    for labels, port in (({"app.kubernetes.io/name": "rabbitmq"}, 5672), ({"cnpg.io/cluster": "peluit-pg"}, 5432)):
        assert any(port in [p["port"] for p in rule.get("ports", [])]
                   for policy in policies for rule in _admits(policy, labels, "ingress"))
    # every service that uses the broker may reach it
    for name in ("intake", "cases", "identity-vault", "notifications", "reporting"):
        assert any(5672 in [p["port"] for p in rule.get("ports", [])]
                   for policy in policies for rule in _admits(policy, {"app.kubernetes.io/name": name}, "egress"))


def test_kubernetes_ingress_reaches_the_four_edges(k8s):
    backends = set()
    for ingress in of_kind(k8s, "Ingress").values():
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                service = path["backend"]["service"]
                backends.add((path["path"], service["name"], service["port"]["number"]))
    assert ("/", "intake", 8000) in backends  # portal and reporter API
    assert ("/", "console", 8007) in backends
    assert ("/", "cases", 8001) in backends  # the officer API
    assert ("/api/v1/public/stats", "reporting", 8004) in backends
    services = of_kind(k8s, "Service")
    assert "identity-vault" not in services and "notifications" not in services  # nothing to call over HTTP


# -- compose ----------------------------------------------------------------------------

def test_compose_validates_against_the_compose_specification(compose):
    schema = json.loads(resources.files("check_jsonschema.builtin_schemas.vendor")
                        .joinpath("compose-spec.json").read_text())
    jsonschema.validate(compose, schema)


def test_compose_gives_every_service_what_it_requires(compose, required):
    for svc in SERVICES:
        spec = compose["services"][svc.name]
        assert spec["command"] == [svc.module]
        own = svc.name.replace("-", "_") + "_keys"
        assert spec["secrets"] == [own]  # each service mounts only its own keys
        env = spec["environment"]
        assert env["PELUIT_ENV"] == "production"
        missing = needed(required, svc.name, env) - set(env)
        assert not missing, f"{svc.name} exits at start without {sorted(missing)}"
        assert env["PELUIT_OPS_ADDRESS"] == f"0.0.0.0:{9000 + svc.port_offset}"
        for name, value in env.items():
            if name.endswith("_FILE"):
                assert value.startswith(f"/run/secrets/{own}/"), (svc.name, name)


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


# -- the image --------------------------------------------------------------------------

def _ignored(path: str, patterns: list[str]) -> bool:
    """.dockerignore semantics, enough for ours: ``**`` any folders, ``*`` within one;
    a pattern that matches a folder excludes what is inside it."""
    parts = path.split("/")
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    for pattern in patterns:
        regex = re.escape(pattern).replace(r"\*\*/", "(?:.*/)?").replace(r"\*\*", ".*").replace(r"\*", "[^/]*")
        if any(re.fullmatch(regex, prefix) for prefix in prefixes):
            return True
    return False


def test_the_image_is_multi_stage_pinned_healthchecked_and_without_tests():
    dockerfile = (REPO / "deploy/Dockerfile").read_text()
    stages = re.findall(r"^FROM (\S+)", dockerfile, re.M)
    assert len(stages) >= 2  # build tools and sources stay in the build stage
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", dockerfile, re.M).group(1)
    assert re.fullmatch(r"python:3\.11[\w.-]*@sha256:[0-9a-f]{64}", base)
    assert all(stage == "${PYTHON_IMAGE}" for stage in stages)
    final = dockerfile.rsplit("\nFROM ", 1)[1]
    assert "HEALTHCHECK" in final and re.search(r"^USER (?!root|0\b)", final, re.M)
    copied = re.findall(r"^COPY (?!--from)(\S+) ", final, re.M)
    assert copied == ["deploy/nameko.yaml"]  # the final stage takes the installed virtualenv, no sources
    patterns = [line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    sources = re.findall(r"^COPY (?!--from)(\S+) \S+$", dockerfile.split("\nFROM ")[1], re.M)
    context = [str(f.relative_to(REPO)) for src in sources for f in ([REPO / src] if (REPO / src).is_file()
               else (REPO / src).rglob("*")) if f.is_file()]
    sent = [f for f in context if not _ignored(f, patterns)]
    assert any(f.endswith("peluit_cases/service.py") for f in sent)
    leaked = [f for f in sent if "/tests/" in f or re.search(r"/(bench\w*|testing|failover|conftest)\.py$", f)
              or "/.keys/" in f or "__pycache__" in f]
    assert not leaked, leaked[:5]
    for secret in (".keys/cases/db.password", "deploy/compose/secrets/peluit/cases/db.password", ".git/config"):
        assert _ignored(secret, patterns)


def test_only_public_ports_are_exposed_and_monitoring_reaches_only_the_operations_ports():
    public = {8000 + s.port_offset for s in SERVICES}
    ops = {9000 + s.port_offset for s in SERVICES}
    engines = {15692, 9187}  # the metrics ports of RabbitMQ (prometheus plugin) and CloudNativePG's instances
    docs = [d for d in yaml.safe_load_all((REPO / "deploy/k8s/peluit.yaml").read_text()) if d]
    services = [d for d in docs if d["kind"] == "Service"]
    assert services and all({p["port"] for p in d["spec"]["ports"]} <= public for d in services)
    assert all({p["targetPort"] for p in d["spec"]["ports"]} <= public for d in services)
    policies = {d["metadata"]["name"]: d for d in docs if d["kind"] == "NetworkPolicy"}
    monitoring = policies["metrics-from-monitoring"]["spec"]["ingress"]
    assert all(rule.get("ports") and {p["port"] for p in rule["ports"]} <= ops | engines for rule in monitoring)
    for name, policy in policies.items():
        if name != "metrics-from-monitoring":
            for rule in policy["spec"].get("ingress", []):
                assert not {p["port"] for p in rule.get("ports", [])} & ops, name
    compose = yaml.safe_load((REPO / "deploy/compose/compose.yaml").read_text())
    for name, spec in compose["services"].items():
        for mapping in spec.get("ports", []):
            host, _, container = str(mapping).rpartition(":")
            assert int(container) in public and int(host or container) in public, (name, mapping)
