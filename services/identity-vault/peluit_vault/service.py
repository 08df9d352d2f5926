"""nameko entry module of the identity vault: ``nameko run peluit_vault.service``.

No HTTP surface: metrics and health are on the operations port. Replies and logs never contain identity
or the reason a sealed box was refused.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from marshmallow import ValidationError
from nameko.extensions import DependencyProvider
from nameko.rpc import rpc
from nameko.timer import timer
from prometheus_client import Counter

from peluit_common import green  # noqa: F401
from peluit_common.auth import OfficerAuth
from peluit_common.db import Database
from peluit_common.operations import Operations
from peluit_common.amqp import reliable_consume
from peluit_common.settings import env_float, secret_bytes
from peluit_contracts.events import TERMINAL_STATUSES, load_envelope
from peluit_contracts.relay import RelayToReporterCommand
from peluit_contracts.topology import VAULT_CASE_EVENTS

from . import evidence, identities, relay, retention
from .disclosure import rpc as disclosure
from .keyring import Keyring
from .relay import SmtpSettings
from .schema import migrate

log = logging.getLogger(__name__)

RELAYED = Counter("peluit_vault_relayed_total", "Reporter notices relayed", ["outcome"])
SHREDDED = Counter("peluit_vault_identities_shredded_total", "Identities crypto-shredded after retention")


class VaultKeys(DependencyProvider):
    """Keys come from files or the environment, never from a database. The
    KEK file may hold several keys during a rotation (first = current)."""

    def setup(self):
        self.private_key = bytes.fromhex(secret_bytes("PELUIT_VAULT_PRIVATE_KEY_FILE", "vault-x25519.key").decode())
        if len(self.private_key) != 32:
            raise RuntimeError("the vault's private key must be 32 bytes (hex)")
        self.keyring = Keyring.load()
        self.smtp = SmtpSettings.from_env()

    def get_dependency(self, worker_ctx):
        return self


class IdentityVault:
    name = "identity_vault"

    ops = Operations()
    db = Database(migrate=migrate)
    keys = VaultKeys()
    auth = OfficerAuth()
    disclosures = disclosure.DisclosureLog()

    @rpc
    def store_identity(self, command: dict) -> dict:
        """A reporter's identity, sealed to this vault at intake: unseal, validate,
        encrypt at rest (identities.py); returns {"reporter_ref"} or {"error"}."""
        with self.db.connection() as conn:
            return identities.accept(conn, self.keys.keyring, self.keys.private_key, command)

    @rpc
    def store_evidence_original(self, command: dict) -> dict:
        """An attachment's untouched original, sealed to this vault at intake:
        unseal, encrypt at rest (evidence.py); returns {"original_ref"} or {"error"}."""
        with self.db.connection() as conn:
            return evidence.accept(conn, self.keys.keyring, self.keys.private_key, command)

    # -- disclosure under dual control (see disclosure/) --------------------------
    # Each command carries the officer's own token, verified here. No reply holds
    # an identity, except view's: sealed to the requester's key.

    @rpc
    def request_disclosure(self, command: dict) -> dict:
        return disclosure.request_disclosure(self.disclosures, self.auth, command, original_case=self._original_case)

    @rpc
    def approve_disclosure(self, command: dict) -> dict:
        return disclosure.approve_disclosure(self.disclosures, self.auth, command)

    @rpc
    def refuse_disclosure(self, command: dict) -> dict:
        return disclosure.refuse_disclosure(self.disclosures, self.auth, command)

    @rpc
    def view_disclosure(self, command: dict) -> dict:
        return disclosure.view_disclosure(self.disclosures, self.auth, command, self._read_identity,
                                          read_original=self._read_original,
                                          read_original_name=self._read_original_name)

    @rpc
    def disclosure_events(self, command: dict) -> dict:
        return disclosure.disclosure_events(self.disclosures, self.auth, command)

    @rpc
    def list_disclosures(self, command: dict) -> dict:
        return disclosure.list_disclosures(self.disclosures, self.auth, command)

    def _read_identity(self, reporter_ref: str) -> bytes | None:
        with self.db.connection() as conn:
            return identities.read_identity(conn, self.keys.keyring, reporter_ref)

    def _original_case(self, original_ref: str) -> str | None:
        with self.db.connection() as conn:
            return evidence.original_case(conn, original_ref)

    def _read_original(self, original_ref: str) -> bytes | None:
        with self.db.connection() as conn:
            found = evidence.read_original(conn, self.keys.keyring, original_ref)
        return found[2] if found else None

    def _read_original_name(self, original_ref: str) -> str | None:
        with self.db.connection() as conn:
            found = evidence.read_original_named(conn, self.keys.keyring, original_ref)
        return found[3] if found else None

    # -- contact relay and retention ------------------------------------------

    @rpc
    def relay_to_reporter(self, command: dict) -> dict:
        """Tell the reporter of a case that there is news, through the contact
        only the vault knows. Answers "sent", "no_contact_channel" or "erased"."""
        try:
            cmd = RelayToReporterCommand().load(command)
        except ValidationError:
            return {"error": "invalid_command"}
        with self.db.connection() as conn:
            try:
                outcome = relay.relay_to_reporter(conn, self.keys.keyring, self.keys.smtp, str(cmd["case_id"]),
                                                  cmd["template"], cmd["idempotency_key"])
            except OSError as exc:  # SMTP unreachable: the caller retries with back-off
                log.warning("smtp delivery failed: %s", type(exc).__name__)
                return {"error": "delivery_failed"}
        RELAYED.labels(outcome).inc()
        return {"result": outcome}

    @rpc
    def retention_policy(self, command: dict) -> dict:
        """A tenant's retention in years, for one of its administrators (retention.policy_rpc)."""
        with self.db.connection() as conn:
            return retention.policy_rpc(conn, self.auth, command, write=False)

    @rpc
    def set_retention(self, command: dict) -> dict:
        """Set it, by the rule the command line applies (retention.set_retention)."""
        with self.db.connection() as conn:
            return retention.policy_rpc(conn, self.auth, command, write=True)

    @reliable_consume(VAULT_CASE_EVENTS)
    def on_case_status(self, body):
        """A case that ended starts its retention clock."""
        envelope = load_envelope(body)
        data = envelope["data"]
        if envelope["type"] == "case.status_changed" and data["status"] in TERMINAL_STATUSES:
            with self.db.connection() as conn:
                retention.record_case_closed(conn, data["case_id"], data["changed_at"])

    @timer(interval=env_float("PELUIT_VAULT_SHRED_INTERVAL", 3600))
    def shred_expired(self):
        with self.db.connection() as conn:
            shredded = retention.shred_expired(conn, datetime.now(timezone.utc))
        if shredded["evidence_original"]:
            log.info("crypto-shredded %s evidence originals past retention", shredded["evidence_original"])
        if shredded["identity"]:
            SHREDDED.inc(shredded["identity"])
            log.info("crypto-shredded %s identities past retention", shredded["identity"])
