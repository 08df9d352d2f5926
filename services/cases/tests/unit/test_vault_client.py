"""The vault client (every RPC to the identity vault) against a fake proxy:
version and a vault-call token bound to every command, a deadline, refusals by code; and the
statuses the HTTP edge gives them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import eventlet
import pytest
from nacl.signing import SigningKey

from peluit_cases import disclosure_api
from peluit_cases.access import Actor
from peluit_cases.officer_api import http_error
from peluit_cases.vault import VaultClient, VaultRefused, summary
from peluit_common.vault_call import VaultCallSigner, VaultCallVerifier
from peluit_contracts.disclosure import BROWSER_FORMAT, DISCLOSURE_RPC_VERSION


class FakeVault:
    """The identity vault's RPC methods: records commands, answers ``reply``."""

    def __init__(self, reply=None, delay: float = 0.0):
        self.calls: list[tuple[str, dict]] = []
        self.reply, self.delay = reply, delay

    def __getattr__(self, method):
        def rpc(command):
            self.calls.append((method, command))
            eventlet.sleep(self.delay)
            return self.reply

        return rpc


PENDING = {"request_id": "5c0d8a4e-3f6b-4d59-9a57-8a3e7c1b2f99", "case_id": "c", "tenant": "35.73",
           "status": "pending", "legal_basis": "lpsk_protection", "expires_at": "2026-12-01T00:00:00+00:00",
           "view_until": None, "reporter_ref": "never-shown"}


SIGNING = SigningKey.generate()
SIGNER = VaultCallSigner(bytes(SIGNING))
DEWI = Actor("o-dewi", "dewi", "35.73", ("investigator",))


def client(proxy, timeout: float = 1) -> VaultClient:
    return VaultClient(proxy, timeout=timeout, signer=SIGNER)


def test_every_call_carries_the_version_and_a_call_token_bound_to_it_never_the_officers_token():
    proxy = FakeVault(PENDING)
    vault = client(proxy)
    context = {"approvals_required": 2, "controllers": ["o-dewi"]}
    vault.request_disclosure(DEWI, case_id="c", tenant="35.73", reason="r" * 10, legal_basis="court_order",
                             reporter_ref="ref", context=context)
    vault.request_disclosure(DEWI, case_id="c", tenant="35.73", reason="r" * 10, legal_basis="court_order",
                             original_ref="orig", context=context)
    vault.approve(DEWI, "rid", step_up=True, context={"controllers": ["o-dewi"]})
    vault.refuse(DEWI, "rid", "alasan")
    vault.view(DEWI, "rid", "key")
    vault.disclosure_events(DEWI, "35.73")
    vault.view(DEWI, "rid", "key", BROWSER_FORMAT)
    vault.list_disclosures(DEWI, "35.73", status=None, mine=True, audited=False)
    assert [m for m, _ in proxy.calls] == ["request_disclosure", "request_disclosure", "approve_disclosure",
                                           "refuse_disclosure", "view_disclosure", "disclosure_events",
                                           "view_disclosure", "list_disclosures"]
    verifier = VaultCallVerifier(bytes(SIGNING.verify_key), lambda *a: True)
    for method, command in proxy.calls:
        assert command["version"] == DISCLOSURE_RPC_VERSION
        claims = verifier.verify(method, command)  # bound to exactly this command
        assert claims.officer_id == "o-dewi" and claims.expires_at - datetime.now(timezone.utc) <= timedelta(seconds=60)
    assert verifier.verify("request_disclosure", proxy.calls[0][1]).context == context
    assert verifier.verify("approve_disclosure", proxy.calls[2][1]).step_up
    assert not verifier.verify("refuse_disclosure", proxy.calls[3][1]).step_up
    identity, original = proxy.calls[0][1], proxy.calls[1][1]
    assert identity["reporter_ref"] == "ref" and "subject" not in identity
    assert (original["subject"], original["original_ref"], original["reporter_ref"]) == ("evidence", "orig", None)
    # the default sealing is left out (a vault that predates the formats answers it); the browser format is asked
    assert "format" not in proxy.calls[4][1] and proxy.calls[6][1]["format"] == BROWSER_FORMAT
    assert {k: proxy.calls[7][1][k] for k in ("tenant", "status", "mine", "audited")} == {
        "tenant": "35.73", "status": None, "mine": True, "audited": False}


@pytest.mark.parametrize("reply,code,status", [
    ({"error": "self_approval"}, "self_approval", 403),
    ({"error": "already_viewed"}, "already_viewed", 409),
    ({"error": "anonymous"}, "anonymous", 422),
    ({"error": "not_found"}, "not_found", 404),
    ({"error": "unsupported_version"}, "internal_error", 500),  # a bug between the services, not the officer's
    ("not a dict", "internal_error", 500),
])
def test_refusals_become_codes_and_statuses(reply, code, status):
    with pytest.raises(VaultRefused) as err:
        client(FakeVault(reply)).approve(DEWI, "rid", step_up=True, context={})
    assert err.value.code == code
    assert http_error(err.value).status == status


def test_a_vault_that_does_not_answer_in_time_is_unavailable():
    with pytest.raises(VaultRefused) as err:
        client(FakeVault(PENDING, delay=1), timeout=0.05).refuse(DEWI, "rid", "alasan")
    assert (err.value.code, http_error(err.value).status) == ("vault_unavailable", 503)


def test_officers_see_a_summary_never_the_reporter_ref():
    out = summary(PENDING)
    assert "reporter_ref" not in out and out["status"] == "pending"
    with pytest.raises(VaultRefused) as err:  # not a request id: a request that does not exist, before the broker
        disclosure_api.request_id_of("not-a-uuid")
    assert (err.value.code, err.value.text) == ("not_found", "disclosure_request_not_found")


def test_the_browser_format_passes_through_and_nothing_else_does():
    sealed = {"request_id": PENDING["request_id"], "format": BROWSER_FORMAT, "ephemeral_public_key": "e", "nonce": "n",
              "ciphertext": "c", "reporter_ref": "never-shown"}
    out = disclosure_api.shown(PENDING["request_id"], sealed, BROWSER_FORMAT)
    assert out == {"request_id": PENDING["request_id"], "format": BROWSER_FORMAT, "ephemeral_public_key": "e",
                   "nonce": "n", "ciphertext": "c"}
    boxed = disclosure_api.shown(PENDING["request_id"], {"request_id": PENDING["request_id"], "sealed_identity": "s"},
                                 disclosure_api.SEALED_BOX)
    assert boxed["sealed_identity"] == "s" and boxed["format"] == disclosure_api.SEALED_IDENTITY


def test_an_originals_sealed_file_name_passes_through_in_both_formats():
    name = {"ephemeral_public_key": "e2", "nonce": "n2", "ciphertext": "c2"}
    browser = {"request_id": PENDING["request_id"], "format": BROWSER_FORMAT, "subject": "evidence",
               "original_ref": "r" * 32, "ephemeral_public_key": "e", "nonce": "n", "ciphertext": "c", "name": name}
    out = disclosure_api.shown(PENDING["request_id"], browser, BROWSER_FORMAT)
    assert out["name"] == name and out["subject"] == "evidence"
    boxed = {"request_id": PENDING["request_id"], "subject": "evidence", "original_ref": "r" * 32,
             "sealed_original": "o", "sealed_name": "s"}
    out = disclosure_api.shown(PENDING["request_id"], boxed, disclosure_api.SEALED_BOX)
    assert (out["sealed_original"], out["sealed_name"]) == ("o", "s")
