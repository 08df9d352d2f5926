"""E-mail channel: an inbound SMTP listener inside intake, on eventlet.

Why a small SMTP server of our own and not aiosmtpd
---------------------------------------------------
intake is a nameko service: everything runs as eventlet green threads on one
hub, and registering a report needs a nameko *worker* (its RPC proxies to the
vault and to cases). aiosmtpd is asyncio: it would need a second event loop in
a real OS thread of a monkey-patched process (where ``socket``, ``select`` and
``threading`` are already green) and a hand-off across threads in both
directions (message in, SMTP reply out). That is two schedulers and a bridge
that is hard to shut down cleanly. The subset of SMTP a final-destination
server needs (RFC 5321: EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT, plus
SIZE, 8BITMIME, SMTPUTF8, PIPELINING, ENHANCEDSTATUSCODES) is small, so
``SmtpSession`` speaks it on green sockets, and ``InboundMail`` is an ordinary
nameko entrypoint: each accepted message runs in a worker exactly like an HTTP
request, and the session waits for that worker's answer.

Durability before "250"
-----------------------
The final reply to DATA is sent only after the worker returned: ``250`` once
cases committed the report (``_register`` answered 201) *and* the reply with the
receipt was handed to the outbound mail server. A temporary failure (broker,
vault, cases or outbound SMTP unavailable) is ``451``: the sending server keeps
the message and retries. The retry is idempotent: the idempotency key is a
keyed hash of the sender address and the Message-ID (or of the raw message if
it has none), so it replays the same case and the same receipt, and the reply
is sent again. The ``250`` text is a bare "Ok": a sending server's logs keep it,
so it names neither the registration number nor the receipt.

Addresses
---------
A message is accepted only for a WBS address that names a tenant, so the
listener can never be used as a relay:

- plus-addressing ``<local>+<tenant code>@<domain>``, e.g.
  ``wbs+35.73@peluit.invalid`` (``PELUIT_MAIL_LOCAL_PART``, default ``wbs``;
  ``PELUIT_MAIL_DOMAINS``, default ``peluit.invalid``);
- explicit addresses ``PELUIT_MAIL_ADDRESSES="wbs@malangkota.go.id=35.73,..."``
  for a pemda that wants its own.

One transaction carries one tenant: a second recipient of another tenant gets
``452`` (RFC 5321 §3.5.3: the sender delivers it in a separate transaction,
which becomes that tenant's own case). Whether the tenant is live is checked
when the message is registered (``550 5.1.1`` if not).

In production the pemda's MX (TLS, SPF/DKIM/DMARC, spam filtering) accepts mail
for the WBS addresses and relays it to this listener on a private interface;
intake itself speaks plain SMTP and offers no AUTH and no STARTTLS.

From a mail to a report (5W+1H)
-------------------------------
Free mail cannot guarantee 5W+1H, so the mapping is:

- the reporter is the header ``From`` address (the envelope sender if there is
  none); address and display name are **identity**, sealed to the vault at
  once (``{"email": ..., "name": ...}``); they are never logged or stored by
  intake, and the reply is sent from memory;
- category: a known category code in brackets anywhere in the subject
  (``[pungli] ...``), else ``lainnya``;
- the body is the text/plain part, else the text/html part turned into text;
  the signature after a ``-- `` line is dropped (it usually names the sender);
- optional labelled lines split the body: ``Apa:``/``What:``,
  ``Di mana:``/``Where:``, ``Kapan:``/``When:``, ``Siapa:``/``Who:``,
  ``Bagaimana:``/``How:`` (also ``Lokasi``, ``Waktu``, ``Terlapor``,
  ``Kronologi``); text before the first label belongs to ``what``;
- ``what`` = subject (without the tag) + unlabelled text + ``Apa:`` text;
  beyond 5,000 characters the rest goes to the start of ``how``; anything that
  still does not fit is cut, and the reply says so;
- ``where`` and ``when`` that the mail does not state become
  ``tidak disebutkan / not stated``; ``who`` and ``how`` stay empty;
- attachments go through the portal's evidence path once the report is
  registered (type by content, limits, metadata stripped for officers, the
  untouched original sealed to the vault, a generic label instead of the file
  name); a refused attachment never loses the report: the reply names it by
  position and says why, in both languages;
- messages from the null sender (bounces) and ``Auto-Submitted`` messages
  (vacation replies) are accepted and dropped, never answered (no mail loops).

The reply
---------
intake answers directly, from memory, over ``PELUIT_INTAKE_SMTP_HOST/PORT``
(from ``PELUIT_INTAKE_SMTP_FROM``). The vault's contact relay is the wrong path
for it: the relay knows cases only by case id and sends fixed templates without
case content, and a receipt must never travel through cases (cases keeps only
its Argon2id hash). intake is the edge that received the address; it holds it
only for the duration of this one SMTP transaction, as it holds a portal
reporter's identity until it is sealed. The reply is bilingual, carries the
registration number and the receipt, no report text, and asks the reporter to
keep the receipt elsewhere and delete the mail.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import smtplib
import socket
import unicodedata
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from functools import partial
from html.parser import HTMLParser
from typing import Callable

import eventlet
from eventlet.event import Event
from marshmallow import ValidationError
from nameko.exceptions import ContainerBeingKilled
from nameko.extensions import Entrypoint, ProviderCollector, SharedExtension
from prometheus_client import Counter

from peluit_common.settings import ConfigError, env, env_float, env_int
from peluit_common.web import HttpError
from peluit_contracts.reports import TENANT_CODE, ReportSubmissionSchema

log = logging.getLogger(__name__)

NOT_STATED = "tidak disebutkan / not stated"
DEFAULT_CATEGORY = "lainnya"
FIELD_LIMITS = {"what": 5000, "where": 500, "when": 200, "who": 1000, "how": 5000}
CUT_MARK = " [...]"
CONTINUED = "(lanjutan uraian / continued description)\n"


# -- configuration -----------------------------------------------------------

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


# -- parsing -------------------------------------------------------------------

class _HtmlText(HTMLParser):
    """HTML to plain text: block elements become line breaks, script/style vanish."""

    BLOCKS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre",
              "table", "ul", "ol", "hr", "section", "article", "header", "footer"}
    SKIP = {"script", "style", "head", "title", "template"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self.skipping += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in self.SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self.skipping:
            self.parts.append(re.sub(r"\s+", " ", data))


def html_to_text(html: str) -> str:
    parser = _HtmlText()
    parser.feed(html)
    parser.close()
    lines = (line.strip() for line in "".join(parser.parts).split("\n"))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def clean_text(text: str) -> str:
    """Normalised line ends, no control characters but newline and tab,
    trailing spaces gone, at most one blank line in a row."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch) != "Cc")
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _part_text(part) -> str:
    try:
        text = part.get_content()
    except (LookupError, UnicodeError, AssertionError, ValueError):
        # unknown or lying charset: keep what decodes, never fail the report
        raw = part.get_payload(decode=True) or b""
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
    return text if isinstance(text, str) else ""


