"""HTTP entrypoints for Peluit services.

- ``http``: nameko's entrypoint on a web server that writes no access log
  (eventlet's access lines carry client addresses).
- ``json_endpoint``: turns a handler's return/exception into JSON replies;
  an unexpected error is a bare 500 that names no detail, logged by type only.
- ``read_json``: enforces a body limit before reading (413), and malformed
  JSON is a bilingual 400.
- ``SecureWsgiApp``: every response of the port carries ``SECURITY_HEADERS``
  (a handler's own values win), and what werkzeug answers itself (unknown
  route 404, wrong method 405) is a small bilingual JSON error like ours.
"""

from __future__ import annotations

import functools
import json
import logging
import socket

from eventlet import wsgi
from nameko.web.handlers import HttpRequestHandler
from nameko.web.server import HttpOnlyProtocol, WebServer, WsgiApp
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RequestRedirect
from werkzeug.wrappers import Request, Response

from peluit_contracts.i18n import message

log = logging.getLogger(__name__)

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    # JSON and plain text need nothing; HTML pages (portal, slip) set their own policy
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}

class SecureWsgiApp(WsgiApp):
    """nameko's WSGI app with werkzeug's own answers made ours: a routing
    error is bilingual JSON, and no response leaves without the headers."""

    def __call__(self, environ, start_response):
        def secured_start_response(status, headers, exc_info=None):
            present = {name.lower() for name, _ in headers}
            headers = list(headers) + [(k, v) for k, v in SECURITY_HEADERS.items() if k.lower() not in present]
            return start_response(status, headers, exc_info)

        request = Request(environ, shallow=True)
        adapter = self.url_map.bind_to_environ(environ)
        try:
            provider, values = adapter.match()
        except RequestRedirect as exc:  # a 308 to the canonical URL: werkzeug's reply is fine
            return exc.get_response(environ)(environ, secured_start_response)
        except HTTPException as exc:
            return routing_error(exc)(environ, secured_start_response)
        request.path_values = values
        return provider.handle_request(request)(environ, secured_start_response)


def routing_error(exc: HTTPException) -> Response:
    """werkzeug's 404/405 (or another routing refusal) as our bilingual JSON."""
    status = exc.code or 400
    code = {404: "not_found", 405: "method_not_allowed"}.get(status, "bad_request")
    headers = {}
    if status == 405 and getattr(exc, "valid_methods", None):
        headers["Allow"] = ", ".join(sorted(exc.valid_methods))
    return json_response(status, {"error": {"code": code, "message": message(code)}}, headers)


class QuietWebServer(WebServer):
    def get_wsgi_app(self):
        return SecureWsgiApp(self)

    def get_wsgi_server(self, sock, wsgi_app, protocol=HttpOnlyProtocol, debug=False):
        # no Nagle: a reply's last segment would wait for the client's delayed ACK of its headers,
        # 40 ms on every request of a kept-alive connection (the console's to the APIs); accepted sockets inherit it
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return wsgi.Server(
            sock, sock.getsockname(), wsgi_app, protocol=protocol, debug=False,
            log=logging.getLogger("nameko.web.server"), log_output=False,
        )


class QuietHttpRequestHandler(HttpRequestHandler):
    server = QuietWebServer()

    def response_from_exception(self, exc):
        # nameko's own reply quotes the exception text; say nothing about it
        log.error("unhandled error in an http entrypoint: %s", type(exc).__name__)
        return error_response(HttpError(500, "internal_error"))


http = QuietHttpRequestHandler.decorator


class HttpError(Exception):
    """A deliberate client-facing error: a status, a stable ``code`` and its
    bilingual text from the catalogue (``peluit_contracts.i18n``).

    ``text`` names the catalogue entry when it differs from the wire code (a
    404 ``not_found`` that says "case not found"); ``params`` fill its
    placeholders; ``fields`` is the field-by-field detail."""

    def __init__(self, status: int, code: str, fields: dict | None = None, *, text: str | None = None, **params):
        super().__init__(code)
        self.status, self.code, self.fields = status, code, fields
        self.message = message(text or code, **params)


def json_response(status: int, body, headers: dict | None = None) -> Response:
    merged = dict(SECURITY_HEADERS)
    merged.update(headers or {})
    return Response(json.dumps(body, ensure_ascii=False), status=status,
                    content_type="application/json; charset=utf-8", headers=merged)


def error_response(err: HttpError) -> Response:
    body = {"error": {"code": err.code, "message": err.message}}
    if err.fields:
        body["error"]["fields"] = err.fields
    return json_response(err.status, body)


def json_endpoint(func):
    """Wrap an HTTP handler: ``HttpError`` → its reply; anything else → 500."""

    @functools.wraps(func)
    def wrapper(self, request, *args, **kwargs):
        try:
            return func(self, request, *args, **kwargs)
        except HttpError as err:
            return error_response(err)
        except Exception:
            log.exception("unhandled error in %s", func.__name__)
            return error_response(HttpError(500, "internal_error"))

    return wrapper


def read_json(request, limit: int):
    """The request's JSON object, or an ``HttpError`` (413 / 415 / 400)."""
    length = request.content_length
    if length is not None and length > limit:
        raise HttpError(413, "payload_too_large", limit=limit)
    if (request.mimetype or "") != "application/json":
        raise HttpError(415, "unsupported_media_type")
    # werkzeug hides a chunked body (no Content-Length) behind an empty stream;
    # eventlet's input decodes chunks itself, so read that, still bounded
    stream = request.stream if length is not None else request.environ["wsgi.input"]
    raw = stream.read(limit + 1)
    if len(raw) > limit:
        raise HttpError(413, "payload_too_large", limit=limit)
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise HttpError(400, "malformed_json") from None
    if not isinstance(data, dict):
        raise HttpError(400, "malformed_json", text="json_not_object")
    return data
