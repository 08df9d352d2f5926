"""The reply that carries the receipt to a reporter who wrote by e-mail, sent
from memory by intake itself: the vault's contact relay knows cases only by id
and a receipt must never travel through cases. Bilingual, no report text; its
conditional notes are catalogue texts (``mail_note_*``).
"""

from __future__ import annotations

import re
import smtplib
from email.message import EmailMessage

from peluit_contracts.i18n import message

from .mail_settings import MailSettings


def build_reply(settings: MailSettings, to_addr: str, tenant_name: str, registration_number: str,
                receipt: str, key: str, in_reply_to: str | None, *, truncated: bool = False,
                attachments: int = 0, refused: list | tuple = (), missing_where_when: bool = False) -> EmailMessage:
    portal = f" ({settings.portal_url})" if settings.portal_url else ""
    notes = []  # the catalogue's mail_note_* texts, each with its refused attachments listed
    if missing_where_when:
        notes.append((message("mail_note_where_when"), []))
    if attachments:
        notes.append((message("mail_note_recorded", count=attachments), []))
    if refused:
        notes.append((message("mail_note_not_recorded"), refused))
    if truncated:
        notes.append((message("mail_note_truncated"), []))
    notes_id = [words["id"] + "".join(f"\n  - {r['id']}" for r in items) for words, items in notes]
    notes_en = [words["en"] + "".join(f"\n  - {r['en']}" for r in items) for words, items in notes]
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
