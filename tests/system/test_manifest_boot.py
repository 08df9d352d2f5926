"""The Kubernetes manifest boots: each migrate-* Job's command and each
Deployment's container run here as written, with ``PELUIT_ENV=production``
and only the manifest's environment, where the cluster's names become this
machine's (the key mount -> the service's key folder, the database and broker
hosts -> the local servers, 0.0.0.0 -> free local ports). Every service turns
healthy with process-start migration off, and a report goes through
(intake seals it, the vault stores the identity, cases registers it)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import yaml

from peluit_local import bootstrap
from peluit_local.keys import db_password, ensure_keys
from peluit_local.system import BY_NAME, NAMEKO_CONFIG, REPO, System
from peluit_local.testing import _free_base_port, sample_report, submit

KEYS = "/keys/"


def _manifest():
    docs = [d for d in yaml.safe_load_all((REPO / "deploy/k8s/peluit.yaml").read_text()) if d]
    common = next(d for d in docs if d["kind"] == "ConfigMap")["data"]
    jobs = [d for d in docs if d["kind"] == "Job" and d["metadata"]["labels"].get("peluit.id/stage") == "migrate"]
    deployments = [d for d in docs if d["kind"] == "Deployment"]
    return common, jobs, deployments


def _here(system: System, service: str, container: dict, common: dict) -> dict:
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


def test_the_kubernetes_manifest_boots_in_production_mode(tmp_path):
    tag = uuid.uuid4().hex[:8]
    system = System(prefix=f"pb{tag}", vhost=f"peluit-boot-{tag}", base_port=_free_base_port(),
                    keys_dir=ensure_keys(tmp_path / "keys"), log_dir=tmp_path / "logs")
    system.log_dir.mkdir()
    common, jobs, deployments = _manifest()
    bootstrap.create_databases(system.prefix, {s: db_password(system.keys_dir, s) for s in bootstrap.SERVICES})
    bootstrap.create_vhost(system.vhost)
    try:
        running = {}  # the jobs run side by side, as Kubernetes would start them
        for job in jobs:
            spec = job["spec"]["template"]["spec"]["containers"][0]
            service = job["spec"]["template"]["metadata"]["labels"]["peluit.id/service"]
            running[service] = (spec, subprocess.Popen(
                [sys.executable, *spec["command"][1:]], env=_here(system, service, spec, common), cwd=REPO,
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
        for service, (spec, proc) in running.items():
            assert proc.wait(timeout=120) == 0, proc.stderr.read()[-2000:]
        # what provisioning's --demo adds: the demo province's tenants
        spec = running["cases"][0]
        subprocess.run([sys.executable, "-m", "peluit_cases.admin", "seed-demo"], check=True, cwd=REPO,
                       env=_here(system, "cases", spec, common), capture_output=True, timeout=60)
        for deployment in deployments:
            service = deployment["metadata"]["name"]
            container = deployment["spec"]["template"]["spec"]["containers"][0]
            log = open(system.log_dir / f"{service}.log", "ab")
            system.processes[service] = subprocess.Popen(
                [sys.executable, "-m", "peluit_common.run_service", "--config", str(NAMEKO_CONFIG),
                 *container["args"]], env=_here(system, service, container, common), cwd=REPO,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            log.close()
        for deployment in deployments:
            service = deployment["metadata"]["name"]
            try:
                system.wait_ready(service, timeout=90)
            except RuntimeError as exc:
                raise AssertionError(f"{exc}:\n{(system.log_dir / f'{service}.log').read_text()[-3000:]}") from None
        out = submit(system, sample_report(identity={"name": "Boot"}), key=str(uuid.uuid4()))
        assert out.status_code == 201, out.text
    finally:
        for name in list(system.processes):
            system.kill(name)
        bootstrap.delete_vhost(system.vhost)
        bootstrap.drop_databases(system.prefix)
