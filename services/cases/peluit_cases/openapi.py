"""OpenAPI 3.1 description of the officer API (served at /api/v1/openapi.json),
generated from the marshmallow contracts (apispec's MarshmallowPlugin).

Every operation lists every status it can answer (errors come from the one
table ``officer_api.STATUS``), each with its body schema and content type.
"""

from __future__ import annotations

from peluit_common.openapi import BEARER, JSON, error, new_spec
from peluit_contracts import disclosure as disclosure_contract
from peluit_contracts import notify as notify_contract
from peluit_contracts import officer_api as contract
from peluit_contracts import officer_accounts as accounts_contract
from peluit_contracts import redaction as redaction_contract
from peluit_contracts.evidence import ALLOWED_MIME

from .commands import COMMANDS


WHY = {
    400: "Invalid input: malformed JSON, or fields refused one by one (bilingual)",
    401: "Missing, invalid or expired token, or the officer's session ended (logout, deactivation, role, password "
         "or factor change: `session_ended`)",
    403: "The officer's role or grant does not allow this",
    404: "No such case (or outside the officer's tenant: recorded in the case's access log)",
    409: "Conflict: someone changed it first, or its state does not allow this now",
    410: "The case's content ended with its retention period (`content_ended`): no text is kept or added",
    413: "The body is larger than this operation accepts",
    415: "The body is not application/json",
    422: "Refused by the rules (workflow step, unknown reference, ...)",
    428: "If-Match with the case version is required",
    429: "The account is locked for a while after too many failures",
    503: "The identity vault cannot be reached; try again",
}
SESSION_503 = "The officer's session cannot be checked right now (`session_unavailable`); try again"
BODY = (400, 413, 415)  # what reading any JSON body can answer


def _errors(*statuses: int, **why: str) -> dict:
    """Error responses: ``why`` overrides a description (``s404="..."``)."""
    return {str(s): error(why.get(f"s{s}", WHY[s])) for s in statuses}


def _ok(status: int, schema, description: str, headers: dict | None = None) -> dict:
    out = {"description": description, "content": {JSON: {"schema": schema}}}
    if headers:
        out["headers"] = headers
    return {str(status): out}


ETAG = {"ETag": {"description": "the case version (send it back as If-Match)", "schema": {"type": "string"}}}


def _path(name: str, description: str) -> dict:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": {"type": "string", "format": "uuid"}}


CASE_ID = _path("case_id", "the case")
REQUEST_ID = _path("request_id", "the disclosure request")
EVIDENCE_ID = _path("evidence_id", "the attachment (evidence_id in the case document)")
ORIGINAL_REF = {**_path("original_ref", "a redacted passage (original_ref in the redaction's history step)"),
                "schema": {"type": "string", "pattern": r"^[A-Za-z0-9_\-]{20,64}$"}}
IF_MATCH = {"name": "If-Match", "in": "header", "required": True,
            "schema": {"type": "string", "pattern": r'^(W/)?"[0-9]{1,9}"$'},
            "description": "the case version the officer acted on (the ETag of GET /cases/{case_id}), e.g. \"3\""}
DISCLOSURE_ERRORS = dict(
    s403="Not allowed by dual control (role, tenant, self-approval, not the requester, wrong or reused one-time "
         "code); the vault records the attempt",
    s404="No such request or case (or outside the officer's tenant)",
    s409="Expired, already decided, not approved, already viewed, view window closed, or being decided",
    s422="Anonymous report, identity or original erased under retention, unusable key or basis")
# what each step of a disclosure (request, approve, refuse, view) can answer besides its reply
DISCLOSURE_STEP = _errors(*BODY, 401, 403, 404, 409, 422, 503, **DISCLOSURE_ERRORS)


def _body(schema) -> dict:
    return {"required": True, "content": {JSON: {"schema": schema}}}


def _op(summary: str, ok: dict, errors: dict, *, params: list | None = None, body=None,
        public: bool = False) -> dict:
    """One operation: ``ok`` (``_ok``) and ``errors`` (``_errors``) are its responses, ``body``
    its JSON body's schema; every operation but the sign-in steps needs the bearer token."""
    op = {"summary": summary}
    if not public:
        op["security"] = BEARER
    if params:
        op["parameters"] = params
    if body is not None:
        op["requestBody"] = _body(body)
    op["responses"] = {**ok, **errors}
    return op


