"""System-test harness: the five services as real ``nameko run`` processes on
their own databases (prefix ``pt<random>``), their own RabbitMQ vhost and
their own ports, with the broker's firehose tapped from the first message on.
Logs are kept under ``test-artifacts/`` for inspection."""

from __future__ import annotations

from pathlib import Path

import pytest

from peluit_local.testing import running_system


def pytest_collection_modifyitems(items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.system)


@pytest.fixture(scope="session")
def system():
    with running_system() as sys_:
        yield sys_
