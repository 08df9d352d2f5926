"""Contact relay: the vault alone turns a reporter into an address.

Other services ask "tell the reporter of case X that there is news"; the vault
resolves the contact it holds, sends through its own outbound adapters (SMTP
to an e-mail address; a WhatsApp template message through the Cloud API to a
reporter who left only a phone number) and answers only "sent" or "no contact
channel", never which. The text is fixed by
template code (texts in ``peluit_contracts.i18n.vault``), never supplied
free-form, and never carries case content: a reporter's mailbox may be read
by someone else.
"""

from __future__ import annotations

import json
import os
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage

from prometheus_client import Counter

from peluit_common.mail import stable_message_id
from peluit_common.settings import env, env_int, production
from peluit_common.whatsapp import RecordingWhatsApp, graph_outbound, outbound_mode
from peluit_contracts.i18n import MESSAGES, message
from peluit_contracts.relay import RELAY_TEMPLATES

from .identities import read_identity, reporter_of_case
from .records import Erased


SENT_BY = Counter("peluit_vault_relays_sent_total", "Reporter notices handed over, by channel", ["channel"])


def template_text(template: str) -> tuple[str, str]:
    """(subject, body) of a relay template: Bahasa Indonesia first, then English
    (texts in ``peluit_contracts.i18n.vault``)."""
    subject, body = message(f"relay_{template}_subject"), message(f"relay_{template}_body")
    return f"{subject['id']} / {subject['en']}", f"{body['id']}\n\n{body['en']}\n"


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    sender: str
    timeout: float = 15.0

    @classmethod
    def from_env(cls) -> "SmtpSettings":
        return cls(env("PELUIT_VAULT_SMTP_HOST", "127.0.0.1"), env_int("PELUIT_VAULT_SMTP_PORT", 8025),
                   env("PELUIT_VAULT_SMTP_FROM", "wbs-noreply@peluit.invalid"))


def contact_email(identity_json: bytes) -> str | None:
    return json.loads(identity_json).get("email")


def contact_phone(identity_json: bytes) -> str | None:
    """The number in the Cloud API's form: digits with the country code (0812... -> 62812...)."""
    phone = json.loads(identity_json).get("phone")
    if not phone:
        return None
    digits = "".join(ch for ch in phone if ch.isdigit())
    return "62" + digits[1:] if digits.startswith("0") else digits


def whatsapp_outbound():
    """The vault's WhatsApp sender (``PELUIT_VAULT_WHATSAPP_OUTBOUND``): ``graph``
    (the Cloud API; the default in production once its token file is set),
    ``record`` (in memory; the default outside production, refused in it) or
    ``off`` (the default in production without a token: phone-only reporters
    get ``no_contact_channel``, as before)."""
    default = "record"
    if production():
        default = "graph" if os.environ.get("PELUIT_WHATSAPP_ACCESS_TOKEN_FILE") else "off"
    mode = env("PELUIT_VAULT_WHATSAPP_OUTBOUND", default)
    if mode == "off":
        return None
    return graph_outbound() if outbound_mode("PELUIT_VAULT_WHATSAPP_OUTBOUND", default) == "graph" \
        else RecordingWhatsApp()


def whatsapp_template(template: str) -> str:
    """The Cloud API template a relay template is sent as (approved at Meta with
    the texts of ``relay_<template>_body``, both languages)."""
    return f"peluit_{template}"


def send_template(settings: SmtpSettings, to_addr: str, template: str, idempotency_key: str) -> str:
    """Send one templated e-mail; the Message-ID derives from the idempotency
    key so a receiving system can drop a duplicate after a retry."""
    subject, body = template_text(template)
    msg = EmailMessage()
    msg["From"] = settings.sender
    msg["To"] = to_addr
    msg["Subject"] = subject
    msg["Message-ID"] = stable_message_id(f"relay|{idempotency_key}")
    msg.set_content(body)
    with smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout) as smtp:
        smtp.send_message(msg)
    return msg["Message-ID"]


def relay_to_reporter(conn, keyring, settings: SmtpSettings, case_id: str, template: str, key: str,
                      whatsapp=None, language: str = "id") -> str:
    """Deliver ``template`` to the reporter of ``case_id``, once per ``key``.

    Returns "sent" (by e-mail, or by WhatsApp when only a phone number was
    given), "no_contact_channel" (anonymous, or neither given) or "erased"
    (crypto-shredded). A crash between sending and recording sends
    again on retry; the Message-ID stays the same so mail systems can dedupe.
    """
    with conn.transaction():
        done = conn.execute("SELECT outcome FROM relay_log WHERE idempotency_key = %s", (key,)).fetchone()
    if done:
        return done[0]
    outcome = "no_contact_channel"
    reporter_ref = reporter_of_case(conn, case_id)
    if reporter_ref is not None:
        try:
            identity = read_identity(conn, keyring, reporter_ref)
        except Erased:
            identity, outcome = None, "erased"
        address = contact_email(identity) if identity else None
        phone = contact_phone(identity) if identity and not address else None
        if address:
            send_template(settings, address, template, key)
            outcome = "sent"
            SENT_BY.labels("email").inc()
        elif phone and whatsapp is not None:
            whatsapp.send_template(phone, whatsapp_template(template), language)
            outcome = "sent"
            SENT_BY.labels("whatsapp").inc()
    with conn.transaction():
        conn.execute("INSERT INTO relay_log (idempotency_key, case_id, template, outcome) VALUES (%s, %s, %s, %s)"
                     " ON CONFLICT DO NOTHING", (key, case_id, template, outcome))
    return outcome


# every template the contract names needs its texts
if any(f"relay_{t}_{part}" not in MESSAGES for t in RELAY_TEMPLATES for part in ("subject", "body")):
    raise RuntimeError("relay templates out of step with peluit_contracts.relay")