def _redaction_replies(why_422: str) -> tuple[dict, dict]:
    """A redaction's (ok, errors): as a command's, the sealing may meet an absent vault (503)."""
    return (_ok(200, redaction_contract.RedactionResult, "Recorded", ETAG),
            {**_errors(*BODY, 401, 403, 404, 422, 428, 503, s422=why_422), **STALE})


def _operations() -> dict:
    ops = {
        ("/api/v1/officer/login", "post"): _op(
            "Sign in with password and TOTP; returns a short-lived bearer token",
            _ok(200, contract.LoginReply, "Token"),
            _errors(*BODY, 401, s401="Wrong username, password or one-time code (all alike)"), body=contract.Login,
            public=True),
        ("/api/v1/cases", "get"): _op(
            "The work queue: the officer's visible cases (own tenant; auditors: granted tenants), the nearest open "
            "deadline first, filtered, with counts per status under the other filters",
            _ok(200, contract.WorkQueue, "A page of cases"), _errors(400, 401),
            params=[{"in": "query", "schema": contract.CaseListQuery}]),
        ("/api/v1/cases/{case_id}", "get"): _op(
            "One case with its full history, the commands the officer may give now and its open deadlines (recorded "
            "in the access log); with `as_of`, the case replayed from its events up to that moment (recorded as "
            "read_as_of; no commands)",
            _ok(200, contract.CasePage, "The case", ETAG),
            _errors(400, 401, 404, s404=WHY[404] + ", or not registered yet at as_of"),
            params=[CASE_ID, {"in": "query", "schema": contract.CaseQuery}]),
        ("/api/v1/cases/{case_id}/timeline", "get"): _op(
            "Every event of the case (type, version, time, actor, notification id, chain hash) and its access log "
            "(recorded as timeline)",
            _ok(200, contract.Timeline, "Timeline"), _errors(401, 404), params=[CASE_ID]),
        ("/api/v1/cases/{case_id}/audit-bundle", "get"): _op(
            "peluit-audit-bundle/1 of the case for the offline verifier `peluit-verify` (auditors with a live grant "
            "for the case's tenant; recorded as audit_bundle): the case's events in full, every other event up to "
            "the newest signed checkpoint only as notification id and hashes",
            _ok(200, contract.AuditBundle, "The bundle (a JSON attachment)"),
            _errors(401, 403, 404, 409, s403="Not an auditor with a live grant for the case's tenant",
                    s409="No signed checkpoint covers the case yet; try again shortly"),
            params=[CASE_ID]),
        ("/api/v1/cases/{case_id}/evidence/{evidence_id}", "get"): _op(
            "Download the metadata-stripped copy of one attachment (recorded in the case's access log), as an "
            "attachment with nosniff and Content-Security-Policy: sandbox",
            {"200": {"description": "The stripped copy; its type is the one detected from its content",
                     "content": {mime: {"schema": {"type": "string", "format": "binary"}} for mime in ALLOWED_MIME}}},
            _errors(401, 404, 410, s404="No such case or attachment, or outside the officer's tenant",
                    s410="The copy was erased with the case's content (`content_ended`)"),
            params=[CASE_ID, EVIDENCE_ID]),
        ("/api/v1/cases/{case_id}/evidence/{evidence_id}/disclosure-requests", "post"): _op(
            "Request the untouched original of one attachment (investigator of the case's tenant); then "
            "approve/refuse/view as for an identity: the view returns `sealed_original`",
            _ok(201, disclosure_contract.DisclosureReply, "Filed"),
            DISCLOSURE_STEP, params=[CASE_ID, EVIDENCE_ID], body=disclosure_contract.DisclosureRequestBody),
        ("/api/v1/cases/{case_id}/redactions", "post"): _op(
            "Redact passages of a report field, a dialogue message or a note (penerima, penelaah of the case's "
            "tenant): each becomes `[disamarkan]` everywhere from now on; each original passage is sealed into the "
            "identity vault and the event keeps its span, a salted HMAC-SHA256 and the vault's `original_ref`. A "
            "later redaction of the redacted text widens it; only a disclosure brings a passage back",
            *_redaction_replies("Unknown target, a span outside the text, a passage not in it, nothing new to "
                                "redact"), params=[CASE_ID, IF_MATCH], body=redaction_contract.Redact),
        ("/api/v1/cases/{case_id}/evidence/{evidence_id}/redactions", "post"): _op(
            "Redact a stripped copy (penerima, penelaah): black out a region of an image or drop a page of a PDF; "
            "the new copy replaces it and the previous copy is sealed into the identity vault",
            *_redaction_replies("Not an image or PDF, a region outside the image, no such page or a single page"),
            params=[CASE_ID, EVIDENCE_ID, IF_MATCH], body=redaction_contract.RedactEvidence),
        ("/api/v1/cases/{case_id}/redactions/{original_ref}/disclosure-requests", "post"): _op(
            "Un-redaction: request one sealed passage (or earlier copy) by its `original_ref` (investigator of the "
            "case's team, inspektur); then approve/refuse/view as for an identity: the view's `sealed_original` "
            "is the passage with the salt that proves its HMAC",
            _ok(201, disclosure_contract.DisclosureReply, "Filed"),
            DISCLOSURE_STEP, params=[CASE_ID, ORIGINAL_REF], body=disclosure_contract.DisclosureRequestBody),
        ("/api/v1/cases/{case_id}/disclosure-requests", "post"): _op(
            "Request disclosure of the reporter's identity (investigator of the case's tenant); expires after "
            "PELUIT_DISCLOSURE_REQUEST_HOURS (72)",
            _ok(201, disclosure_contract.DisclosureReply, "Filed"),
            DISCLOSURE_STEP, params=[CASE_ID], body=disclosure_contract.DisclosureRequestBody),
        ("/api/v1/disclosure-requests/{request_id}/approve", "post"): _op(
            "Approve (an inspektur of the same tenant, not the requester) with a fresh TOTP code; allows one view "
            "within PELUIT_DISCLOSURE_VIEW_MINUTES (30)",
            _ok(200, disclosure_contract.DisclosureReply, "Approved"),
            DISCLOSURE_STEP, params=[REQUEST_ID], body=disclosure_contract.ApproveBody),
        ("/api/v1/disclosure-requests/{request_id}/refuse", "post"): _op(
            "Refuse (an inspektur of the same tenant, not the requester)",
            _ok(200, disclosure_contract.DisclosureReply, "Refused"),
            DISCLOSURE_STEP, params=[REQUEST_ID], body=disclosure_contract.RefuseBody),
        ("/api/v1/disclosure-requests/{request_id}/view", "post"): _op(
            "The one view by the requester: the identity (JSON) sealed to the X25519 public key of the officer's own "
            "client (`format` sealed_box: a libsodium sealed box; x25519-hkdf-sha256-aes-256-gcm: ephemeral X25519, "
            "HKDF-SHA256, AES-256-GCM, for WebCrypto); only that client's private key opens it. For an evidence "
            "request (subject `evidence`) the sealed box is `sealed_original`: the untouched file",
            _ok(200, disclosure_contract.SealedView, "Sealed identity (or sealed original)"),
            DISCLOSURE_STEP, params=[REQUEST_ID], body=disclosure_contract.ViewBody),
        ("/api/v1/disclosure-events", "get"): _op(
            "The vault's disclosure events of one tenant (requests, approvals, refusals, expiries, views, refused "
            "attempts), never an identity: auditors with a live grant, inspektur of the tenant",
            _ok(200, disclosure_contract.DisclosureTrail, "Events, oldest first"), _errors(400, 401, 403, 503),
            params=[{"in": "query", "schema": disclosure_contract.DisclosureTrailQuery}]),
        **_desk_operations(),
    }
    for name, kind in COMMANDS.items():
        ops[(f"/api/v1/cases/{{case_id}}/{name}", "post")] = _op(
            f"{name} (roles: {', '.join(sorted(kind.roles))})",
            _ok(200, contract.CommandResult, "Recorded", ETAG),
            {**_errors(*BODY, 401, 403, 404, 410, 422, 428,
                       s422="Refused by the workflow (illegal transition, team not of this tenant, ...)"), **STALE},
            params=[CASE_ID, IF_MATCH], body=contract.COMMANDS[name])
    ops.update(_account_operations())
    ops.update(_notification_operations())
    return ops


