"""The WhatsApp channel's webhook (Business Cloud API): the signature checked
before anything is parsed, each message through the conversation and, once
confirmed, the application (identity ``{"phone": ...}`` sealed at once); media
checked at once and attached after registration. Effects are committed only
after the replies went out and every message id is remembered, so Meta's
retries (a 503 here) replay, never repeat. See docs/channels.md (WhatsApp).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import secrets
from dataclasses import dataclass, replace

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate
from prometheus_client import Counter
from werkzeug.wrappers import Response

from peluit_common.settings import ConfigError, env, env_float, env_int, keys_dir, production
from peluit_common.web import HttpError, json_response
from peluit_common.whatsapp import outbound_mode
from peluit_contracts.i18n import bilingual_errors, message
from peluit_contracts.reports import ReportSubmissionSchema

from .errors import IntakeError, Throttled, UnknownCategory, UnknownTenant, temporary
from .evidence_checks import Limits, Refusal, check_each, mb
from .evidence_sandbox import sandbox
from .whatsapp_conversation import (
    EXPIRED,
    MEDIA_TAKEN,
    NOT_ACCEPTED,
    UNAVAILABLE_CHOICE,
    Conversation,
    Step,
    advance,
    media_unavailable,
    receipt_message,
)
from .whatsapp_graph import (
    MEDIA_ID,
    GraphMedia,
    MediaGone,
    MediaTooLarge,
    OutboundWhatsApp,
    RecordingMedia,
    RecordingWhatsApp,
    graph_media,
    graph_outbound,
)
from .whatsapp_store import ConversationStore, StoreUnavailable

log = logging.getLogger(__name__)

WA_OUTCOMES = Counter("peluit_intake_whatsapp_messages_total", "Inbound WhatsApp messages by outcome", ["outcome"])
WA_REFUSED = Counter("peluit_intake_whatsapp_webhooks_refused_total", "Webhook calls refused", ["reason"])


# -- signature -------------------------------------------------------------------

def check_signature(app_secret: bytes, raw_body: bytes, header: str | None) -> str:
    """"ok", "missing" (absent or malformed header) or "invalid"."""
    if not header:
        return "missing"
    scheme, sep, digest = header.strip().partition("=")
    if not sep or scheme.lower() != "sha256" or not re.fullmatch(r"[0-9a-fA-F]{64}", digest):
        return "missing"
    expected = hmac.new(app_secret, raw_body, hashlib.sha256).hexdigest()
    return "ok" if hmac.compare_digest(expected, digest.lower()) else "invalid"


def sign(app_secret: bytes, raw_body: bytes) -> str:
    """The header value Meta would send (tests and tools)."""
    return "sha256=" + hmac.new(app_secret, raw_body, hashlib.sha256).hexdigest()


# -- webhook payload (Cloud API format; Meta adds fields, so unknown ones pass) ----

class _Lenient(Schema):
    class Meta:
        unknown = EXCLUDE


class _Text(_Lenient):
    body = fields.String(required=True, validate=validate.Length(max=65536))


MEDIA_TYPES = ("image", "document", "audio", "video")


class _Media(_Lenient):
    # mime_type, filename, caption and sha256 are the sender's claims: never used (type by content,
    # no file name kept)
    id = fields.String(required=True, validate=validate.Regexp(MEDIA_ID))


class _Message(_Lenient):
    from_ = fields.String(data_key="from", required=True, validate=validate.Regexp(r"\d{6,15}\Z"))
    id = fields.String(required=True, validate=validate.Length(min=1, max=512))
    type = fields.String(required=True, validate=validate.Length(min=1, max=64))
    text = fields.Nested(_Text, load_default=None)
    image = fields.Nested(_Media, load_default=None)
    document = fields.Nested(_Media, load_default=None)
    audio = fields.Nested(_Media, load_default=None)
    video = fields.Nested(_Media, load_default=None)


class _Value(_Lenient):
    messages = fields.List(fields.Nested(_Message), load_default=list)


class _Change(_Lenient):
    field = fields.String(load_default="messages")
    value = fields.Nested(_Value, required=True)


class _Entry(_Lenient):
    changes = fields.List(fields.Nested(_Change), load_default=list)


class WebhookSchema(_Lenient):
    object = fields.String(required=True, validate=validate.Equal("whatsapp_business_account"))
    entry = fields.List(fields.Nested(_Entry), required=True)


@dataclass(frozen=True)
class Inbound:
    phone: str  # digits, as WhatsApp sends them; identity: never log it
    message_id: str
    text: str | None  # None: not a text message
    media_id: str | None = None  # image/document/audio/video

    def __repr__(self) -> str:
        return f"<Inbound text={self.text is not None} media={self.media_id is not None}>"


def inbound_messages(payload: dict) -> list[Inbound]:
    data = WebhookSchema().load(payload)
    out = []
    for entry in data["entry"]:
        for change in entry["changes"]:
            if change["field"] != "messages":
                continue
            for msg in change["value"]["messages"]:
                text = msg["text"]["body"] if msg["type"] == "text" and msg["text"] else None
                media = msg.get(msg["type"]) if msg["type"] in MEDIA_TYPES else None
                out.append(Inbound(msg["from_"], msg["id"], text, media["id"] if media else None))
    return out


# -- settings -----------------------------------------------------------------------

def _dev_secret(variable: str, filename: str) -> str | None:
    """The secret in ``$variable`` (a file); in development a missing file in
    the key folder is created once (0600). In production an unset variable
    means the channel is off."""
    path = os.environ.get(variable)
    if not path:
        if production():
            return None
        target = keys_dir() / filename
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            try:
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as fh:
                    fh.write(secrets.token_hex(32) + "\n")
            except FileExistsError:  # another instance made it first
                pass
        path = str(target)
    try:
        with open(path) as fh:
            value = fh.read().strip()
    except FileNotFoundError as exc:
        raise ConfigError(f"{variable}: key file {path} not found") from exc
    if not value:
        raise ConfigError(f"{variable}: key file {path} is empty")
    return value


def webhook_body_limit() -> int:
    return env_int("PELUIT_WHATSAPP_MAX_BODY_BYTES", 256 * 1024)


def media_body_limit() -> int:
    return Limits.from_env().max_file_bytes + 1024


@dataclass
class WhatsAppSettings:
    enabled: bool
    app_secret: bytes = b""
    verify_token: str = ""
    outbound: str = "record"
    state_ttl: float = 1800.0
    max_body: int = 256 * 1024

    @classmethod
    def from_env(cls) -> "WhatsAppSettings":
        app_secret = _dev_secret("PELUIT_WHATSAPP_APP_SECRET_FILE", "whatsapp-app-secret.key")
        if app_secret is None:
            return cls(enabled=False)
        verify_token = _dev_secret("PELUIT_WHATSAPP_VERIFY_TOKEN_FILE", "whatsapp-verify-token.key")
        if verify_token is None:
            raise ConfigError("PELUIT_WHATSAPP_VERIFY_TOKEN_FILE must name a file when WhatsApp is on")
        outbound = outbound_mode("PELUIT_WHATSAPP_OUTBOUND")
        return cls(enabled=True, app_secret=app_secret.encode(), verify_token=verify_token, outbound=outbound,
                   state_ttl=env_float("PELUIT_WHATSAPP_STATE_TTL", 1800.0),
                   max_body=webhook_body_limit())


# -- the HTTP side ------------------------------------------------------------------

class WhatsAppChannel:
    """One process's WhatsApp side: settings, the inbound media source and the
    outbound adapter. Conversations are not here: they wait in intake's
    database (``conversations``), for whichever instance gets the next message."""

    def __init__(self, settings: WhatsAppSettings):
        self.settings = settings
        self._graph = None
        # inbound media: Meta's store in production, an in-memory stand-in with the recorder
        self.media: GraphMedia = RecordingMedia()
        if settings.enabled and settings.outbound == "graph":
            self._graph = graph_outbound()
            self.media = graph_media()

    @classmethod
    def from_env(cls) -> WhatsAppChannel:
        return cls(WhatsAppSettings.from_env())

    def conversations(self, pool, key: bytes) -> ConversationStore:
        return ConversationStore(pool, key, ttl=self.settings.state_ttl)

    def outbound(self) -> OutboundWhatsApp:
        # a recorder per webhook call, so a response shows only its own replies
        return self._graph if self._graph is not None else RecordingWhatsApp()


class TemporaryFailure(Exception):
    """Something we depend on is down: answer 503, commit nothing; Meta retries."""


def disabled() -> HttpError:
    return HttpError(404, "not_found", text="whatsapp_off")


def verification(settings: WhatsAppSettings, args) -> Response:
    if not settings.enabled:
        raise disabled()
    token = args.get("hub.verify_token", "")
    challenge = args.get("hub.challenge", "")
    if (args.get("hub.mode") == "subscribe"
            and hmac.compare_digest(token.encode(), settings.verify_token.encode())
            and re.fullmatch(r"[A-Za-z0-9_\-.]{1,256}", challenge)):
        return Response(challenge, status=200, content_type="text/plain; charset=utf-8")
    WA_REFUSED.labels("verify_token").inc()
    raise HttpError(403, "forbidden", text="whatsapp_verify_token")


def read_raw(request, limit: int) -> bytes:
    length = request.content_length
    if length is not None and length > limit:
        raise HttpError(413, "payload_too_large", limit=limit)
    stream = request.stream if length is not None else request.environ["wsgi.input"]
    raw = stream.read(limit + 1)
    if len(raw) > limit:
        raise HttpError(413, "payload_too_large", limit=limit)
    return raw


def read_signed(settings: WhatsAppSettings, request, limit: int) -> bytes:
    """The raw body, once ``X-Hub-Signature-256`` proved it came from Meta (401/403 otherwise)."""
    raw = read_raw(request, limit)
    verdict = check_signature(settings.app_secret, raw, request.headers.get("X-Hub-Signature-256"))
    if verdict != "ok":
        WA_REFUSED.labels("signature_" + verdict).inc()
        if verdict == "missing":
            raise HttpError(401, "signature_required", text="whatsapp_signature_required")
        raise HttpError(403, "bad_signature", text="whatsapp_bad_signature")
    return raw


def parse_webhook(settings: WhatsAppSettings, request) -> list[Inbound]:
    """Signature first, then JSON, then the schema; each failure is an HttpError."""
    if not settings.enabled:
        raise disabled()
    raw = read_signed(settings, request, settings.max_body)
    try:
        payload = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        WA_REFUSED.labels("malformed").inc()
        raise HttpError(400, "malformed_json") from None
    if not isinstance(payload, dict):
        WA_REFUSED.labels("malformed").inc()
        raise HttpError(400, "malformed_json", text="json_not_object")
    try:
        return inbound_messages(payload)
    except ValidationError as err:
        WA_REFUSED.labels("schema").inc()
        raise HttpError(400, "validation_failed", bilingual_errors(err.messages),
                        text="whatsapp_unknown_format") from None


def idempotency_key(secret: bytes, phone: str, message_id: str) -> str:
    return hmac.new(secret, "\x00".join((phone, message_id)).encode(), hashlib.sha256).hexdigest()


def _refusal_text(refusal: Refusal) -> str:
    words = refusal.message()
    return f"{words['id']}\n{words['en']}"


def take_media(conv: Conversation, media_id: str, media: GraphMedia, limits: Limits) -> tuple:
    """(conversation, reply) for one media message: fetched and checked at once
    like an upload; only its id and size are kept."""
    n = len(conv.media) + 1
    try:
        data = media.fetch(media_id, limits.max_file_bytes)
    except MediaGone:
        return conv, media_unavailable(n)
    except MediaTooLarge:
        return conv, _refusal_text(Refusal("file_too_large", n, mb=mb(limits.max_file_bytes)))
    except OSError as exc:
        log.warning("whatsapp media not fetched: %s", type(exc).__name__)
        raise TemporaryFailure("media") from None
    already = (len(conv.media), sum(size for _, size in conv.media))
    checked, refusals = check_each([(None, data)], limits, start=n, already=already, check=sandbox().check)
    if refusals:
        return conv, _refusal_text(refusals[0])
    return replace(conv, media=conv.media + ((media_id, len(data)),)), MEDIA_TAKEN.format(n=n)


def attach_media(conv: Conversation, receipt: str, media: GraphMedia, limits: Limits, intake) -> list[str]:
    """After registration: every kept media item through the evidence path;
    the replies about what was recorded and what was not."""
    files, gone = [], []
    for n, (media_id, _) in enumerate(conv.media, 1):
        try:
            files.append((None, media.fetch(media_id, limits.max_file_bytes)))
        except (MediaGone, MediaTooLarge):
            files.append((None, b""))  # refused as empty below, by its position
            gone.append(n)
        except OSError as exc:
            log.warning("whatsapp media not fetched: %s", type(exc).__name__)
            raise TemporaryFailure("media") from None
    try:
        refused = [{"n": r.index, **r.message()} for r in intake.attach_channel_evidence(receipt, files)]
    except IntakeError as err:
        if temporary(err):
            raise TemporaryFailure(err.code) from None
        refused = [{"n": n, **message(err.text)} for n in range(1, len(files) + 1)]
    for r in refused:
        if r["n"] in gone:
            r.update(message("wa_media_unavailable", n=r["n"]))
    recorded = len(files) - len(refused)
    out = []
    if recorded:
        words = message("wa_attachments_recorded", count=recorded)
        out.append(f"{words['id']}\n{words['en']}")
    if refused:
        words = message("wa_attachments_not_recorded")
        out.append("\n".join([words["id"], *(f"- {r['id']}" for r in refused),
                               words["en"], *(f"- {r['en']}" for r in refused)]))
    return out


def handle_message(msg: Inbound, *, store: ConversationStore, outbound: OutboundWhatsApp, secret: bytes,
                   intake, media: GraphMedia | None = None) -> str:
    """Process one message; returns the outcome label. Raises
    ``TemporaryFailure`` with nothing committed when it must be retried.
    ``intake`` is the application (``Intake``): catalogue, register, evidence."""
    def catalogue() -> list[dict]:
        try:
            return intake.catalogue()["tenants"]
        except IntakeError:
            raise TemporaryFailure("catalogue") from None

    limits = Limits.from_env()
    with store.session(msg.phone, msg.message_id) as session:
        if session.seen():
            return "duplicate"
        # the per-number limit counts in the store, so it holds across every intake instance
        wait = session.hit(*intake.throttle.limits["whatsapp_sender"]) if intake.throttle is not None else None
        if wait is not None:  # answered, remembered, not retried: the conversation stays as it was
            words = message("wa_rate_limited", minutes=Throttled(wait).minutes)
            try:
                outbound.send_text(msg.phone, f"{words['id']}\n{words['en']}")
            except OSError as exc:
                log.warning("whatsapp reply not sent: %s", type(exc).__name__)
            session.mark_seen()
            return "throttled"
        conv, expired = session.get()
        if msg.media_id is not None and media is not None:
            step = advance(conv, None, catalogue) if conv is None else Step(conv, [])
            conv, reply = take_media(step.conversation, msg.media_id, media, limits)
            step = Step(conv, step.replies + [reply])
        else:
            step = advance(conv, msg.text, catalogue)
        replies = ([EXPIRED] if expired else []) + step.replies
        outcome = "advanced" if step.conversation is not None else "ended"
        if step.submit:
            report = {**step.conversation.report(), "identity": {"phone": "+" + msg.phone}}
            try:
                registration = intake.register(ReportSubmissionSchema().load(report),
                                               idempotency_key(secret, msg.phone, msg.message_id), "whatsapp")
                replies.append(receipt_message(registration.registration_number, registration.receipt))
                outcome = "replayed" if registration.replayed else "registered"
                if step.conversation.media and media is not None:
                    replies += attach_media(step.conversation, registration.receipt, media, limits, intake)
            except ValidationError:
                replies.append(NOT_ACCEPTED)
                outcome = "refused"
            except IntakeError as err:
                if temporary(err):
                    raise TemporaryFailure(err.code) from None
                replies.append(UNAVAILABLE_CHOICE if isinstance(err, (UnknownTenant, UnknownCategory))
                               else NOT_ACCEPTED)
                outcome = "refused"
            step = Step(None)
        try:
            for text in replies:
                outbound.send_text(msg.phone, text)
        except OSError as exc:
            log.warning("whatsapp reply not sent: %s", type(exc).__name__)
            raise TemporaryFailure("outbound") from None
        session.put(step.conversation)
        session.mark_seen()
    return outcome


def process_webhook(messages: list[Inbound], **deps) -> tuple[int, list[str]]:
    """(HTTP status, outcomes): 503 if any message must be retried."""
    status, outcomes = 200, []
    for msg in messages:
        try:
            outcomes.append(handle_message(msg, **deps))
        except (TemporaryFailure, StoreUnavailable):
            status = 503
            outcomes.append("deferred")
        WA_OUTCOMES.labels(outcomes[-1]).inc()
    return status, outcomes


def webhook_response(status: int, outbound: OutboundWhatsApp) -> Response:
    body = {"outbound": outbound.sent} if isinstance(outbound, RecordingWhatsApp) else {}
    if status != 200:
        body["error"] = {"code": "unavailable", "message": message("whatsapp_retry_later")}
    return json_response(status, body)


# -- the entrypoints' work --------------------------------------------------------------

def webhook(request, channel: WhatsAppChannel, *, store: ConversationStore, secret: bytes, intake) -> Response:
    """``POST`` of the webhook: every message of one notification, then the answer Meta retries on."""
    messages = parse_webhook(channel.settings, request)
    outbound = channel.outbound()
    status, _ = process_webhook(messages, store=store, outbound=outbound, secret=secret, intake=intake,
                                media=channel.media)
    return webhook_response(status, outbound)


def dev_media(request, channel: WhatsAppChannel) -> Response:
    """Record mode only: put bytes into the faked media store (signed like
    the webhook); the answer is the media id a webhook message can name."""
    if not channel.settings.enabled or not isinstance(channel.media, RecordingMedia):
        raise HttpError(404, "not_found")
    raw = read_signed(channel.settings, request, media_body_limit())
    return json_response(201, {"id": channel.media.put(raw)})
