"""The officer API's notification handlers (``service.py``'s entrypoints call
them with the worker): the recipients RPC notifications asks, each officer's
own preferences, and the e-mail address on the officer record.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from marshmallow import ValidationError
from werkzeug.wrappers import Response

from peluit_common.rpc import UNAVAILABLE_ERRORS, call
from peluit_common.web import json_response, read_json
from peluit_contracts import notify as contract
from peluit_contracts.events import DOMAIN_EXCHANGE, dump_envelope, routing_key
from peluit_contracts.i18n import message

from . import access, notify_directory, officer_admin
from .errors import CasesError
from .access import Actor
from .officer_api import invalid, load

BODY_LIMIT = 4096
log = logging.getLogger(__name__)


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


def disclosure_envelope(step: str, reply: dict, at: datetime | None = None) -> dict:
    """``disclosure.requested`` / ``disclosure.approved`` from the vault's reply:
    request, case, tenant and requester ids only (no reason, no identity)."""
    return dump_envelope(
        event_id=f"disclosure:{reply['request_id']}:{step}", event_type=f"disclosure.{step}", version=1,
        time=at or datetime.now(timezone.utc), subject=str(reply["case_id"]), tenant=reply["tenant"], position=0,
        data={"request_id": reply["request_id"], "case_id": reply["case_id"], "tenant": reply["tenant"],
              "requested_by": reply["requested_by"], "at": at or datetime.now(timezone.utc)})


def disclosure_step(publisher, step: str, reply: dict) -> None:
    """Tell notifications of a disclosure step the vault has recorded. The
    vault's record is the truth; this publish (confirmed, mandatory) is a
    second write, so a broker failure here is logged and the officers are not
    told, while the request itself stands (docs/notifications.md)."""
    try:
        envelope = disclosure_envelope(step, reply)
        publisher.publish(envelope, exchange_name=DOMAIN_EXCHANGE, message_id=envelope["id"],
                          routing_key=routing_key(envelope["type"], 1))
    except Exception as exc:  # noqa: BLE001 - the officer's request succeeded; only the notice is lost
        log.error("disclosure %s notice not published for request %s: %s", step, reply.get("request_id"),
                  type(exc).__name__)


def _notifications(svc, method: str, command: dict) -> dict:
    """One RPC to notifications for the signed-in officer; unreachable is a 503."""
    try:
        reply = call(getattr(svc.notifications, method), command, timeout=svc.rpc_timeout)
    except UNAVAILABLE_ERRORS:
        raise CasesError("notifications_unavailable") from None
    if not isinstance(reply, dict) or "error" in reply:
        raise CasesError("internal_error")
    return reply


def inbox(svc, request) -> Response:
    """The signed-in officer's notification list, newest first, and the unread count."""
    actor = _me(svc, request)
    page = load(contract.InboxPage, request.args.to_dict())
    return json_response(200, _notifications(svc, "officer_inbox", {
        **page, "version": contract.INBOX_RPC_VERSION, "officer_id": actor.officer_id}))


def mark_read(svc, request) -> Response:
    actor = _me(svc, request)
    change = load(contract.ReadChange, read_json(request, BODY_LIMIT))
    return json_response(200, _notifications(svc, "mark_read", {
        **change, "version": contract.INBOX_RPC_VERSION, "officer_id": actor.officer_id}))
