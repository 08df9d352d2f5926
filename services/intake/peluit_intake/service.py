"""nameko entry module of intake, the public edge: ``nameko run peluit_intake.service``.

``IntakeService`` is the only class here with entrypoints (nameko runs every
such class of this module as a service). Each entrypoint is one line of
translation: it builds the worker's ``Intake`` (the use cases, over a
``Backend`` of this worker's RPC proxies) and hands it, with the request and
whatever else the channel needs, to the channel's module: ``api`` (JSON),
``portal`` (pages), ``mail_intake`` (SMTP), ``whatsapp`` (webhook).
"""

from __future__ import annotations

from nameko.extensions import DependencyProvider
from nameko.rpc import RpcProxy
from nameko.timer import timer

from peluit_common import green  # noqa: F401
from peluit_common.auth import OfficerAuth, sessions_over_rpc
from peluit_common.db import Database
from peluit_common.operations import Operations
from peluit_common.web import http, json_endpoint, json_response

from . import api, partner_api, portal, portal_statistics, whatsapp, whatsapp_store
from .application import Intake
from .backend import RPC_TIMEOUT, STATS_TIMEOUT, Backend
from .catalogue import TenantCatalogue
from .keys import IntakeKeys, intake_secret
from .mail_intake import process_mail
from .mail_server import Envelope, Reply, inbound_mail
from .mail_settings import MailSettings
from .openapi import OPENAPI
from .portal_pages import PortalKit, serve
from .whatsapp import media_body_limit, webhook_body_limit

WHATSAPP_WEBHOOK = "/api/v1/channels/whatsapp/webhook"


class Built(DependencyProvider):
    """One object per process, built by ``factory`` when the container starts
    and handed as it is to every worker (keys, caches, settings)."""

    def __init__(self, factory):
        self.factory = factory

    def setup(self):
        self.value = self.factory()

    def get_dependency(self, worker_ctx):
        return self.value


class IntakeService:
    name = "intake"

    ops = Operations()
    officer_auth = OfficerAuth(sessions=sessions_over_rpc("cases"))  # assisted intake: live sessions only
    keys = Built(IntakeKeys.from_env)
    catalogue = Built(TenantCatalogue)
    portal = Built(lambda: PortalKit(intake_secret()))  # with the process's one throttle (``throttle``)
    mail = Built(MailSettings.from_env)
    whatsapp = Built(whatsapp.WhatsAppChannel.from_env)
    # intake's only table content: WhatsApp conversations, sealed (whatsapp_store); a message holds one
    # connection while it is handled, and few arrive at once
    db = Database(migrate=whatsapp_store.migrate, default_size=2)
    # expiration: a request still queued after the reporter was told to retry is dropped
    cases = RpcProxy("cases", expiration=RPC_TIMEOUT)
    vault = RpcProxy("identity_vault", expiration=RPC_TIMEOUT)
    reporting = RpcProxy("reporting", expiration=STATS_TIMEOUT)  # the portal's statistics page

    def _intake(self) -> Intake:
        return Intake(Backend(self.cases, self.vault, self.reporting), self.catalogue, self.keys,
                      self.portal.throttle)

    def _counted(self, request, bucket: str | None = None) -> None:
        api.throttled(request, self.portal.throttle, bucket)

    # -- reporter API (JSON): the uniform routes are generated below from API_ROUTES -------------

    @http("POST", "/api/v1/assisted-reports", max_body=api.body_limits()["submit_assisted_report"])
    @json_endpoint
    def submit_assisted_report(self, request):
        self._counted(request)
        return api.submit_assisted_report(request, self._intake(), self.officer_auth.claims(request))

    @http("GET", "/api/v1/tenants")
    @json_endpoint
    def tenants(self, request):
        self._counted(request)
        return api.tenants(self._intake())

    @http("GET", "/api/v1/openapi.json")
    def openapi(self, request):
        self._counted(request)
        return json_response(200, OPENAPI)

    # -- portal (pages): generated below from PORTAL_PAGES ----------------------------------------

    @http("GET", "/static/<path:name>")
    def portal_static(self, request, name):
        return portal.static(self.portal, name, request)

    # -- e-mail (SMTP) ---------------------------------------------------------------------

    @inbound_mail
    def receive_mail(self, envelope: Envelope) -> Reply:
        return process_mail(envelope, settings=self.mail, secret=self.keys.mail, intake=self._intake())

    # -- WhatsApp (webhook) ----------------------------------------------------------------

    @http("GET", WHATSAPP_WEBHOOK)
    @json_endpoint
    def whatsapp_verify(self, request):
        return whatsapp.verification(self.whatsapp.settings, request.args)

    @http("POST", WHATSAPP_WEBHOOK, max_body=webhook_body_limit())
    @json_endpoint
    def whatsapp_webhook(self, request):
        store = self.whatsapp.conversations(self.db, self.keys.whatsapp_state)
        return whatsapp.webhook(request, self.whatsapp, store=store, secret=self.keys.whatsapp, intake=self._intake())

    @timer(interval=60)
    def whatsapp_sweep(self):
        """Expired drafts wiped, old message ids forgotten (any instance; the work is idempotent)."""
        whatsapp_store.sweep(self.db)

    @http("POST", "/api/v1/channels/whatsapp/dev-media", max_body=media_body_limit())
    @json_endpoint
    def whatsapp_dev_media(self, request):
        """Record mode only: bytes into the faked media store (signed like the webhook)."""
        return whatsapp.dev_media(request, self.whatsapp)


# The uniform entrypoints, generated: each is ``handler(request, intake)`` behind one route. nameko
# collects them from the class like the methods above (the names are those the metrics show).
# Each API route counts against its client in the throttle's ``request`` bucket and its own.
API_ROUTES = (
    ("POST", "/api/v1/reports", api.submit_report, "report"),
    ("POST", "/api/v1/reports/status", api.report_status, "receipt"),
    ("POST", "/api/v1/reports/messages", api.reporter_message, "message"),
    ("POST", "/api/v1/reports/evidence", api.upload_evidence, "evidence"),
    ("POST", "/api/v1/partner/reports", partner_api.submit_partner_report, "report"),
)
PORTAL_PAGES = (
    ("GET", "/", portal.home),
    ("GET", "/lapor", portal.report_form),
    ("POST", "/lapor", portal.report_submit),
    ("GET", "/tanda-terima", portal.receipt_info),
    ("GET", "/status", portal.status),
    ("POST", "/status", portal.status_open),
    ("POST", "/status/pesan", portal.status_message),
    ("POST", "/status/bukti", portal.status_evidence),
    ("POST", "/keluar", portal.sign_out),
    ("GET", "/statistik", portal_statistics.statistics),
)


def _api_entrypoint(handler, bucket: str):
    def entrypoint(self, request):
        self._counted(request, bucket)
        return handler(request, self._intake())
    return json_endpoint(entrypoint)


def _page_entrypoint(handler):
    def entrypoint(self, request):
        return serve(self.portal, request, handler, self._intake())
    return entrypoint


def _attach(name: str, method: str, path: str, function, max_body: int | None = None) -> None:
    function.__name__ = function.__qualname__ = name
    setattr(IntakeService, name, http(method, path, max_body=max_body)(function))


for _method, _path, _handler, _bucket in API_ROUTES:
    _attach(_handler.__name__, _method, _path, _api_entrypoint(_handler, _bucket), api.body_limits()[_handler.__name__])
for _method, _path, _handler in PORTAL_PAGES:
    _attach("portal_" + _handler.__name__, _method, _path, _page_entrypoint(_handler),
            portal.body_limits().get(_handler.__name__))
