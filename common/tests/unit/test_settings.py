"""A default that names this machine is for development only."""

from __future__ import annotations

import pytest

from peluit_common.settings import ConfigError, env, loopback, migrate_at_start


@pytest.mark.parametrize("default,local", [
    ("127.0.0.1", True), ("127.0.0.1:9001", True), ("http://127.0.0.1:8001", True), ("localhost", True),
    ("pyamqp://guest:guest@127.0.0.1:5672/", True), ("0.0.0.0:8000", False), ("peluit.invalid", False),
    ("wbs@localhost.example.id", False), ("https://graph.facebook.com/v21.0", False), ("10", False),
])
def test_loopback_defaults_are_recognised(default, local):
    assert loopback(default) is local


def test_production_refuses_a_loopback_default_and_names_the_variable(monkeypatch):
    monkeypatch.delenv("PELUIT_TEST_HOST", raising=False)
    monkeypatch.setenv("PELUIT_ENV", "development")
    assert env("PELUIT_TEST_HOST", "127.0.0.1") == "127.0.0.1"
    monkeypatch.setenv("PELUIT_ENV", "production")
    with pytest.raises(ConfigError, match="PELUIT_TEST_HOST"):
        env("PELUIT_TEST_HOST", "127.0.0.1")
    assert env("PELUIT_TEST_TIMEZONE", "Asia/Jakarta") == "Asia/Jakarta"  # other defaults stand
    monkeypatch.setenv("PELUIT_TEST_HOST", "smtp.example.go.id")
    assert env("PELUIT_TEST_HOST", "127.0.0.1") == "smtp.example.go.id"


def test_migration_at_start_is_on_unless_switched_off(monkeypatch):
    monkeypatch.delenv("PELUIT_MIGRATE_AT_START", raising=False)
    assert migrate_at_start()
    monkeypatch.setenv("PELUIT_MIGRATE_AT_START", "0")
    assert not migrate_at_start()