def _notification_operations() -> dict:
    reply = _ok(200, notify_contract.PreferencesReply, "Every kind with the officer's choice")
    return {
        ("/api/v1/officer/me/notifications", "get"): _op(
            "The signed-in officer's notification choice per kind: immediately, daily digest or off",
            reply, _errors(401, 503, s503=SESSION_503)),
        ("/api/v1/officer/me/notifications", "post"): _op(
            "Change some kinds' choices; a deadline breach and the province summary cannot be off",
            reply, _errors(*BODY, 401, 503, s503=SESSION_503), body=notify_contract.PreferencesChange),
        ("/api/v1/officer/me/inbox", "get"): _op(
            "The signed-in officer's notification list, newest first (`before`: an item id to page on; "
            "`unread=true`: unread only), with the unread count",
            _ok(200, notify_contract.Inbox, "A page of notifications"),
            _errors(400, 401, 503, s503="Notifications or the session cannot be reached"),
            params=[{"in": "query", "schema": notify_contract.InboxPage}]),
        ("/api/v1/officer/me/inbox/read", "post"): _op(
            "Mark some of one's own notifications read (`ids`), or all (`all: true`)",
            _ok(200, notify_contract.Unread, "The unread count afterwards"),
            _errors(*BODY, 401, 503, s503="Notifications or the session cannot be reached"),
            body=notify_contract.ReadChange),
        ("/api/v1/officers/{officer_id}/email", "post"): _op(
            "Set or remove (null) the address notifications write to (administrators of the officer's scope; never "
            "their own account)",
            _ok(200, accounts_contract.AdministeredOfficer, "The officer, as administrators see it"),
            _errors(*BODY, 401, 403, 404, 503, s503=SESSION_503, **ADMINISTER), params=[OFFICER_ID],
            body=notify_contract.EmailChange),
    }


