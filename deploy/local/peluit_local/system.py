"""Start the six services as separate ``nameko run`` processes (``instances``
of each: ``PELUIT_INSTANCES``, docs/operations.md#several-instances).

Used by ``make run``, the system tests and the benchmarks, so all three run
Peluit the same way. Each process gets only its own database role, its own
RabbitMQ user (``broker.py``) and its own key folder.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from . import bootstrap, broker
from .keys import amqp_password, db_password, ensure_keys

REPO = Path(__file__).resolve().parents[3]
NAMEKO_CONFIG = REPO / "deploy" / "nameko.yaml"


def _die_with_parent() -> None:
    """Linux: SIGTERM the service if the runner itself dies (no orphans)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


@dataclass(frozen=True)
class Service:
    name: str  # folder under services/ and the key folder
    module: str  # nameko entry module
    port_offset: int
    database: bool = True  # the console keeps no data: no database, no role


SERVICES = (
    Service("intake", "peluit_intake.service", 0),
    Service("cases", "peluit_cases.service", 1),
    Service("identity-vault", "peluit_vault.service", 2),
    Service("notifications", "peluit_notifications.service", 3),
    Service("reporting", "peluit_reporting.service", 4),
    Service("console", "peluit_console.service", 7, database=False),
)
BY_NAME = {s.name: s for s in SERVICES}
OPS_PORT_DISTANCE = 1000
# instance i of a service (PELUIT_INSTANCES) listens on instance 0's ports + 100 * i: cases 8001, 8101, ...
INSTANCE_PORT_DISTANCE = 100
# with several instances, the pools of the deployment files (docs/operations.md#connection-budget), so that
# two of everything fit in PostgreSQL's max_connections = 100 as they do in production
POOL_SETTINGS = ("PELUIT_MAX_WORKERS", "PELUIT_DB_POOL_SIZE", "PELUIT_EVENTSTORE_POOL_SIZE")
COMPOSE = REPO / "deploy" / "compose" / "compose.yaml"
ADMIN_USER = "guest"  # RabbitMQ's local administrator (local connections only)
NO_BROKER = "pyamqp://no-broker-user@127.0.0.1:5672/"


