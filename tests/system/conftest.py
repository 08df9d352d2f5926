"""System-test harness: the five services as real ``nameko run`` processes on
their own databases (prefix ``pt<random>``), their own RabbitMQ vhost and
their own ports, with the broker's firehose tapped from the first message on.
Logs are kept under ``test-artifacts/`` for inspection."""

from __future__ import annotations

import contextlib
import os
import random
import secrets
import shutil
import socket
from pathlib import Path

import pytest

from peluit_local import bootstrap
from peluit_local.system import REPO, System
from peluit_local.testing import Tap


def pytest_collection_modifyitems(items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.system)


def _free_base_port() -> int:
    for _ in range(100):
        base = random.randrange(20000, 29990, 10)
        try:
            for offset in range(5):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", base + offset))
            return base
        except OSError:
            continue
    raise RuntimeError("no free port range")


@contextlib.contextmanager
def running_system(services=None):
    """A fresh Peluit: own databases, vhost (firehose tapped), ports and keys."""
    tag = secrets.token_hex(4)
    artifacts = REPO / "test-artifacts" / f"system-{tag}"
    sys_ = System(
        prefix=f"pt{tag}", vhost=f"peluit-test-{tag}", base_port=_free_base_port(),
        keys_dir=artifacts / "keys", log_dir=artifacts / "logs",
        extra_env={"PELUIT_RETRY_DELAYS_MS": "200,500", "PELUIT_RPC_TIMEOUT": "5",
                   "PELUIT_STATUS_MIN_SECONDS": "0.3"},
    )
    sys_.provision()
    bootstrap.rabbitmqctl("trace_on", "-p", sys_.vhost)
    tap = Tap(sys_.amqp_uri)
    sys_.tap = tap
    sys_.admin_command("cases", "-m", "peluit_cases.admin", "seed-demo")
    try:
        sys_.start_all(services)
        yield sys_
    finally:
        sys_.stop_all()
        tap.close()
        bootstrap.rabbitmqctl("trace_off", "-p", sys_.vhost)
        bootstrap.delete_vhost(sys_.vhost)
        bootstrap.drop_databases(sys_.prefix)
        shutil.rmtree(artifacts / "keys", ignore_errors=True)
        if os.environ.get("PELUIT_KEEP_ARTIFACTS") != "1" and not os.environ.get("CI"):
            shutil.rmtree(artifacts, ignore_errors=True)


@pytest.fixture(scope="session")
def system():
    with running_system() as sys_:
        yield sys_
