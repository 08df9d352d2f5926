"""E-mail delivery from the outbox (``store.notification``).

A worker takes due ``pending`` rows ``FOR UPDATE SKIP LOCKED`` (several
instances share the work, none sends a row twice), sends each over one SMTP
connection and marks it sent in the same transaction. A failure touches only
its row: attempts + 1, the next try after an exponential back-off, ``dead``
after the last one (the dead-letter set, with the error class kept). A crash
between handing a mail over and the commit sends it again on restart with the
same Message-ID (derived from event, officer and channel), so mail systems can
drop the copy. Content: registration number, kind, deadline, console link;
both languages; never report text or anything about the reporter.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from pathlib import Path

from prometheus_client import Counter, Gauge, Histogram

from peluit_common.mail import stable_message_id
from peluit_common.settings import ConfigError, env, env_float, env_int, production
from peluit_contracts.i18n import message

SENT = Counter("peluit_notifications_sent_total", "Officer notifications handed over", ["channel", "kind"])
FAILED = Counter("peluit_notifications_failed_total", "Officer notification attempts that failed", ["channel", "kind"])
DEAD = Counter("peluit_notifications_dead_total", "Officer notifications given up (dead-lettered)", ["channel", "kind"])
LAG = Histogram("peluit_notifications_delivery_lag_seconds", "From the case event to the mail handed over",
                ["channel"], buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 86400))
PENDING = Gauge("peluit_notifications_pending", "E-mail notifications waiting to be sent")

SELECT_DUE = (
    "SELECT id, event_id, officer_id, kind, address, registration_number, deadline_rule, deadline_due_at, "
    "case_id, occurred_at, attempts, items FROM notification WHERE status = 'pending' AND next_attempt_at <= %s "
    "ORDER BY next_attempt_at, id LIMIT %s FOR UPDATE SKIP LOCKED")


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    sender: str
    starttls: bool = False
    username: str | None = None
    password: str | None = None
    timeout: float = 15.0
    console_url: str = "http://127.0.0.1:8007"

    @classmethod
    def from_env(cls) -> "SmtpSettings":
        """``PELUIT_NOTIFY_SMTP_*``; a password only from a file (``..._PASSWORD_FILE``).
        Production demands STARTTLS or says why not (``PELUIT_NOTIFY_SMTP_STARTTLS=0``)."""
        password_file = env("PELUIT_NOTIFY_SMTP_PASSWORD_FILE", "")
        starttls = env("PELUIT_NOTIFY_SMTP_STARTTLS", "1" if production() else "0") == "1"
        username = env("PELUIT_NOTIFY_SMTP_USER", "") or None
        if username and not password_file:
            raise ConfigError("PELUIT_NOTIFY_SMTP_USER needs PELUIT_NOTIFY_SMTP_PASSWORD_FILE")
        return cls(host=env("PELUIT_NOTIFY_SMTP_HOST", "127.0.0.1"), port=env_int("PELUIT_NOTIFY_SMTP_PORT", 8005),
                   sender=env("PELUIT_NOTIFY_SMTP_FROM", "wbs-notifikasi@peluit.invalid"), starttls=starttls,
                   username=username,
                   password=Path(password_file).read_text("utf-8").strip() if password_file else None,
                   timeout=env_float("PELUIT_NOTIFY_SMTP_TIMEOUT", 15.0),
                   console_url=env("PELUIT_CONSOLE_URL", "http://127.0.0.1:8007").rstrip("/"))


@dataclass(frozen=True)
class Backoff:
    """Delay before attempt n+1: base * 2**n, capped; ``dead`` after ``attempts`` tries."""

    base: float = 2.0
    cap: float = 900.0
    attempts: int = 20

    @classmethod
    def from_env(cls) -> "Backoff":
        return cls(env_float("PELUIT_NOTIFY_RETRY_BASE_SECONDS", 2.0), env_float("PELUIT_NOTIFY_RETRY_CAP_SECONDS", 900.0),
                   env_int("PELUIT_NOTIFY_MAX_ATTEMPTS", 20))

    def delay(self, attempts: int) -> timedelta:
        return timedelta(seconds=min(self.cap, self.base * 2 ** max(attempts - 1, 0)))


def _both(code: str, **params) -> tuple[str, str]:
    text = message(code, **params)
    return text["id"], text["en"]


def _line(kind: str, number: str | None, rule: str | None, due, lang: int) -> str:
    suffix = _both("notify_deadline_suffix", due=_day(due), rule=rule)[lang] if due else ""
    return f"{_both(f'notify_{kind}')[lang]}: {number or '-'}{suffix}"


def _day(value) -> str:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(timezone(timedelta(hours=7))).strftime("%Y-%m-%d %H:%M WIB")


def render(row: dict, console_url: str) -> tuple[str, str]:
    """(subject, body) of one outbox row, Bahasa Indonesia first, then English."""
    kind = row["kind"]
    subject_id, subject_en = _both(f"notify_{kind}")
    number = row.get("registration_number")
    subject = f"{subject_id} / {subject_en}" + (f" [{number}]" if number else "")
    link = f"{console_url}/kasus/{row['case_id']}" if row.get("case_id") else console_url + "/"
    parts = []
    for lang in (0, 1):
        if row.get("items"):
            lines = [_line(i["kind"], i.get("registration_number"), i.get("rule"), i.get("due_at"), lang)
                     for i in row["items"]]
        else:
            lines = [_line(kind, number, row.get("deadline_rule"), row.get("deadline_due_at"), lang)]
        parts.append("\n".join([*lines, "", _both("notify_open_console", link=link)[lang],
                                _both("notify_footer")[lang]]))
    return subject, parts[0] + "\n\n---\n\n" + parts[1] + "\n"


def message_id(row: dict) -> str:
    """Stable per (event, officer, channel): a resend after a crash is recognisably the same mail."""
    return stable_message_id(f"{row['event_id']}|{row['officer_id']}|email", "notifikasi.peluit.invalid")


def build(row: dict, settings: SmtpSettings) -> EmailMessage:
    subject, body = render(row, settings.console_url)
    msg = EmailMessage()
    msg["From"] = settings.sender
    msg["To"] = row["address"]
    msg["Subject"] = subject
    msg["Message-ID"] = message_id(row)
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(body)
    return msg


class Mailer:
    """One SMTP connection reused across a batch; reopened after an error."""

    def __init__(self, settings: SmtpSettings):
        self.settings, self.smtp = settings, None

    def send(self, msg: EmailMessage) -> None:
        if self.smtp is None:
            s = self.settings
            smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
            try:
                if s.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if s.username:
                    smtp.login(s.username, s.password or "")
            except Exception:
                smtp.close()
                raise
            self.smtp = smtp
        try:
            self.smtp.send_message(msg)
        except smtplib.SMTPRecipientsRefused:
            raise  # that address only: the connection stays good
        except Exception:
            self.close()
            raise

    def close(self) -> None:
        if self.smtp is not None:
            try:
                self.smtp.quit()
            except Exception:  # noqa: BLE001 - already broken
                self.smtp.close()
            self.smtp = None


COLUMNS = ("id", "event_id", "officer_id", "kind", "address", "registration_number", "deadline_rule",
           "deadline_due_at", "case_id", "occurred_at", "attempts", "items")


def deliver_once(pool, mailer, settings: SmtpSettings, backoff: Backoff, now: datetime | None = None,
                 batch: int = 50) -> tuple[int, int]:
    """One batch of due e-mail rows; returns (sent, failed). Each row's outcome
    commits with the batch; a row's failure never stops the others."""
    sent = failed = 0
    with pool.connection() as conn, conn.transaction():
        at = now or datetime.now(timezone.utc)
        rows = [dict(zip(COLUMNS, r)) for r in conn.execute(SELECT_DUE, (at, batch)).fetchall()]
        for row in rows:
            try:
                mailer.send(build(row, settings))
            except (OSError, smtplib.SMTPException) as exc:
                failed += 1
                attempts = row["attempts"] + 1
                dead = attempts >= backoff.attempts
                conn.execute("UPDATE notification SET attempts = %s, last_error = %s, status = %s, "
                             "next_attempt_at = %s WHERE id = %s",
                             (attempts, type(exc).__name__, "dead" if dead else "pending",
                              at + backoff.delay(attempts), row["id"]))
                FAILED.labels("email", row["kind"]).inc()
                if dead:
                    DEAD.labels("email", row["kind"]).inc()
                continue
            done = datetime.now(timezone.utc)
            conn.execute("UPDATE notification SET status = 'sent', sent_at = %s, attempts = attempts + 1 "
                         "WHERE id = %s", (done, row["id"]))
            SENT.labels("email", row["kind"]).inc()
            LAG.labels("email").observe(max((done - row["occurred_at"]).total_seconds(), 0.0))
            sent += 1
        PENDING.set(conn.execute("SELECT count(*) FROM notification WHERE status = 'pending'").fetchone()[0])
    mailer.close()
    return sent, failed
