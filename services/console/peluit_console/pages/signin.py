"""Sign-in (username, password, one-time code) and sign-out. The console
sets no cookie before a successful sign-in; signing out ends the session at
the officer API too (where it can) and removes the cookie."""

from __future__ import annotations

import re

from marshmallow import ValidationError

from peluit_common.ratelimit import client_address
from peluit_common.settings import env_int
from peluit_contracts.i18n import bilingual_errors
from peluit_contracts.officer_api import Login

from ..api import ApiError, Forbidden, Refused, SignedOut
from ..web import Page, View

SAFE_NEXT = re.compile(r"/(?![/\\])[A-Za-z0-9/_.\-?=&%:+]{0,500}")


def home(page: Page):
    return page.redirect("/antrean" if page.session else "/masuk")


def sign_in_view(page: Page, status: int = 200, *, errors=None, general=(), username: str = "", notices=()) -> View:
    target = page.form.get("next") or page.request.args.get("next") or ""
    return View("signin.html", {
        "page": "masuk", "errors": errors or {}, "general": list(general), "notices": list(notices),
        "username": username, "next": target if SAFE_NEXT.fullmatch(target) else "",
        "sign_in_token": page.kit.sign_in_tokens.issue()}, status)


def sign_in_form(page: Page):
    if page.session is not None:
        return page.redirect("/antrean")
    general = [page.message("console_session_ended")] if page.request.args.get("ended") == "1" else []
    return sign_in_view(page, general=general)


def sign_in(page: Page):
    username = page.value("username").strip().lower()
    data = {"username": username, "password": page.value("password"), "totp": page.value("totp").strip()}
    try:
        Login().load({k: v for k, v in data.items() if v})
    except ValidationError as err:
        errors = page.field_errors(bilingual_errors(err.messages))
        return sign_in_view(page, 400, errors=errors, username=username)
    try:
        login = page.api.login(**data, client=client_address(page.request.environ,
                                                             env_int("PELUIT_CONSOLE_PROXY_HOPS", 0)))
    except (SignedOut, Forbidden, Refused) as err:
        # wrong credentials, locked: the API's own words, never which part was wrong
        return sign_in_view(page, err.status, general=[page.pick(err.message)], username=username)
    page.sign_in(login)
    target = page.value("next")
    if SAFE_NEXT.fullmatch(target):
        return _see_other(page, target)
    return page.redirect("/antrean")


def _see_other(page: Page, target: str):
    response = page.redirect("/antrean")
    response.headers["Location"] = target
    return response


def sign_out(page: Page):
    try:
        page.api.logout()
    except ApiError:
        pass  # no logout endpoint yet, or already ended: the token ends on its own within minutes
    page.sign_out()
    return sign_in_view(page, notices=[page.t("signed_out")])
