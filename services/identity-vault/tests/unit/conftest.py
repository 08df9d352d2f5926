"""The vault's unit fixtures: the disclosure application on eventsourcing's
in-memory store, and real vault-call tokens checked by ``calls.CallChecker``
(token ids taken and refusals kept in memory)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from nacl.signing import SigningKey

from peluit_common.vault_call import VaultCallSigner
from peluit_contracts.disclosure import DISCLOSURE_RPC_VERSION
from peluit_vault.calls import CallChecker
from peluit_vault.disclosure.application import DisclosureApplication


@pytest.fixture
def app():
    return DisclosureApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, request_hours=72, view_minutes=30)


@pytest.fixture
def rpc():
    signing = SigningKey.generate()
    signer = VaultCallSigner(bytes(signing))
    taken: set[str] = set()
    refused: list[tuple] = []

    def take(jti, expires_at) -> bool:
        if jti in taken:
            return False
        taken.add(jti)
        return True

    auth = CallChecker(bytes(signing.verify_key), take, lambda *row: refused.append(row))

    def call(who: dict, action: str, command: dict | None = None, *, step_up: bool = False, context=None,
             **fields) -> dict:
        """The command as cases sends it: its fields and a call token signed for them."""
        body = {"version": DISCLOSURE_RPC_VERSION, **(command or {}), **fields}
        return signer.sign(action, body, who, step_up=step_up, context=context)

    return SimpleNamespace(auth=auth, call=call, signer=signer, refused=refused)
