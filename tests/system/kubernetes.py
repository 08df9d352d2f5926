"""Run ``deploy/k8s/peluit.yaml`` on this machine: each migrate-* Job's command,
then each Deployment's container, as written, with ``PELUIT_ENV=production``
and only the manifest's environment, where the cluster's names become this
machine's (the key mount -> the service's key folder, the database and broker
hosts -> the local servers, 0.0.0.0 -> the system's local ports)."""

from __future__ import annotations

import os
import subprocess
import sys

import yaml

from peluit_local.system import BY_NAME, NAMEKO_CONFIG, REPO, System

KEYS = "/keys/"


def manifest():
    docs = [d for d in yaml.safe_load_all((REPO / "deploy/k8s/peluit.yaml").read_text()) if d]
    common = next(d for d in docs if d["kind"] == "ConfigMap")["data"]
    jobs = [d for d in docs if d["kind"] == "Job" and d["metadata"]["labels"].get("peluit.id/stage") == "migrate"]
    deployments = [d for d in docs if d["kind"] == "Deployment"]
    return common, jobs, deployments


def local_env(system: System, service: str, container: dict, common: dict) -> dict:
    """The container's environment with this machine's names; nothing from ours but PATH."""
    env = {"PATH": os.environ["PATH"], **common}
    env.update({e["name"]: e["value"] for e in container.get("env", []) if "value" in e})
    for name, value in list(env.items()):
        if value.startswith(KEYS):
            env[name] = str(system.keys_dir / service / value[len(KEYS):])
    env["PELUIT_DB_HOST"] = "127.0.0.1"
    if "PELUIT_DB_NAME" in env:
        env["PELUIT_DB_NAME"] = env["PELUIT_DB_USER"] = system.dbname(service)
    if "AMQP_URI" in env:  # the broker user of the harness on this test's vhost
        env["AMQP_URI"] = system.amqp_uri
        env.pop("PELUIT_AMQP_PASSWORD_FILE", None)
    for name in ("WEB_SERVER_ADDRESS", "PELUIT_OPS_ADDRESS"):
        if name in env:
            port = system.ops_port(service) if name == "PELUIT_OPS_ADDRESS" else \
                system.base_port + BY_NAME[service].port_offset
            env[name] = f"127.0.0.1:{port}"
    for name, value in list(env.items()):
        if name.endswith("_SMTP_HOST"):
            env[name] = "127.0.0.1"
        elif name.endswith("_URL") and ".peluit.svc:" in value:  # the console's view of the APIs
            env[name] = system.url(value.split("//")[1].split(".")[0])
    assert env["PELUIT_ENV"] == "production"
    return env


def migrate(system: System) -> None:
    """The release's migrate-* Jobs, side by side as Kubernetes starts them."""
    common, jobs, _ = manifest()
    running = []
    for job in jobs:
        spec = job["spec"]["template"]["spec"]["containers"][0]
        service = job["spec"]["template"]["metadata"]["labels"]["peluit.id/service"]
        running.append(subprocess.Popen([sys.executable, *spec["command"][1:]], cwd=REPO,
                                        env=local_env(system, service, spec, common),
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
    for proc in running:
        assert proc.wait(timeout=120) == 0, proc.stderr.read()[-2000:]


def start(system: System, services=None) -> None:
    """Each Deployment's container (or those named), until every one is healthy."""
    common, _, deployments = manifest()
    chosen = [d for d in deployments if services is None or d["metadata"]["name"] in services]
    for deployment in chosen:
        service = deployment["metadata"]["name"]
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        log = open(system.log_dir / f"{service}.log", "ab")
        system.processes[service] = subprocess.Popen(
            [sys.executable, "-m", "peluit_common.run_service", "--config", str(NAMEKO_CONFIG), *container["args"]],
            env=local_env(system, service, container, common), cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
        log.close()
    for deployment in chosen:
        service = deployment["metadata"]["name"]
        try:
            system.wait_ready(service, timeout=90)
        except RuntimeError as exc:
            raise AssertionError(f"{exc}:\n{(system.log_dir / f'{service}.log').read_text()[-3000:]}") from None
