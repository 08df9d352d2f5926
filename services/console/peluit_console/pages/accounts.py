"""Enrolment and password change (the officer API's ``POST
/api/v1/officer/enrolment``, ``/enrolment/complete``, ``/officer/password``).

Enrolment: the one-time code from the administrator, then the officer's own
TOTP secret shown as a QR code drawn on the server (an SVG image, segno) and as
text, and the password the officer chooses, proven with a first code. Between
the two steps the enrolment token and the secret travel sealed in the form
(AES-GCM under the console's key), never in a cookie or a log.
"""

from __future__ import annotations

import segno

from peluit_contracts.i18n import message

from ..api import Forbidden, Refused, SignedOut
from ..web import Page, View

ENROLMENT = "enrolment"
MIN_PASSWORD = 12


def qr_image(uri: str) -> str:
    """The otpauth URI as a QR code drawn here: an SVG image as a data URI (no script, no request)."""
    return segno.make(uri, error="m").svg_data_uri(scale=4, border=4)


def enrol_form(page: Page, status: int = 200, *, errors=None, general=(), username: str = "") -> View:
    return View("enrol.html", {"page": "daftar", "step": 1, "errors": errors or {}, "general": list(general),
                               "username": username, "sign_in_token": page.kit.sign_in_tokens.issue()}, status)


def enrol_start(page: Page):
    username = page.value("username").strip().lower()
    code = page.value("enrolment_code").strip().upper().replace("-", "").replace(" ", "")
    errors = {}
    if not username:
        errors["username"] = [page.message("required")]
    if not code:
        errors["enrolment_code"] = [page.message("required")]
    if errors:
        return enrol_form(page, 400, errors=errors, username=username)
    try:
        got = page.api.post("cases", "/api/v1/officer/enrolment", {"username": username, "enrolment_code": code})
    except (SignedOut, Refused) as err:
        return enrol_form(page, err.status, general=[page.pick(err.message)], username=username)
    sealed = page.kit.cookies.seal_value({"token": got["enrolment_token"], "secret": got["totp_secret"],
                                          "uri": got["totp_uri"], "username": username}, ENROLMENT)
    return _second_step(page, {"secret": got["totp_secret"], "uri": got["totp_uri"], "username": username}, sealed)


def _second_step(page: Page, value: dict, sealed: str, status: int = 200, errors=None, general=()) -> View:
    return View("enrol.html", {"page": "daftar", "step": 2, "errors": errors or {}, "general": list(general),
                               "qr": qr_image(value["uri"]), "secret": value["secret"], "username": value["username"],
                               "sealed": sealed, "sign_in_token": page.kit.sign_in_tokens.issue()}, status)


def enrol_finish(page: Page):
    sealed = page.value("sealed")
    value = page.kit.cookies.open_value(sealed, ENROLMENT)
    if value is None:
        return enrol_form(page, 400, general=[page.message("console_form_refused")])
    password, again, totp = page.value("password"), page.value("password_again"), page.value("totp").strip()
    errors = _password_errors(page, password, again, value["username"])
    if not totp.isdigit() or len(totp) != 6:
        errors["totp"] = [page.message("code")]
    if errors:
        return _second_step(page, value, sealed, 400, errors)
    try:
        login = page.api.post("cases", "/api/v1/officer/enrolment/complete",
                              {"enrolment_token": value["token"], "password": password, "totp": totp})
    except SignedOut as err:
        return enrol_form(page, 401, general=[page.pick(err.message)], username=value["username"])
    except (Refused, Forbidden) as err:
        fields = page.field_errors(err.fields)
        return _second_step(page, value, sealed, err.status, fields, [] if fields else [page.pick(err.message)])
    page.sign_in(login)
    return page.redirect("/antrean")


def _password_errors(page: Page, password: str, again: str, username: str) -> dict:
    errors: dict[str, list[str]] = {}
    if len(password) < MIN_PASSWORD or password.lower() == username.lower():
        errors["password"] = [page.pick(message("weak_password", min=MIN_PASSWORD))]
    if password != again:
        errors["password_again"] = [page.message("console_password_mismatch")]
    return errors


def password_form(page: Page, status: int = 200, *, errors=None, general=(), notices=()) -> View:
    return View("password.html", {"page": "kata-sandi", "errors": errors or {}, "general": list(general),
                                  "notices": list(notices)}, status)


def password_change(page: Page):
    current, new, again = page.value("current_password"), page.value("new_password"), page.value("new_password_again")
    totp = page.value("totp").strip()
    errors = {("new_" + k): v for k, v in _password_errors(page, new, again, page.officer.username).items()}
    if not current:
        errors["current_password"] = [page.message("required")]
    if errors:
        return password_form(page, 400, errors=errors)
    try:
        login = page.api.post("cases", "/api/v1/officer/password",
                              {"current_password": current, "new_password": new, "totp": totp})
    except (Refused, Forbidden) as err:
        fields = page.field_errors(err.fields)
        return password_form(page, err.status, errors=fields, general=[] if fields else [page.pick(err.message)])
    page.sign_in(login)
    return password_form(page, notices=[page.t("password_changed")])
