"""nameko entry module of the identity vault: ``nameko run peluit_vault.service``.

No HTTP surface beyond ``/metrics``. Replies and logs never contain identity
or the reason a sealed box was refused.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging

from marshmallow import ValidationError
from nameko.extensions import DependencyProvider
from nameko.rpc import rpc
from prometheus_client import Counter

from peluit_common import green  # noqa: F401
from peluit_common.db import Database
from peluit_common.metrics import EntrypointMetrics, metrics_response
from peluit_common.settings import secret_bytes
from peluit_common.web import http
from peluit_contracts.reports import IdentitySchema, StoreIdentityCommand

from . import store
from .crypto import DecryptionError, unseal

log = logging.getLogger(__name__)

IDENTITIES_STORED = Counter("peluit_vault_identities_stored_total", "Identities stored (new)")
SEALED_REFUSED = Counter("peluit_vault_sealed_refused_total", "Sealed identities refused", ["reason"])


class VaultKeys(DependencyProvider):
    """Keys come from files or the environment, never from a database."""

    def setup(self):
        self.private_key = bytes.fromhex(secret_bytes("PELUIT_VAULT_PRIVATE_KEY_FILE", "vault-x25519.key").decode())
        self.kek = bytes.fromhex(secret_bytes("PELUIT_VAULT_KEK_FILE", "vault-kek.key").decode())
        if len(self.private_key) != 32 or len(self.kek) != 32:
            raise RuntimeError("vault keys must be 32 bytes (hex)")

    def get_dependency(self, worker_ctx):
        return self


class IdentityVault:
    name = "identity_vault"

    metrics = EntrypointMetrics()
    db = Database(migrate=store.migrate)
    keys = VaultKeys()

    @rpc
    def store_identity(self, command: dict) -> dict:
        """Unseal, validate, encrypt at rest; returns {"reporter_ref"} or {"error"}."""
        try:
            cmd = StoreIdentityCommand().load(command)
            sealed = base64.b64decode(cmd["sealed_identity"], validate=True)
        except (ValidationError, binascii.Error, ValueError, TypeError):
            SEALED_REFUSED.labels("command").inc()
            return {"error": "invalid_command"}
        try:
            plaintext = unseal(self.keys.private_key, sealed)
            IdentitySchema().load(json.loads(plaintext))
        except (DecryptionError, ValueError, ValidationError):
            SEALED_REFUSED.labels("sealed_identity").inc()
            return {"error": "invalid_sealed_identity"}
        with self.db.connection() as conn:
            reporter_ref = store.store_identity(conn, self.keys.kek, cmd["submission_id"], cmd["tenant"], plaintext)
        IDENTITIES_STORED.inc()
        return {"reporter_ref": reporter_ref}

    @http("GET", "/metrics")
    def metrics_endpoint(self, request):
        return metrics_response()
