"""One domain event handled with fakes of our own interfaces (the store, the
vault's relay, cases' directory): recorded once, relayed once, a failed relay
raises so the consumer retries it, a malformed body changes nothing; a notice
fans out to the officers the directory names."""

from __future__ import annotations

import pytest
from marshmallow import ValidationError

from peluit_contracts.relay import RELAY_VERSION, RELAY_TEMPLATES, RelayToReporterCommand
from peluit_notifications.handling import (DirectoryFailed, RelayFailed, fan_out, handle, relay_command,
                                           reporter_template)
from peluit_notifications.policy import notice_of

from ..envelopes import message_for_reporter, registered, status_changed


class FakeStore:
    """The store's contract: an event is recorded once; ``record`` says whether it was new."""

    def __init__(self):
        self.records: dict[str, tuple] = {}

    def processed(self, event_id):
        return event_id in self.records

    def record(self, envelope, template=None, outcome=None, notice=None):
        if envelope["id"] in self.records:
            return False
        self.records[envelope["id"]] = (envelope["type"], template, outcome)
        self.notices = getattr(self, "notices", []) + ([notice] if notice else [])
        return True


class FakeDirectory:
    """cases' ``notification_recipients``: answers the officers it was given, records the queries."""

    def __init__(self, recipients=(), case=None, reply=None):
        self.recipients, self.case, self.reply, self.queries = list(recipients), case, reply, []

    def __call__(self, query):
        self.queries.append(query)
        return self.reply or {"recipients": self.recipients, "case": self.case}


class FakeVault:
    def __init__(self, reply=None):
        self.reply, self.calls = reply or {"result": "sent"}, []

    def __call__(self, command):
        self.calls.append(command)
        return self.reply


@pytest.mark.parametrize("kind,template", [("feedback", "case_closed"), ("message", "new_message"),
                                           ("question", "new_message"), ("notice", "new_message")])
def test_the_reporters_template_follows_the_kind_of_message(kind, template):
    envelope = message_for_reporter(kind)
    assert reporter_template(envelope) == template and template in RELAY_TEMPLATES


def test_the_relay_command_follows_the_contract_and_carries_the_event_id_as_key():
    envelope = message_for_reporter("feedback")
    command = relay_command(envelope)
    assert RelayToReporterCommand().load(command)  # valid for the vault's schema
    assert command == {"version": RELAY_VERSION, "case_id": envelope["data"]["case_id"],
                       "template": "case_closed", "idempotency_key": envelope["id"]}


OFFICER = {"officer_id": "7d1c0b8e-0000-4000-8000-000000000001", "tenant": "35.73", "email": "a@pemda.go.id",
           "preferences": {}}


def test_a_new_case_is_recorded_once_as_a_notice_without_asking_anyone():
    store, vault, envelope = FakeStore(), FakeVault(), registered()
    assert handle(envelope, store, vault) == ("applied", None)
    assert handle(envelope, store, vault) == ("duplicate", None)
    assert store.records == {envelope["id"]: ("case.registered", None, None)} and vault.calls == []
    assert [(n.event_id, n.kind) for n in store.notices] == [(envelope["id"], "case_new")]


def test_a_notice_fans_out_to_the_officers_cases_names():
    notice, directory = notice_of(registered()), FakeDirectory([OFFICER])
    rows, facts = fan_out(notice, directory)
    assert [(d.channel, d.officer_id, d.status) for d in rows] == [
        ("console", OFFICER["officer_id"], "unread"), ("email", OFFICER["officer_id"], "pending")]
    assert directory.queries == [{"version": 1, "tenant": "35.73", "roles": ["penelaah", "penerima"],
                                  "officer_ids": [], "case_id": notice.case_id, "acting": False}]
    with pytest.raises(DirectoryFailed):
        fan_out(notice, FakeDirectory(reply={"error": "invalid"}))


def test_other_events_are_only_marked_processed():
    store, vault, envelope = FakeStore(), FakeVault(), status_changed()
    assert handle(envelope, store, vault) == ("applied", None)
    assert store.records == {envelope["id"]: ("case.status_changed", None, None)} and vault.calls == []


def test_a_message_for_the_reporter_is_relayed_once_and_recorded_with_the_vaults_answer():
    store, vault, envelope = FakeStore(), FakeVault({"result": "no_contact_channel"}), message_for_reporter()
    assert handle(envelope, store, vault) == ("applied", "no_contact_channel")
    assert handle(envelope, store, vault) == ("duplicate", None)  # a redelivery asks the vault nothing
    assert len(vault.calls) == 1
    assert store.records == {envelope["id"]: ("case.message_for_reporter", "new_message", "no_contact_channel")}


def test_a_failed_relay_raises_and_records_nothing():
    store, vault, envelope = FakeStore(), FakeVault({"error": "delivery_failed"}), message_for_reporter()
    with pytest.raises(RelayFailed):
        handle(envelope, store, vault)
    assert store.records == {} and len(vault.calls) == 1
    vault.reply = {"result": "sent"}  # the retry, once the vault delivers again
    assert handle(envelope, store, vault) == ("applied", "sent") and len(vault.calls) == 2


@pytest.mark.parametrize("spoil", [
    lambda e: e.pop("id"), lambda e: e.update(specversion="2.0"), lambda e: e["data"].update(kind="gossip"),
    lambda e: e["data"].update(case_id="not-a-uuid")])
def test_a_malformed_body_raises_before_any_effect(spoil):
    store, vault, envelope = FakeStore(), FakeVault(), message_for_reporter()
    spoil(envelope)
    with pytest.raises(ValidationError):
        handle(envelope, store, vault)
    assert store.records == {} and vault.calls == []
