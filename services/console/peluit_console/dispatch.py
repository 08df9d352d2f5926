"""How every page request runs (``serve``): the session and the sign-in
wall, the CSRF and ``Sec-Fetch-Site`` guard on every POST, the token's
refresh, the handler, and one page for each way an API can say no, so an
officer never meets a traceback: signed out → the sign-in page, 403 and 404
→ a page in both languages that says so, 5xx or silence → a 503 page.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

from werkzeug.wrappers import Response

from .api import ApiError, Conflict, Forbidden, NotFound, Refused, SignedOut, Unavailable
from .pages.signin import sign_in_view
from .web import Kit, Page, PageError, View

log = logging.getLogger(__name__)

REFRESH_MARGIN = 300  # seconds before the token expires when the console asks for a fresh one


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Callable
    signed_in: bool = True
    form_limit: int = 256 * 1024


def serve(kit: Kit, request, route: Route, **values) -> Response:
    page = Page(kit, request)
    try:
        result = _run(page, route, values)
    except SignedOut:
        page.sign_out()
        result = signed_out_page(page)
    except ApiError as err:
        result = api_error_page(page, err)
    except PageError as err:
        result = error_view(page, err.status, err.code)
    except Exception as exc:  # noqa: BLE001 - a page, never a traceback; by type only (it may quote case data)
        log.error("console page %s failed: %s", route.handler.__name__, type(exc).__name__)
        result = error_view(page, 500, "console_internal_error")
    try:
        response = page.render(result) if isinstance(result, View) else result
    except Exception as exc:  # noqa: BLE001
        log.error("console page %s did not render: %s", route.handler.__name__, type(exc).__name__)
        response = Response("500", status=500, content_type="text/plain; charset=utf-8")
    return page.finish(response)


def _run(page: Page, route: Route, values: dict):
    if route.method == "POST":
        page.read_form(route.form_limit)
        if route.signed_in and page.session is None:
            return signed_out_page(page, not_sent=True)
        guard(page, route)
    elif route.signed_in and page.session is None:
        return sign_in_redirect(page)
    if page.session is not None:
        refresh(page)
    return route.handler(page, **values)


def guard(page: Page, route: Route) -> None:
    """A POST from another site, or without this session's (or the sign-in page's) token, changes nothing."""
    site = page.request.headers.get("Sec-Fetch-Site")
    if site is not None and site not in ("same-origin", "none"):
        raise PageError(403, "console_form_refused")
    token = page.form.get("csrf")
    if page.session is not None:
        ok = page.kit.cookies.form_token_ok(page.session, token)
    else:
        ok = page.kit.sign_in_tokens.check(token)
    if not ok:
        raise PageError(403, "console_form_refused")


def refresh(page: Page) -> None:
    """A fresh token when this one nears its end; the API says whether the session still stands."""
    session = page.session
    if session.expires - page.kit.clock() > REFRESH_MARGIN:
        return
    try:
        login = page.api.refresh()
    except (NotFound, Refused):
        return  # no token refresh on this system yet: the session ends with its token
    except Unavailable:
        return  # the next request tries again
    page.session = session.with_token(login["token"], int(page.kit.clock()) + int(login["expires_in"]))
    page.api = page.kit.api(page.session.token)


def sign_in_redirect(page: Page) -> Response:
    target = page.request.full_path.rstrip("?") if page.request.path not in ("/", "/masuk") else None
    return page.redirect("/masuk", next=target, ended="1" if page.session_ended else None)


def signed_out_page(page: Page, not_sent: bool = False) -> View:
    general = [page.message("console_session_ended")]
    if not_sent:
        general.append(page.message("console_not_sent"))
    return sign_in_view(page, status=401, general=general)


def error_view(page: Page, status: int, code: str, title_key: str | None = None, detail: str | None = None) -> View:
    title = title_key or {404: "title_not_found", 403: "title_forbidden", 503: "title_unavailable",
                          409: "title_conflict"}.get(status, "title_error" if status >= 500 else "title_refused")
    paragraphs = [detail] if detail else []
    paragraphs.append(page.message(code))
    return View("error.html", {"title": page.t(title), "paragraphs": paragraphs}, status)


def api_error_page(page: Page, err: ApiError) -> View:
    if isinstance(err, Unavailable):
        return error_view(page, 503, "console_unavailable")
    if isinstance(err, NotFound):
        return error_view(page, 404, "console_page_not_found")
    if isinstance(err, Forbidden):
        return error_view(page, 403, "console_forbidden", detail=page.pick(err.message))
    status = 409 if isinstance(err, Conflict) else (err.status if 400 <= err.status < 500 else 400)
    view = error_view(page, status, "console_internal_error")
    view.context["paragraphs"] = [page.pick(err.message)] + [
        m for messages in page.field_errors(err.fields).values() for m in messages]
    return view
