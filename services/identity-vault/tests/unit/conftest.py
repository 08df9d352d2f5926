"""The vault's unit fixtures: the disclosure application on eventsourcing's
in-memory store, and real officer tokens checked by ``OfficerAuth``."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from nacl.signing import SigningKey

from peluit_common.auth import OfficerAuth, TokenIssuer
from peluit_vault.disclosure.application import DisclosureApplication


@pytest.fixture
def app():
    return DisclosureApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, request_hours=72, view_minutes=30)


@pytest.fixture
def rpc(tmp_path, monkeypatch):
    signing = SigningKey.generate()
    issuer = TokenIssuer(bytes(signing))
    (tmp_path / "officer-token.pub").write_text(bytes(signing.verify_key).hex())
    monkeypatch.setenv("PELUIT_OFFICER_TOKEN_PUBLIC_KEY_FILE", str(tmp_path / "officer-token.pub"))
    auth = OfficerAuth()  # the service's provider, set up as nameko would
    auth.setup()

    def token(who: dict, step_up: bool = False) -> str:
        extra = {"amr": ["pwd", "otp"], "step_up": True} if step_up else None
        return issuer.issue(who["officer_id"], who["tenant"], who["roles"], who["username"],
                            ttl_seconds=60 if step_up else 900, extra_claims=extra)

    return SimpleNamespace(auth=auth, token=token, issuer=issuer)
