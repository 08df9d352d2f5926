"""Development keys, one folder per service so that no service can even read
another's secrets: ``.keys/<service>/``. Git-ignored. Production mounts real
secrets and points the ``PELUIT_*_FILE`` variables at them."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from nacl.public import PrivateKey
from nacl.signing import SigningKey

# services that verify officer tokens hold the public key only; cases signs.
# The vault sees no officer token: it verifies vault-call tokens (vault-call.key
# in cases, vault-call.pub in the vault), one per command.
OFFICER_TOKEN_VERIFIERS = ("cases", "intake", "reporting")
# who seals to the vault's public key: intake (identities, originals), cases (redacted passages)
VAULT_SEALERS = ("intake", "cases")


def _write(path: Path, value: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")


def ensure_keys(root: Path) -> Path:
    """Create what is missing; never overwrite (that would orphan identities)."""
    root = Path(root)
    vault, intake = root / "identity-vault", root / "intake"
    if not (vault / "vault-x25519.key").exists():
        key = PrivateKey.generate()
        _write(vault / "vault-x25519.key", bytes(key).hex())
        for sealer in VAULT_SEALERS:
            (root / sealer / "vault-x25519.pub").unlink(missing_ok=True)
    public = bytes(PrivateKey(bytes.fromhex((vault / "vault-x25519.key").read_text().strip())).public_key).hex()
    for sealer in VAULT_SEALERS:  # cases too: it seals redacted passages (an older key dir lacks its copy)
        if not (root / sealer / "vault-x25519.pub").exists():
            _write(root / sealer / "vault-x25519.pub", public)
    if not (vault / "vault-kek.key").exists():
        _write(vault / "vault-kek.key", secrets.token_hex(32))
    if not (root / "cases" / "content-kek.key").exists():
        # wraps every case's content key (peluit_cases.content); never in the database
        _write(root / "cases" / "content-kek.key", secrets.token_hex(32))
    if not (intake / "intake-secret.key").exists():
        _write(intake / "intake-secret.key", secrets.token_hex(64))
    _ensure_officer_keys(root)
    _ensure_signing_pair(root / "cases" / "vault-call.key", [root / "identity-vault" / "vault-call.pub"])
    _ensure_checkpoint_key(root)
    if not (root / "console" / "console-session.key").exists():
        # seals the console's session cookie (AES-256-GCM); a new key only signs everyone out
        _write(root / "console" / "console-session.key", secrets.token_hex(32))
    for service in ("intake", "cases", "identity-vault", "notifications", "reporting"):
        for name in ("db.password", "amqp.password"):  # its PostgreSQL role, its RabbitMQ user
            if not (root / service / name).exists():
                _write(root / service / name, secrets.token_urlsafe(24))
    return root


def _ensure_officer_keys(root: Path) -> None:
    cases = root / "cases"
    signing = cases / "officer-token.key"
    if not signing.exists():
        _write(signing, bytes(SigningKey.generate()).hex())
        # public keys of an earlier signing key would refuse every new token
        for service in OFFICER_TOKEN_VERIFIERS:
            (root / service / "officer-token.pub").unlink(missing_ok=True)
    public = bytes(SigningKey(bytes.fromhex(signing.read_text().strip())).verify_key).hex()
    for service in OFFICER_TOKEN_VERIFIERS:
        if not (root / service / "officer-token.pub").exists():
            _write(root / service / "officer-token.pub", public)
    if not (cases / "officer-totp.key").exists():
        # losing it means re-enrolling every officer's authenticator, never regenerate it in use
        _write(cases / "officer-totp.key", secrets.token_hex(32))


def _ensure_checkpoint_key(root: Path) -> None:
    """Ed25519 keys that sign the hash chains' checkpoints: the cases event
    store's, and the vault's own (its disclosure log and vault_audit), one per
    service so that neither holds the other's. The public keys go to
    ``auditors/`` for handing to auditors out of band (``peluit-verify
    --public-key``). Rotating: a new key gets a new key id; keep the old
    public key, old checkpoints stay verifiable with it."""
    cases, vault, auditors = root / "cases", root / "identity-vault", root / "auditors"
    _ensure_signing_pair(cases / "checkpoint.key", [cases / "checkpoint.pub", auditors / "checkpoint.pub"])
    _ensure_signing_pair(vault / "vault-checkpoint.key", [vault / "vault-checkpoint.pub",
                                                          auditors / "vault-checkpoint.pub"])


def _ensure_signing_pair(signing: Path, publics: list[Path]) -> None:
    """An Ed25519 key and copies of its public key; a new key drops the old copies."""
    if not signing.exists():
        _write(signing, bytes(SigningKey.generate()).hex())
        for path in publics:
            path.unlink(missing_ok=True)
    public = bytes(SigningKey(bytes.fromhex(signing.read_text().strip())).verify_key).hex()
    for path in publics:
        if not path.exists():
            _write(path, public)


def db_password(root: Path, service: str) -> str:
    return (Path(root) / service / "db.password").read_text().strip()


def amqp_password(root: Path, service: str) -> str:
    return (Path(root) / service / "amqp.password").read_text().strip()


if __name__ == "__main__":
    import sys

    print(ensure_keys(Path(sys.argv[1] if len(sys.argv) > 1 else ".keys")).resolve())