def strip_signature(text: str) -> str:
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if line in ("-- ", "--"):
            return "\n".join(lines[:i])
    return text


@dataclass
class ParsedMail:
    subject: str = ""
    body: str = ""
    message_id: str | None = None
    from_addr: str | None = None
    from_name: str | None = None
    automatic: bool = False
    # (file name, bytes) of every attachment; never shown by repr (names and content may identify)
    attachments: list = field(default_factory=list, repr=False)


def _header(msg, name: str) -> str:
    try:
        value = msg.get(name)
    except Exception:  # a malformed header must not lose the report
        return ""
    return str(value) if value is not None else ""


def parse_mail(raw: bytes) -> ParsedMail:
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    out = ParsedMail()
    out.subject = clean_text(" ".join(_header(msg, "Subject").split()))
    out.message_id = " ".join(_header(msg, "Message-ID").split()) or None
    try:
        from_header = msg.get("From")
        addresses = getattr(from_header, "addresses", ()) or ()
    except Exception:
        addresses = ()
    for address in addresses:
        if address.addr_spec and "@" in address.addr_spec:
            out.from_addr = address.addr_spec
            out.from_name = " ".join(address.display_name.split()) or None
            break
    auto = _header(msg, "Auto-Submitted").strip().lower()
    out.automatic = bool(auto) and not auto.startswith("no")
    body = msg.get_body(preferencelist=("plain", "html"))
    if body is not None:
        text = _part_text(body)
        if body.get_content_subtype() == "html":
            text = html_to_text(text)
        out.body = strip_signature(clean_text(text)).strip()
    for part in msg.walk():
        if part.is_multipart() or part is body:
            continue
        if part.get_content_disposition() == "attachment" or part.get_content_maintype() != "text":
            try:
                name = part.get_filename()
            except Exception:  # a malformed parameter must not lose the report
                name = None
            out.attachments.append((name, part.get_payload(decode=True) or b""))
    return out


LABELS = {
    "what": ("apa yang terjadi", "apa", "what"),
    "where": ("di mana", "dimana", "lokasi", "tempat", "where"),
    "when": ("kapan", "waktu", "when"),
    "who": ("siapa", "terlapor", "who"),
    "how": ("bagaimana", "kronologi", "how"),
}
_LABEL_RE = re.compile(
    r"^\s*(" + "|".join(re.escape(w) for words in LABELS.values() for w in words) + r")\s*[:：]\s?(.*)$",
    re.IGNORECASE)
