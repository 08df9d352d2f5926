"""From a mail to a report: parsing (text part, else HTML turned into text,
without the signature) and the mapping to 5W+1H (category tag in the subject,
labelled lines, ``tidak disebutkan / not stated`` for what the mail does not
say, overflow into ``how``). Plain functions; the rules are in
docs/channels.md (E-mail).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from dataclasses import dataclass, field
from email import policy
from email.parser import BytesParser
from html.parser import HTMLParser

NOT_STATED = "tidak disebutkan / not stated"
DEFAULT_CATEGORY = "lainnya"
FIELD_LIMITS = {"what": 5000, "where": 500, "when": 200, "who": 1000, "how": 5000}
CUT_MARK = " [...]"
CONTINUED = "(lanjutan uraian / continued description)\n"


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