# -- the desk: the console's forms and disclosure lists ----------------------------------------

STALE = {"409": {"description": "Stale version: someone else changed the case first; nothing was recorded. The "
                                "reply says what changed since the version sent",
                 "headers": {"ETag": {"description": "the current version", "schema": {"type": "string"}}},
                 "content": {JSON: {"schema": contract.StaleVersion}}}}


def _desk_operations() -> dict:
    return {
        ("/api/v1/catalogue", "get"): _op(
            "What the officers' forms choose from: tenants, external destinations, the own tenant's categories and "
            "deadline rules, PP 94/2021 sanctions, recommendation kinds, legal bases",
            _ok(200, contract.Catalogue, "The catalogue"), _errors(401)),
        ("/api/v1/disclosure-requests", "get"): _op(
            "Disclosure requests, newest first, never an identity (the vault decides): an inspektur's tenant, a "
            "requester's own, an auditor's granted tenant; reasons to inspekturs and auditors",
            _ok(200, disclosure_contract.DisclosureList, "Requests"),
            _errors(400, 401, 403, 503,
                    s403="Not an inspektur or investigator of the tenant, nor an auditor with a live grant for it"),
            params=[{"in": "query", "schema": disclosure_contract.DisclosureListQuery}]),
    }


def build() -> dict:
    spec = new_spec("Peluit officer API", "Inspektorat case handling. Every request is scoped to the officer's "
                    "tenant; every read of a case is recorded in its access log. Errors carry a stable code and a "
                    "bilingual message (Bahasa Indonesia first).")
    paths: dict[str, dict] = {}
    for (path, method), operation in _operations().items():
        paths.setdefault(path, {})[method] = operation
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()


# -- accounts: enrolment, sessions, administration, tenant settings, the admin change log ----------------

OFFICER_ID = _path("officer_id", "the officer")
GRANT_ID = {"name": "grant_id", "in": "path", "required": True, "description": "the audit grant",
            "schema": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}}
TENANT_CODE = {"name": "code", "in": "path", "required": True, "description": "the tenant, e.g. 35.73",
               "schema": {"type": "string", "pattern": r"^[0-9]{2}(\.[0-9]{2})?$"}}
