"""What auditors (and the tenant's inspektur) read: a case's stored events
with their hashes and its access log, the audit bundle for ``peluit-verify``,
and the vault's disclosure log of a tenant. The officer API decides who may."""

from __future__ import annotations

from werkzeug.wrappers import Response

from peluit_common.web import SECURITY_HEADERS

from ..api import Refused
from ..web import Page, View
from .common import label, tenant_names


def timeline(page: Page, case_id: str) -> View:
    doc = page.api.case(case_id)
    got = page.api.timeline(case_id)
    events = [{"at": page.moment(e.get("timestamp")), "type": e.get("type", ""), "version": e.get("version"),
               "who": _who(page, e.get("actor")), "nid": e.get("notification_id"), "hash": e.get("event_hash", "")}
              for e in got.get("events", [])]
    access = [{"at": page.moment(e.get("timestamp")), "officer": e.get("officer_id", ""), "tenant": e.get("tenant", ""),
               "roles": ", ".join(e.get("roles") or []), "action": e.get("action", ""), "allowed": e.get("allowed"),
               "hash": e.get("event_hash", "")} for e in got.get("access_log", [])]
    return View("timeline.html", {"page": "riwayat", "doc": doc, "events": events, "access": access})


def _who(page: Page, actor) -> str:
    if not isinstance(actor, dict):
        return ""
    if actor.get("username"):
        return actor["username"]
    return page.t("actor_reporter" if actor.get("id") == "reporter" else "actor_system")


def bundle(page: Page, case_id: str) -> Response:
    """``peluit-audit-bundle/1`` of the case, as the officer API sends it."""
    got = page.api.audit_bundle(case_id)
    headers = {**SECURITY_HEADERS, "Content-Disposition": got.disposition or "attachment"}
    return Response(got.content, status=200, content_type=got.content_type, headers=headers)


def disclosure_log(page: Page) -> View:
    """The vault's disclosure trail of a tenant (default: the officer's own)."""
    tenant = (page.request.args.get("tenant") or page.officer.tenant).strip()[:5]
    errors, events = {}, []
    try:
        got = page.api.disclosure_events(tenant)
    except Refused as err:
        errors = page.field_errors(err.fields) or {"tenant": [page.pick(err.message)]}
        got = {}
    for e in got.get("events", []):
        by = e.get("by") if isinstance(e.get("by"), dict) else {}
        events.append({"at": page.moment(e.get("at")), "type": label(page, "trail", e.get("type")),
                       "by": by.get("username") or by.get("officer_id", ""),
                       "request": e.get("request_id", ""), "case": e.get("case_id", ""),
                       "basis": label(page, "basis", e.get("legal_basis")) if e.get("legal_basis") else "",
                       "reason": e.get("reason") or "", "subject": e.get("subject") or ""})
    names = tenant_names(page)
    return View("disclosure_log.html", {"page": "pengungkapan-log", "tenant": tenant, "events": events,
                                        "errors": errors, "tenants": sorted(names.items())})