_LABEL_FIELD = {w: name for name, words in LABELS.items() for w in words}
_TAG_RE = re.compile(r"\[\s*([A-Za-z0-9_\-]{2,64})\s*\]")


def split_labels(body: str) -> tuple[str, dict[str, str]]:
    """(text before the first label, {field: text}) from ``Label: text`` lines."""
    preamble: list[str] = []
    fields: dict[str, list[str]] = {}
    current = preamble
    for line in body.split("\n"):
        match = _LABEL_RE.match(line)
        if match:
            current = fields.setdefault(_LABEL_FIELD[match.group(1).lower()], [])
            if match.group(2).strip():
                current.append(match.group(2))
        else:
            current.append(line)
    return clean_text("\n".join(preamble)), {k: clean_text("\n".join(v)) for k, v in fields.items()}


def _cut(text: str, limit: int) -> tuple[str, str]:
    """(head that fits in ``limit`` with a cut mark, the rest)."""
    if len(text) <= limit:
        return text, ""
    head = text[:limit - len(CUT_MARK)]
    return head.rstrip() + CUT_MARK, text[len(head):].lstrip()


@dataclass
class MailReport:
    fields: dict  # what/where/when/who/how for ReportSubmissionSchema
    category: str
    truncated: bool = False
    missing_where_when: bool = False


def map_report(parsed: ParsedMail, categories: set[str]) -> MailReport:
    """The 5W+1H fields of a mail (see the module docstring)."""
    subject, category = parsed.subject, DEFAULT_CATEGORY
    tag = _TAG_RE.search(subject)
    if tag and tag.group(1).lower() in categories:
        category = tag.group(1).lower()
        subject = clean_text(" ".join((subject[:tag.start()] + " " + subject[tag.end():]).split()))
    subject = re.sub(r"^((re|fw|fwd|aw)\s*:\s*)+", "", subject, flags=re.IGNORECASE).strip()
    preamble, labelled = split_labels(parsed.body)
    what = "\n\n".join(p for p in (subject, preamble, labelled.get("what", "")) if p)
    truncated = False
    what, overflow = _cut(what, FIELD_LIMITS["what"])
    how = labelled.get("how", "")
    if overflow:
        how = CONTINUED + overflow + ("\n\n" + how if how else "")
    out = {"what": what}
    missing = False
    for name, value in (("where", labelled.get("where", "")), ("when", labelled.get("when", "")),
                        ("who", labelled.get("who", "")), ("how", how)):
        if not value:
            if name in ("where", "when"):
                out[name], missing = NOT_STATED, True
            continue
        value, rest = _cut(value, FIELD_LIMITS[name])
        truncated = truncated or bool(rest)
        out[name] = value
    return MailReport(fields=out, category=category, truncated=truncated, missing_where_when=missing)


def idempotency_key(secret: bytes, sender: str, parsed_message_id: str | None, raw: bytes) -> str:
    """A retried delivery of the same mail from the same sender maps to the
    same submission. The sender is part of it so that someone who saw a
    Message-ID cannot replay it to obtain another reporter's receipt."""
    source = parsed_message_id or "sha256:" + hashlib.sha256(raw).hexdigest()
    return hmac.new(secret, "\x00".join((sender.lower(), source)).encode(), hashlib.sha256).hexdigest()


# -- the reply -------------------------------------------------------------------

