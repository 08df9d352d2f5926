"""The officer API's notification handlers (``service.py``'s entrypoints call
them with the worker): the recipients RPC notifications asks, each officer's
own preferences, and the e-mail address on the officer record.
"""

from __future__ import annotations

from marshmallow import ValidationError
from werkzeug.wrappers import Response

from peluit_common.web import json_response, read_json
from peluit_contracts import notify as contract
from peluit_contracts.i18n import message

from . import access, notify_directory, officer_admin
from .access import Actor
from .officer_api import invalid, load

BODY_LIMIT = 4096


def recipients(svc, query) -> dict:
    """``cases.notification_recipients``: a bad query is ``{"error": "invalid"}``, never an exception."""
    try:
        query = contract.RecipientsQuery().load(query if isinstance(query, dict) else {})
    except ValidationError:
        return {"error": "invalid"}
    if query["version"] != contract.RECIPIENTS_RPC_VERSION:
        return {"error": "unsupported_version"}
    with svc.db.connection() as conn:
        return notify_directory.recipients(conn, svc.app, query)


def _me(svc, request) -> Actor:
    return Actor.from_claims(svc.auth.claims(request))


def my_preferences(svc, request) -> Response:
    actor = _me(svc, request)
    with svc.db.connection() as conn:
        return json_response(200, notify_directory.preferences(conn, actor.officer_id))


def change_my_preferences(svc, request) -> Response:
    actor = _me(svc, request)
    changes = load(contract.PreferencesChange, read_json(request, BODY_LIMIT))["preferences"]
    refused = {f"preferences.{k}": [message("notification_preference_invalid")]
               for k, mode in changes.items() if mode == "off" and k in contract.ALWAYS_ON}
    if refused:  # a breach cannot be switched off
        raise invalid(refused)
    with svc.db.connection() as conn:
        return json_response(200, notify_directory.set_preferences(conn, actor.officer_id, changes))


def set_email(svc, request, officer_id: str) -> Response:
    """An administrator of the officer's scope sets or removes the address
    (never their own account: the usual rule of officer administration)."""
    email = load(contract.EmailChange, read_json(request, BODY_LIMIT))["email"]
    actor = _me(svc, request)
    if not actor.has_role(*access.ADMIN_ROLES):
        raise access.forbidden()
    with svc.db.connection() as conn:
        account = officer_admin.set_email(conn, officer_id, email, access.officer_admin_check(actor),
                                          actor.officer_id)
    return json_response(200, account.admin_view())
