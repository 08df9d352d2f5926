"""Intake entrypoints for intake channels besides the portal (e-mail, WhatsApp).

A mixin of ``IntakeService``: nameko collects its entrypoints and
dependencies with the service's own.

Both channels end in the portal's own path, ``IntakeService._register``
(validate tenant and category, seal the identity to the vault, register with
cases, receipt only after the commit), with the channel's name recorded on the
case (``email``, ``whatsapp``). The address or phone number is identity: it
exists in clear only in the memory of the request that received it, goes to
the vault sealed, and into no log, metric or table of intake.

Attachments (mail) and media (WhatsApp) become evidence after the report is
registered, through ``EvidenceMixin.attach_channel_evidence``: the portal's
checks and stripping, each file on its own, refusals reported to the sender.

- ``mail_intake``: SMTP listener on ``PELUIT_MAIL_LISTEN``; one worker per message.
- ``whatsapp``: ``/api/v1/channels/whatsapp/webhook`` (GET handshake, POST messages).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

from nameko.extensions import DependencyProvider

from peluit_common.rpc import UNAVAILABLE_ERRORS, call
from peluit_common.settings import env_float, secret_bytes
from peluit_common.web import HttpError, http, json_endpoint, json_response
from peluit_contracts.i18n import text

from . import evidence, mail_intake, whatsapp

WHATSAPP_WEBHOOK = "/api/v1/channels/whatsapp/webhook"
WHATSAPP_WEBHOOK_DEV_MEDIA = "/api/v1/channels/whatsapp/dev-media"
_BUSY = {"id": "Layanan sedang sibuk; coba lagi nanti.", "en": "The service is busy; try again later."}


class ChannelKeys(DependencyProvider):
    """Keys for the channels' idempotency keys, derived from intake's secret
    (the same file as the receipts, a different label), so that every intake
    instance maps a retried mail or WhatsApp message to the same submission."""

    def setup(self):
        secret = bytes.fromhex(secret_bytes("PELUIT_INTAKE_SECRET_FILE", "intake-secret.key").decode())
        self.mail = self._subkey(secret, b"mail-idempotency")
        self.whatsapp = self._subkey(secret, b"whatsapp-idempotency")

    @staticmethod
    def _subkey(secret: bytes, label: bytes) -> bytes:
        return hmac.new(secret, b"peluit-intake-v1/" + label, hashlib.sha256).digest()

    def get_dependency(self, worker_ctx):
        return self


class ChannelCatalogue(DependencyProvider):
    """The tenant catalogue with names (menus, replies), cached briefly. cases
    re-checks tenant and category at registration."""

    ttl = 30.0

    def setup(self):
        self.tenants, self.loaded_at = None, 0.0

    def get_dependency(self, worker_ctx):
        return self

    def get(self, cases) -> list[dict]:
        """Raises ``HttpError(503)`` when cases cannot answer."""
        if self.tenants is None or time.monotonic() - self.loaded_at > self.ttl:
            try:
                data = call(cases.catalogue, timeout=env_float("PELUIT_RPC_TIMEOUT", 10.0))
            except UNAVAILABLE_ERRORS:
                raise HttpError(503, "unavailable", _BUSY) from None
            self.tenants, self.loaded_at = data["tenants"], time.monotonic()
        return self.tenants


class MailChannel(DependencyProvider):
    def setup(self):
        self.settings = mail_intake.MailSettings.from_env()

    def get_dependency(self, worker_ctx):
        return self


class WhatsAppChannel(DependencyProvider):
    """Settings, the in-memory conversation store, and the outbound adapter."""

    def setup(self):
        self.settings = whatsapp.WhatsAppSettings.from_env()
        self.store = whatsapp.ConversationStore(ttl=self.settings.state_ttl)
        self._graph = None
        # inbound media: Meta's store in production, an in-memory stand-in with the recorder
        self.media: whatsapp.GraphMedia = whatsapp.RecordingMedia()
        if self.settings.enabled and self.settings.outbound == "graph":
            self._graph = whatsapp.graph_outbound()
            self.media = whatsapp.graph_media()

    def outbound(self) -> whatsapp.OutboundWhatsApp:
        # a recorder per webhook call, so a response shows only its own replies
        return self._graph if self._graph is not None else whatsapp.RecordingWhatsApp()

    def get_dependency(self, worker_ctx):
        return self


class ChannelsMixin:
    channel_keys = ChannelKeys()
    channel_catalogue = ChannelCatalogue()
    mail_channel = MailChannel()
    whatsapp_channel = WhatsAppChannel()

    # -- shared -----------------------------------------------------------------

    def _channel_register(self, channel: str):
        def register(report: dict, key: str) -> dict:
            response = self._register(report, key, channel=channel, assisted_by=None)
            body = json.loads(response.get_data())
            body["replayed"] = response.headers.get("Idempotent-Replayed") == "true"
            return body
        return register

    def _tenant(self, code: str) -> dict | None:
        return next((t for t in self.channel_catalogue.get(self.cases) if t["code"] == code), None)

    # -- e-mail -----------------------------------------------------------------

    @mail_intake.inbound_mail
    def receive_mail(self, envelope: mail_intake.Envelope) -> mail_intake.Reply:
        def categories_of(code):
            tenant = self._tenant(code)
            return None if tenant is None else {c["code"] for c in tenant["categories"]}

        def tenant_name(code):
            tenant = self._tenant(code)
            return tenant["name"] if tenant else f"Inspektorat {code}"

        return mail_intake.process_mail(
            envelope, settings=self.mail_channel.settings, secret=self.channel_keys.mail,
            categories_of=categories_of, tenant_name=tenant_name, register=self._channel_register("email"),
            attach=self.attach_channel_evidence)

    # -- WhatsApp ---------------------------------------------------------------

    @http("GET", WHATSAPP_WEBHOOK)
    @json_endpoint
    def whatsapp_verify(self, request):
        return whatsapp.verification(self.whatsapp_channel.settings, request.args)

    @http("POST", WHATSAPP_WEBHOOK)
    @json_endpoint
    def whatsapp_webhook(self, request):
        channel = self.whatsapp_channel
        messages = whatsapp.parse_webhook(channel.settings, request)

        def catalogue():
            try:
                return self.channel_catalogue.get(self.cases)
            except HttpError:
                raise whatsapp.TemporaryFailure("catalogue") from None

        outbound = channel.outbound()
        status, _ = whatsapp.process_webhook(
            messages, store=channel.store, outbound=outbound, secret=self.channel_keys.whatsapp,
            catalogue=catalogue, register=self._channel_register("whatsapp"),
            media=channel.media, attach=self.attach_channel_evidence)
        return whatsapp.webhook_response(status, outbound)

    @http("POST", WHATSAPP_WEBHOOK_DEV_MEDIA)
    @json_endpoint
    def whatsapp_dev_media(self, request):
        """Record mode only: put bytes into the faked media store (signed like
        the webhook); the answer is the media id a webhook message can name."""
        channel = self.whatsapp_channel
        if not channel.settings.enabled or not isinstance(channel.media, whatsapp.RecordingMedia):
            raise HttpError(404, "not_found", text("not_found"))
        raw = whatsapp.read_signed(channel.settings, request, evidence.Limits.from_env().max_file_bytes + 1024)
        return json_response(201, {"id": channel.media.put(raw)})
