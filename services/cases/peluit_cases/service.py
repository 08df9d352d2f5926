"""nameko entry module of the cases service: ``nameko run peluit_cases.service``.

Thin adapter: RPC/HTTP/timer entrypoints translate to the application.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone

import eventlet
from marshmallow import ValidationError
from nameko.constants import AMQP_URI_CONFIG_KEY
from nameko.extensions import DependencyProvider
from nameko.rpc import RpcProxy
from nameko.timer import timer

from peluit_common import green  # noqa: F401  (psycopg waits through the hub)
from peluit_common.amqp import ConfirmedPublisher, declare_exchanges
from peluit_common.auth import OfficerAuth, TokenIssuer, load_signing_key
from peluit_common.db import Database
from peluit_common import chain as shared_chain
from peluit_common.eventstore import EventStoreApp, eventsourcing_env
from peluit_common.inbound import inbound_consume
from peluit_common.operations import Operations
from peluit_common.rpc import call, rpc  # rpc drops a request with a forged reply address
from peluit_common.settings import env, env_float, secret_bytes
from peluit_common.vault_call import load_signer
from peluit_common.web import http, json_response, read_json
from peluit_contracts import disclosure as disclosure_contract
from peluit_contracts import officer_api as api_contract
from peluit_contracts import redaction as redaction_contract
from peluit_contracts.i18n import bilingual_errors
from peluit_contracts.inbound import CASES_INBOUND
from peluit_contracts.reports import STORE_IDENTITY_VERSION, RegisterReportCommand

from . import access, accounts_api, case_index, catalogue, disclosure_api, envelope_log, evidence, officers, scheduler
from . import audit, chain  # tamper evidence and auditor replay
from . import checkpoint_stream, inbound, partners  # the stream's checkpoints; partner systems
from . import desk  # the officers' desk: work queue, case page, forms
from . import notify_api, notify_directory  # whom notifications tells, and their choices
from . import evidence_redaction, redaction_api  # masking passages and copies, each original sealed to the vault
from . import retention  # case content ends with its tenant's retention period
from .access import Access, Actor, PgDirectory
from .application import CasesApplication
from .commands import OfficerCommands, command_from
from .domain import DomainError
from .officer_api import (
    bundle_response,
    evidence_response,
    expected_version,
    load,
    officer_endpoint,
    officer_route,
    stale_response,
)
from .openapi import OPENAPI
from .relay import relay_once
from .vault import VaultClient


def migrate(conn) -> None:
    catalogue.migrate(conn)
    checkpoint_stream.migrate(conn)
    partners.migrate(conn)
    officers.migrate(conn)
    access.migrate(conn)
    case_index.migrate(conn)
    envelope_log.migrate(conn)
    evidence.migrate(conn)
    disclosure_api.migrate(conn)
    redaction_api.migrate(conn)
    notify_directory.migrate(conn)
    chain.migrate(conn)  # checkpoint tables; the chain trigger once the event table exists (CasesApp)

log = logging.getLogger(__name__)

RPC_TIMEOUT = env_float("PELUIT_RPC_TIMEOUT", 10.0)
REGISTER_REPORT = RegisterReportCommand()  # one instance: making one per call cost more than the load
COMMAND_NAMES = ", ".join(f"'{name}'" for name in api_contract.COMMANDS)  # werkzeug's any() converter


class CasesApp(EventStoreApp):
    def open(self, create_tables: bool) -> CasesApplication:
        return CasesApplication(env=eventsourcing_env(create_tables), timezone=env("PELUIT_TIMEZONE", "Asia/Jakarta"))

    def after_tables(self) -> None:
        shared_chain.install(chain.migrate)  # the event table exists now: hash-chain it before the first insert

    def setup(self):
        super().setup()
        # the content KEK file, read now: a missing one stops the start, not a request (its id only is logged)
        log.info("content KEK", extra={"kek_id": self.app.mapper.keys.keyring.current_id})


class Relay(DependencyProvider):
    """Publisher for the relay; declares the exchanges it publishes on. The
    consumer queues are provisioned (peluit_local.broker), and an event no queue
    takes is refused (mandatory), not dropped: the relay tries it again."""

    def setup(self):
        uri = self.container.config[AMQP_URI_CONFIG_KEY]
        declare_exchanges(uri)
        self.publisher = ConfirmedPublisher(uri)

    def get_dependency(self, worker_ctx):
        return self.publisher


class OfficerKeys(DependencyProvider):
    """Signs officer tokens and vault calls (only cases holds these keys) and
    keeps the TOTP secret key; all from files, never from the database."""

    def setup(self):
        self.issuer = TokenIssuer(load_signing_key())
        self.vault_calls = load_signer()
        self.totp_key = bytes.fromhex(secret_bytes("PELUIT_OFFICER_TOTP_KEY_FILE", "officer-totp.key").decode())
        # public: cases seals redacted passages to the vault (it holds no key that opens them)
        self.vault_public_key = bytes.fromhex(secret_bytes("PELUIT_VAULT_PUBLIC_KEY_FILE", "vault-x25519.pub").decode())

    def get_dependency(self, worker_ctx):
        return self


class DeadlineConfig(DependencyProvider):
    """Each tenant's deadline pack and working calendar (shared, cached),
    read through the service's own Database provider."""

    def setup(self):
        self.config = None

    def get_dependency(self, worker_ctx):
        if self.config is None:
            database = next(d for d in self.container.dependencies if isinstance(d, Database))
            self.config = scheduler.TenantDeadlines(database.pool)
        return self.config