def build_reply(settings: MailSettings, to_addr: str, tenant_name: str, registration_number: str,
                receipt: str, key: str, in_reply_to: str | None, *, truncated: bool = False,
                attachments: int = 0, refused: list | tuple = (), missing_where_when: bool = False) -> EmailMessage:
    portal = f" ({settings.portal_url})" if settings.portal_url else ""
    notes_id, notes_en = [], []
    if missing_where_when:
        notes_id.append("Tempat dan/atau waktu kejadian tidak kami temukan dalam e-mail Anda. Tambahkan\n"
                        "melalui halaman status laporan jika Anda mengetahuinya.")
        notes_en.append("We did not find the place and/or time of the events in your e-mail. Add them\n"
                        "on the report status page if you know them.")
    if attachments:
        notes_id.append(f"{attachments} lampiran tercatat sebagai bukti. Metadata (lokasi, penulis, perangkat)\n"
                        "dihapus dari salinan yang dibaca petugas; berkas asli disimpan tersegel.")
        notes_en.append(f"{attachments} attachment(s) were recorded as evidence. Metadata (location, author,\n"
                        "device) was removed from the copy officers read; the original is kept sealed.")
    if refused:
        notes_id.append("Lampiran berikut TIDAK tercatat (laporan tetap tercatat); kirim ulang dalam bentuk lain\n"
                        "melalui halaman status laporan:\n" + "\n".join(f"  - {r['id']}" for r in refused))
        notes_en.append("These attachments were NOT recorded (the report was); send them again in another form\n"
                        "on the report status page:\n" + "\n".join(f"  - {r['en']}" for r in refused))
    if truncated:
        notes_id.append("Laporan Anda melebihi batas panjang; bagian akhirnya tidak tercatat. Kirim sisanya\n"
                        "sebagai pesan melalui halaman status laporan.")
        notes_en.append("Your report exceeded the length limit; its end was not recorded. Send the rest\n"
                        "as a message on the report status page.")
    body = (
        f"Laporan Anda kepada {tenant_name} telah tercatat.\n\n"
        f"    Nomor registrasi : {registration_number}\n"
        f"    Tanda terima     : {receipt}\n\n"
        "Simpan tanda terima ini di tempat yang aman, lalu hapus e-mail ini. Tanda terima adalah satu-satunya\n"
        f"kunci untuk melihat status laporan di portal WBS{portal}, membaca pertanyaan Inspektorat dan\n"
        "menjawabnya. Tanda terima tidak dapat dipulihkan jika hilang.\n"
        "Alamat e-mail Anda disimpan tersegel; petugas yang menangani laporan tidak melihatnya.\n"
        + "".join("\n" + n + "\n" for n in notes_id)
        + "\nJangan membalas e-mail ini.\n\n"
        "------------------------------------------------------------------------\n\n"
        f"Your report to {tenant_name} has been registered.\n\n"
        f"    Registration number : {registration_number}\n"
        f"    Receipt             : {receipt}\n\n"
        "Keep this receipt somewhere safe, then delete this e-mail. The receipt is the only key to the\n"
        f"status of your report on the WBS portal{portal}, to the Inspektorat's questions and to your\n"
        "answers. It cannot be recovered if lost.\n"
        "Your e-mail address is stored sealed; the officers handling the report do not see it.\n"
        + "".join("\n" + n + "\n" for n in notes_en)
        + "\nDo not reply to this e-mail.\n"
    )
    msg = EmailMessage()
    msg["From"] = settings.reply_from
    msg["To"] = to_addr
    msg["Subject"] = "Laporan Anda telah diterima / Your report has been received"
    domain = settings.reply_from.rpartition("@")[2] or "peluit.invalid"
    # deterministic: a resent reply (after a retried delivery) can be deduplicated
    msg["Message-ID"] = f"<receipt.{key[:32]}@{domain}>"
    msg["Auto-Submitted"] = "auto-replied"  # RFC 3834: no vacation replies back to us
    if in_reply_to and re.fullmatch(r"<[^<>\s]{1,250}>", in_reply_to):
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    msg.set_content(body)
    return msg


def send_reply(settings: MailSettings, msg: EmailMessage) -> None:
    with smtplib.SMTP(settings.reply_host, settings.reply_port, timeout=settings.reply_timeout) as smtp:
        smtp.send_message(msg)


# -- SMTP replies and envelopes -----------------------------------------------

@dataclass(frozen=True)
class Reply:
    code: int
    text: str

    def encode(self) -> bytes:
        return f"{self.code} {self.text}\r\n".encode("ascii", "replace")


@dataclass
class Envelope:
    """One accepted SMTP transaction: envelope sender, the tenant its WBS
    recipient names, and the message bytes."""

    sender: str
    tenant: str
    data: bytes = b""

    def __repr__(self) -> str:  # never show an address or a message in a log or traceback
        return f"<Envelope tenant={self.tenant} bytes={len(self.data)}>"


OK = Reply(250, "2.0.0 Ok")
TEMPORARY = Reply(451, "4.3.0 Coba lagi nanti / Temporary failure, try again later")
SHUTTING_DOWN = Reply(421, "4.3.2 Layanan berhenti sementara / Service shutting down, try again later")

# -- one message, inside a nameko worker ----------------------------------------

MAIL_OUTCOMES = Counter("peluit_intake_mail_messages_total", "Inbound e-mail messages by outcome", ["outcome"])

DISCARDED = Reply(250, "2.6.0 Pesan otomatis tidak diproses / Automatic message accepted and dropped")
UNKNOWN_TENANT = Reply(550, "5.1.1 Inspektorat tidak terdaftar / No Inspektorat registered under this address")
EMPTY_REPORT = Reply(550, "5.6.0 Laporan kosong: tulis apa yang terjadi (minimal 10 karakter) / "
                          "Empty report: describe what happened (at least 10 characters)")
