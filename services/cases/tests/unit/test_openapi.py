"""The officer API's OpenAPI description, generated from the contracts: every
operation, its body and reply schemas, every status it can answer (the
running API is fuzzed against it in tests/system/test_officer_api_schema.py)."""

from __future__ import annotations

from peluit_cases.commands import COMMANDS
from peluit_cases.openapi import OPENAPI
from peluit_contracts.evidence import ALLOWED_MIME

ERROR = {"$ref": "#/components/schemas/ErrorReply"}
# everything else needs a bearer token
PUBLIC = {"/api/v1/officer/login", "/api/v1/officer/enrolment", "/api/v1/officer/enrolment/complete"}


def operations():
    for path, methods in OPENAPI["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


# a command's stale version says what changed
STALE = {"$ref": "#/components/schemas/StaleVersion"}
COMMAND_OPERATIONS = {(f"/api/v1/cases/{{case_id}}/{name}", "post") for name in COMMANDS} | {
    ("/api/v1/cases/{case_id}/redactions", "post"), ("/api/v1/cases/{case_id}/evidence/{evidence_id}/redactions", "post")}


def test_every_operation_documents_its_replies_and_errors():
    seen = set()
    for path, method, operation in operations():
        seen.add((path, method))
        responses = operation["responses"]
        ok = [s for s in responses if s.startswith("2")]
        assert len(ok) == 1, path
        errors = {s: r for s, r in responses.items() if not s.startswith("2")}
        if (path, method) in COMMAND_OPERATIONS:  # a stale version says what changed
            assert errors.pop("409")["content"] == {"application/json": {"schema": STALE}}, path
        assert all(r["content"] == {"application/json": {"schema": ERROR}} for r in errors.values()), path
        assert not any(s.startswith("5") and s != "503" for s in responses), path
        if path not in PUBLIC:
            assert operation["security"] == [{"bearer": []}] and "401" in responses, path
        if "requestBody" in operation:
            assert {"400", "413", "415"} <= set(responses), path
            schema = operation["requestBody"]["content"]["application/json"]["schema"]
            assert schema["$ref"].startswith("#/components/schemas/"), path
    # 19: accounts, sessions, administration; 2: the desk; 5: notification choices, the inbox and the address;
    # 3: redaction (text, an evidence copy, the un-redaction's disclosure request)
    assert len(seen) == 14 + 19 + 2 + 5 + 3 + len(COMMANDS)


def test_commands_need_if_match_and_answer_the_workflows_refusals():
    for name, kind in COMMANDS.items():
        operation = OPENAPI["paths"][f"/api/v1/cases/{{case_id}}/{name}"]["post"]
        assert {"400", "401", "403", "404", "409", "413", "415", "422", "428"} <= set(operation["responses"])
        assert any(p["name"] == "If-Match" and p["required"] for p in operation["parameters"])
        assert all(role in operation["summary"] for role in kind.roles)
    assert "post" not in OPENAPI["paths"]["/api/v1/cases/{case_id}/timeline"]


def test_bodies_and_replies_come_from_the_contracts():
    schemas = OPENAPI["components"]["schemas"]
    grant = schemas["AuditGrant"]
    assert grant["additionalProperties"] is False and set(grant["required"]) == {"officer_id", "tenant", "days", "reason"}
    assert grant["properties"]["officer_id"]["pattern"].startswith("^(?:[0-9a-f]{8}-")
    assert grant["properties"]["days"] == {"type": "integer", "minimum": 1, "maximum": 365}
    assert set(schemas["NewOfficer"]["required"]) == {"tenant", "username", "display_name", "roles"}
    assert schemas["CasePage"]["properties"]["findings"]["type"] == ["object", "null"]
    listing = OPENAPI["paths"]["/api/v1/cases"]["get"]
    page = next(p for p in listing["parameters"] if p["name"] == "page")
    assert page["schema"]["maximum"] == 100_000
    status = next(p for p in listing["parameters"] if p["name"] == "status")
    assert "diterima" in status["schema"]["pattern"]
    download = OPENAPI["paths"]["/api/v1/cases/{case_id}/evidence/{evidence_id}"]["get"]["responses"]["200"]
    assert set(download["content"]) == set(ALLOWED_MIME)


def test_the_desk_reads_are_documented():
    schemas = OPENAPI["components"]["schemas"]
    queue = OPENAPI["paths"]["/api/v1/cases"]["get"]
    assert {p["name"] for p in queue["parameters"]} == {"status", "category", "channel", "number", "deadline", "sort",
                                                         "page", "per_page"}
    assert queue["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/WorkQueue"}
    assert set(schemas["WorkQueue"]["required"]) == {"items", "page", "per_page", "total", "counts"}
    assert schemas["QueueItem"]["properties"]["deadline"] == {
        "anyOf": [{"$ref": "#/components/schemas/QueueDeadline"}, {"type": "null"}]}
    assert {"allowed_commands", "deadlines"} <= set(schemas["CasePage"]["required"])
    assert set(schemas["CasePage"]["properties"]["allowed_commands"]["items"]["enum"]) == set(COMMANDS)
    assert set(schemas["StaleVersion"]["required"]) == {"error", "current_version", "changes"}
    assert set(schemas["Catalogue"]["required"]) >= {"tenants", "external_destinations", "categories", "sanctions",
                                                     "recommendation_kinds", "legal_bases"}
    listing = OPENAPI["paths"]["/api/v1/disclosure-requests"]["get"]
    assert {p["name"] for p in listing["parameters"]} == {"tenant", "status", "mine"}
    view = OPENAPI["components"]["schemas"]["ViewBody"]["properties"]["format"]
    assert view["default"] == "sealed_box" and "x25519-hkdf-sha256-aes-256-gcm" in view["pattern"]
