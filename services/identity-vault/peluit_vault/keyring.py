"""The vault's key-encryption keys: ``PELUIT_VAULT_KEK_FILE`` (development
default ``$PELUIT_KEYS_DIR/vault-kek.key``), one hex KEK per line, the first
current (``peluit_common.keyring``). Rotation: ``peluit-vault rotate-kek``.
"""

from __future__ import annotations

from peluit_common import keyring
from peluit_common.keyring import KEK_BYTES, KeyringError, UnknownKek  # noqa: F401  (the vault's names)


class Keyring(keyring.Keyring):
    __slots__ = ()

    @classmethod
    def load(cls) -> Keyring:
        """Read ``PELUIT_VAULT_KEK_FILE`` (or the development default)."""
        return cls.from_file("PELUIT_VAULT_KEK_FILE", "vault-kek.key")