UNREADABLE = Reply(550, "5.6.0 Laporan tidak dapat dibaca / The report could not be read")
BAD_SENDER = Reply(550, "5.1.7 Alamat pengirim tidak dapat dipakai untuk membalas / "
                        "The sender address cannot be used for a reply")
KEY_REUSED = Reply(550, "5.7.0 Message-ID ini sudah dipakai untuk laporan lain / "
                        "This Message-ID was already used for a different report")


def _validated(submission: dict) -> dict | Reply:
    """ReportSubmissionSchema applied to a mapped mail; an unusable display
    name is dropped rather than losing the report."""
    for _ in range(2):
        try:
            return ReportSubmissionSchema().load(submission)
        except ValidationError as err:
            errors = err.messages if isinstance(err.messages, dict) else {}
            identity_errors = errors.get("identity")
            if isinstance(identity_errors, dict) and set(identity_errors) == {"name"}:
                submission["identity"].pop("name", None)
                continue
            if isinstance(identity_errors, dict) and "email" in identity_errors:
                return BAD_SENDER
            if "what" in errors:
                return EMPTY_REPORT
            return UNREADABLE
    return UNREADABLE


def process_mail(envelope: Envelope, *, settings: MailSettings, secret: bytes,
                 categories_of: Callable[[str], set | None], tenant_name: Callable[[str], str],
                 register: Callable[[dict, str], dict],
                 attach: Callable[[str, list], list] | None = None,
                 send: Callable[[MailSettings, EmailMessage], None] = send_reply) -> Reply:
    """Turn one accepted message into a registered report and a reply.

    ``register(report, idempotency_key)`` is the portal's path
    (``IntakeService._register``) and returns the 201 body or raises
    ``HttpError``. ``attach(receipt, [(name, bytes)])`` stores the attachments
    as evidence and returns the refused ones. Returns the SMTP reply to DATA:
    250 only after the report and its evidence are durable and the receipt is
    on its way; 451 on anything temporary (the retry replays both)."""
    if not envelope.sender:  # a bounce (DSN): never a report, never answered
        MAIL_OUTCOMES.labels("discarded").inc()
        return DISCARDED
    try:
        parsed = parse_mail(envelope.data)
    except Exception as exc:  # the parser is lenient; anything else is a malformed message
        log.warning("unparseable mail: %s", type(exc).__name__)
        MAIL_OUTCOMES.labels("refused").inc()
        return UNREADABLE
    if parsed.automatic:
        MAIL_OUTCOMES.labels("discarded").inc()
        return DISCARDED
    address = parsed.from_addr or envelope.sender
    try:
        categories = categories_of(envelope.tenant)
    except HttpError:
        MAIL_OUTCOMES.labels("deferred").inc()
        return TEMPORARY
    if categories is None:
        MAIL_OUTCOMES.labels("refused").inc()
        return UNKNOWN_TENANT
    mapped = map_report(parsed, categories)
    identity = {"email": address}
    if parsed.from_name:
        identity["name"] = parsed.from_name
    report = _validated({"tenant": envelope.tenant, "category": mapped.category, **mapped.fields,
                         "identity": identity})
    del identity
    if isinstance(report, Reply):
        MAIL_OUTCOMES.labels("refused").inc()
        return report
    address = report["identity"]["email"]  # as validated (trimmed)
    key = idempotency_key(secret, address, parsed.message_id, envelope.data)
    try:
        result = register(report, key)
    except HttpError as err:
        MAIL_OUTCOMES.labels("deferred" if err.status >= 500 else "refused").inc()
        if err.status >= 500:
            return TEMPORARY
        if err.code == "unknown_tenant":
            return UNKNOWN_TENANT
        if err.code == "idempotency_key_reused":
            return KEY_REUSED
        return UNREADABLE
    refused: list = []
    if parsed.attachments:
        if attach is None:
            refused = [{"n": n, "id": f"Lampiran ke-{n} tidak diproses.", "en": f"Attachment {n} was not processed."}
                       for n in range(1, len(parsed.attachments) + 1)]
        else:
            try:
                refused = attach(result["receipt"], parsed.attachments)
            except HttpError as err:
                if err.status >= 500:
                    MAIL_OUTCOMES.labels("deferred").inc()
                    return TEMPORARY
                # the case no longer takes evidence (closed meanwhile): the report stands, say so
                refused = [{"n": n, "id": err.message["id"], "en": err.message["en"]}
                           for n in range(1, len(parsed.attachments) + 1)]
    reply = build_reply(settings, address, tenant_name(envelope.tenant), result["registration_number"],
                        result["receipt"], key, parsed.message_id, truncated=mapped.truncated,
                        attachments=len(parsed.attachments) - len(refused), refused=refused,
                        missing_where_when=mapped.missing_where_when)
    try:
        send(settings, reply)
    except (OSError, smtplib.SMTPException) as exc:
        # the report is durable, but the reporter has no receipt yet: let the
        # sender retry; the retry replays the same case and sends the receipt again
        log.warning("receipt reply not sent: %s", type(exc).__name__)
        MAIL_OUTCOMES.labels("deferred").inc()
        return TEMPORARY
    MAIL_OUTCOMES.labels("replayed" if result.get("replayed") else "registered").inc()
    return OK


