"""The e-mail channel's settings (``PELUIT_MAIL_*``, ``PELUIT_INTAKE_SMTP_*``) and
its addresses: only a WBS address that names a tenant is accepted
(``wbs+<tenant>@<domain>`` or an explicit ``PELUIT_MAIL_ADDRESSES`` entry), so
the listener is never a relay. See docs/channels.md (E-mail).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from peluit_common.settings import ConfigError, env, env_float, env_int
from peluit_contracts.reports import TENANT_CODE


def _address_map(raw: str) -> dict[str, str]:
    out = {}
    for item in raw.split(","):
        if not item.strip():
            continue
        address, sep, tenant = item.partition("=")
        address, tenant = address.strip().lower(), tenant.strip()
        if not sep or "@" not in address or not re.fullmatch(TENANT_CODE, tenant):
            raise ConfigError("PELUIT_MAIL_ADDRESSES must look like 'wbs@example.go.id=35.73,...'")
        out[address] = tenant
    return out


def _listen_address(raw: str) -> tuple[str, int] | None:
    if raw.lower() in ("", "off", "none"):
        return None
    host, sep, port = raw.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError("PELUIT_MAIL_LISTEN must be host:port (or 'off')")
    return host or "127.0.0.1", int(port)


@dataclass(frozen=True)
class MailSettings:
    listen: tuple[str, int] | None = None
    hostname: str = "peluit.invalid"
    domains: frozenset = frozenset({"peluit.invalid"})
    local_part: str = "wbs"
    addresses: dict = field(default_factory=dict)
    max_bytes: int = 10 * 1024 * 1024
    max_connections: int = 20
    timeout: float = 120.0
    session_seconds: float = 900.0
    reply_host: str = "127.0.0.1"
    reply_port: int = 8025
    reply_from: str = "wbs-noreply@peluit.invalid"
    reply_timeout: float = 15.0
    portal_url: str | None = None

    @classmethod
    def from_env(cls) -> "MailSettings":
        return cls(
            listen=_listen_address(env("PELUIT_MAIL_LISTEN", "off")),
            hostname=env("PELUIT_MAIL_HOSTNAME", "peluit.invalid"),
            domains=frozenset(d.strip().lower() for d in env("PELUIT_MAIL_DOMAINS", "peluit.invalid").split(",")
                              if d.strip()),
            local_part=env("PELUIT_MAIL_LOCAL_PART", "wbs").lower(),
            addresses=_address_map(env("PELUIT_MAIL_ADDRESSES", "")),
            max_bytes=env_int("PELUIT_MAIL_MAX_BYTES", 10 * 1024 * 1024),
            max_connections=env_int("PELUIT_MAIL_MAX_CONNECTIONS", 20),
            timeout=env_float("PELUIT_MAIL_TIMEOUT", 120.0),
            session_seconds=env_float("PELUIT_MAIL_SESSION_SECONDS", 900.0),
            reply_host=env("PELUIT_INTAKE_SMTP_HOST", "127.0.0.1"),
            reply_port=env_int("PELUIT_INTAKE_SMTP_PORT", 8025),
            reply_from=env("PELUIT_INTAKE_SMTP_FROM", "wbs-noreply@peluit.invalid"),
            portal_url=env("PELUIT_PORTAL_URL", "") or None,
        )


def resolve_tenant(address: str, settings: MailSettings) -> str | None:
    """The tenant a WBS address stands for, or None (not ours: refuse)."""
    address = address.strip().lower()
    if address in settings.addresses:
        return settings.addresses[address]
    local, sep, domain = address.rpartition("@")
    if not sep or domain not in settings.domains:
        return None
    base, plus, tag = local.partition("+")
    if base != settings.local_part or not plus or not re.fullmatch(TENANT_CODE, tag):
        return None
    return tag
