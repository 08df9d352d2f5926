"""Disclosure under dual control (the officer API's ``GET
/api/v1/disclosure-requests`` and the sealing a browser can open).

Request (legal basis and reason, for the identity or an attachment's
original), the approvals list for inspekturs (each approval with a fresh
one-time code), refusal, and the one-time view: the only page with a
script. The browser makes an X25519 key pair with WebCrypto, sends the
public key through the console to the officer API, and opens the reply
(HKDF-SHA256, AES-256-GCM) itself; the console passes the sealed reply on
and never holds the private key or the clear identity."""

from __future__ import annotations

import json
import re

from werkzeug.wrappers import Response

from peluit_common.web import SECURITY_HEADERS
from peluit_contracts.disclosure import LEGAL_BASES, DisclosureRequestBody, RefuseBody

from ..api import ApiError, Conflict, Forbidden, Refused
from .common import checked, label, refused
from ..web import Page, View

FORMAT = "x25519-hkdf-sha256-aes-256-gcm"
PUBLIC_KEY = re.compile(r"[A-Za-z0-9+/_-]{43}=?")


def request_form(page: Page, case_id: str, status: int = 200, *, errors=None, general=(), form=None) -> View:
    doc = page.api.case(case_id)
    originals = [(e["evidence_id"], e.get("label") or e["evidence_id"]) for e in doc.get("evidence", [])]
    passages = redacted_passages(page, doc)
    first = (originals or passages)[0][0] if doc.get("anonymous") and (originals or passages) else "identity"
    return View("disclosure_request.html", {
        "page": "pengungkapan", "doc": doc, "errors": errors or {}, "general": list(general),
        "form": form or {"subject": first, "legal_basis": "", "reason": ""}, "originals": originals,
        "passages": passages,
        "bases": [(b, label(page, "basis", b)) for b in LEGAL_BASES]}, status)


def redacted_passages(page: Page, doc: dict) -> list[tuple[str, str]]:
    """("redaction:<original_ref>", label) of each passage (or earlier copy) a redaction sealed in the vault."""
    out = []
    for step in doc.get("history", []):
        if step.get("kind") != "redacted":
            continue
        target = step.get("target") or {}
        what = page.t(f"fact_{target['field']}") if target.get("kind") == "report" else \
            page.t(f"redact_{target.get('kind')}") if target.get("kind") in ("message", "note") else \
            page.t("redact_evidence")
        for n, passage in enumerate(step.get("passages") or [], start=1):
            out.append((f"redaction:{passage['original_ref']}",
                        f"{what} · {page.moment(step.get('at'))['text']} · {n}"))
    return out


def request_submit(page: Page, case_id: str):
    form = page.values("subject", "legal_basis", "reason")
    subject = form["subject"]
    original_ref = subject.partition(":")[2] if subject.startswith("redaction:") else None
    evidence_id = subject if subject != "identity" and original_ref is None else None
    body, errors = checked(page, DisclosureRequestBody, {"reason": form["reason"], "legal_basis": form["legal_basis"]})
    if not form["subject"]:
        errors["subject"] = [page.message("required")]
    if errors:
        return request_form(page, case_id, 400, errors=errors, form=form)
    try:
        page.api.request_disclosure(case_id, body["reason"], body["legal_basis"], evidence_id=evidence_id,
                                    original_ref=original_ref)
    except (Refused, Forbidden) as err:
        return request_form(page, case_id, err.status, **refused(page, err), form=form)
    return page.redirect("/pengungkapan", ok="requested")


def requests_list(page: Page, status: int = 200, *, general=(), notices=(), errors=None, failed=None) -> View:
    """``failed``: the request whose refusal form is shown again with ``errors`` and the reason typed."""
    officer = page.officer
    mine = page.api.get("cases", "/api/v1/disclosure-requests", mine="true").get("items", [])
    pending = []
    if officer.has("inspektur"):
        pending = page.api.get("cases", "/api/v1/disclosure-requests", tenant=officer.tenant,
                               status="pending").get("items", [])
    audited, audited_tenant = [], ""
    if officer.has("auditor"):  # a granted tenant's requests with their reasons (the grant is checked by cases)
        audited_tenant = (page.request.args.get("tenant") or "").strip()[:5]
        if audited_tenant:
            audited = page.api.get("cases", "/api/v1/disclosure-requests", tenant=audited_tenant).get("items", [])
    if page.request.args.get("ok") == "requested":
        notices = [*notices, page.t("disclosure_requested")]
    shown = lambda items: [{**r, "requested": page.moment(r.get("requested_at")),  # noqa: E731
                            "expires": page.moment(r.get("expires_at")), "until": page.moment(r.get("view_until")),
                            "who": (r.get("requested_by") or {}).get("username", ""),
                            "status_text": label(page, "dstatus", r.get("status")),
                            "subject_text": label(page, "subject", r.get("subject", "identity"))}
                           for r in items]
    return View("disclosure_list.html", {"page": "pengungkapan", "mine": shown(mine), "pending": shown(pending),
                                         "audited": shown(audited), "audited_tenant": audited_tenant,
                                         "general": list(general), "notices": list(notices), "errors": errors or {},
                                         "failed": failed, "error_prefix": f"{failed}-" if failed else "",
                                         "kept_reason": page.value("reason") if failed else ""},
                status)


def approve(page: Page, request_id: str):
    try:
        done = page.api.post("cases", f"/api/v1/disclosure-requests/{request_id}/approve",
                             {"totp": page.value("totp")})
    except (Refused, Forbidden, Conflict) as err:  # a wrong or reused code is a 403, decided already a 409
        return requests_list(page, err.status, general=[page.pick(err.message)])
    if done.get("status") == "pending":  # the tenant needs more than one approver (k)
        return requests_list(page, notices=[page.t("disclosure_approval_recorded", n=done.get("approvals"),
                                                   k=done.get("approvals_required"))])
    return requests_list(page, notices=[page.t("disclosure_approved")])


def refuse(page: Page, request_id: str):
    body, errors = checked(page, RefuseBody, {"reason": page.value("reason").strip()})
    if errors:
        return requests_list(page, 400, errors=errors, failed=request_id)
    try:
        page.api.post("cases", f"/api/v1/disclosure-requests/{request_id}/refuse", body)
    except (Refused, Forbidden, Conflict) as err:
        return requests_list(page, err.status, **refused(page, err), failed=request_id)
    return requests_list(page, notices=[page.t("disclosure_refused")])


def view_page(page: Page, request_id: str) -> View:
    return View("disclosure_view.html", {"page": "pengungkapan", "request_id": request_id, "scripted": True})


def view_open(page: Page, request_id: str) -> Response:
    """The browser's public key in, the sealed reply out (JSON for the page's script)."""
    public_key = page.value("public_key")
    if not PUBLIC_KEY.fullmatch(public_key):
        return _json(400, {"error": "public_key"})
    try:
        sealed = page.api.post("cases", f"/api/v1/disclosure-requests/{request_id}/view",
                               {"public_key": public_key, "format": FORMAT})
    except ApiError as err:
        return _json(err.status if 400 <= err.status < 600 else 502, {"error": err.code,
                                                                      "message": page.pick(err.message)})
    keep = ("request_id", "subject", "format", "ephemeral_public_key", "nonce", "ciphertext", "original_ref", "name")
    return _json(200, {k: sealed[k] for k in keep if k in sealed})


def _json(status: int, body: dict) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json; charset=utf-8",
                    headers={**SECURITY_HEADERS})
