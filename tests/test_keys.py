"""Development keys (``make keys``, the test harness): each service gets only
what it needs. The vault holds cases' vault-call public key and no officer
token key at all; cases holds the vault-call signing key; a key is never
replaced once made (that would orphan what it signed or sealed)."""

from __future__ import annotations

from nacl.signing import SigningKey

from peluit_local.keys import ensure_keys


def test_the_vault_gets_the_vault_call_public_key_and_no_officer_token_key(tmp_path):
    root = ensure_keys(tmp_path / "keys")
    signing = SigningKey(bytes.fromhex((root / "cases" / "vault-call.key").read_text().strip()))
    assert (root / "identity-vault" / "vault-call.pub").read_text().strip() == bytes(signing.verify_key).hex()
    assert not (root / "identity-vault" / "officer-token.pub").exists()
    assert not (root / "identity-vault" / "vault-call.key").exists()
    assert {p.name for p in (root / "cases").iterdir()} >= {"vault-call.key", "officer-token.key", "checkpoint.key"}
    before = (root / "cases" / "vault-call.key").read_text()
    ensure_keys(root)  # again: nothing is replaced
    assert (root / "cases" / "vault-call.key").read_text() == before
    assert (root / "auditors" / "checkpoint.pub").exists()


def test_the_vault_signs_its_own_checkpoints_with_a_key_cases_does_not_hold(tmp_path):
    root = ensure_keys(tmp_path / "keys")
    vault = SigningKey(bytes.fromhex((root / "identity-vault" / "vault-checkpoint.key").read_text().strip()))
    public = bytes(vault.verify_key).hex()
    assert (root / "auditors" / "vault-checkpoint.pub").read_text().strip() == public
    assert public != (root / "auditors" / "checkpoint.pub").read_text().strip()
    assert not any("vault-checkpoint" in p.name for p in (root / "cases").iterdir())
    assert not any(p.name == "checkpoint.key" for p in (root / "identity-vault").iterdir())