# -- SMTP ------------------------------------------------------------------------

COMMAND_LINE_LIMIT = 2048
DATA_CHUNK = 64 * 1024
MAX_BAD_COMMANDS = 10


class _Closed(Exception):
    pass


class _SessionExpired(BaseException):
    """A connection's lifetime is capped (slow senders hold a slot otherwise);
    a BaseException so that no ``except Exception`` on the way swallows it."""


class SmtpSession:
    """One SMTP connection (RFC 5321 server side, final delivery only).

    ``deliver(envelope) -> Reply`` decides the answer to DATA. End of data is
    recognised only as ``CRLF . CRLF`` (no bare-LF variants: SMTP smuggling).
    """

    def __init__(self, sock, settings: MailSettings, resolve: Callable[[str], str | None],
                 deliver: Callable[[Envelope], Reply], stopping: Callable[[], bool] = lambda: False):
        self.sock = sock
        self.rfile = sock.makefile("rb")
        self.settings = settings
        self.resolve = resolve
        self.deliver = deliver
        self.stopping = stopping
        self.greeted = False
        self.busy = False  # inside deliver(): let it finish on shutdown
        self.bad_commands = 0
        self._reset()

    def _reset(self) -> None:
        self.sender: str | None = None
        self.tenant: str | None = None

    def send(self, *lines: str | Reply) -> None:
        data = b"".join(r.encode() if isinstance(r, Reply) else (r + "\r\n").encode("ascii", "replace")
                        for r in lines)
        self.sock.sendall(data)

    def run(self) -> None:
        lifetime = eventlet.Timeout(self.settings.session_seconds, _SessionExpired())
        try:
            self.sock.settimeout(self.settings.timeout)
            self.send(f"220 {self.settings.hostname} ESMTP Peluit")
            while True:
                line = self.rfile.readline(COMMAND_LINE_LIMIT + 1)
                if not line:
                    return
                if self.stopping():
                    self.send(SHUTTING_DOWN)
                    return
                if len(line) > COMMAND_LINE_LIMIT or not line.endswith(b"\n"):
                    self._drain_line(line)
                    self.send("500 5.5.2 Baris terlalu panjang / Line too long")
                    if self._bad():
                        return
                    continue
                if not self.command(line.rstrip(b"\r\n").decode("utf-8", "replace")):
                    return
        except (socket.timeout, TimeoutError, _SessionExpired):
            self._quietly(Reply(421, "4.4.2 Waktu habis / Timeout, closing connection"))
        except (_Closed, OSError):
            pass
        except Exception as exc:  # a bug must end this session only, and say nothing about the message
            log.error("smtp session failed: %s", type(exc).__name__)
            self._quietly(Reply(421, "4.3.0 Kesalahan sementara / Temporary failure, closing connection"))
        finally:
            lifetime.cancel()
            self._close()

    def _quietly(self, reply: Reply) -> None:
        try:
            self.send(reply)
        except OSError:
            pass

    def _close(self) -> None:
        for closer in (self.rfile.close, self.sock.close):
            try:
                closer()
            except OSError:
                pass

    def _drain_line(self, line: bytes) -> None:
        while line and not line.endswith(b"\n"):
            line = self.rfile.readline(COMMAND_LINE_LIMIT)

    def _bad(self) -> bool:
        self.bad_commands += 1
        if self.bad_commands >= MAX_BAD_COMMANDS:
            self.send("421 4.7.0 Terlalu banyak kesalahan / Too many errors, closing connection")
            return True
        return False

    # one command; False ends the session
    def command(self, line: str) -> bool:
        verb, _, arg = line.strip().partition(" ")
        verb = verb.upper()
        handler = getattr(self, "smtp_" + verb, None) if verb.isalpha() else None
        if handler is None:
            if verb in ("VRFY",):
                self.send("252 2.5.0 Tidak dapat diverifikasi / Cannot VRFY user")
                return True
            if verb in ("EXPN", "HELP", "TURN", "ETRN", "STARTTLS", "AUTH", "BDAT", "SEND", "SOML", "SAML"):
                self.send("502 5.5.1 Tidak didukung / Command not implemented")
            else:
                self.send("500 5.5.2 Perintah tidak dikenal / Command unrecognized")
            return not self._bad()
        return handler(arg.strip()) is not False

    def smtp_HELO(self, arg: str):
        if not arg:
            self.send("501 5.5.4 Sintaks: HELO domain / Syntax: HELO domain")
            return
        self._reset()
        self.greeted = True
        self.send(f"250 {self.settings.hostname}")

    def smtp_EHLO(self, arg: str):
        if not arg:
            self.send("501 5.5.4 Sintaks: EHLO domain / Syntax: EHLO domain")
            return
        self._reset()
        self.greeted = True
        self.send(f"250-{self.settings.hostname}", f"250-SIZE {self.settings.max_bytes}", "250-8BITMIME",
                  "250-SMTPUTF8", "250-PIPELINING", "250 ENHANCEDSTATUSCODES")

    def smtp_NOOP(self, arg: str):
        self.send("250 2.0.0 Ok")

    def smtp_RSET(self, arg: str):
        self._reset()
        self.send("250 2.0.0 Ok")

    def smtp_QUIT(self, arg: str):
        self.send("221 2.0.0 Sampai jumpa / Bye")
        return False

    @staticmethod
    def _path(arg: str, keyword: str) -> tuple[str, list[str]] | None:
        match = re.fullmatch(keyword + r":\s*<([^<>]*)>(.*)", arg, flags=re.IGNORECASE)
        if match is None:
            return None
        path = match.group(1).strip()
        if path.startswith("@"):  # obsolete source route: @a,@b:user@domain
            path = path.partition(":")[2]
        return path, match.group(2).split()

    def smtp_MAIL(self, arg: str):
        if not self.greeted:
            self.send("503 5.5.1 Kirim EHLO dahulu / Send EHLO first")
            return
        if self.sender is not None:
            self.send("503 5.5.1 Transaksi sudah dimulai / Nested MAIL command")
            return
        parsed = self._path(arg, "FROM")
        if parsed is None or (parsed[0] and "@" not in parsed[0]):
            self.send("501 5.5.4 Sintaks: MAIL FROM:<alamat> / Syntax: MAIL FROM:<address>")
            return
        path, params = parsed
        for param in params:
            name, _, value = param.partition("=")
            name = name.upper()
            if name == "SIZE" and value.isdigit():
                if int(value) > self.settings.max_bytes:
                    self.send("552 5.3.4 Pesan terlalu besar / Message size exceeds fixed limit")
                    return
            elif name == "BODY" and value.upper() in ("7BIT", "8BITMIME"):
                pass
            elif name == "SMTPUTF8" and not value:
                pass
            else:
                self.send("555 5.5.4 Parameter tidak dikenal / Unsupported MAIL parameter")
                return
        self.sender = path
        self.send("250 2.1.0 Ok")

    def smtp_RCPT(self, arg: str):
        if self.sender is None:
            self.send("503 5.5.1 Kirim MAIL dahulu / Need MAIL command")
            return
        parsed = self._path(arg, "TO")
        if parsed is None or "@" not in parsed[0]:
            self.send("501 5.5.4 Sintaks: RCPT TO:<alamat> / Syntax: RCPT TO:<address>")
            return
        if parsed[1]:
            self.send("555 5.5.4 Parameter tidak dikenal / Unsupported RCPT parameter")
            return
        tenant = self.resolve(parsed[0])
        if tenant is None:
            self.send("550 5.1.1 Alamat tidak dikenal / Unknown recipient; this server accepts only WBS addresses")
            return
        if self.tenant is not None and tenant != self.tenant:
            # RFC 5321 3.5.3: the sender delivers this recipient in a later transaction
            self.send("452 4.5.3 Satu Inspektorat per pesan / One Inspektorat per transaction, send again")
            return
        self.tenant = tenant
        self.send("250 2.1.5 Ok")

    def smtp_DATA(self, arg: str):
        if self.sender is None:
            self.send("503 5.5.1 Kirim MAIL dahulu / Need MAIL command")
            return
        if self.tenant is None:
            self.send("554 5.5.1 Tidak ada penerima yang sah / No valid recipients")
            return
        self.send("354 Akhiri dengan <CRLF>.<CRLF> / End data with <CR><LF>.<CR><LF>")
        data = self._read_data()
        envelope = Envelope(self.sender, self.tenant)
        self._reset()
        if data is None:
            self.send("552 5.3.4 Pesan terlalu besar / Message size exceeds fixed limit")
            return
        envelope.data = data
        self.busy = True
        try:
            reply = self.deliver(envelope)
        except Exception as exc:  # deliver must answer; if it cannot, the sender retries
            log.error("mail delivery failed: %s", type(exc).__name__)
            reply = TEMPORARY
        finally:
            self.busy = False
            del envelope
        self.send(reply)

    def _read_data(self) -> bytes | None:
        chunks, size, too_big, line_start = [], 0, False, True
        while True:
            chunk = self.rfile.readline(DATA_CHUNK)
            if not chunk:
                raise _Closed()
            if line_start:
                if chunk == b".\r\n":
                    break
                if chunk.startswith(b"."):
                    chunk = chunk[1:]
            line_start = chunk.endswith(b"\r\n")
            size += len(chunk)
            if size > self.settings.max_bytes:
                too_big, chunks = True, []
            elif not too_big:
                chunks.append(chunk)
        return None if too_big else b"".join(chunks)


