"""nameko entry module of the identity vault: ``nameko run peluit_vault.service``.

No HTTP surface: metrics and health are on the operations port. Replies and logs never contain identity
or the reason a sealed box was refused.
"""

from __future__ import annotations

import functools
import logging
from datetime import datetime, timezone

from marshmallow import ValidationError
from nameko.extensions import DependencyProvider
from nameko.rpc import RpcProxy
from nameko.timer import timer
from prometheus_client import Counter

from peluit_common import green  # noqa: F401
from peluit_common.db import Database
from peluit_common.operations import Operations
from peluit_common.amqp import reliable_consume
from peluit_common.rpc import call, rpc
from peluit_common.settings import env, env_float, secret_bytes
from peluit_contracts.events import TERMINAL_STATUSES, load_envelope
from peluit_contracts.relay import RelayToReporterCommand
from peluit_contracts.topology import VAULT_CASE_EVENTS

from . import calls, chain, evidence, identities, relay, retention
from .disclosure import rpc as disclosure
from .keyring import Keyring
from .relay import SmtpSettings
from .schema import migrate as migrate_records


def migrate(conn) -> None:
    migrate_records(conn)
    calls.migrate(conn)  # vault-call tokens taken and refused

log = logging.getLogger(__name__)

RELAYED = Counter("peluit_vault_relayed_total", "Reporter notices relayed", ["outcome"])
RPC_TIMEOUT = env_float("PELUIT_RPC_TIMEOUT", 10.0)
SHREDDED = Counter("peluit_vault_identities_shredded_total", "Identities crypto-shredded after retention")


def disclosure_rpc(handler):
    """An RPC whose whole work is ``handler(disclosures, auth, command)`` (disclosure/rpc.py)."""

    @rpc
    @functools.wraps(handler)
    def entry(self, command: dict) -> dict:
        return handler(self.disclosures, self.auth, command)

    return entry


class VaultKeys(DependencyProvider):
    """Keys come from files or the environment, never from a database. The
    KEK file may hold several keys during a rotation (first = current)."""

    def setup(self):
        self.private_key = bytes.fromhex(secret_bytes("PELUIT_VAULT_PRIVATE_KEY_FILE", "vault-x25519.key").decode())
        if len(self.private_key) != 32:
            raise RuntimeError("the vault's private key must be 32 bytes (hex)")
        self.keyring = Keyring.load()
        self.smtp = SmtpSettings.from_env()
        self.whatsapp = relay.whatsapp_outbound()  # for reporters who left only a phone number
        self.whatsapp_language = env("PELUIT_VAULT_WHATSAPP_LANGUAGE", "id")

    def get_dependency(self, worker_ctx):
        return self


class IdentityVault:
    name = "identity_vault"

    ops = Operations()
    db = Database(migrate=migrate)
    keys = VaultKeys()
    auth = calls.VaultCalls()  # no officer token reaches the vault: cases signs one call at a time
    disclosures = disclosure.DisclosureLog()
    cases = RpcProxy("cases", expiration=RPC_TIMEOUT)  # only to confirm that a case ended
    checkpoints = chain.checkpoints()  # signs the heads of the vault's chained logs (chain.py)

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
    # Each command carries a vault-call token cases signed for it (calls.py). No
    # reply holds an identity, except view's: sealed to the requester's key.

    @rpc
    def request_disclosure(self, command: dict) -> dict:
        return disclosure.request_disclosure(self.disclosures, self.auth, command, original_case=self._original_case,
                                             reporter_case=self._reporter_case)

    @rpc
    def view_disclosure(self, command: dict) -> dict:
        return disclosure.view_disclosure(self.disclosures, self.auth, command, self._read_identity,
                                          read_original=self._read_original,
                                          read_original_name=self._read_original_name)

    approve_disclosure = disclosure_rpc(disclosure.approve_disclosure)
    refuse_disclosure = disclosure_rpc(disclosure.refuse_disclosure)
    disclosure_events = disclosure_rpc(disclosure.disclosure_events)
    list_disclosures = disclosure_rpc(disclosure.list_disclosures)

    def _read_identity(self, reporter_ref: str) -> bytes | None:
        with self.db.connection() as conn:
            return identities.read_identity(conn, self.keys.keyring, reporter_ref)

    def _reporter_case(self, reporter_ref: str) -> str | None:
        with self.db.connection() as conn:
            return identities.case_of(conn, reporter_ref)

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
                                                  cmd["template"], cmd["idempotency_key"], self.keys.whatsapp,
                                                  self.keys.whatsapp_language)
            except OSError as exc:  # SMTP or the Cloud API unreachable: the caller retries with back-off
                log.warning("relay delivery failed: %s", type(exc).__name__)
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
        """A case that ended starts its retention clock, once cases confirms that it
        ended (the event alone is not trusted); unanswered, the event is retried."""
        envelope = load_envelope(body)
        data = envelope["data"]
        if envelope["type"] == "case.status_changed" and data["status"] in TERMINAL_STATUSES:
            confirmed = call(self.cases.case_state, str(data["case_id"]), timeout=RPC_TIMEOUT)
            with self.db.connection() as conn:
                retention.record_confirmed_closure(conn, data["case_id"], confirmed, data["status"])

    @timer(interval=env_float("PELUIT_VAULT_SHRED_INTERVAL", 3600))
    def shred_expired(self):
        with self.db.connection() as conn:
            shredded = retention.shred_expired(conn, datetime.now(timezone.utc))
        if shredded["evidence_original"]:
            log.info("crypto-shredded %s evidence originals past retention", shredded["evidence_original"])
        if shredded["identity"]:
            SHREDDED.inc(shredded["identity"])
            log.info("crypto-shredded %s identities past retention", shredded["identity"])

    @timer(interval=env_float("PELUIT_CHECKPOINT_INTERVAL", 60))
    def checkpoint(self):
        """Sign the head of each of the vault's chained logs that moved (chain.py)."""
        self.checkpoints.run(self.db)
