"""A private, throwaway RabbitMQ node for tests and benchmarks that stop and
start the broker: the machine's shared node serves other test runs and is
never restarted.

The node runs under the caller's own user with everything in one temporary
folder: its HOME (so its Erlang cookie is its own, and ``rabbitmqctl`` here
uses the same), its database, logs, an empty plugin list (no management
listener on a port someone else has) and a configuration whose only listener
is a free loopback port. Nothing of the shared node's configuration is read.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

# Debian's /usr/sbin scripts switch to the rabbitmq user; the real ones live here
SCRIPT_DIRS = ("/usr/lib/rabbitmq/bin",)


class BrokerUnavailable(RuntimeError):
    """No private node could be started here (the reason says why)."""


def _script(name: str) -> str:
    for folder in SCRIPT_DIRS:
        if os.access(os.path.join(folder, name), os.X_OK):
            return os.path.join(folder, name)
    found = shutil.which(name)
    if not found:
        raise BrokerUnavailable(f"{name} is not installed")
    if os.path.basename(os.path.realpath(found)) == "rabbitmq-script-wrapper":
        # it would run the node as the rabbitmq user, with that user's cookie, not this node's
        raise BrokerUnavailable(f"{found} is a wrapper and its scripts are not in {', '.join(SCRIPT_DIRS)}")
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PrivateBroker:
    root: Path
    node: str
    port: int
    dist_port: int  # Erlang distribution (rabbitmqctl talks to the node over it)

    @property
    def amqp_uri(self) -> str:
        return f"pyamqp://guest:guest@127.0.0.1:{self.port}//"

    def ctl(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run([_script("rabbitmqctl"), "-q", "-n", self.node, *args], env=self._env(),
                              capture_output=True, text=True, timeout=timeout)

    def _check(self, *args: str) -> None:
        done = self.ctl(*args)
        if done.returncode:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)}: {done.stdout}{done.stderr}".strip())

    def stop_app(self) -> None:
        """The RabbitMQ application stops (every client is disconnected); the Erlang node stays."""
        self._check("stop_app")

    def start_app(self) -> None:
        """Starts the application again; returns once it accepts clients."""
        self._check("start_app")
        self._check("await_startup", "--timeout", "60")

    def _env(self) -> dict[str, str]:
        r = self.root
        return {**os.environ, "HOME": str(r / "home"), "RABBITMQ_NODENAME": self.node,
                "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1", "RABBITMQ_NODE_PORT": str(self.port),
                "RABBITMQ_DIST_PORT": str(self.dist_port),
                "RABBITMQ_CONF_ENV_FILE": str(r / "rabbitmq-env.conf"),
                "RABBITMQ_CONFIG_FILE": str(r / "rabbitmq.conf"),
                "RABBITMQ_ENABLED_PLUGINS_FILE": str(r / "enabled_plugins"),
                "RABBITMQ_MNESIA_BASE": str(r / "mnesia"), "RABBITMQ_LOG_BASE": str(r / "log"),
                "RABBITMQ_PID_FILE": str(r / "node.pid"), "ERL_EPMD_ADDRESS": "127.0.0.1"}

    def log_tail(self, lines: int = 20) -> str:
        logs = sorted((self.root / "log").glob("*.log"))
        return "\n".join(logs[0].read_text(errors="replace").splitlines()[-lines:]) if logs else "(no log)"


@contextlib.contextmanager
def private_broker() -> Iterator[PrivateBroker]:
    """Starts a node (a few seconds), yields it, then stops it and removes its files."""
    root = Path(tempfile.mkdtemp(prefix="peluit-broker-"))
    broker = PrivateBroker(root, f"peluit-test-{secrets.token_hex(4)}@localhost", _free_port(), _free_port())
    try:
        (root / "home").mkdir()
        (root / "rabbitmq-env.conf").write_text("")
        (root / "enabled_plugins").write_text("[].\n")
        (root / "rabbitmq.conf").write_text(f"listeners.tcp.local = 127.0.0.1:{broker.port}\n")
        started = subprocess.run([_script("rabbitmq-server"), "-detached"], env=broker._env(),
                                 capture_output=True, text=True, timeout=60)
        if started.returncode:
            raise BrokerUnavailable(f"rabbitmq-server did not start: {started.stderr.strip()}")
        deadline = time.monotonic() + 90
        while broker.ctl("await_startup", "--timeout", "60").returncode:
            if time.monotonic() > deadline:
                raise BrokerUnavailable(f"private node did not boot:\n{broker.log_tail()}")
            time.sleep(0.5)
        yield broker
    finally:
        with contextlib.suppress(Exception):
            if broker.ctl("stop", timeout=60).returncode and (root / "node.pid").exists():
                os.kill(int((root / "node.pid").read_text().strip()), 15)
        shutil.rmtree(root, ignore_errors=True)
