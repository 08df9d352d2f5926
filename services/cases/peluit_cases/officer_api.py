"""The officer HTTP API's logic, apart from nameko: authorisation (tenant
walls, roles, audit grants), command dispatch with If-Match, and the case
document officers see. The service module only wires requests to these.

A case outside the officer's reach answers 404 exactly like a missing one,
and the attempt is recorded in the case's access log.
"""

from __future__ import annotations

from uuid import UUID

from marshmallow import ValidationError

from peluit_common.auth import OfficerClaims
from peluit_common.web import HttpError
from peluit_contracts.i18n import bilingual_errors
from peluit_contracts.officer_api import COMMANDS

from . import officers
from .domain import STATUS_LABELS, Case, DomainError

NOT_FOUND = {"id": "Kasus tidak ditemukan.", "en": "Case not found."}
FORBIDDEN = {"id": "Peran Anda tidak berwenang untuk tindakan ini.",
             "en": "Your role is not allowed to do this."}
INVALID = {"id": "Periksa kembali isian.", "en": "Please check the fields."}

DOMAIN_MESSAGES = {
    "stale_version": ("Kasus telah diubah oleh orang lain. Muat ulang lalu coba lagi.",
                      "The case was changed by someone else. Reload and try again."),
    "illegal_transition": ("Tindakan ini tidak dapat dilakukan pada status kasus saat ini.",
                           "This action is not possible in the case's current status."),
    "reason_required": ("Alasan wajib diisi.", "A reason is required."),
    "case_closed": ("Kasus sudah ditutup.", "The case is closed."),
    "officer_recused": ("Petugas telah menyatakan benturan kepentingan pada kasus ini.",
                        "The officer has recused from this case."),
    "already_recused": ("Anda sudah menyatakan benturan kepentingan.", "You have already recused."),
    "follow_up_open": ("Masih ada rekomendasi yang belum ditindaklanjuti.",
                       "Some recommendations are not followed up yet."),
    "invalid_sanction": ("Sanksi tidak sesuai PP 94/2021.", "The sanction does not follow PP 94/2021."),
    "invalid_recommendation": ("Rekomendasi tidak lengkap atau tidak valid.",
                               "The recommendation is incomplete or invalid."),
    "recommendations_need_proof": ("Rekomendasi hanya untuk hasil terbukti.",
                                   "Recommendations need a proven finding."),
    "invalid_destination": ("Tujuan pelimpahan tidak valid.", "Invalid forwarding destination."),
    "unknown_recommendation": ("Rekomendasi tidak dikenal.", "Unknown recommendation."),
    "already_done": ("Rekomendasi sudah selesai.", "The recommendation is already done."),
    "team_required": ("Tim investigasi wajib diisi dengan investigator tenant ini.",
                      "The team must list investigators of this tenant."),
    "no_parent_tenant": ("Tidak ada Inspektorat di atas tenant ini.", "This tenant has no parent Inspektorat."),
}


def domain_error(err: DomainError, case: Case | None = None) -> HttpError:
    if err.code == "not_found":
        return HttpError(404, "not_found", NOT_FOUND)
    id_, en = DOMAIN_MESSAGES.get(err.code, ("Permintaan tidak dapat diproses.", "The request cannot be processed."))
    status = 409 if err.code == "stale_version" else 422
    return HttpError(status, err.code, {"id": id_, "en": en})


def actor(claims: OfficerClaims) -> dict:
    return {"officer_id": claims.officer_id, "username": claims.username, "roles": list(claims.roles),
            "tenant": claims.tenant}