# -- nameko: the listener and the entrypoint ---------------------------------------

class SmtpListener(ProviderCollector, SharedExtension):
    """Accepts SMTP connections on ``PELUIT_MAIL_LISTEN`` (off when unset) and
    hands each message to the ``InboundMail`` entrypoint of the service."""

    def __init__(self):
        super().__init__()
        self.settings = MailSettings()
        self._sock = None
        self._gt = None
        self._pool = None
        self._sessions: dict = {}
        self._stopping = False

    def setup(self):
        self.settings = MailSettings.from_env()

    def start(self):
        if self.settings.listen is None or self._sock is not None:
            return
        # reuse_port: several intake processes on one host share the port, as they share HTTP
        self._sock = eventlet.listen(self.settings.listen, reuse_port=self.settings.listen[1] != 0)
        self._pool = eventlet.GreenPool(self.settings.max_connections)
        self._gt = self.container.spawn_managed_thread(self._accept, identifier="smtp_listener")
        log.info("inbound smtp listening", extra={"fields": {"port": self._sock.getsockname()[1]}})

    @property
    def port(self) -> int | None:
        return self._sock.getsockname()[1] if self._sock is not None else None

    def _accept(self):
        while not self._stopping:
            try:
                conn, _address = self._sock.accept()  # the client address is never kept
            except OSError:
                if self._stopping:
                    return
                eventlet.sleep(0.1)
                continue
            del _address
            if self._pool.free() == 0:
                try:
                    conn.sendall(b"421 4.7.0 Sedang sibuk / Too busy, try again later\r\n")
                finally:
                    conn.close()
                continue
            session = SmtpSession(conn, self.settings, partial(resolve_tenant, settings=self.settings),
                                  self.deliver, lambda: self._stopping)
            gt = self._pool.spawn(session.run)
            self._sessions[gt] = session
            gt.link(lambda g: self._sessions.pop(g, None))

    def deliver(self, envelope: Envelope) -> Reply:
        provider = next(iter(self._providers), None)
        if provider is None or self._stopping:
            return SHUTTING_DOWN
        return provider.handle(envelope)

    def unregister_provider(self, provider):
        super().unregister_provider(provider)
        if not self._providers:
            self._stop_accepting()

    def _stop_accepting(self):
        self._stopping = True
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
        if self._gt is not None:
            self._gt.kill()
            self._gt = None

    def stop(self):
        self._stop_accepting()
        # idle sessions end now; one waiting for its worker gets to answer first
        for gt, session in list(self._sessions.items()):
            if not session.busy:
                gt.kill()
        if self._pool is not None:
            with eventlet.Timeout(30, False):
                self._pool.waitall()
            for gt in list(self._sessions):
                gt.kill()
        super().stop()

    def kill(self):
        self._stop_accepting()
        for gt in list(self._sessions):
            gt.kill()


class InboundMail(Entrypoint):
    """``@inbound_mail``: the decorated method gets an ``Envelope`` and returns
    the ``Reply`` to the DATA command."""

    server = SmtpListener()
    wait_seconds = 300.0  # senders wait up to 10 minutes for the answer to DATA (RFC 5321 4.5.3.2.6)

    def setup(self):
        self.server.register_provider(self)

    def stop(self):
        self.server.unregister_provider(self)
        super().stop()

    def handle(self, envelope: Envelope) -> Reply:
        event = Event()
        try:
            self.container.spawn_worker(self, (envelope,), {}, handle_result=partial(self._result, event))
        except ContainerBeingKilled:
            return SHUTTING_DOWN
        outcome = event.wait(self.wait_seconds)
        if outcome is None:
            return TEMPORARY
        result, exc_info = outcome
        if exc_info is not None or not isinstance(result, Reply):
            return TEMPORARY
        return result

    @staticmethod
    def _result(event, worker_ctx, result, exc_info):
        event.send((result, exc_info))
        return result, exc_info


inbound_mail = InboundMail.decorator
