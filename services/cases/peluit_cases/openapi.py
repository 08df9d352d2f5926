"""OpenAPI 3.1 description of the officer API (served at /api/v1/openapi.json)."""

from __future__ import annotations

from peluit_contracts.disclosure import LEGAL_BASES
from .commands import COMMANDS

_error = {"$ref": "#/components/schemas/Error"}
_errors = {
    "400": {"description": "Invalid fields (bilingual, field by field)", "content": {"application/json": {"schema": _error}}},
    "401": {"description": "Missing, invalid or expired token", "content": {"application/json": {"schema": _error}}},
    "403": {"description": "Role not allowed", "content": {"application/json": {"schema": _error}}},
    "404": {"description": "No such case, or outside your tenant (recorded)", "content": {"application/json": {"schema": _error}}},
}


def _command(path: str, roles: set[str]) -> dict:
    return {
        "post": {
            "summary": f"{path} (roles: {', '.join(sorted(roles))})",
            "security": [{"bearer": []}],
            "parameters": [
                {"name": "case_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}},
                {"name": "If-Match", "in": "header", "required": True, "schema": {"type": "string"},
                 "description": "the case version the officer acted on (the ETag of GET /cases/{case_id})"},
            ],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}},
            "responses": {
                "200": {"description": "Recorded", "headers": {"ETag": {"schema": {"type": "string"}}},
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CommandResult"}}}},
                "409": {"description": "Stale version: someone else changed the case first; nothing was recorded",
                        "content": {"application/json": {"schema": _error}}},
                "422": {"description": "Refused by the workflow (illegal transition, missing reason, ...)",
                        "content": {"application/json": {"schema": _error}}},
                "428": {"description": "If-Match missing", "content": {"application/json": {"schema": _error}}},
                **_errors,
            },
        }
    }


def _json_body(required: list[str], properties: dict) -> dict:
    return {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "additionalProperties": False, "required": required, "properties": properties}}}}


_request_id = [{"name": "request_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}]
_disclosure_errors = {
    **_errors,
    "403": {"description": "Not allowed by dual control (role, tenant, self-approval, not the requester, "
                           "wrong or reused one-time code); the vault records the attempt",
            "content": {"application/json": {"schema": _error}}},
    "404": {"description": "No such request (or case)", "content": {"application/json": {"schema": _error}}},
    "409": {"description": "Expired, already decided, not approved, already viewed, view window closed",
            "content": {"application/json": {"schema": _error}}},
    "422": {"description": "Anonymous report, identity erased under retention, unusable key",
            "content": {"application/json": {"schema": _error}}},
    "503": {"description": "The identity vault cannot be reached", "content": {"application/json": {"schema": _error}}},
}

# Disclosure of a reporter's identity: the identity vault decides and records every step.
_DISCLOSURE_PATHS = {
    "/api/v1/cases/{case_id}/disclosure-requests": {"post": {
        "summary": "Request disclosure of the reporter's identity (investigator of the case's tenant); "
                   "expires after PELUIT_DISCLOSURE_REQUEST_HOURS (72)",
        "security": [{"bearer": []}],
        "parameters": [{"name": "case_id", "in": "path", "required": True,
                        "schema": {"type": "string", "format": "uuid"}}],
        "requestBody": _json_body(["reason", "legal_basis"], {
            "reason": {"type": "string", "minLength": 10, "maxLength": 2000},
            "legal_basis": {"type": "string", "enum": list(LEGAL_BASES)}}),
        "responses": {"201": {"description": "Filed",
                              "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Disclosure"}}}},
                      **_disclosure_errors}}},
    "/api/v1/disclosure-requests/{request_id}/approve": {"post": {
        "summary": "Approve (an inspektur of the same tenant, not the requester) with a fresh TOTP code; "
                   "allows one view within PELUIT_DISCLOSURE_VIEW_MINUTES (30)",
        "security": [{"bearer": []}], "parameters": _request_id,
        "requestBody": _json_body(["totp"], {"totp": {"type": "string", "pattern": "^[0-9]{6}$"}}),
        "responses": {"200": {"description": "Approved",
                              "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Disclosure"}}}},
                      **_disclosure_errors}}},
    "/api/v1/disclosure-requests/{request_id}/refuse": {"post": {
        "summary": "Refuse (an inspektur of the same tenant, not the requester)",
        "security": [{"bearer": []}], "parameters": _request_id,
        "requestBody": _json_body(["reason"], {"reason": {"type": "string", "maxLength": 2000}}),
        "responses": {"200": {"description": "Refused",
                              "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Disclosure"}}}},
                      **_disclosure_errors}}},
    "/api/v1/disclosure-requests/{request_id}/view": {"post": {
        "summary": "The one view by the requester: the identity (JSON) sealed to the X25519 public key of the "
                   "officer's own client (libsodium sealed box); only that client's private key opens it. For an "
                   "evidence request (subject `evidence`) the reply holds `sealed_original`: the untouched file",
        "security": [{"bearer": []}], "parameters": _request_id,
        "requestBody": _json_body(["public_key"], {"public_key": {
            "type": "string", "description": "32-byte X25519 public key, base64", "contentEncoding": "base64"}}),
        "responses": {"200": {"description": "Sealed identity (or sealed original)", "content": {"application/json": {
            "schema": {"type": "object", "required": ["request_id"], "properties": {
                "request_id": {"type": "string", "format": "uuid"},
                "sealed_identity": {"type": "string", "contentEncoding": "base64"},
                "subject": {"type": "string", "enum": ["evidence"]},
                "original_ref": {"type": "string"},
                "sealed_original": {"type": "string", "contentEncoding": "base64"},
                "format": {"type": "string"}}}}}},
            **_disclosure_errors}}},
    "/api/v1/disclosure-events": {"get": {
        "summary": "The vault's disclosure events of one tenant (requests, approvals, refusals, expiries, views, "
                   "refused attempts), never an identity: auditors with a live grant, inspektur of the tenant",
        "security": [{"bearer": []}],
        "parameters": [{"name": "tenant", "in": "query", "required": True, "schema": {"type": "string"}}],
        "responses": {"200": {"description": "Events, oldest first"}, **_disclosure_errors}}},
}

