"""Disclosure under dual control (the desk piece: ``GET
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
from peluit_contracts.disclosure import LEGAL_BASES

from ..api import ApiError, Forbidden, Refused
from ..pages.common import label
from ..web import Page, View

FORMAT = "x25519-hkdf-sha256-aes-256-gcm"
PUBLIC_KEY = re.compile(r"[A-Za-z0-9+/_-]{43}=?")


def request_form(page: Page, case_id: str, status: int = 200, *, errors=None, general=(), form=None) -> View:
    doc = page.api.case(case_id)
    originals = [(e["evidence_id"], e.get("label", e["evidence_id"])) for e in doc.get("evidence", [])]
    return View("disclosure_request.html", {
        "page": "pengungkapan", "doc": doc, "errors": errors or {}, "general": list(general),
        "form": form or {"subject": "identity", "legal_basis": "", "reason": ""}, "originals": originals,
        "bases": [(b, label(page, "basis", b)) for b in LEGAL_BASES]}, status)


def request_submit(page: Page, case_id: str):
    form = page.values("subject", "legal_basis", "reason")
    evidence_id = form["subject"] if form["subject"] != "identity" else None
    try:
        page.api.request_disclosure(case_id, form["reason"], form["legal_basis"], evidence_id=evidence_id)
    except (Refused, Forbidden) as err:
        fields = page.field_errors(err.fields)
        return request_form(page, case_id, err.status, errors=fields,
                            general=[] if fields else [page.pick(err.message)], form=form)
    return page.redirect("/pengungkapan", ok="requested")


def requests_list(page: Page, status: int = 200, *, general=(), notices=(), errors=None) -> View:
    officer = page.officer
    mine = page.api.get("cases", "/api/v1/disclosure-requests", mine="true").get("items", [])
    pending = []
    if officer.has("inspektur"):
        pending = page.api.get("cases", "/api/v1/disclosure-requests", tenant=officer.tenant,
                               status="pending").get("items", [])
    if page.request.args.get("ok") == "requested":
        notices = [*notices, page.t("disclosure_requested")]
    shown = lambda items: [{**r, "requested": page.moment(r.get("requested_at")),  # noqa: E731
                            "expires": page.moment(r.get("expires_at")), "until": page.moment(r.get("view_until"))}
                           for r in items]
    return View("disclosure_list.html", {"page": "pengungkapan", "mine": shown(mine), "pending": shown(pending),
                                         "general": list(general), "notices": list(notices), "errors": errors or {}},
                status)


def approve(page: Page, request_id: str):
    try:
        done = page.api.post("cases", f"/api/v1/disclosure-requests/{request_id}/approve",
                             {"totp": page.value("totp")})
    except (Refused, Forbidden) as err:  # a wrong or reused code is a 403: said on this page
        return requests_list(page, err.status, general=[page.pick(err.message)])
    if done.get("status") == "pending":  # the tenant needs more than one approver (k)
        return requests_list(page, notices=[page.t("disclosure_approval_recorded", n=done.get("approvals"),
                                                   k=done.get("approvals_required"))])
    return requests_list(page, notices=[page.t("disclosure_approved")])


def refuse(page: Page, request_id: str):
    try:
        page.api.post("cases", f"/api/v1/disclosure-requests/{request_id}/refuse", {"reason": page.value("reason")})
    except (Refused, Forbidden) as err:
        return requests_list(page, err.status, general=[page.pick(err.message)])
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
    keep = ("request_id", "subject", "format", "ephemeral_public_key", "nonce", "ciphertext", "original_ref")
    return _json(200, {k: sealed[k] for k in keep if k in sealed})


def _json(status: int, body: dict) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json; charset=utf-8",
                    headers={**SECURITY_HEADERS})
