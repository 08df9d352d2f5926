"""The WhatsApp conversation: a short guided dialogue that ends in a report
(pure: no nameko, no HTTP, no storage; ``whatsapp_store`` keeps it sealed
between messages). The prompts are texts of their own here; replies that say
something cannot go on are the catalogue's ``wa_*``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable

from marshmallow import ValidationError

from peluit_contracts.i18n import decode, message
from peluit_contracts.reports import ReportSubmissionSchema

from .mail_message import clean_text


def bilingual(code: str, sep: str = "\n", **params) -> str:
    """A catalogue text as one chat message: Bahasa Indonesia, then English."""
    words = message(code, **params)
    return words["id"] + sep + words["en"]


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
EXPIRED = bilingual("wa_expired", " / ")
TEXT_ONLY = bilingual("wa_text_only")
MEDIA_TAKEN = ("Lampiran ke-{n} diterima dan akan dilampirkan saat laporan dikirim.\n"
               "Attachment {n} received; it will be attached when the report is sent.")
CANCELLED = "Laporan dibatalkan; tidak ada yang disimpan. / Report cancelled; nothing was stored."
INVALID_CHOICE = bilingual("wa_invalid_choice", " / ")
PROMPT_WHAT = ("Apa yang terjadi? Jelaskan pelanggarannya (minimal 10 karakter).\n"
               "What happened? Describe the wrongdoing (at least 10 characters).")
PROMPT_WHERE = "Di mana kejadiannya (instansi, alamat)? / Where did it happen (office, address)?"
PROMPT_WHEN = "Kapan kejadiannya (tanggal atau perkiraan)? / When did it happen (date or estimate)?"
PROMPT_WHO = ("Siapa yang terlibat (nama/jabatan)? Balas - jika tidak tahu.\n"
              "Who was involved (name/position)? Reply - if you do not know.")
PROMPT_CONFIRM = ("Balas YA untuk mengirim laporan atau BATAL untuk membatalkan.\n"
                  "Reply YES to send the report or CANCEL to cancel.")
UNAVAILABLE_CHOICE = bilingual("wa_unavailable_choice")
NOT_ACCEPTED = bilingual("wa_not_accepted")


def media_unavailable(n: int) -> str:
    return bilingual("wa_media_unavailable", n=n)


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
