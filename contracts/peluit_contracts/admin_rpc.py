"""RPC payloads of officer administration between the services.

- ``cases.officer_session(officer_id)``: ``{active, session_version, roles}``
  or None (``peluit_common.auth.SessionState``), for reporting's and intake's
  session check;
- ``identity_vault.retention_policy(RetentionQuery)`` and
  ``identity_vault.set_retention(SetRetention)``: a tenant's retention, read
  or set for one of its administrators; the vault verifies the vault-call
  token cases signed for that command (``peluit_common.vault_call``).
  Replies ``{tenant, years}`` or ``{error: code}``.
"""

from __future__ import annotations

from marshmallow import fields, validate

from .fields import Int, Strict
from .reports import tenant_field

RETENTION_RPC_VERSION = 1
# the vault's rule for every way of setting it (its command line too): whole years, 1 to 100
MAX_RETENTION_YEARS = 100


class RetentionQuery(Strict):
    version = Int(required=True, strict=True)
    token = fields.String(required=True, validate=validate.Length(min=1, max=8192))
    tenant = tenant_field(required=True)


class SetRetention(RetentionQuery):
    years = Int(required=True, strict=True, validate=validate.Range(1, MAX_RETENTION_YEARS))
