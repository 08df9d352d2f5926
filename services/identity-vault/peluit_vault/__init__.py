"""Peluit identity vault. Entry module: ``peluit_vault.service``.

Target layout (issue 20; moved into place step by step):

- ``crypto``, ``keyring``: sealed boxes, the envelope (a data key per record
  under a KEK), the KEK file.
- ``records``: the one sealed-record store, ``SealedRecords``, configured for
  reporter identities (``IDENTITIES``) and evidence originals (``ORIGINALS``):
  store once, read, re-wrap under a new KEK, pending, close a case, shred.
- ``schema``: the vault's tables and their idempotent, locked migration.
- ``identities``, ``evidence``: what is particular to each kind of record.
- ``retention``: retention policy; crypto-shredding of both kinds.
- ``relay``: the contact relay (SMTP).
- ``disclosure.domain`` (aggregates), ``disclosure.application`` (use cases),
  ``disclosure.rpc`` (nameko provider and RPC handlers).
- ``service`` (nameko wiring), ``admin`` (operator CLI).
"""