_case_id = [{"name": "case_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}]
_hash = {"type": "string", "pattern": "^[0-9a-f]{64}$"}

# Auditor replay and tamper evidence (audit.py); every call lands in the case's access log.
_AUDIT_PATHS = {
    "/api/v1/cases/{case_id}/timeline": {"get": {
        "summary": "Every event of the case (type, version, time, actor, notification id, chain hash) and its "
                   "access log (recorded as timeline)",
        "security": [{"bearer": []}], "parameters": _case_id,
        "responses": {"200": {"description": "Timeline", "content": {"application/json": {"schema": {
            "type": "object", "required": ["case_id", "events", "access_log"], "properties": {
                "case_id": {"type": "string", "format": "uuid"},
                "events": {"type": "array", "items": {"type": "object", "properties": {
                    "type": {"type": "string"}, "version": {"type": "integer"},
                    "timestamp": {"type": "string", "format": "date-time"},
                    "actor": {"type": ["object", "null"]}, "notification_id": {"type": "integer"},
                    "event_hash": _hash}}},
                "access_log": {"type": "array", "items": {"type": "object", "properties": {
                    "timestamp": {"type": "string", "format": "date-time"}, "officer_id": {"type": "string"},
                    "tenant": {"type": "string"}, "roles": {"type": "array", "items": {"type": "string"}},
                    "action": {"type": "string"}, "allowed": {"type": "boolean"},
                    "notification_id": {"type": "integer"}, "event_hash": _hash}}}}}}}},
            **_errors}}},
    "/api/v1/cases/{case_id}/audit-bundle": {"get": {
        "summary": "peluit-audit-bundle/1 of the case for the offline verifier `peluit-verify` (auditors with a "
                   "live grant for the case's tenant; recorded as audit_bundle): the case's events in full, every "
                   "other event up to the newest signed checkpoint only as notification id and hashes",
        "security": [{"bearer": []}], "parameters": _case_id,
        "responses": {"200": {"description": "The bundle (JSON attachment)", "content": {"application/json": {
            "schema": {"type": "object", "required": ["format", "scope", "public_keys", "checkpoints", "events"],
                       "properties": {"format": {"const": "peluit-audit-bundle/1"}}}}}},
            **_errors,
            "403": {"description": "Not an auditor with a live grant for the case's tenant",
                    "content": {"application/json": {"schema": _error}}},
            "409": {"description": "No signed checkpoint covers the case yet; try again shortly",
                    "content": {"application/json": {"schema": _error}}}}}},
}


# -- evidence -------------------------------------------------------------------------------

_case_and_evidence = [
    {"name": "case_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}},
    {"name": "evidence_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}},
]
_EVIDENCE_PATHS = {
    "/api/v1/cases/{case_id}/evidence/{evidence_id}": {"get": {
        "summary": "Download the metadata-stripped copy of one attachment (recorded in the case's access log). "
                   "Sent as an attachment with nosniff and Content-Security-Policy: sandbox",
        "security": [{"bearer": []}], "parameters": _case_and_evidence,
        "responses": {
            "200": {"description": "The stripped copy; Content-Type is the type detected from its content",
                    "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}},
            "401": {"description": "Missing, invalid or expired token", "content": {"application/json": {"schema": _error}}},
            "404": {"description": "No such case or evidence, or outside your tenant (recorded)",
                    "content": {"application/json": {"schema": _error}}}}}},
    "/api/v1/cases/{case_id}/evidence/{evidence_id}/disclosure-requests": {"post": {
        "summary": "Request the untouched original of one attachment (investigator of the case's tenant); "
                   "then approve/refuse/view as for an identity: the view returns `sealed_original`",
        "security": [{"bearer": []}], "parameters": _case_and_evidence,
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "additionalProperties": False, "required": ["reason", "legal_basis"],
            "properties": {"reason": {"type": "string", "minLength": 10, "maxLength": 2000},
                           "legal_basis": {"type": "string",
                                           "enum": ["lpsk_protection", "proven_slander", "court_order"]}}}}}},
        "responses": {
            "201": {"description": "Filed", "content": {"application/json": {"schema": {
                "$ref": "#/components/schemas/Disclosure"}}}},
            "400": {"description": "Invalid fields", "content": {"application/json": {"schema": _error}}},
            "401": {"description": "Missing, invalid or expired token", "content": {"application/json": {"schema": _error}}},
            "403": {"description": "Not an investigator of the case's tenant", "content": {"application/json": {"schema": _error}}},
            "404": {"description": "No such case or evidence", "content": {"application/json": {"schema": _error}}},
            "503": {"description": "The identity vault cannot be reached", "content": {"application/json": {"schema": _error}}}}}},
}

OPENAPI = {
    "openapi": "3.1.0",
    "info": {"title": "Peluit officer API", "version": "1.0.0",
             "description": "Inspektorat case handling. Every request is scoped to the officer's tenant; "
                            "every read of a case is recorded in its access log."},
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "EdDSA JWT"}},
        "schemas": {
            "Text": {"type": "object", "properties": {"id": {"type": "string"}, "en": {"type": "string"}},
                     "required": ["id", "en"]},
            "Error": {"type": "object", "properties": {"error": {"type": "object", "properties": {
                "code": {"type": "string"}, "message": {"$ref": "#/components/schemas/Text"},
                "fields": {"type": "object", "additionalProperties": {
                    "type": "array", "items": {"$ref": "#/components/schemas/Text"}}}},
                "required": ["code", "message"]}}, "required": ["error"]},
            "Disclosure": {"type": "object", "properties": {
                "request_id": {"type": "string", "format": "uuid"}, "case_id": {"type": "string", "format": "uuid"},
                "tenant": {"type": "string"},
                "status": {"type": "string", "enum": ["pending", "approved", "refused", "expired", "viewed"]},
                "legal_basis": {"type": "string"}, "expires_at": {"type": "string", "format": "date-time"},
                "view_until": {"type": ["string", "null"], "format": "date-time"},
                "subject": {"type": "string", "enum": ["identity", "evidence"]},
                "original_ref": {"type": "string"}, "evidence_id": {"type": "string", "format": "uuid"}}},
            "CommandResult": {"type": "object", "properties": {
                "case_id": {"type": "string", "format": "uuid"}, "version": {"type": "integer"},
                "status": {"type": "string"}}, "required": ["case_id", "version", "status"]},
        },
    },
    "paths": {
        "/api/v1/officer/login": {"post": {
            "summary": "Sign in with password and TOTP; returns a short-lived bearer token",
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["username", "password", "totp"],
                "properties": {"username": {"type": "string"}, "password": {"type": "string"},
                               "totp": {"type": "string", "pattern": "^[0-9]{6}$"}}}}}},
            "responses": {"200": {"description": "Token"}, "401": _errors["401"]}}},
        "/api/v1/cases": {"get": {
            "summary": "List the tenant's cases",
            "security": [{"bearer": []}],
            "parameters": [{"name": n, "in": "query", "schema": {"type": t}} for n, t in
                           (("status", "string"), ("category", "string"), ("number", "string"),
                            ("page", "integer"), ("per_page", "integer"))],
            "responses": {"200": {"description": "A page of cases"}, **_errors}}},
        "/api/v1/cases/{case_id}": {"get": {
            "summary": "One case with its full timeline (recorded in the access log); with `as_of`, the case "
                       "replayed from its events up to that moment (recorded as read_as_of)",
            "security": [{"bearer": []}],
            "parameters": [{"name": "case_id", "in": "path", "required": True,
                            "schema": {"type": "string", "format": "uuid"}},
                           {"name": "as_of", "in": "query", "required": False,
                            "schema": {"type": "string", "format": "date-time"},
                            "description": "ISO-8601 with an offset, e.g. 2026-12-02T08:00:00+07:00"}],
            "responses": {"200": {"description": "The case; ETag is its version"},
                          **{**_errors, "404": {"description": "No such case, outside your tenant (recorded), or "
                                                               "not registered yet at as_of",
                                                "content": {"application/json": {"schema": _error}}}}}}},
        **_AUDIT_PATHS,
        **{f"/api/v1/cases/{{case_id}}/{path}": _command(path, kind.roles) for path, kind in COMMANDS.items()},
        "/api/v1/officers": {"post": {
            "summary": "Create an officer (tenant admin: own tenant; province admin: any). "
                       "Returns the initial password and TOTP secret once",
            "security": [{"bearer": []}],
            "responses": {"201": {"description": "Created"}, **_errors}}},
        "/api/v1/audit-grants": {"post": {
            "summary": "Grant an auditor read access to a tenant for some days (province admin)",
            "security": [{"bearer": []}],
            "responses": {"201": {"description": "Granted"}, **_errors}}},
        **_DISCLOSURE_PATHS,
        **_EVIDENCE_PATHS,
    },
}