class InboundPorts:
    """inbound.Ports over the service's vault proxy and database."""

    def __init__(self, service):
        self.service = service

    def store_identity(self, submission_id: str, sealed_b64: str, tenant: str) -> dict:
        return call(self.service.vault.store_identity, {
            "version": STORE_IDENTITY_VERSION, "submission_id": submission_id, "sealed_identity": sealed_b64,
            "tenant": tenant}, timeout=RPC_TIMEOUT)

    def catalogue_problem(self, tenant: str, category: str) -> str | None:
        with self.service.db.connection() as conn:
            return catalogue.check(conn, tenant, category)

    def parent_tenant(self, tenant: str) -> str | None:
        with self.service.db.connection() as conn:
            return PgDirectory(conn).parent_tenant(tenant)


class CasesService:
    name = "cases"

    ops = Operations()
    db = Database(migrate=migrate)
    app = CasesApp()
    publisher = Relay()
    keys = OfficerKeys()
    auth = OfficerAuth(sessions=accounts_api.session_from_db)  # a stale session ends on its next request
    login_throttle = accounts_api.LoginThrottle()  # failed sign-ins per client, besides the account lockout
    deadline_config = DeadlineConfig()
    checkpoints = chain.checkpoints()
    # disclosure only: the vault decides and records; a queued request past the deadline is dropped
    vault = RpcProxy("identity_vault", expiration=RPC_TIMEOUT)
    notifications = RpcProxy("notifications", expiration=RPC_TIMEOUT)  # the officer's own inbox only
    rpc_timeout = RPC_TIMEOUT

    @rpc
    def register_report(self, command: dict) -> dict:
        """Durably register a report (idempotent per submission_id).

        Returns {"case_id", "registration_number", "status", "created"} or
        {"error": code[, "fields": ...]}; returns only after the commit.
        """
        try:
            cmd = REGISTER_REPORT.load(command)
        except ValidationError as err:
            return {"error": "invalid_command", "fields": bilingual_errors(err.messages)}
        with self.db.connection() as conn:
            problem = catalogue.check(conn, cmd["tenant"], cmd["category"])
            # the parent tenant matters only when the terlapor works at the Inspektorat itself
            parent = PgDirectory(conn).parent_tenant(cmd["tenant"]) \
                if not problem and cmd["report"].get("terlapor_inspektorat") else None
        if problem:
            return {"error": problem}
        try:
            result = self.app.register_report(cmd, escalate_to=parent)
        except DomainError as err:
            return {"error": err.code}
        return {"case_id": str(result.case_id), "registration_number": result.registration_number,
                "status": result.status, "created": result.created}

    @rpc
    def partner_check(self, name, secret_sha256) -> dict | None:
        """intake's partner API: {"name", "tenants"} for a live credential, else None (partners.py)."""
        with self.db.connection() as conn:
            return partners.check(conn, name, secret_sha256)

    @rpc
    def reporter_view(self, receipt_hash: str) -> dict | None:
        if not isinstance(receipt_hash, str) or len(receipt_hash) != 64:
            return None
        return self.app.reporter_view(receipt_hash)

    @rpc
    def reporter_message(self, receipt_hash: str, text: str) -> dict:
        """A message from the reporter, authenticated by the receipt's hash."""
        if not isinstance(receipt_hash, str) or len(receipt_hash) != 64 or not isinstance(text, str):
            return {"error": "invalid_command"}
        try:
            case = self.app.reporter_writes(receipt_hash, text)
        except DomainError as err:
            return {"error": err.code}
        return {"error": "not_found"} if case is None else {"status": case.status}

    @rpc
    def evidence_target(self, receipt_hash: str) -> dict:
        """The case a receipt opens for evidence, and the room left on it (evidence.py)."""
        return evidence.target(self.app, receipt_hash)

    @rpc
    def add_evidence(self, receipt_hash: str, items: list, version: int = 1) -> dict:
        """Stripped evidence copies from intake: blobs first, then the case event (evidence.py)."""
        return evidence.add(self.app, self.db, receipt_hash, items, version)

    @rpc
    def case_state(self, case_id: str) -> dict | None:
        """Whether a case has ended, and since when: the vault asks before a retention clock starts."""
        return self.app.case_state(case_id)

    @rpc
    def catalogue(self) -> dict:
        with self.db.connection() as conn:
            return catalogue.load(conn)

    @rpc
    def domain_events(self, after: int, limit: int = 500) -> dict:
        """A page of the notification log as public envelopes (followers pull this)."""
        return self.app.domain_events(after=int(after), limit=max(1, min(int(limit), 1000)))

    @inbound_consume(CASES_INBOUND)
    def on_inbound(self, body, meta):
        """A partner system's event: ``sanction.followed_up``, ``report.submitted`` (inbound.py)."""
        inbound.handle(self.app, body, meta, InboundPorts(self))

    @timer(interval=env_float("PELUIT_RELAY_INTERVAL", 0.2))
    def relay(self):
        # keep going while there is a backlog, so a burst drains at full speed
        while relay_once(self.db, self.app, self.publisher) > 0:
            eventlet.sleep(0)

    @timer(interval=env_float("PELUIT_RELAY_INTERVAL", 0.2))
    def keep_envelopes(self):
        while envelope_log.follow_once(self.db, self.app) > 0:
            eventlet.sleep(0)

    @timer(interval=env_float("PELUIT_RELAY_INTERVAL", 0.2))
    def index_cases(self):
        while case_index.follow_once(self.db, self.app, self.deadline_config) > 0:
            eventlet.sleep(0)

    @timer(interval=env_float("PELUIT_CHECKPOINT_INTERVAL", 60))
    def checkpoint(self):
        """Sign the event chain's head when it moved (chain.py), and publish it (checkpoint_stream.py)."""
        self.checkpoints.run(self.db)
        checkpoint_stream.publish_once(self.db, self.publisher)

    @timer(interval=env_float("PELUIT_CONTENT_RETENTION_INTERVAL", 3600))
    def content_retention(self):
        """End the content of cases whose tenant's retention period has passed (retention.py)."""
        retention.run_once(self.db, self.app, datetime.now(timezone.utc))

    @timer(interval=env_float("PELUIT_REDACTION_SWEEP_INTERVAL", 60))
    def redaction_sweep(self):
        """Redactions a crash interrupted between their event and forgetting the old text (redaction_api)."""
        redaction_api.sweep(self.app, redaction_api.PgPending(self.db))

    @timer(interval=env_float("PELUIT_DEADLINE_INTERVAL", 30))
    def deadlines(self):
        while scheduler.run_once(self.db, self.app, self.deadline_config) >= 200:
            eventlet.sleep(0)

    # -- officer HTTP API (rules: commands, access, disclosure_api, evidence; translation: officer_api)

    officer_login = officer_route("POST", "/api/v1/officer/login", accounts_api.login)

    @http("GET", "/api/v1/cases")
    @officer_endpoint
    def list_cases(self, request):
        """The work queue (desk.py)."""
        actor = self._actor(request)
        query = load(api_contract.CaseListQuery, request.args.to_dict())
        with self.db.connection() as conn:
            return json_response(200, desk.work_queue(self.app, conn, PgDirectory(conn), actor, query))

    @http("GET", "/api/v1/cases/<string:case_id>")
    @officer_endpoint
    def get_case(self, request, case_id):
        actor = self._actor(request)
        query = load(api_contract.CaseQuery, request.args.to_dict())
        if "as_of" in query:
            return self._case_as_of(actor, query["as_of"], case_id)
        with self.db.connection() as conn:
            directory = PgDirectory(conn)
            case = Access(self.app, directory).case(actor, case_id, action="read")
            page = desk.case_page(self.app, directory, self.deadline_config, actor, case)
        return json_response(200, page, headers={"ETag": f'"{page["version"]}"'})

    def _case_as_of(self, actor, as_of, case_id):
        """The case replayed from its events up to ``as_of`` (audit.py)."""
        with self.db.connection() as conn:
            case = Access(self.app, PgDirectory(conn)).case(actor, case_id, action="read_as_of")
        replayed = audit.case_as_of(self.app, case.id, as_of)
        if replayed is None or replayed[0] is None:
            raise access.case_not_found()
        document = desk.case_page_as_of(replayed, self.deadline_config, as_of)
        return json_response(200, document, headers={"ETag": f'"{replayed[0].version}"'})

    @http("GET", "/api/v1/cases/<string:case_id>/timeline")
    @officer_endpoint
    def case_timeline(self, request, case_id):
        actor = self._actor(request)
        with self.db.connection() as conn:
            case = Access(self.app, PgDirectory(conn)).case(actor, case_id, action="timeline")
            return json_response(200, audit.timeline(self.app, conn, case.id))

    @http("GET", "/api/v1/cases/<string:case_id>/audit-bundle")
    @officer_endpoint
    def case_audit_bundle(self, request, case_id):
        """peluit-audit-bundle/1 for one case, for ``peluit-verify`` (auditors with a grant)."""
        actor = self._actor(request)
        with self.db.connection() as conn:
            walls = Access(self.app, PgDirectory(conn))
            case = walls.case(actor, case_id, action="audit_bundle")
            walls.require_export(actor, case)
            with conn.transaction():
                body = "".join(audit.iter_bundle(conn, case.id))
        return bundle_response(body, case.id)

    @http("GET", "/api/v1/cases/<string:case_id>/evidence/<string:evidence_id>")
    @officer_endpoint
    def download_evidence(self, request, case_id, evidence_id):
        """The metadata-stripped copy of one attachment (tenant wall and access log as a read)."""
        actor = self._actor(request)
        with self.db.connection() as conn:
            copy = evidence.stored_copy(Access(self.app, PgDirectory(conn)), conn, actor, case_id, evidence_id)
        return evidence_response(copy)

    @http("POST", "/api/v1/cases/<string:case_id>/evidence/<string:evidence_id>/disclosure-requests")
    @officer_endpoint
    def request_evidence_disclosure(self, request, case_id, evidence_id):
        """Dual-control disclosure of an attachment's untouched original (the vault decides)."""
        actor, args = self._signed(request, disclosure_contract.DisclosureRequestBody, 8192)
        out = evidence.request_disclosure(self._vault(), self.app, self.db, actor, case_id, evidence_id, args)
        return json_response(201, out)

    @http("POST", "/api/v1/cases/<string:case_id>/redactions")
    @officer_endpoint
    def redact(self, request, case_id):
        """Mask passages of the report, a message or a note (penerima, penelaah; redaction_api.py)."""
        actor = self._actor(request)
        version = expected_version(request.headers.get("If-Match"))
        body = load(redaction_contract.Redact, read_json(request, 256 * 1024))
        return self._redacted(version, case_id, lambda: redaction_api.redact(
            self.app, self.db, PgDirectory, self._sealer(), actor, case_id, version, body))

    @http("POST", "/api/v1/cases/<string:case_id>/evidence/<string:evidence_id>/redactions")
    @officer_endpoint
    def redact_evidence(self, request, case_id, evidence_id):
        """Black out a region of an image copy or drop a page of a PDF copy (evidence_redaction.py)."""
        actor = self._actor(request)
        version = expected_version(request.headers.get("If-Match"))
        body = load(redaction_contract.RedactEvidence, read_json(request, 8192))
        return self._redacted(version, case_id, lambda: evidence_redaction.redact_evidence(
            self.app, self.db, PgDirectory, self._sealer(), actor, case_id, evidence_id, version, body))

    def _redacted(self, version, case_id, act):
        try:
            case, passages = act()
        except DomainError as err:
            if err.code != "stale_version":
                raise
            return stale_response(*desk.changes_since(self.app, case_id, version))
        return json_response(200, {"case_id": str(case.id), "version": case.version, "status": case.status,
                                   "passages": passages}, headers={"ETag": f'"{case.version}"'})

    @http("POST", "/api/v1/cases/<string:case_id>/redactions/<string:original_ref>/disclosure-requests")
    @officer_endpoint
    def request_redaction_disclosure(self, request, case_id, original_ref):
        """An un-redaction: dual-control disclosure of one sealed passage (the vault decides)."""
        actor, args = self._signed(request, disclosure_contract.DisclosureRequestBody, 8192)
        return json_response(201, redaction_api.request_disclosure(self._vault(), self.app, self.db, PgDirectory,
                                                                   actor, case_id, original_ref, args))

    # only the commands are routed: POST on /timeline or /audit-bundle is a 405
    @http("POST", "/api/v1/cases/<string:case_id>/<any(%s):command>" % COMMAND_NAMES)
    @officer_endpoint
    def case_command(self, request, case_id, command):
        actor = self._actor(request)
        version = expected_version(request.headers.get("If-Match"))
        order = command_from(command, load(api_contract.COMMANDS[command], read_json(request, 64 * 1024)))
        try:
            with self.db.connection() as conn:
                case = OfficerCommands(self.app, PgDirectory(conn), self.deadline_config).run(actor, case_id, order,
                                                                                              version)
        except DomainError as err:
            if err.code != "stale_version":
                raise
            return stale_response(*desk.changes_since(self.app, case_id, version))
        return json_response(200, {"case_id": str(case.id), "version": case.version, "status": case.status},
                             headers={"ETag": f'"{case.version}"'})

    # -- accounts and administration (accounts_api.py; rules: access) --------------------------------

    @rpc
    def officer_session(self, officer_id) -> dict | None:
        """{active, session_version, roles} or None: reporting's and intake's session check."""
        return accounts_api.officer_session(self, officer_id)

    @rpc
    def notification_recipients(self, query) -> dict:
        """Whom notifications tells, with their addresses and choices (peluit_contracts.notify)."""
        return notify_api.recipients(self, query)

    # each HTTP operation below is all in its handler (notify_api, accounts_api)
    my_notification_preferences = officer_route("GET", "/api/v1/officer/me/notifications", notify_api.my_preferences)
    change_my_notification_preferences = officer_route(
        "POST", "/api/v1/officer/me/notifications", notify_api.change_my_preferences)
    my_inbox = officer_route("GET", "/api/v1/officer/me/inbox", notify_api.inbox)
    mark_my_inbox_read = officer_route("POST", "/api/v1/officer/me/inbox/read", notify_api.mark_read)
    set_officer_email = officer_route("POST", "/api/v1/officers/<string:officer_id>/email", notify_api.set_email)
    start_enrolment = officer_route("POST", "/api/v1/officer/enrolment", accounts_api.start_enrolment)
    complete_enrolment = officer_route("POST", "/api/v1/officer/enrolment/complete", accounts_api.complete_enrolment)
    refresh_token = officer_route("POST", "/api/v1/officer/token", accounts_api.refresh)
    logout = officer_route("POST", "/api/v1/officer/logout", accounts_api.logout)
    me = officer_route("GET", "/api/v1/officer/me", accounts_api.me)
    change_password = officer_route("POST", "/api/v1/officer/password", accounts_api.change_password)
    create_officer = officer_route("POST", "/api/v1/officers", accounts_api.create_officer)
    list_officers = officer_route("GET", "/api/v1/officers", accounts_api.list_officers)
    deactivate_officer = officer_route(
        "POST", "/api/v1/officers/<string:officer_id>/deactivate", accounts_api.deactivate)
    reactivate_officer = officer_route(
        "POST", "/api/v1/officers/<string:officer_id>/reactivate", accounts_api.reactivate)
    set_officer_roles = officer_route("POST", "/api/v1/officers/<string:officer_id>/roles", accounts_api.set_roles)
    reset_officer_factor = officer_route(
        "POST", "/api/v1/officers/<string:officer_id>/reset-factor", accounts_api.reset_factor)
    grant_audit = officer_route("POST", "/api/v1/audit-grants", accounts_api.grant_audit)
    list_audit_grants = officer_route("GET", "/api/v1/audit-grants", accounts_api.list_grants)
    revoke_audit_grant = officer_route(
        "POST", "/api/v1/audit-grants/<int(max=9223372036854775807):grant_id>/revoke", accounts_api.revoke_grant)
    tenant_settings = officer_route("GET", "/api/v1/tenants/<string:code>/settings", accounts_api.tenant_settings_of)
    change_tenant_settings = officer_route(
        "POST", "/api/v1/tenants/<string:code>/settings", accounts_api.change_tenant_settings)
    add_tenant_holiday = officer_route("POST", "/api/v1/tenants/<string:code>/holidays", accounts_api.add_holiday)
    delete_tenant_holiday = officer_route(
        "POST", "/api/v1/tenants/<string:code>/holidays/<string:day>/delete", accounts_api.delete_holiday)
    put_tenant_category = officer_route("POST", "/api/v1/tenants/<string:code>/categories", accounts_api.put_category)
    admin_changes = officer_route("GET", "/api/v1/admin-changes", accounts_api.admin_changes)

    # -- identity disclosure under dual control (the vault decides; disclosure_api.py)

    @http("POST", "/api/v1/cases/<string:case_id>/disclosure-requests")
    @officer_endpoint
    def request_disclosure(self, request, case_id):
        actor, args = self._signed(request, disclosure_contract.DisclosureRequestBody, 8192)
        return json_response(201, disclosure_api.request_disclosure(
            self._vault(), self.app, self.db, actor, case_id, args,
            told=lambda reply: notify_api.disclosure_step(self.publisher, "requested", reply)))

    @http("POST", "/api/v1/disclosure-requests/<string:request_id>/approve")
    @officer_endpoint
    def approve_disclosure(self, request, request_id):
        actor, args = self._signed(request, disclosure_contract.ApproveBody, 1024)
        return json_response(200, disclosure_api.approve(
            self._vault(), self.app, self.db, self.keys, actor, request_id, args["totp"],
            told=lambda reply: notify_api.disclosure_step(self.publisher, "approved", reply)))

    @http("POST", "/api/v1/disclosure-requests/<string:request_id>/refuse")
    @officer_endpoint
    def refuse_disclosure(self, request, request_id):
        actor, args = self._signed(request, disclosure_contract.RefuseBody, 8192)
        return json_response(200, disclosure_api.refuse(self._vault(), self.app, self.db, actor, request_id,
                                                        args["reason"]))

    @http("POST", "/api/v1/disclosure-requests/<string:request_id>/view")
    @officer_endpoint
    def view_disclosure(self, request, request_id):
        actor, args = self._signed(request, disclosure_contract.ViewBody, 1024)
        return json_response(200, disclosure_api.view(self._vault(), self.app, self.db, actor, request_id,
                                                      args["public_key"], args["format"]))

    @http("GET", "/api/v1/disclosure-events")
    @officer_endpoint
    def disclosure_events(self, request):
        actor = self._actor(request)
        query = load(disclosure_contract.DisclosureTrailQuery, request.args.to_dict())
        return json_response(200, disclosure_api.events(self._vault(), self.app, self.db, actor, query["tenant"]))

    # -- the desk: the console's forms and disclosure lists (desk.py, disclosure_api.py) ----------

    @http("GET", "/api/v1/catalogue")
    @officer_endpoint
    def form_catalogue(self, request):
        actor = self._actor(request)
        with self.db.connection() as conn:
            return json_response(200, desk.forms(conn, self.deadline_config, actor))

    @http("GET", "/api/v1/disclosure-requests")
    @officer_endpoint
    def disclosure_requests(self, request):
        actor = self._actor(request)
        query = load(disclosure_contract.DisclosureListQuery, request.args.to_dict())
        return json_response(200, disclosure_api.listing(self._vault(), self.app, self.db, actor, query))

    @http("GET", "/api/v1/openapi.json")
    def openapi(self, request):
        return json_response(200, OPENAPI)

    # -- the edge: who asks, and the vault client --------------------------------------------------

    def _actor(self, request) -> Actor:
        return Actor.from_claims(self.auth.claims(request))

    def _signed(self, request, schema, limit: int) -> tuple[Actor, dict]:
        """The actor (a bad or stale token is a 401 here: nothing reaches the vault), then the body."""
        actor = self._actor(request)
        return actor, load(schema, read_json(request, limit))

    def _sealer(self) -> redaction_api.VaultSealer:
        """Seals a passage to the vault's public key before it crosses the broker."""
        return redaction_api.VaultSealer(self.vault, RPC_TIMEOUT, self.keys.vault_public_key)

    def _vault(self) -> VaultClient:
        """Each call carries a token signed for it alone, never the officer's own (vault.py)."""
        return VaultClient(self.vault, RPC_TIMEOUT, self.keys.vault_calls)
