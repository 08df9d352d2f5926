"""OpenAPI 3.1 description of the officer API (served at /api/v1/openapi.json)."""

from __future__ import annotations

from peluit_contracts.officer_api import COMMANDS

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
            "summary": "One case with its full timeline (recorded in the access log)",
            "security": [{"bearer": []}],
            "parameters": [{"name": "case_id", "in": "path", "required": True,
                            "schema": {"type": "string", "format": "uuid"}}],
            "responses": {"200": {"description": "The case; ETag is its version"}, **_errors}}},
        **{f"/api/v1/cases/{{case_id}}/{path}": _command(path, roles) for path, (_, roles, _) in COMMANDS.items()},
        "/api/v1/officers": {"post": {
            "summary": "Create an officer (tenant admin: own tenant; province admin: any). "
                       "Returns the initial password and TOTP secret once",
            "security": [{"bearer": []}],
            "responses": {"201": {"description": "Created"}, **_errors}}},
        "/api/v1/audit-grants": {"post": {
            "summary": "Grant an auditor read access to a tenant for some days (province admin)",
            "security": [{"bearer": []}],
            "responses": {"201": {"description": "Granted"}, **_errors}}},
    },
}
