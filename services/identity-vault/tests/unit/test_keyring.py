"""Keyring parsing: the KEK file, its errors (which never echo key material)."""

from __future__ import annotations

import secrets

import pytest

from peluit_vault.crypto import kek_id
from peluit_vault.keyring import Keyring, KeyringError, UnknownKek


def test_one_key_file_is_a_keyring_of_one():
    key = secrets.token_bytes(32)
    ring = Keyring.parse(key.hex() + "\n")
    assert ring.current == key and ring.current_id == kek_id(key) and len(ring) == 1
    assert ring.get(kek_id(key)) == key


def test_first_line_is_current_and_blank_lines_and_comments_are_ignored():
    new, old = secrets.token_bytes(32), secrets.token_bytes(32)
    text = f"\n  {new.hex().upper()}  \n\n# retired after the 2026 rotation\n{old.hex()}\n\n"
    ring = Keyring.parse(text.encode())
    assert ring.current == new and ring.ids == (kek_id(new), kek_id(old))
    assert ring.get(kek_id(old)) == old


@pytest.mark.parametrize("text, message", [
    ("", "no KEK found"),
    ("\n# only a comment\n", "no KEK found"),
    ("zz" * 32, "line 1: not a hex string"),
    ("ab" * 32 + "\n" + "ab" * 31 + "g", "line 2: not a hex string"),
    ("ab" * 16, "line 1: a KEK is 32 bytes (64 hex digits), found 16 bytes"),
    ("ab" * 32 + "\n\n" + "ab" * 33, "line 3: a KEK is 32 bytes"),
])
def test_a_bad_file_is_a_clear_error_that_never_echoes_key_material(text, message):
    with pytest.raises(KeyringError) as err:
        Keyring.parse(text, "PELUIT_VAULT_KEK_FILE")
    assert message in str(err.value)
    assert "ab" * 8 not in str(err.value) and "zz" not in str(err.value)


def test_load_reads_the_file_named_by_the_environment(tmp_path, monkeypatch):
    new, old = secrets.token_bytes(32), secrets.token_bytes(32)
    path = tmp_path / "kek"
    path.write_text(f"{new.hex()}\n{old.hex()}\n")
    monkeypatch.setenv("PELUIT_VAULT_KEK_FILE", str(path))
    assert Keyring.load().ids == (kek_id(new), kek_id(old))
    monkeypatch.delenv("PELUIT_VAULT_KEK_FILE")
    monkeypatch.setenv("PELUIT_KEYS_DIR", str(tmp_path))
    (tmp_path / "vault-kek.key").write_text(new.hex() + "\n")  # the development default
    assert Keyring.load().current == new


def test_unknown_id_names_the_id_only_and_repr_shows_no_key():
    key = secrets.token_bytes(32)
    ring = Keyring([key])
    with pytest.raises(UnknownKek) as err:
        ring.get("0123456789abcdef")
    assert "0123456789abcdef" in str(err.value) and key.hex() not in str(err.value)
    assert key.hex() not in repr(ring) and ring.current_id in repr(ring)
    with pytest.raises(KeyringError):
        Keyring([secrets.token_bytes(16)])
