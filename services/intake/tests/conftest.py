"""Fixtures every kind of intake test shares: a mail builder, and a fake of
the application as the channels (e-mail, WhatsApp) use it."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from peluit_intake.application import Registration
from peluit_intake.evidence_checks import Refusal

TENANTS = [{"code": "35.73", "name": "Inspektorat Kota Malang", "categories": [
    {"code": c, "name": {"id": c, "en": c}} for c in ("korupsi", "pungli", "pengadaan", "lainnya")]}]


class FakeIntake:
    """``Intake`` as a channel calls it: registrations and attachments are
    recorded; ``error`` / ``attach_error`` / ``catalogue_error`` are raised;
    ``refuse`` maps a file's position to the refusal code it gets."""

    def __init__(self, error=None, *, tenants=TENANTS, refuse=None, attach_error=None):
        self.calls, self.error, self.tenants = [], error, tenants
        self.attached, self.refuse, self.attach_error = [], dict(refuse or {}), attach_error
        self.catalogue_error = None
        self.throttle = None  # a ``Throttle`` to count senders in, as ``Intake.count`` does

    def count(self, bucket, subject):
        if self.throttle is not None:
            self.throttle.check(bucket, subject)

    def catalogue(self, **_):
        if self.catalogue_error:
            raise self.catalogue_error
        return {"tenants": self.tenants}

    def tenant(self, code):
        return next((t for t in self.catalogue()["tenants"] if t["code"] == code), None)

    def tenant_name(self, code):
        return (self.tenant(code) or {}).get("name", f"Inspektorat {code}")

    def register(self, report, key, channel, assisted_by=None):
        self.calls.append((report, key, channel))
        if self.error:
            raise self.error
        return Registration("WBS/35.73/2026/000007", "1234-5678-9012-3456", report["tenant"],
                            anonymous="identity" not in report, replayed=len(self.calls) > 1)

    def attach_channel_evidence(self, receipt, files):
        self.attached.append((receipt, files))
        if self.attach_error:
            raise self.attach_error
        return [Refusal(code, n) for n, code in sorted(self.refuse.items())]


@pytest.fixture
def fake_intake():
    return FakeIntake


@pytest.fixture
def wa_store(fresh_db):
    """WhatsApp conversations in a database of their own (intake's real store, on PostgreSQL)."""
    from psycopg_pool import ConnectionPool

    from peluit_common.testing import dsn_for
    from peluit_intake import whatsapp_store

    with ConnectionPool(dsn_for(fresh_db), min_size=1, max_size=4, kwargs={"autocommit": False}) as pool:
        with pool.connection() as conn:
            whatsapp_store.migrate(conn)
        yield whatsapp_store.ConversationStore(pool, b"k" * 32, ttl=1800.0)


@pytest.fixture
def mail():
    def make(subject="[pungli] Pungutan liar di kelurahan", body="Petugas meminta uang Rp 50.000 untuk surat.",
             sender="Budi Santoso <budi@example.id>", **headers) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = sender
        msg["To"] = "wbs+35.73@peluit.invalid"
        if subject is not None:
            msg["Subject"] = subject
        msg["Message-ID"] = "<abc123@example.id>"
        for name, value in headers.items():
            msg[name.replace("_", "-")] = value
        msg.set_content(body)
        return msg

    return make
