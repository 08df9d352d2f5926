"""One RabbitMQ user per service, with least-privilege permissions on its vhost.

Each service's user may configure, write and read only the queues and
exchanges it needs (RabbitMQ's three regular expressions per vhost), and on
the shared topic exchanges only the routing keys it needs (topic permissions):
on ``nameko-rpc`` a client may publish only the methods it calls and bind
only its own reply queue, so intake can neither call ``request_disclosure``
nor bind a queue that would copy another service's RPC traffic; only cases may
publish on ``peluit.domain``. The names follow nameko 2.14 (``nameko.rpc``):
RPC queue ``rpc-<service>`` bound with ``<service>.*`` (and its parking queue
``rpc-<service>.dead`` and its exchange, ``peluit_common.rpc``), reply queue
``rpc.reply-<service>-<uuid>`` bound with ``<uuid>``, replies published to
``nameko-rpc`` with the caller's ``<uuid>``; and ``peluit_common.amqp``:
consumer queues ``<queue>``, ``<queue>.backoff.<n>ms``, ``<queue>.dead`` and
their direct exchange ``<queue>.retry``. docs/operations.md lists the result.

Provisioning writes it all, with the vhost and the shared topology (the two
topic exchanges, every consumer queue and its bindings), as one RabbitMQ
definitions document: imported with ``rabbitmqctl import_definitions`` on the
broker's own host, or posted to the management HTTP API
(``PELUIT_RABBITMQ_ADMIN_URL``) where the plugin runs.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
import subprocess
import urllib.parse
import urllib.request
from dataclasses import dataclass

from peluit_contracts.inbound import CASES_INBOUND, INBOUND_EXCHANGE
from peluit_contracts.integration import STREAM, stream_arguments
from peluit_contracts.topology import (
    EXCHANGES,
    INTEGRATION_EXCHANGE,
    NOTIFICATIONS_CASE_EVENTS,
    RELIABLE_QUEUES,
    VAULT_CASE_EVENTS,
    ReliableQueue,
)

RPC_EXCHANGE = "nameko-rpc"  # nameko's default (RPC_EXCHANGE_CONFIG_KEY unset)
DOMAIN_EXCHANGE = next(name for name in EXCHANGES if name != INTEGRATION_EXCHANGE)
UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
NOTHING = "^$"
SIMPLE_NAME = re.compile(r"[A-Za-z0-9._-]+")


@dataclass(frozen=True)
class BrokerAccess:
    """What one service does on the broker; its permissions follow from it."""

    service: str  # deployment name (folder under services/, key folder)
    nameko_name: str  # the nameko service name: its RPC and reply queue names
    serves_rpc: bool = False
    calls: tuple[str, ...] = ()  # "<nameko service>.<method>" it calls; "<service>.*": any method
    consumes: tuple[ReliableQueue, ...] = ()
    publishes: tuple[str, ...] = ()  # topic exchanges it publishes on (and declares)

    def queues(self) -> list[str]:
        # the request queue, and the queue and exchange where a poison request is parked (peluit_common.rpc)
        out = [rf"rpc-{re.escape(self.nameko_name)}(\.dead)?"] if self.serves_rpc else []
        if self.calls:
            out.append(rf"rpc\.reply-{re.escape(self.nameko_name)}-{UUID}")
        out += [rf"{re.escape(spec.name)}(\.backoff\.[0-9]+ms|\.retry|\.dead)?" for spec in self.consumes]
        return out

    def permissions(self) -> dict[str, str]:
        """configure: what it declares; write: what it publishes to or binds; read: what it consumes or binds from."""
        own = [re.escape(RPC_EXCHANGE), *self.queues()]
        published = [re.escape(name) for name in self.publishes]
        bound_from = sorted({re.escape(spec.exchange) for spec in self.consumes})
        return {"configure": _any_of(own + published), "write": _any_of(own + published),
                "read": _any_of(own + bound_from)}

    def topic_permissions(self) -> dict[str, dict[str, str]]:
        """exchange -> {write: routing keys it may publish, read: binding keys it may bind with}."""
        rpc_write = [_method(call) for call in self.calls] + ([UUID] if self.serves_rpc else [])
        rpc_read = ([re.escape(f"{self.nameko_name}.*")] if self.serves_rpc else []) + ([UUID] if self.calls else [])
        out = {RPC_EXCHANGE: {"write": _any_of(rpc_write), "read": _any_of(rpc_read)}}
        for name in EXCHANGES:
            keys = [re.escape(rk) for spec in self.consumes if spec.exchange == name for rk in spec.bindings]
            out[name] = {"write": ".*" if name in self.publishes else NOTHING, "read": _any_of(keys)}
        return out


def _method(call: str) -> str:
    service, method = call.split(".")
    return re.escape(service) + r"\." + ("[a-z_]+" if method == "*" else re.escape(method))


def _any_of(patterns: list[str]) -> str:
    return f"^({'|'.join(patterns)})$" if patterns else NOTHING


SESSION = "cases.officer_session"  # every service that checks officer tokens asks cases whether the session lives
ACCESS = (
    # the public edge parses untrusted files: it reaches exactly what a report, a follow-up and the portal need
    BrokerAccess("intake", "intake", calls=(
        "cases.catalogue", "cases.register_report", "cases.reporter_view", "cases.reporter_message",
        "cases.evidence_target", "cases.add_evidence", SESSION,
        "identity_vault.store_identity", "identity_vault.store_evidence_original", "reporting.public_stats",
        "cases.partner_check")),
    # cases forwards every officer command of the vault (disclosure, retention), so any vault method
    # ... and each officer's notification list (notifications serves it)
    BrokerAccess("cases", "cases", serves_rpc=True, calls=("identity_vault.*", "notifications.officer_inbox",
                                                           "notifications.mark_read"),
                 publishes=(DOMAIN_EXCHANGE, INTEGRATION_EXCHANGE), consumes=(CASES_INBOUND,)),
    BrokerAccess("identity-vault", "identity_vault", serves_rpc=True, calls=("cases.case_state",),
                 consumes=(VAULT_CASE_EVENTS,)),
    BrokerAccess("notifications", "notifications", serves_rpc=True,
                 calls=("identity_vault.relay_to_reporter", "cases.notification_recipients"),
                 consumes=(NOTIFICATIONS_CASE_EVENTS,)),
    BrokerAccess("reporting", "reporting", serves_rpc=True,
                 calls=("cases.domain_events", "cases.catalogue", SESSION)),
)
BY_SERVICE = {a.service: a for a in ACCESS}


def user_name(prefix: str, service: str) -> str:
    return f"{prefix}-{service}"


def password_hash(password: str) -> str:
    """RabbitMQ's ``rabbit_password_hashing_sha256``: base64(salt + sha256(salt + password))."""
    salt = secrets.token_bytes(4)
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def definitions(prefix: str, vhost: str, passwords: dict[str, str], admin_user: str | None = None) -> dict:
    """The vhost, one user per service with its permissions, ``admin_user`` (if
    given) with all rights on the vhost, and the shared topology."""
    users, permissions, topics = [], [], []
    for access in ACCESS:
        user = user_name(prefix, access.service)
        users.append({"name": user, "password_hash": password_hash(passwords[access.service]),
                      "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": []})
        permissions.append({"user": user, "vhost": vhost, **access.permissions()})
        topics += [{"user": user, "vhost": vhost, "exchange": name, **perms}
                   for name, perms in access.topic_permissions().items()]
    if admin_user:
        permissions.append({"user": admin_user, "vhost": vhost, "configure": ".*", "write": ".*", "read": ".*"})
    exchanges = [{"name": name, "vhost": vhost, "type": kind, "durable": True, "auto_delete": False,
                  "internal": False, "arguments": {}}
                 for name, kind in {**EXCHANGES, INBOUND_EXCHANGE: "topic"}.items()]
    # the integration stream, bound to every key of the integration exchange (peluit_common.streams)
    queues = [{"name": STREAM, "vhost": vhost, "durable": True, "auto_delete": False, "arguments": stream_arguments()}]
    bindings = [{"source": INTEGRATION_EXCHANGE, "vhost": vhost, "destination": STREAM, "destination_type": "queue",
                 "routing_key": "#", "arguments": {}}]
    for spec in RELIABLE_QUEUES + (CASES_INBOUND,):  # declared before any service starts: nothing goes into the void
        queues.append({"name": spec.name, "vhost": vhost, "durable": True, "auto_delete": False,
                       "arguments": dict(spec.arguments)})  # as peluit_common.amqp.main_queue declares it
        bindings += [{"source": spec.exchange, "vhost": vhost, "destination": spec.name, "destination_type": "queue",
                      "routing_key": rk, "arguments": {}} for rk in spec.bindings]
    return {"vhosts": [{"name": vhost}], "users": users, "permissions": permissions, "topic_permissions": topics,
            "exchanges": exchanges, "queues": queues, "bindings": bindings}