AUDIT_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_grant (
    id bigserial PRIMARY KEY,
    officer_id uuid NOT NULL,
    tenant text NOT NULL,
    expires_at timestamptz NOT NULL,
    reason text NOT NULL,
    granted_by uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
"""


def migrate(conn) -> None:
    with conn.transaction():
        conn.execute(AUDIT_SCHEMA)


def visible_tenants(conn, claims: OfficerClaims) -> list[str]:
    """Officers see what their own Inspektorat handles (for the province: what
    was escalated or forwarded to it); auditors only what a live grant names."""
    tenants = set()
    if set(claims.roles) - {"auditor"}:
        tenants.add(claims.tenant)
    if claims.has_role("auditor"):
        with conn.transaction():
            rows = conn.execute("SELECT DISTINCT tenant FROM audit_grant WHERE officer_id = %s AND expires_at > now()",
                                (claims.officer_id,)).fetchall()
        tenants.update(r[0] for r in rows)
    return sorted(tenants)


def load_visible_case(app, conn, claims: OfficerClaims, case_id: str, action: str) -> Case:
    """The case, or a 404 that is indistinguishable from a missing case; both
    the read and a refused attempt land in the case's access log."""
    try:
        uuid = UUID(case_id)
        case = app.get_case(uuid)
    except (ValueError, DomainError):
        raise HttpError(404, "not_found", NOT_FOUND) from None
    allowed = case.handling_tenant in visible_tenants(conn, claims)
    app.record_access(case.id, claims.officer_id, claims.tenant, list(claims.roles), action, allowed)
    if not allowed:
        raise HttpError(404, "not_found", NOT_FOUND)
    return case


def case_document(app, case: Case) -> dict:
    return case_document_from(*app.transcript(case.id))


def case_document_from(case: Case, history: list[dict], messages: list[dict]) -> dict:
    """The document for a replayed case: the current one, or one as of a
    moment (``GET /api/v1/cases/{id}?as_of=``, audit.case_as_of)."""
    from . import evidence  # evidence.py builds on this module

    return {
        "case_id": str(case.id),
        "version": case.version,
        "registration_number": case.registration_number,
        "origin_tenant": case.tenant,
        "handling_tenant": case.handling_tenant,
        "status": {"code": case.status, "label": STATUS_LABELS[case.status]},
        "category": case.category,
        "channel": case.channel,
        "anonymous": case.anonymous,
        "report": case.report,
        "history": history,
        "messages": messages,
        "investigation": case.investigation,
        "findings": case.findings,
        "recommendations": case.recommendations,
        "forwarded_to": case.forwarded_to,
        "information_due": case.information_due,
        # metadata of the stripped copies; the bytes are a separate download (evidence.py)
        "evidence": evidence.listing(case),
        "registered_at": case.created_on.isoformat(),
        "updated_at": case.modified_on.isoformat(),
    }


def expected_version(if_match: str | None) -> int:
    if not if_match:
        raise HttpError(428, "precondition_required", {
            "id": "Sertakan header If-Match berisi versi kasus.", "en": "Send an If-Match header with the case version."})
    raw = if_match.strip()
    if raw.startswith("W/"):
        raw = raw[2:]
    try:
        return int(raw.strip('"'))
    except ValueError:
        raise HttpError(400, "invalid_if_match", {
            "id": "If-Match harus berisi nomor versi.", "en": "If-Match must hold a version number."}) from None


def run_command(app, conn, claims: OfficerClaims, case_id: str, name: str, body: dict, if_match: str | None,
                parent_tenant, deadline_config=None) -> Case:
    spec = COMMANDS.get(name)
    if spec is None:
        raise HttpError(404, "not_found", NOT_FOUND)
    method, roles, schema = spec
    case = load_visible_case(app, conn, claims, case_id, action=name)
    if not set(claims.roles) & roles:
        raise HttpError(403, "forbidden", FORBIDDEN)
    version = expected_version(if_match)
    try:
        args = schema().load(body)
    except ValidationError as err:
        raise HttpError(400, "validation_failed", INVALID, bilingual_errors(err.messages)) from None
    if method == "record_findings" and not claims.has_role("inspektur"):
        # an investigator records findings only for an investigation they are on
        if not case.investigation or claims.officer_id not in case.investigation["team"]:
            raise HttpError(403, "forbidden", FORBIDDEN)
    if method == "start_investigation":
        for member in args["team"]:
            officer = officers.get_officer(conn, member)
            if officer is None or officer.tenant != case.handling_tenant or "investigator" not in officer.roles:
                raise domain_error(DomainError("team_required"))
    if method == "escalate":
        parent = parent_tenant(case.handling_tenant)
        if parent is None:
            raise domain_error(DomainError("no_parent_tenant"))
        args["to_tenant"] = parent
    if method == "record_findings":
        args["recommendations"] = [{k: v for k, v in r.items() if v is not None} for r in args["recommendations"]]
    if method == "accept":
        args = {"note": args.get("note")}
    ends_here = method in ("close", "reject", "archive") or (method == "forward"
                                                          and args.get("destination_kind") == "external")
    if ends_here and deadline_config is not None:
        args.update(closing_deadline_args(deadline_config, case))
    try:
        return app.execute(case.id, version, method, actor(claims), **args)
    except DomainError as err:
        raise domain_error(err) from None


def closing_deadline_args(deadline_config, case: Case) -> dict:
    """The tenant's pack and calendar when a case ends here (closed, rejected,
    archived, forwarded to an external body): the ending event records the
    deadline outcomes, for statistics that replay, not recompute."""
    pack, calendar = deadline_config(case.handling_tenant)
    return {"pack": pack, "calendar": calendar}


ADMIN_GRANTABLE = {
    # a tenant admin staffs its own Inspektorat; only the province creates admins
    "tenant_admin": {"penerima", "penelaah", "investigator", "inspektur", "auditor"},
    "province_admin": {"penerima", "penelaah", "investigator", "inspektur", "auditor", "tenant_admin",
                       "province_admin"},
}


def may_create(claims: OfficerClaims, tenant: str, roles: list[str]) -> bool:
    allowed: set[str] = set()
    if claims.has_role("province_admin"):
        allowed |= ADMIN_GRANTABLE["province_admin"]
    elif claims.has_role("tenant_admin") and tenant == claims.tenant:
        allowed |= ADMIN_GRANTABLE["tenant_admin"]
    return bool(roles) and set(roles) <= allowed
