"""The e-mail channel: one accepted message becomes a registered report and a
reply with its receipt, and the application's outcome an SMTP code: ``250``
only once the report (and its attachments) are durable and the reply is handed
to the outbound server, ``451`` for anything temporary (the sender's retry
replays the same case and receipt: the idempotency key is a keyed hash of the
sender and the Message-ID), ``550`` for what will never be accepted. See
docs/channels.md (E-mail).
"""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage
from typing import Callable

from marshmallow import ValidationError
from prometheus_client import Counter

from peluit_contracts.i18n import message
from peluit_contracts.reports import ReportSubmissionSchema


from .errors import IdempotencyKeyReused, IntakeError, Throttled, UnknownTenant, temporary
from .mail_message import idempotency_key, map_report, parse_mail
from .mail_reply import build_reply, send_reply
from .mail_server import OK, TEMPORARY, Envelope, Reply, smtp
from .mail_settings import MailSettings

log = logging.getLogger(__name__)

MAIL_OUTCOMES = Counter("peluit_intake_mail_messages_total", "Inbound e-mail messages by outcome", ["outcome"])

DISCARDED = smtp(250, "2.6.0", "smtp_discarded")
UNKNOWN_TENANT = smtp(550, "5.1.1", "smtp_unknown_tenant")
EMPTY_REPORT = smtp(550, "5.6.0", "smtp_empty_report")
UNREADABLE = smtp(550, "5.6.0", "smtp_unreadable")
BAD_SENDER = smtp(550, "5.1.7", "smtp_bad_sender")
KEY_REUSED = smtp(550, "5.7.0", "smtp_key_reused")
RATE_LIMITED = smtp(450, "4.7.1", "smtp_rate_limited")  # temporary: the sender's server tries again later


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


def process_mail(envelope: Envelope, *, settings: MailSettings, secret: bytes, intake,
                 send: Callable[[MailSettings, EmailMessage], None] = send_reply) -> Reply:
    """Turn one accepted message into a registered report and a reply.

    ``intake`` is the application (``Intake``): ``tenant``, ``register``,
    ``attach_channel_evidence``, ``tenant_name``. Returns the SMTP reply to
    DATA: 250 only after the report and its evidence are durable and the
    receipt is on its way; 451 on anything temporary (the retry replays both)."""
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
        tenant = intake.tenant(envelope.tenant)
    except IntakeError:
        MAIL_OUTCOMES.labels("deferred").inc()
        return TEMPORARY
    if tenant is None:
        MAIL_OUTCOMES.labels("refused").inc()
        return UNKNOWN_TENANT
    mapped = map_report(parsed, {c["code"] for c in tenant["categories"]})
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
        intake.count("mail_sender", address.lower())
    except Throttled:
        MAIL_OUTCOMES.labels("throttled").inc()
        return RATE_LIMITED
    try:
        registration = intake.register(report, key, channel="email")
    except IntakeError as err:
        MAIL_OUTCOMES.labels("deferred" if temporary(err) else "refused").inc()
        if temporary(err):
            return TEMPORARY
        if isinstance(err, UnknownTenant):
            return UNKNOWN_TENANT
        if isinstance(err, IdempotencyKeyReused):
            return KEY_REUSED
        return UNREADABLE
    refused: list = []
    if parsed.attachments:
        try:
            refused = [{"n": r.index, **r.message()}
                       for r in intake.attach_channel_evidence(registration.receipt, parsed.attachments)]
        except IntakeError as err:
            if temporary(err):
                MAIL_OUTCOMES.labels("deferred").inc()
                return TEMPORARY
            # the case no longer takes evidence (closed meanwhile): the report stands, say so
            refused = [{"n": n, **message(err.text)} for n in range(1, len(parsed.attachments) + 1)]
    reply = build_reply(settings, address, intake.tenant_name(envelope.tenant), registration.registration_number,
                        registration.receipt, key, parsed.message_id, truncated=mapped.truncated,
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
    MAIL_OUTCOMES.labels("replayed" if registration.replayed else "registered").inc()
    return OK