def apply(document: dict, admin_url: str | None = None) -> None:
    """Import ``document``: over the management API when ``admin_url``
    (``http://user:password@host:15672``) is given, else with ``rabbitmqctl``."""
    admin_url = admin_url if admin_url is not None else os.environ.get("PELUIT_RABBITMQ_ADMIN_URL")
    body = json.dumps(document)
    if admin_url:
        _http(admin_url, "POST", "/api/definitions", body)
        return
    # on standard input: no file the broker's own user would have to read (password hashes, never passwords)
    done = subprocess.run(["rabbitmqctl", "-q", "import_definitions", "--format", "json"], input=body,
                          capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"rabbitmqctl import_definitions failed: {done.stdout}{done.stderr}".strip())


def remove(prefix: str, vhost: str, admin_url: str | None = None) -> None:
    """Delete the vhost and the services' users (test sessions), all at once."""
    if vhost == "/":
        raise ValueError("the default vhost is never removed")
    admin_url = admin_url if admin_url is not None else os.environ.get("PELUIT_RABBITMQ_ADMIN_URL")
    users = [user_name(prefix, a.service) for a in ACCESS]
    if admin_url:
        _http(admin_url, "POST", "/api/users/bulk-delete", json.dumps({"users": users}))
        _http(admin_url, "DELETE", "/api/vhosts/" + urllib.parse.quote(vhost, safe=""), None)
        return
    if all(SIMPLE_NAME.fullmatch(name) for name in (vhost, *users)):
        # one Erlang VM instead of six (seconds per test session on a busy machine); internal API, so a fallback
        binaries = ", ".join(f'<<"{u}">>' for u in users)
        script = (f'A = <<"peluit-harness">>, [catch rabbit_auth_backend_internal:delete_user(U, A) || U <- '
                  f'[{binaries}]], catch rabbit_vhost:delete(<<"{vhost}">>, A), ok.')
        if subprocess.run(["rabbitmqctl", "-q", "eval", script], capture_output=True).returncode == 0:
            return
    running = [subprocess.Popen(["rabbitmqctl", "-q", *argv], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
               for argv in (["delete_vhost", vhost], *(["delete_user", u] for u in users))]
    for proc in running:
        proc.wait()


def _http(admin_url: str, method: str, path: str, body: str | None) -> None:
    parsed = urllib.parse.urlsplit(admin_url)
    base = parsed._replace(netloc=parsed.hostname + (f":{parsed.port}" if parsed.port else "")).geturl().rstrip("/")
    request = urllib.request.Request(base + path, data=body.encode() if body is not None else None, method=method,
                                     headers={"Content-Type": "application/json"})
    credentials = f"{urllib.parse.unquote(parsed.username or '')}:{urllib.parse.unquote(parsed.password or '')}"
    request.add_header("Authorization", "Basic " + base64.b64encode(credentials.encode()).decode())
    with urllib.request.urlopen(request, timeout=30):
        pass
