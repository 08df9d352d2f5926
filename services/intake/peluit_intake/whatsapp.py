"""WhatsApp channel: a Business Cloud API webhook that drives a short guided
conversation and ends in a report and a receipt.

- ``GET /api/v1/channels/whatsapp/webhook``: Meta's verification handshake
  (``hub.mode=subscribe``, ``hub.verify_token``, ``hub.challenge``).
- ``POST`` of the same path: notifications in the Cloud API format
  (``entry[].changes[].value.messages[]``). ``X-Hub-Signature-256`` (HMAC-SHA256
  of the raw body under the app secret) is checked, in constant time, before
  the body is parsed: missing or malformed is 401, wrong is 403, and nothing
  else happens.

The conversation (bilingual prompts): Inspektorat (numbered list of the
catalogue's tenants) → category → what → where → when → who (optional) →
confirm → registered through intake's own ``_register`` with channel
``whatsapp`` and identity ``{"phone": "+<from>"}`` sealed to the vault; the
last reply carries the registration number and the receipt. ``batal`` /
``cancel`` ends it at any step.

Media (evidence)
----------------
Image, document, audio and video messages carry a media id. Before the
report is confirmed, each one is fetched through the Cloud API media endpoint
(``GET /{media-id}`` -> ``url``, then ``GET url``, both with the bearer token)
and checked like a portal upload (type by content, per-file and per-report
limits, zip bombs, pixel floods); the reply says at once whether it was taken.
The conversation keeps only the media id and size, never the bytes (memory is
per process and shared by every conversation). At confirmation the report is
registered first, then every kept media item is fetched again and goes through
the evidence path (``attach_channel_evidence``: stripped copy to cases, the
untouched original sealed to the vault, a generic label, never the file name).
A refused item never loses the report: the final reply names it by position.
With ``PELUIT_WHATSAPP_OUTBOUND=record`` the media source is ``RecordingMedia``
instead: bytes put there through ``POST /api/v1/channels/whatsapp/dev-media``
(signed like the webhook) stand in for Meta's media store.

State between messages
----------------------
Process memory only, keyed by a keyed hash of the phone number (HMAC under a
random key made at start-up), with an idle TTL (``PELUIT_WHATSAPP_STATE_TTL``,
30 min) and dropped once the report is registered. The state holds the
answers so far but never the phone number, and nothing is written to disk or
a database. With several intake instances a conversation must reach the same
instance each time (sticky routing on a hash of the sender at the load
balancer); otherwise the state would need a shared store (encrypted, keyed by
a hash under a key all instances share). A restart loses conversations in
progress: the reporter is greeted again.

Retries
-------
Meta retries a webhook that was not answered 200. Every message ``id`` is
remembered (as a keyed hash, in memory, 24 h) once its effect is complete, so
a retry does not advance the conversation twice. Effects are committed only
after the replies went out: if the outbound API or the registration is
unavailable the webhook answers 503, nothing is committed, and Meta's retry
does the same step again. The registration's idempotency key is a keyed hash
(under intake's secret) of the phone number and the confirming message's id,
so a retried "YA" replays the same case and receipt.

Outbound
--------
``OutboundWhatsApp.send_text`` posts to the Graph API
(``PELUIT_WHATSAPP_GRAPH_URL``/``PELUIT_WHATSAPP_PHONE_NUMBER_ID``/messages with
the token in ``PELUIT_WHATSAPP_ACCESS_TOKEN_FILE``). With
``PELUIT_WHATSAPP_OUTBOUND=record`` (the default in development, refused in
production) ``RecordingWhatsApp`` keeps the replies of one webhook call and the
webhook returns them in its response body (``{"outbound": [{"to", "text"}]}``).
Not a file: a recorder file would put phone numbers and report text at rest on
disk; the response goes only to whoever sent that signed webhook, who already
knows both.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import time
import urllib.error
import urllib.request
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import Callable

from eventlet.semaphore import Semaphore
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate
from prometheus_client import Counter
from werkzeug.wrappers import Response

from peluit_common.settings import ConfigError, env, env_float, env_int, keys_dir, production
from peluit_common.web import HttpError, json_response
from peluit_contracts.i18n import bilingual_errors, decode
from peluit_contracts.reports import ReportSubmissionSchema

from . import evidence
from .mail_intake import clean_text

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


# a media id goes into a Graph API URL: digits and a few safe characters, no path tricks
MEDIA_ID = r"[A-Za-z0-9_\-]{1,128}\Z"  # marshmallow's Regexp only anchors the start
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


# -- texts ------------------------------------------------------------------------

NOT_STATED_WORDS = {"-", "lewati", "skip", "tidak tahu", "tidak", "no", "none", "tidak ada"}
YES = {"ya", "y", "yes", "kirim", "send", "ok", "oke"}
NO = {"batal", "cancel", "tidak", "no"}
CANCEL = {"batal", "cancel", "stop", "berhenti"}

WELCOME = (
    "Selamat datang di WBS (Whistleblowing System) Inspektorat. Identitas pelapor dirahasiakan: nomor Anda\n"
    "disimpan tersegel dan tidak terlihat oleh petugas yang menangani laporan. Ketik BATAL kapan saja.\n"
    "Welcome to the Inspektorat's WBS. Your identity is protected: your number is stored sealed and the\n"
    "officers handling the report do not see it. Type CANCEL at any time."
)
EXPIRED = ("Percakapan sebelumnya berakhir karena tidak aktif. / "
           "Your previous conversation expired after inactivity.")
TEXT_ONLY = ("Mohon kirim pesan teks, foto atau dokumen. Bukti juga dapat diunggah di halaman status laporan.\n"
             "Please send text, a photo or a document. Evidence can also be uploaded on the report status page.")
MEDIA_TAKEN = ("Lampiran ke-{n} diterima dan akan dilampirkan saat laporan dikirim.\n"
               "Attachment {n} received; it will be attached when the report is sent.")
MEDIA_UNAVAILABLE = ("Lampiran ke-{n} tidak dapat diambil dari WhatsApp; kirim ulang.\n"
                     "Attachment {n} could not be fetched from WhatsApp; send it again.")
CANCELLED = "Laporan dibatalkan; tidak ada yang disimpan. / Report cancelled; nothing was stored."
INVALID_CHOICE = ("Pilihan tidak valid. Balas dengan nomor dari daftar. / "
                  "Invalid choice. Reply with a number from the list.")
PROMPT_WHAT = ("Apa yang terjadi? Jelaskan pelanggarannya (minimal 10 karakter).\n"
               "What happened? Describe the wrongdoing (at least 10 characters).")
PROMPT_WHERE = "Di mana kejadiannya (instansi, alamat)? / Where did it happen (office, address)?"
PROMPT_WHEN = "Kapan kejadiannya (tanggal atau perkiraan)? / When did it happen (date or estimate)?"
PROMPT_WHO = ("Siapa yang terlibat (nama/jabatan)? Balas - jika tidak tahu.\n"
              "Who was involved (name/position)? Reply - if you do not know.")
PROMPT_CONFIRM = ("Balas YA untuk mengirim laporan atau BATAL untuk membatalkan.\n"
                  "Reply YES to send the report or CANCEL to cancel.")
UNAVAILABLE_CHOICE = ("Inspektorat atau kategori yang dipilih tidak lagi tersedia. "
                      "Kirim pesan apa saja untuk mulai lagi.\n"
                      "The chosen Inspektorat or category is no longer available. Send any message to start again.")
NOT_ACCEPTED = ("Laporan tidak dapat diterima. Kirim pesan apa saja untuk mulai lagi.\n"
                "The report could not be accepted. Send any message to start again.")


def tenant_menu(tenants: list[dict]) -> str:
    lines = ["Pilih Inspektorat tujuan (balas dengan nomor): / Choose the Inspektorat (reply with the number):"]
    lines += [f"{i}. {t['name']} ({t['code']})" for i, t in enumerate(tenants, 1)]
    return "\n".join(lines)


def category_menu(categories: list[dict]) -> str:
    lines = ["Pilih kategori (balas dengan nomor): / Choose a category (reply with the number):"]
    lines += [f"{i}. {c['name']['id']} / {c['name']['en']}" for i, c in enumerate(categories, 1)]
    return "\n".join(lines)


def receipt_message(number: str, receipt: str) -> str:
    return (
        "Laporan Anda telah tercatat.\n"
        f"Nomor registrasi: {number}\n"
        f"Tanda terima: {receipt}\n"
        "Simpan tanda terima ini di tempat aman (tidak dapat dipulihkan jika hilang), lalu hapus percakapan ini\n"
        "jika ponsel Anda dapat dibaca orang lain. Dengan tanda terima Anda dapat melihat status laporan,\n"
        "membaca pertanyaan Inspektorat dan menjawabnya di portal WBS.\n\n"
        "Your report has been registered.\n"
        f"Registration number: {number}\n"
        f"Receipt: {receipt}\n"
        "Keep this receipt somewhere safe (it cannot be recovered if lost), then delete this chat if others\n"
        "can read your phone. With the receipt you can follow the report, read the Inspektorat's questions\n"
        "and answer them on the WBS portal."
    )


def _field_error(name: str, value: str) -> str | None:
    """The bilingual error of one report field, or None when valid."""
    try:
        ReportSubmissionSchema().fields[name].deserialize(value)
    except ValidationError as err:
        messages = err.messages if isinstance(err.messages, list) else [str(err.messages)]
        msg = decode(str(messages[0]))
        return f"{msg['id']} / {msg['en']}"
    return None


# -- the conversation (pure: unit-tested without nameko) ----------------------------

@dataclass(frozen=True)
class Conversation:
    step: str = "tenant"
    tenants: tuple = ()  # the codes as numbered in the menu sent
    tenant: str | None = None
    tenant_name: str = ""
    categories: tuple = ()  # (code, name_id) as numbered in the menu sent
    category: str | None = None
    answers: tuple = ()  # ((field, text), ...): what, where, when, who
    media: tuple = ()  # ((media id, size), ...) accepted so far; the bytes are fetched again at confirmation

    def report(self) -> dict:
        out = {"tenant": self.tenant, "category": self.category}
        out.update(dict(self.answers))
        return out

    def __repr__(self) -> str:  # never print the answers
        return f"<Conversation step={self.step}>"


@dataclass
class Step:
    conversation: Conversation | None  # the state to keep; None drops it
    replies: list = field(default_factory=list)
    submit: bool = False


def _choice(text: str, count: int) -> int | None:
    text = text.strip().rstrip(".")
    if text.isdigit() and 1 <= int(text) <= count:
        return int(text) - 1
    return None


def advance(conv: Conversation | None, text: str | None, catalogue: Callable[[], list[dict]]) -> Step:
    """One inbound message → the next state and the replies.

    ``catalogue()`` returns the tenants as cases publishes them
    (``[{"code", "name", "categories": [{"code", "name": {"id", "en"}}]}]``);
    it is called only when a menu is needed."""
    words = (text or "").strip().lower()
    if conv is None:
        tenants = catalogue()
        return Step(Conversation(tenants=tuple(t["code"] for t in tenants)),
                    [WELCOME, tenant_menu(tenants)])
    if text is None:
        return Step(conv, [TEXT_ONLY])
    if words in CANCEL:
        return Step(None, [CANCELLED])
    if conv.step == "tenant":
        tenants = {t["code"]: t for t in catalogue()}
        index = _choice(words, len(conv.tenants))
        if index is None or conv.tenants[index] not in tenants:
            # the menu again, as the catalogue is now (numbers refer to what was last sent)
            shown = list(tenants.values())
            return Step(replace(conv, tenants=tuple(t["code"] for t in shown)), [INVALID_CHOICE, tenant_menu(shown)])
        tenant = tenants[conv.tenants[index]]
        cats = tenant["categories"]
        return Step(replace(conv, step="category", tenant=tenant["code"], tenant_name=tenant["name"],
                            categories=tuple((c["code"], c["name"]["id"]) for c in cats)),
                    [category_menu(cats)])
    if conv.step == "category":
        index = _choice(words, len(conv.categories))
        if index is None:
            tenant = next((t for t in catalogue() if t["code"] == conv.tenant), None)
            if tenant is None:
                return Step(None, [UNAVAILABLE_CHOICE])
            return Step(replace(conv, categories=tuple((c["code"], c["name"]["id"]) for c in tenant["categories"])),
                        [INVALID_CHOICE, category_menu(tenant["categories"])])
        return Step(replace(conv, step="what", category=conv.categories[index][0]), [PROMPT_WHAT])
    if conv.step in ("what", "where", "when"):
        value = clean_text(text)
        error = _field_error(conv.step, value)
        prompt = {"what": PROMPT_WHAT, "where": PROMPT_WHERE, "when": PROMPT_WHEN}[conv.step]
        if error:
            return Step(conv, [error, prompt])
        following = {"what": ("where", PROMPT_WHERE), "where": ("when", PROMPT_WHEN), "when": ("who", PROMPT_WHO)}
        nxt, nxt_prompt = following[conv.step]
        return Step(replace(conv, step=nxt, answers=conv.answers + ((conv.step, value),)), [nxt_prompt])
    if conv.step == "who":
        value = clean_text(text)
        answers = conv.answers
        if value.lower() not in NOT_STATED_WORDS:
            error = _field_error("who", value)
            if error:
                return Step(conv, [error, PROMPT_WHO])
            answers = answers + (("who", value),)
        conv = replace(conv, step="confirm", answers=answers)
        return Step(conv, [summary(conv), PROMPT_CONFIRM])
    if conv.step == "confirm":
        if words in YES:
            return Step(conv, [], submit=True)
        if words in NO:
            return Step(None, [CANCELLED])
        return Step(conv, [PROMPT_CONFIRM])
    return Step(None, [NOT_ACCEPTED])


def summary(conv: Conversation) -> str:
    answers = dict(conv.answers)
    category = next((name for code, name in conv.categories if code == conv.category), conv.category)
    what = answers.get("what", "")
    what = what if len(what) <= 200 else what[:197] + "..."
    return (f"Ringkasan / Summary\nInspektorat: {conv.tenant_name} ({conv.tenant})\n"
            f"Kategori / Category: {category}\nApa / What: {what}")


# -- in-memory state ------------------------------------------------------------------

class ConversationStore:
    """Conversations and processed message ids, in memory, keyed by keyed
    hashes (see the module docstring). Green threads only: no OS locks."""

    def __init__(self, ttl: float = 1800.0, seen_ttl: float = 86400.0, max_items: int = 20000,
                 clock: Callable[[], float] = time.monotonic):
        self.ttl, self.seen_ttl, self.max_items, self.clock = ttl, seen_ttl, max_items, clock
        self._key = secrets.token_bytes(32)  # per process: the hashes mean nothing elsewhere
        self._conversations: OrderedDict = OrderedDict()  # key -> (Conversation, expires)
        self._seen: OrderedDict = OrderedDict()  # key -> expires
        self._locks: dict = {}

    def key(self, *parts: str) -> str:
        return hmac.new(self._key, "\x00".join(parts).encode(), hashlib.sha256).hexdigest()

    @contextlib.contextmanager
    def lock(self, key: str):
        """One message of a conversation at a time (Meta may deliver in parallel)."""
        entry = self._locks.setdefault(key, [Semaphore(1), 0])
        entry[1] += 1
        try:
            with entry[0]:
                yield
        finally:
            entry[1] -= 1
            if entry[1] == 0:
                self._locks.pop(key, None)

    def _prune(self, table: OrderedDict, now: float) -> None:
        while table:
            first = next(iter(table))
            value = table[first]
            expires = value[1] if isinstance(value, tuple) else value
            if expires > now and len(table) <= self.max_items:
                break
            table.popitem(last=False)

    def get(self, key: str) -> tuple[Conversation | None, bool]:
        """(conversation, expired): expired says one existed and timed out."""
        now = self.clock()
        item = self._conversations.get(key)
        self._prune(self._conversations, now)
        if item is None:
            return None, False
        if item[1] <= now:
            self._conversations.pop(key, None)
            return None, True
        return item[0], False

    def put(self, key: str, conv: Conversation | None) -> None:
        self._conversations.pop(key, None)
        if conv is not None:
            self._conversations[key] = (conv, self.clock() + self.ttl)  # idle TTL: re-inserted at the end
        self._prune(self._conversations, self.clock())

    def seen(self, key: str) -> bool:
        expires = self._seen.get(key)
        return expires is not None and expires > self.clock()

    def mark_seen(self, key: str) -> None:
        self._seen.pop(key, None)
        self._seen[key] = self.clock() + self.seen_ttl
        self._prune(self._seen, self.clock())

    def __len__(self) -> int:
        return len(self._conversations)


# -- outbound -------------------------------------------------------------------------

class OutboundWhatsApp:
    """Sends a text through the WhatsApp Business Cloud API (Graph API)."""

    def __init__(self, base_url: str, phone_number_id: str, access_token: str, timeout: float = 10.0):
        self.url = f"{base_url.rstrip('/')}/{phone_number_id}/messages"
        self.access_token, self.timeout = access_token, timeout

    def send_text(self, to: str, text: str) -> None:
        """Raises ``OSError`` (urllib's errors are OSErrors) when not accepted."""
        body = json.dumps({"messaging_product": "whatsapp", "recipient_type": "individual", "to": to,
                           "type": "text", "text": {"preview_url": False, "body": text}}).encode()
        request = urllib.request.Request(self.url, data=body, method="POST", headers={
            "Authorization": f"Bearer {self.access_token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=self.timeout) as resp:  # noqa: S310 (fixed https URL)
            if resp.status >= 300:
                raise OSError(f"graph api answered {resp.status}")


class RecordingWhatsApp(OutboundWhatsApp):
    """Development and tests: keeps the texts of one webhook call in memory;
    the webhook returns them in its response."""

    def __init__(self):
        self.sent: list[dict] = []

    def send_text(self, to: str, text: str) -> None:
        self.sent.append({"to": to, "text": text})


# -- inbound media ---------------------------------------------------------------------

class MediaGone(Exception):
    """The media id is unknown or expired at Meta (a 4xx): permanent, not retried."""


class MediaTooLarge(Exception):
    """Over the per-file limit: refused without reading it all."""


class GraphMedia:
    """Fetches inbound media through the Cloud API: ``GET /{media-id}`` gives a
    short-lived ``url``, ``GET url`` the bytes; both with the bearer token.
    Raises ``MediaGone``, ``MediaTooLarge``, or ``OSError`` (temporary)."""

    def __init__(self, base_url: str, access_token: str, timeout: float = 20.0):
        self.base_url, self.access_token, self.timeout = base_url.rstrip("/"), access_token, timeout

    def _get(self, url: str):
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {self.access_token}"})
        try:
            return urllib.request.urlopen(request, timeout=self.timeout)  # noqa: S310 (Graph API URLs only)
        except urllib.error.HTTPError as exc:
            exc.close()
            if 400 <= exc.code < 500 and exc.code != 429:
                raise MediaGone(exc.code) from None
            raise OSError(f"graph api answered {exc.code}") from None

    def fetch(self, media_id: str, max_bytes: int) -> bytes:
        if not re.fullmatch(MEDIA_ID, media_id):
            raise MediaGone("media id")
        with self._get(f"{self.base_url}/{media_id}") as resp:
            try:
                meta = json.loads(resp.read(64 * 1024))
            except ValueError:
                raise OSError("graph api sent no JSON") from None
        url = meta.get("url") if isinstance(meta, dict) else None
        # the token goes only to an https URL (Meta's CDN), or to the configured API's own scheme in tests
        if not isinstance(url, str) or not url.startswith(("https://", self.base_url.split("://")[0] + "://")):
            raise OSError("graph api sent no media url")
        size = meta.get("file_size")
        if isinstance(size, (int, str)) and str(size).isdigit() and int(size) > max_bytes:
            raise MediaTooLarge()
        with self._get(url) as resp:
            data = resp.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise MediaTooLarge()
        return data


class RecordingMedia(GraphMedia):
    """Development and tests: Meta's media store faked in memory. ``put`` (the
    signed dev-media endpoint) returns a media id that a webhook can name."""

    def __init__(self, max_items: int = 100):
        self.items: OrderedDict = OrderedDict()
        self.max_items = max_items

    def put(self, data: bytes) -> str:
        media_id = secrets.token_hex(16)
        self.items[media_id] = data
        while len(self.items) > self.max_items:
            self.items.popitem(last=False)
        return media_id

    def fetch(self, media_id: str, max_bytes: int) -> bytes:
        if media_id not in self.items:
            raise MediaGone("unknown media id")
        data = self.items[media_id]
        if len(data) > max_bytes:
            raise MediaTooLarge()
        return data


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
        outbound = env("PELUIT_WHATSAPP_OUTBOUND", "graph" if production() else "record")
        if outbound not in ("graph", "record"):
            raise ConfigError("PELUIT_WHATSAPP_OUTBOUND must be 'graph' or 'record'")
        if outbound == "record" and production():
            raise ConfigError("PELUIT_WHATSAPP_OUTBOUND=record is for development and tests only")
        return cls(enabled=True, app_secret=app_secret.encode(), verify_token=verify_token, outbound=outbound,
                   state_ttl=env_float("PELUIT_WHATSAPP_STATE_TTL", 1800.0),
                   max_body=env_int("PELUIT_WHATSAPP_MAX_BODY_BYTES", 256 * 1024))


def graph_outbound() -> OutboundWhatsApp:
    token_file = env("PELUIT_WHATSAPP_ACCESS_TOKEN_FILE")
    with open(token_file) as fh:
        token = fh.read().strip()
    return OutboundWhatsApp(env("PELUIT_WHATSAPP_GRAPH_URL", "https://graph.facebook.com/v21.0"),
                            env("PELUIT_WHATSAPP_PHONE_NUMBER_ID"), token)


def graph_media() -> GraphMedia:
    with open(env("PELUIT_WHATSAPP_ACCESS_TOKEN_FILE")) as fh:
        token = fh.read().strip()
    return GraphMedia(env("PELUIT_WHATSAPP_GRAPH_URL", "https://graph.facebook.com/v21.0"), token,
                      timeout=env_float("PELUIT_WHATSAPP_MEDIA_TIMEOUT", 20.0))


# -- the HTTP side ------------------------------------------------------------------

DISABLED = HttpError(404, "not_found", {"id": "Kanal WhatsApp tidak aktif.", "en": "The WhatsApp channel is off."})
UNAVAILABLE = {"id": "Layanan sedang sibuk; kirim ulang nanti.", "en": "The service is busy; retry later."}


class TemporaryFailure(Exception):
    """Something we depend on is down: answer 503, commit nothing; Meta retries."""


def verification(settings: WhatsAppSettings, args) -> Response:
    if not settings.enabled:
        raise DISABLED
    token = args.get("hub.verify_token", "")
    challenge = args.get("hub.challenge", "")
    if (args.get("hub.mode") == "subscribe"
            and hmac.compare_digest(token.encode(), settings.verify_token.encode())
            and re.fullmatch(r"[A-Za-z0-9_\-.]{1,256}", challenge)):
        return Response(challenge, status=200, content_type="text/plain; charset=utf-8")
    WA_REFUSED.labels("verify_token").inc()
    raise HttpError(403, "forbidden", {"id": "Token verifikasi salah.", "en": "Wrong verification token."})


def read_raw(request, limit: int) -> bytes:
    length = request.content_length
    too_large = HttpError(413, "payload_too_large", {
        "id": f"Ukuran data melebihi batas {limit} byte.", "en": f"The body exceeds the limit of {limit} bytes."})
    if length is not None and length > limit:
        raise too_large
    stream = request.stream if length is not None else request.environ["wsgi.input"]
    raw = stream.read(limit + 1)
    if len(raw) > limit:
        raise too_large
    return raw


def read_signed(settings: WhatsAppSettings, request, limit: int) -> bytes:
    """The raw body, once ``X-Hub-Signature-256`` proved it came from Meta (401/403 otherwise)."""
    raw = read_raw(request, limit)
    verdict = check_signature(settings.app_secret, raw, request.headers.get("X-Hub-Signature-256"))
    if verdict != "ok":
        WA_REFUSED.labels("signature_" + verdict).inc()
        if verdict == "missing":
            raise HttpError(401, "signature_required", {
                "id": "Tanda tangan X-Hub-Signature-256 wajib.", "en": "X-Hub-Signature-256 is required."})
        raise HttpError(403, "bad_signature", {
            "id": "Tanda tangan tidak cocok.", "en": "The signature does not match."})
    return raw


def parse_webhook(settings: WhatsAppSettings, request) -> list[Inbound]:
    """Signature first, then JSON, then the schema; each failure is an HttpError."""
    if not settings.enabled:
        raise DISABLED
    raw = read_signed(settings, request, settings.max_body)
    try:
        payload = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        WA_REFUSED.labels("malformed").inc()
        raise HttpError(400, "malformed_json", {"id": "Data bukan JSON yang valid.",
                                                "en": "The body is not valid JSON."}) from None
    if not isinstance(payload, dict):
        WA_REFUSED.labels("malformed").inc()
        raise HttpError(400, "malformed_json", {"id": "Data harus berupa objek JSON.",
                                                "en": "The body must be a JSON object."})
    try:
        return inbound_messages(payload)
    except ValidationError as err:
        WA_REFUSED.labels("schema").inc()
        raise HttpError(400, "validation_failed", {"id": "Format webhook tidak dikenal.",
                                                   "en": "Unrecognised webhook format."},
                        bilingual_errors(err.messages)) from None


def idempotency_key(secret: bytes, phone: str, message_id: str) -> str:
    return hmac.new(secret, "\x00".join((phone, message_id)).encode(), hashlib.sha256).hexdigest()


def _refusal_text(refusal) -> str:
    message = refusal.message()
    return f"{message['id']}\n{message['en']}"


def take_media(conv: Conversation, media_id: str, media: GraphMedia, limits: evidence.Limits) -> tuple:
    """(conversation, reply) for one media message: fetched and checked at once
    like an upload; only its id and size are kept."""
    n = len(conv.media) + 1
    try:
        data = media.fetch(media_id, limits.max_file_bytes)
    except MediaGone:
        return conv, MEDIA_UNAVAILABLE.format(n=n)
    except MediaTooLarge:
        return conv, _refusal_text(evidence.Refusal("file_too_large", n, mb=evidence._mb(limits.max_file_bytes)))
    except OSError as exc:
        log.warning("whatsapp media not fetched: %s", type(exc).__name__)
        raise TemporaryFailure("media") from None
    already = (len(conv.media), sum(size for _, size in conv.media))
    checked, refusals = evidence.check_each([(None, data)], limits, start=n, already=already)
    if refusals:
        return conv, _refusal_text(refusals[0])
    return replace(conv, media=conv.media + ((media_id, len(data)),)), MEDIA_TAKEN.format(n=n)


def attach_media(conv: Conversation, receipt: str, media: GraphMedia, limits: evidence.Limits,
                 attach: Callable[[str, list], list]) -> list[str]:
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
        refused = attach(receipt, files)
    except HttpError as err:
        if err.status >= 500:
            raise TemporaryFailure(err.code) from None
        refused = [{"n": n, **err.message} for n in range(1, len(files) + 1)]
    lines_id = [f"- {MEDIA_UNAVAILABLE.format(n=r['n']).splitlines()[0]}" if r["n"] in gone else f"- {r['id']}"
                for r in refused]
    lines_en = [f"- {MEDIA_UNAVAILABLE.format(n=r['n']).splitlines()[1]}" if r["n"] in gone else f"- {r['en']}"
                for r in refused]
    recorded = len(files) - len(refused)
    out = []
    if recorded:
        out.append(f"{recorded} lampiran tercatat sebagai bukti; metadata (lokasi, penulis, perangkat) dihapus dari "
                   "salinan yang dibaca petugas.\n"
                   f"{recorded} attachment(s) recorded as evidence; metadata (location, author, device) was removed "
                   "from the copy officers read.")
    if refused:
        out.append("Lampiran berikut TIDAK tercatat (laporan tetap tercatat):\n" + "\n".join(lines_id) + "\n"
                   "These attachments were NOT recorded (the report was):\n" + "\n".join(lines_en))
    return out


def handle_message(msg: Inbound, *, store: ConversationStore, outbound: OutboundWhatsApp, secret: bytes,
                   catalogue: Callable[[], list[dict]], register: Callable[[dict, str], dict],
                   media: GraphMedia | None = None, attach: Callable[[str, list], list] | None = None) -> str:
    """Process one message; returns the outcome label. Raises
    ``TemporaryFailure`` with nothing committed when it must be retried."""
    seen_key = store.key("message", msg.message_id)
    conv_key = store.key("phone", msg.phone)
    limits = evidence.Limits.from_env()
    with store.lock(conv_key):
        if store.seen(seen_key):
            return "duplicate"
        conv, expired = store.get(conv_key)
        if msg.media_id is not None and media is not None and attach is not None:
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
                result = register(ReportSubmissionSchema().load(report), idempotency_key(secret, msg.phone,
                                                                                          msg.message_id))
                replies.append(receipt_message(result["registration_number"], result["receipt"]))
                outcome = "replayed" if result.get("replayed") else "registered"
                if step.conversation.media and media is not None and attach is not None:
                    replies += attach_media(step.conversation, result["receipt"], media, limits, attach)
            except ValidationError:
                replies.append(NOT_ACCEPTED)
                outcome = "refused"
            except HttpError as err:
                if err.status >= 500:
                    raise TemporaryFailure(err.code) from None
                replies.append(UNAVAILABLE_CHOICE if err.code in ("unknown_tenant", "unknown_category")
                               else NOT_ACCEPTED)
                outcome = "refused"
            step = Step(None)
        try:
            for text in replies:
                outbound.send_text(msg.phone, text)
        except OSError as exc:
            log.warning("whatsapp reply not sent: %s", type(exc).__name__)
            raise TemporaryFailure("outbound") from None
        store.put(conv_key, step.conversation)
        store.mark_seen(seen_key)
    return outcome


def process_webhook(messages: list[Inbound], **deps) -> tuple[int, list[str]]:
    """(HTTP status, outcomes): 503 if any message must be retried."""
    status, outcomes = 200, []
    for msg in messages:
        try:
            outcomes.append(handle_message(msg, **deps))
        except TemporaryFailure:
            status = 503
            outcomes.append("deferred")
        WA_OUTCOMES.labels(outcomes[-1]).inc()
    return status, outcomes


def webhook_response(status: int, outbound: OutboundWhatsApp) -> Response:
    body = {"outbound": outbound.sent} if isinstance(outbound, RecordingWhatsApp) else {}
    if status != 200:
        body["error"] = {"code": "unavailable", "message": UNAVAILABLE}
    return json_response(status, body)
