"""Peluit identity vault. Entry module: ``peluit_vault.service``.

- ``crypto``, ``keyring``: sealed boxes, the envelope (a data key per record
  under a KEK), the KEK file.
- ``records``: the one sealed-record store, ``SealedRecords``, configured for
  reporter identities (``IDENTITIES``) and evidence originals (``ORIGINALS``).
- ``schema``: the vault's tables and their idempotent, locked migration.
- ``identities``, ``evidence``: what is particular to each kind of record,
  and the RPC that accepts it sealed from intake.
- ``retention``: retention policy; crypto-shredding of both kinds.
- ``relay``: the contact relay (SMTP).
- ``disclosure.domain`` (aggregates), ``disclosure.application`` (use cases),
  ``disclosure.rpc`` (nameko provider and RPC handlers).
- ``service`` (nameko wiring), ``admin`` (operator CLI).
"""
