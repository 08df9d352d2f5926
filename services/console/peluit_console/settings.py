"""The console's settings, from the environment (docs/configuration.md):
where the APIs answer, the session's idle limit, the deadlines of calls, the
and the session key."""

from __future__ import annotations

from dataclasses import dataclass

from peluit_common.settings import ConfigError, env, env_float, env_int, production, secret_bytes


@dataclass(frozen=True)
class Settings:
    cases_url: str
    reporting_url: str
    intake_url: str
    session_key: bytes
    idle_seconds: int = 900
    call_seconds: float = 10.0
    download_seconds: float = 60.0
    secure_cookie: bool = False
    timezone: str = "Asia/Jakarta"

    @classmethod
    def from_env(cls) -> Settings:
        raw = secret_bytes("PELUIT_CONSOLE_SESSION_KEY_FILE", "console-session.key")
        try:
            key = bytes.fromhex(raw.decode())
        except ValueError:
            key = b""
        if len(key) != 32:
            raise ConfigError("PELUIT_CONSOLE_SESSION_KEY_FILE must hold 32 bytes as hex (run `make keys`)")
        return cls(
            cases_url=env("PELUIT_CASES_URL", "http://127.0.0.1:8001").rstrip("/"),
            reporting_url=env("PELUIT_REPORTING_URL", "http://127.0.0.1:8004").rstrip("/"),
            intake_url=env("PELUIT_INTAKE_URL", "http://127.0.0.1:8000").rstrip("/"),
            session_key=key,
            idle_seconds=env_int("PELUIT_CONSOLE_IDLE_SECONDS", 900),
            call_seconds=env_float("PELUIT_CONSOLE_CALL_SECONDS", 10.0),
            download_seconds=env_float("PELUIT_CONSOLE_DOWNLOAD_SECONDS", 60.0),
            secure_cookie=production(),
            timezone=env("PELUIT_TIMEZONE", "Asia/Jakarta"),
        )