@dataclass
class System:
    """One Peluit deployment on this machine."""

    prefix: str = "peluit"
    vhost: str = "/"
    base_port: int = 8000
    keys_dir: Path = REPO / ".keys"
    log_dir: Path = REPO / "var" / "log"
    extra_env: dict = field(default_factory=dict)
    processes: dict = field(default_factory=dict)
    instances: int = 1  # of every service (PELUIT_INSTANCES)

    def instance_names(self, service: str | None = None) -> list[str]:
        """The processes of ``service`` (every service: None), instance 0 first: ``cases``, ``cases.1``, ..."""
        services = [service] if service else [s.name for s in SERVICES]
        return [instance_name(name, i) for i in range(self.instances) for name in services]

    # -- provisioning -----------------------------------------------------

    def provision(self, log=print) -> None:
        bootstrap.ensure_servers(log)
        ensure_keys(self.keys_dir)
        bootstrap.create_databases(self.prefix, {s.name: db_password(self.keys_dir, s.name) for s in SERVICES
                                                 if s.database})
        self.provision_broker()
        self.log_dir.mkdir(parents=True, exist_ok=True)

    def provision_broker(self) -> None:
        """The vhost, the services' broker users (passwords from the key folders) and the topology."""
        broker.apply(broker.definitions(self.prefix, self.vhost, {
            a.service: amqp_password(self.keys_dir, a.service) for a in broker.ACCESS}, admin_user=ADMIN_USER))

    def unprovision_broker(self) -> None:
        """The vhost and the services' broker users go (test sessions)."""
        broker.remove(self.prefix, self.vhost)

    @property
    def amqp_uri(self) -> str:
        """The local administrator's URI (guest): tests and benchmarks that drive the broker themselves."""
        return self.service_amqp_uri(None)

    def service_amqp_uri(self, service: str | None) -> str:
        """``service``'s own broker user (None: the administrator)."""
        vhost = "" if self.vhost == "/" else self.vhost
        if service is None:
            return f"pyamqp://{ADMIN_USER}:guest@127.0.0.1:5672/{vhost}"
        user = broker.user_name(self.prefix, service)
        return f"pyamqp://{user}:{amqp_password(self.keys_dir, service)}@127.0.0.1:5672/{vhost}"

    def port(self, name: str) -> int:
        """The public port of a service's instance (``cases``, ``cases.1``): base + offset + 100 * instance."""
        service, index = split_instance(name)
        return self.base_port + BY_NAME[service].port_offset + INSTANCE_PORT_DISTANCE * index

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port(name)}"

    def ops_port(self, name: str) -> int:
        """The operations port (metrics, health): 9000 + offset beside the public 8000 + offset (+ 100 * instance)."""
        return self.port(name) + OPS_PORT_DISTANCE

    def ops_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ops_port(name)}"

    def dbname(self, service: str) -> str:
        return bootstrap.db_ident(self.prefix, service)

    def env(self, name: str) -> dict:
        """The settings of one process: a service's instance (``cases``, ``cases.1``)."""
        service, index = split_instance(name)
        svc = BY_NAME[service]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PELUIT_")}
        if self.instances > 1 and svc.database:
            env.update(pool_settings(service))
        env.update({
            "PELUIT_SERVICE": service,
            "PELUIT_INSTANCE": str(index),
            # the console uses no broker: a user that does not exist, rather than the administrator
            "AMQP_URI": self.service_amqp_uri(service) if service in broker.BY_SERVICE else NO_BROKER,
            "WEB_SERVER_ADDRESS": f"127.0.0.1:{self.port(name)}",
            "PELUIT_OPS_ADDRESS": f"127.0.0.1:{self.ops_port(name)}",
            "PELUIT_KEYS_DIR": str(self.keys_dir / service),
            "PYTHONUNBUFFERED": "1",
        })
        if svc.database:
            env.update({"PELUIT_DB_NAME": self.dbname(service), "PELUIT_DB_USER": self.dbname(service),
                        "PELUIT_DB_PASSWORD": db_password(self.keys_dir, service)})
        if service == "identity-vault":
            env["PELUIT_VAULT_SMTP_PORT"] = str(self.smtp_port)
        if service == "cases":
            # the console names each browser's address, so sign-ins are throttled per browser, not per console
            env["PELUIT_CASES_PROXY_HOPS"] = "1"
        if service == "notifications":
            # officers' mail through the same local sink; links point at this console
            env.update({"PELUIT_NOTIFY_SMTP_PORT": str(self.smtp_port), "PELUIT_CONSOLE_URL": self.url("console")})
        if service == "console":
            # the console reaches the other services over their public HTTP APIs only (its own instance's:
            # no load balancer on this machine)
            env.update({"PELUIT_CASES_URL": self.url(instance_name("cases", index)),
                        "PELUIT_REPORTING_URL": self.url(instance_name("reporting", index)),
                        "PELUIT_INTAKE_URL": self.url(instance_name("intake", index))})
        if service == "intake":
            # its CPU is bounded by the receipt-hash pool: workers mostly wait (RPCs, the status floor)
            env["PELUIT_MAX_WORKERS"] = "64"
            # the e-mail channel: inbound SMTP listener, and replies through the local sink
            env["PELUIT_MAIL_LISTEN"] = f"127.0.0.1:{self.mail_intake_port + INSTANCE_PORT_DISTANCE * index}"
            env["PELUIT_INTAKE_SMTP_PORT"] = str(self.smtp_port)
        env.update(self.extra_env)
        return env

    # -- processes --------------------------------------------------------

    def admin_command(self, service: str, *argv: str) -> None:
        subprocess.run([sys.executable, *argv], env=self.env(service), check=True, cwd=REPO)

    def start(self, name: str) -> subprocess.Popen:
        """One process: a service's instance (``cases``, ``cases.1``), logging to ``<name>.log``."""
        svc = BY_NAME[split_instance(name)[0]]
        log = open(self.log_dir / f"{name}.log", "ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "peluit_common.run_service", "--config", str(NAMEKO_CONFIG), svc.module],
            env=self.env(name), cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches the runner, which stops them in order
            preexec_fn=_die_with_parent,
        )
        log.close()
        self.processes[name] = proc
        return proc

    @contextlib.contextmanager
    def restarted(self, service: str, env: dict):
        """``service`` restarted with ``env`` added to its settings; as before again afterwards."""
        saved = dict(self.extra_env)
        self.stop(service)
        self.extra_env.update(env)
        self.start(service)
        self.wait_ready(service)
        try:
            yield self
        finally:
            self.stop(service)
            self.extra_env.clear()
            self.extra_env.update(saved)
            self.start(service)
            self.wait_ready(service)

    def wait_ready(self, service: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        proc = self.processes[service]
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                log = self.log_dir / (service + ".log")
                # the log's last lines with it: a test session deletes its logs
                tail = "\n".join(log.read_text(errors="replace").splitlines()[-12:]) if log.exists() else ""
                raise RuntimeError(f"{service} exited with {proc.returncode}; see {log}:\n{tail}")
            try:
                with urllib.request.urlopen(self.ops_url(service) + "/health", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"{service} did not become ready in {timeout:.0f} s")

    @property
    def smtp_port(self) -> int:
        return self.base_port + 5

    @property
    def mail_intake_port(self) -> int:
        """intake's inbound SMTP listener (mail to ``wbs+<tenant>@peluit.invalid``)."""
        return self.base_port + 6

    @property
    def mail_dir(self) -> Path:
        return self.log_dir.parent / "mail"

    def start_mail_sink(self) -> None:
        """A local SMTP server (aiosmtpd) that keeps what the vault relays in a
        Maildir: the demo's and the tests' stand-in for the pemda mail server."""
        if "mail" in self.processes:
            return
        log = open(self.log_dir / "mail.log", "ab")
        self.processes["mail"] = subprocess.Popen(
            [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{self.smtp_port}",
             "-c", "aiosmtpd.handlers.Mailbox", str(self.mail_dir)],
            cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_die_with_parent)
        log.close()

    def start_all(self, services=None) -> None:
        self.start_mail_sink()
        names = [name for service in (services or [None]) for name in self.instance_names(service)]
        for name in names:
            self.start(name)
        for name in names:
            self.wait_ready(name)

    def kill(self, service: str) -> None:
        """``kill -9``: no clean-up, no acks, as in a crash."""
        proc = self.processes.pop(service)
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    def stop(self, service: str, timeout: float = 20) -> None:
        proc = self.processes.pop(service, None)
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def stop_all(self, timeout: float = 20) -> None:
        # the edge first (its instances together), so nothing new comes in; then the rest together
        edge = self.instance_names("intake")
        for group in ([n for n in self.processes if n in edge], [n for n in self.processes if n not in edge]):
            procs = [self.processes[n] for n in group if self.processes[n].poll() is None]
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + timeout
            for proc in procs:
                try:
                    proc.wait(max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self.processes.clear()


def instance_count() -> int:
    """``PELUIT_INSTANCES``: how many processes of every service the harness and ``make run`` start."""
    return max(1, int(os.environ.get("PELUIT_INSTANCES", "1")))


def split_instance(name: str) -> tuple[str, int]:
    """``cases.1`` -> (``cases``, 1); ``cases`` -> (``cases``, 0)."""
    service, _, index = name.partition(".")
    return service, int(index or 0)


def instance_name(service: str, index: int) -> str:
    return service if index == 0 else f"{service}.{index}"


def pool_settings(service: str) -> dict:
    """The deployment files' worker and pool sizes of ``service`` (compose's, which Kubernetes repeats:
    ``tests/test_connection_budget.py``)."""
    import yaml

    env = yaml.safe_load(COMPOSE.read_text())["services"][service].get("environment", {})
    return {k: str(v) for k, v in env.items() if k in POOL_SETTINGS}
