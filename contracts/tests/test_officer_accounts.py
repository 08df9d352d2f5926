"""The officer API's account contracts: bodies refused field by field in
catalogue codes, and replies that have no place for a password or secret."""

from __future__ import annotations

import pytest
from marshmallow import ValidationError

from peluit_contracts import officer_api as api
from peluit_contracts import officer_accounts as accounts_contract
from peluit_contracts.admin_rpc import MAX_RETENTION_YEARS, SetRetention
from peluit_contracts.i18n import MESSAGES, bilingual_errors


def refused(schema, body) -> dict:
    with pytest.raises(ValidationError) as info:
        schema().load(body)
    fields = bilingual_errors(info.value.messages)
    assert all(m["id"] and m["en"] and m["id"] != m["en"] for messages in fields.values() for m in messages)
    return fields


def test_new_officers_are_invited_with_an_optional_email():
    body = {"tenant": "35.73", "username": "baru", "display_name": "Petugas", "roles": ["penelaah"]}
    assert api.NewOfficer().load(body)["email"] is None
    assert api.NewOfficer().load({**body, "email": "a@inspektorat.go.id"})["email"] == "a@inspektorat.go.id"
    assert set(refused(api.NewOfficer, {**body, "email": "bukan e-mail"})) == {"email"}
    # the reply has room for the code only: no password, no secret, not even optionally
    assert not {"initial_password", "totp_secret", "password"} & set(api.NewOfficerReply().fields)


def test_passwords_are_checked_field_by_field():
    short = refused(accounts_contract.EnrolmentComplete, {"enrolment_token": "t", "password": "pendek", "totp": "123456"})
    assert set(short) == {"password"} and "12" in short["password"][0]["en"]
    change = refused(accounts_contract.PasswordChange, {"current_password": "", "new_password": "x" * 1025, "totp": "12345"})
    assert set(change) == {"current_password", "new_password", "totp"}


def test_settings_holidays_and_categories():
    assert accounts_contract.TenantSettingsChange().load({}) == {}
    assert accounts_contract.TenantSettingsChange().load({"information_request_days": None}) == {"information_request_days": None}
    bad = refused(accounts_contract.TenantSettingsChange, {"disclosure_notice": "ya", "retention_years": MAX_RETENTION_YEARS + 1,
                                             "deadline_pack": "Nope!", "information_request_days": 0})
    assert set(bad) == {"disclosure_notice", "retention_years", "deadline_pack", "information_request_days"}
    assert set(refused(accounts_contract.Holiday, {"date": "1999-12-31", "name": "Lama"})) == {"date"}
    assert set(refused(accounts_contract.Holiday, {"date": "31-12-2026", "name": "x"})) == {"date"}
    assert "holiday_date" in MESSAGES
    assert accounts_contract.Category().load({"code": "dana-desa", "label_id": "Dana desa", "label_en": "Village funds"})["active"]


def test_the_vault_takes_the_same_retention_range():
    command = {"version": 1, "token": "t", "tenant": "35.73"}
    assert SetRetention().load({**command, "years": MAX_RETENTION_YEARS})["years"] == MAX_RETENTION_YEARS
    for years in (0, MAX_RETENTION_YEARS + 1, "5", 5.5):
        with pytest.raises(ValidationError):
            SetRetention().load({**command, "years": years})