HOLIDAY_DATE = {"name": "day", "in": "path", "required": True, "description": "the holiday, YYYY-MM-DD",
                "schema": {"type": "string", "format": "date"}}
ADMINISTER = dict(s403="Not an administrator of the officer's tenant, the officer's own account, or (for a tenant "
                       "admin) an administrator's account or an administrator role",
                  s404="No such officer")
SETTINGS = dict(s403="Not the tenant's administrator or the province admin", s404="No such tenant",
                s503="The identity vault (retention) cannot be reached; nothing was changed")


def _account_operations() -> dict:
    login_reply = _ok(200, contract.LoginReply, "Signed in: a token for the officer's current session")
    return {
        ("/api/v1/officer/enrolment", "post"): _op(
            "Enrolment, step 1: the one-time enrolment code an administrator handed over; answers the officer's own "
            "new TOTP secret (shown here only) and a 10-minute enrolment token",
            _ok(200, accounts_contract.EnrolmentStarted, "The new secret and the enrolment token"),
            _errors(*BODY, 401,
                    s401="Wrong, expired, used or unknown code or username (all alike; `invalid_enrolment`)"),
            body=accounts_contract.EnrolmentStart, public=True),
        ("/api/v1/officer/enrolment/complete", "post"): _op(
            "Enrolment, step 2: the officer's own password (12+ characters, not the username) and a code from the "
            "new secret; answers as a login",
            login_reply,
            _errors(*BODY, 401, 403, s401="Invalid, expired or used enrolment token",
                    s403="The one-time code does not match the new secret (`totp_invalid`)"),
            body=accounts_contract.EnrolmentComplete, public=True),
        ("/api/v1/officer/token", "post"): _op(
            "A fresh token for the caller's live session (the console refreshes with it); never past a session "
            "version change or PELUIT_OFFICER_SESSION_HOURS after signing in",
            login_reply, _errors(401, 503, s503=SESSION_503)),
        ("/api/v1/officer/logout", "post"): _op(
            "Sign out: every token of the officer ends on its next request, on every service",
            {"204": {"description": "Signed out"}}, _errors(401, 503, s503=SESSION_503)),
        ("/api/v1/officer/me", "get"): _op(
            "The signed-in officer's own account",
            _ok(200, accounts_contract.Me, "The account"), _errors(401, 503, s503=SESSION_503)),
        ("/api/v1/officer/password", "post"): _op(
            "Change one's own password with the current one and a fresh TOTP code; every other session ends, the "
            "reply is a new token",
            login_reply,
            _errors(*BODY, 401, 403, 429, 503, s403="Wrong current password or one-time code", s503=SESSION_503),
            body=accounts_contract.PasswordChange),
        ("/api/v1/officers", "post"): _op(
            "Create an officer (tenant admin: own tenant, no admin roles; province admin: any). Returns the one-time "
            "enrolment code (valid PELUIT_ENROLMENT_HOURS, 24): never a password or secret",
            _ok(201, contract.NewOfficerReply, "Created, awaiting enrolment"),
            _errors(*BODY, 401, 403, 422, 503, s422="No such tenant, unknown role, or the username is taken",
                    s503=SESSION_503),
            body=contract.NewOfficer),
        ("/api/v1/officers", "get"): _op(
            "Officers: administrators see their scope in full (tenant admin: own tenant; province admin: all); every "
            "other officer the active, enrolled officers of its own tenant by name and roles (e.g. "
            "`?role=investigator` for an investigation team)",
            _ok(200, accounts_contract.OfficerList, "A page of officers, by username"),
            _errors(400, 401, 403, 503, s403="Another tenant's officers", s503=SESSION_503),
            params=[{"in": "query", "schema": accounts_contract.OfficerListQuery}]),
        **{(f"/api/v1/officers/{{officer_id}}/{action}", "post"): _op(
            summary, _ok(200, reply, "The officer, as administrators see it"),
            _errors(*(BODY if action == "roles" else ()), 401, 403, 404, *((422,) if action == "roles" else ()), 503,
                    s422="Unknown role", s503=SESSION_503, **ADMINISTER),
            params=[OFFICER_ID], body=accounts_contract.Roles if action == "roles" else None)
            for action, reply, summary in (
                ("deactivate", accounts_contract.AdministeredOfficer,
                 "Deactivate: the officer cannot sign in, and every token ends on its next request"),
                ("reactivate", accounts_contract.AdministeredOfficer, "Reactivate a deactivated officer"),
                ("roles", accounts_contract.AdministeredOfficer, "Replace the officer's roles; every token ends"),
                ("reset-factor", accounts_contract.FactorReset,
                 "Lost second factor: clears password and TOTP secret and answers a new one-time enrolment code; "
                 "the officer enrols again"))},
        ("/api/v1/audit-grants", "post"): _op(
            "Grant an auditor read access to a tenant for some days (province admin)",
            _ok(201, contract.GrantReply, "Granted"),
            _errors(*BODY, 401, 403, 422, 503, s422="No such officer or tenant, or not an auditor", s503=SESSION_503),
            body=contract.AuditGrant),
        ("/api/v1/audit-grants", "get"): _op(
            "Audit grants, newest first (province admin: all; auditor: its own)",
            _ok(200, accounts_contract.GrantList, "Grants"), _errors(400, 401, 403, 503, s503=SESSION_503),
            params=[{"in": "query", "schema": accounts_contract.GrantListQuery}]),
        ("/api/v1/audit-grants/{grant_id}/revoke", "post"): _op(
            "Revoke an audit grant now (province admin); revoking a revoked grant changes nothing",
            _ok(200, accounts_contract.Grant, "The grant"),
            _errors(401, 403, 404, 503, s404="No such grant", s503=SESSION_503), params=[GRANT_ID]),
        ("/api/v1/tenants/{code}/settings", "get"): _op(
            "A tenant's settings: deadline pack, days to answer a request for information, disclosure notice, "
            "retention (kept by the identity vault), categories, holidays, the available packs",
            _ok(200, accounts_contract.TenantSettings, "The settings"), _errors(401, 403, 404, 503, **SETTINGS),
            params=[TENANT_CODE]),
        ("/api/v1/tenants/{code}/settings", "post"): _op(
            "Change any of deadline_pack, information_request_days, disclosure_notice, retention_years (all or "
            "nothing; recorded in the admin change log)",
            _ok(200, accounts_contract.TenantSettings, "The settings afterwards"),
            _errors(*BODY, 401, 403, 404, 422, 503, s422="Unknown deadline pack, or days the pack's rule cannot take",
                    **SETTINGS),
            params=[TENANT_CODE], body=accounts_contract.TenantSettingsChange),
        ("/api/v1/tenants/{code}/holidays", "post"): _op(
            "Add (or rename) a tenant holiday: a day the deadline clocks do not count",
            _ok(200, accounts_contract.TenantSettings, "The settings afterwards"),
            _errors(*BODY, 401, 403, 404, 503, **SETTINGS), params=[TENANT_CODE], body=accounts_contract.Holiday),
        ("/api/v1/tenants/{code}/holidays/{day}/delete", "post"): _op(
            "Remove a tenant holiday (removing one that is not there changes nothing)",
            _ok(200, accounts_contract.TenantSettings, "The settings afterwards"),
            _errors(401, 403, 404, 503, **{**SETTINGS, "s404": "No such tenant, or not a date"}),
            params=[TENANT_CODE, HOLIDAY_DATE]),
        ("/api/v1/tenants/{code}/categories", "post"): _op(
            "Add a report category or change one (switch it off with `active: false`; never deleted)",
            _ok(200, accounts_contract.TenantSettings, "The settings afterwards"),
            _errors(*BODY, 401, 403, 404, 503, **SETTINGS), params=[TENANT_CODE], body=accounts_contract.Category),
        ("/api/v1/admin-changes", "get"): _op(
            "The admin change log, newest first: who changed which account, grant or setting, and when "
            "(administrators of the tenant; auditors with a live grant for it)",
            _ok(200, accounts_contract.AdminChangeList, "A page of changes"),
            _errors(400, 401, 403, 503, s503=SESSION_503),
            params=[{"in": "query", "schema": accounts_contract.AdminChangeQuery}]),
    }


OPENAPI = build()
