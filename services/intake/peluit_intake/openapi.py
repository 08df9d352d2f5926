"""OpenAPI 3.1 description of the reporter API (served at /api/v1/openapi.json).

Written by hand from the contracts in ``peluit_contracts.reports``; the
schemathesis system test holds the service to it."""

from __future__ import annotations

TEXT = {"type": "object", "required": ["id", "en"], "properties": {"id": {"type": "string"}, "en": {"type": "string"}}}
ERROR = {"type": "object", "required": ["error"], "properties": {"error": {
    "type": "object", "required": ["code", "message"], "properties": {
        "code": {"type": "string"}, "message": TEXT,
        "fields": {"type": "object", "additionalProperties": {"type": "array", "items": TEXT}}}}}}


def _err(description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


RECEIPT = {"type": "string", "description": "XXXX-XXXX-XXXX-XXXX (16 digits)", "maxLength": 40}
REPORT_FIELDS = {
    "what": {"type": "string", "minLength": 10, "maxLength": 5000},
    "where": {"type": "string", "minLength": 1, "maxLength": 500},
    "when": {"type": "string", "minLength": 1, "maxLength": 200},
    "who": {"type": "string", "maxLength": 1000},
    "how": {"type": "string", "maxLength": 5000},
    "terlapor_inspektorat": {"type": "boolean"},
}
IDENTITY = {"type": ["object", "null"], "additionalProperties": False, "properties": {
    "name": {"type": "string", "maxLength": 200}, "nik": {"type": "string", "description": "16 digits"},
    "nip": {"type": "string", "description": "18 digits"}, "email": {"type": "string", "format": "email"},
    "phone": {"type": "string"}, "address": {"type": "string", "maxLength": 500}}}
SUBMISSION = {"type": "object", "additionalProperties": False, "required": ["tenant", "category", "what", "where", "when"],
              "properties": {"tenant": {"type": "string", "pattern": r"^\d{2}(\.\d{2})?$"},
                             "category": {"type": "string", "pattern": r"^[a-z0-9_\-]{2,64}$"},
                             **REPORT_FIELDS, "identity": IDENTITY}}
RECEIPT_REPLY = {"type": "object", "required": ["registration_number", "receipt", "tenant", "status", "anonymous"],
                 "properties": {"registration_number": {"type": "string"},
                                "receipt": {"type": "string", "pattern": r"^\d{4}-\d{4}-\d{4}-\d{4}$"},
                                "tenant": {"type": "string"}, "status": {"type": "string"},
                                "anonymous": {"type": "boolean"}, "message": TEXT}}
STATUS_REPLY = {"type": "object", "required": ["registration_number", "status", "timeline", "messages"],
                "properties": {"registration_number": {"type": "string"}, "tenant": {"type": "string"},
                               "status": {"type": "object", "required": ["code", "label"],
                                          "properties": {"code": {"type": "string"}, "label": TEXT}},
                               "timeline": {"type": "array", "items": {"type": "object"}},
                               "messages": {"type": "array", "items": {"type": "object"}},
                               "information_due": {"type": ["string", "null"]}}}
JSON_ERRORS = {"400": _err("Invalid fields (bilingual, field by field) or malformed JSON"),
               "413": _err("Body over the limit"), "415": _err("Not application/json"),
               "503": _err("A back-end service is busy: retry with the same Idempotency-Key")}

OPENAPI = {
    "openapi": "3.1.0",
    "info": {"title": "Peluit reporter API", "version": "1.0.0",
             "description": "Identitas pelapor dirahasiakan: identity is sealed to the identity vault on arrival. "
                            "A receipt is the reporter's only credential; it cannot be recovered."},
    "components": {"schemas": {"Error": ERROR},
                   "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "EdDSA JWT"}}},
    "paths": {
        "/api/v1/reports": {"post": {
            "summary": "File a report (201 only once it is durable)",
            "parameters": [{"name": "Idempotency-Key", "in": "header", "required": False,
                            "schema": {"type": "string", "pattern": r"^[A-Za-z0-9_\-]{16,128}$"}}],
            "requestBody": {"required": True, "content": {"application/json": {"schema": SUBMISSION}}},
            "responses": {"201": {"description": "Registered", "content": {"application/json": {"schema": RECEIPT_REPLY}}},
                          "422": _err("Unknown tenant or category, or an Idempotency-Key reused for another report"),
                          **JSON_ERRORS}}},
        "/api/v1/reports/status": {"post": {
            "summary": "Status, timeline and messages by receipt",
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "additionalProperties": False, "required": ["receipt"],
                "properties": {"receipt": RECEIPT}}}}},
            "responses": {"200": {"description": "The reporter's view", "content": {"application/json": {
                "schema": STATUS_REPLY}}}, "404": _err("Unknown receipt"), **JSON_ERRORS}}},
        "/api/v1/reports/messages": {"post": {
            "summary": "The reporter answers or writes to the Inspektorat",
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "additionalProperties": False, "required": ["receipt", "text"],
                "properties": {"receipt": RECEIPT, "text": {"type": "string", "minLength": 1, "maxLength": 5000}}}}}},
            "responses": {"201": {"description": "Received", "content": {"application/json": {"schema": {
                "type": "object", "required": ["status"], "properties": {"status": {"type": "string"},
                                                                         "message": TEXT}}}}},
                          "404": _err("Unknown receipt"), "409": _err("The case is closed"), **JSON_ERRORS}}},
        "/api/v1/reports/evidence": {"post": {
            "summary": "Add evidence to a report by receipt (types decided by content; metadata stripped for "
                       "investigators; originals sealed to the vault)",
            "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                "type": "object", "required": ["receipt", "file"],
                "properties": {"receipt": RECEIPT,
                               "file": {"type": "array", "maxItems": 5,
                                        "items": {"type": "string", "format": "binary"}}}}}}},
            "responses": {"201": {"description": "Accepted files", "content": {"application/json": {
                "schema": {"type": "object"}}}},
                          "404": _err("Unknown receipt"), "409": _err("The case is closed"),
                          "422": _err("A file was refused"), **JSON_ERRORS}}},
        "/api/v1/tenants": {"get": {
            "summary": "Inspektorat tenants and their categories",
            "responses": {"200": {"description": "Catalogue", "content": {"application/json": {"schema": {
                "type": "object", "required": ["tenants"], "properties": {"tenants": {"type": "array"}}}}}},
                          "503": _err("Cases is unavailable")}}},
        "/api/v1/assisted-reports": {"post": {
            "summary": "A penerima records a walk-in, letter or telephone report (format=html: printable slip)",
            "security": [{"bearer": []}],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                **SUBMISSION, "required": SUBMISSION["required"] + ["channel"],
                "properties": {**SUBMISSION["properties"], "channel": {"enum": ["walk_in", "letter", "phone"]}}}}}},
            "responses": {"201": {"description": "Registered"}, "401": _err("No or bad officer token, or the officer's session ended"),
                          "403": _err("Not a penerima"), "422": _err("Unknown tenant or category"), **JSON_ERRORS}}},
        "/api/v1/partner/reports": {"post": {
            "summary": "A partner system files a report (identity sealed to the vault's key; idempotent per source_id)",
            "security": [{"bearer": []}],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "additionalProperties": False,
                "required": ["source_id", "tenant", "category", "what", "where", "when"],
                "properties": {**{k: v for k, v in SUBMISSION["properties"].items() if k != "identity"},
                               "source_id": {"type": "string", "pattern": r"^[A-Za-z0-9._:/\-]{1,100}$"},
                               "sealed_identity": {"type": "string", "description": "base64 sealed box"}}}}}},
            "responses": {"201": {"description": "Registered", "content": {"application/json": {"schema": {
                "type": "object", "required": ["registration_number", "source_id", "tenant", "status"],
                "properties": {"registration_number": {"type": "string"}, "source_id": {"type": "string"},
                               "tenant": {"type": "string"}, "status": {"type": "string"},
                               "anonymous": {"type": "boolean"}}}}}},
                          "401": _err("No, unknown or revoked partner credential"),
                          "403": _err("Not a tenant of this partner"),
                          "422": _err("Identity in clear, unknown tenant or category, or a sealed identity the vault "
                                      "cannot open"), **JSON_ERRORS}}},
    },
}
