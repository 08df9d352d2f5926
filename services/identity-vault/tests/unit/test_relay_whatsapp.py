"""Which WhatsApp sender the vault's contact relay uses, by setting."""

from __future__ import annotations

import pytest

from peluit_common.settings import ConfigError
from peluit_common.whatsapp import OutboundWhatsApp, RecordingWhatsApp
from peluit_vault.relay import contact_phone, whatsapp_outbound


def test_in_memory_outside_production_off_in_production_without_a_token(monkeypatch, tmp_path):
    monkeypatch.delenv("PELUIT_VAULT_WHATSAPP_OUTBOUND", raising=False)
    monkeypatch.delenv("PELUIT_WHATSAPP_ACCESS_TOKEN_FILE", raising=False)
    monkeypatch.setenv("PELUIT_ENV", "development")
    assert isinstance(whatsapp_outbound(), RecordingWhatsApp)
    monkeypatch.setenv("PELUIT_ENV", "production")
    assert whatsapp_outbound() is None  # a production vault without WhatsApp still starts
    monkeypatch.setenv("PELUIT_VAULT_WHATSAPP_OUTBOUND", "record")
    with pytest.raises(ConfigError):
        whatsapp_outbound()
    token = tmp_path / "token"
    token.write_text("tok\n")
    monkeypatch.delenv("PELUIT_VAULT_WHATSAPP_OUTBOUND")
    monkeypatch.setenv("PELUIT_WHATSAPP_ACCESS_TOKEN_FILE", str(token))
    monkeypatch.setenv("PELUIT_WHATSAPP_PHONE_NUMBER_ID", "1234")
    sender = whatsapp_outbound()
    assert type(sender) is OutboundWhatsApp and sender.url.endswith("/1234/messages")


@pytest.mark.parametrize("given,number", [("0812-3456-7890", "6281234567890"), ("+62 812 3456 7890", "6281234567890"),
                                          ("(0341) 555 123", "62341555123")])
def test_numbers_go_to_the_cloud_api_with_the_country_code(given, number):
    assert contact_phone(('{"phone": "%s"}' % given).encode()) == number
