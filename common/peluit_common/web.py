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
- ``BodyGate``: a request's body is read whole *before* a nameko worker is
  taken, under a socket read timeout and a whole-body deadline (408), a size
  cap (413) and a budget of bytes buffered at once (503), so a slowly sent or
  oversized body never holds one of the service's workers.
"""

from __future__ import annotations

import functools
import io
import json
import logging
import socket

import eventlet
from eventlet import wsgi
from nameko.web.handlers import HttpRequestHandler
from nameko.web.server import HttpOnlyProtocol, WebServer, WsgiApp
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RequestRedirect
from werkzeug.wrappers import Request, Response

from peluit_contracts.i18n import message

from .settings import env_float, env_int

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

        adapter = self.url_map.bind_to_environ(environ)
        try:
            provider, values = adapter.match()
        except RequestRedirect as exc:  # a 308 to the canonical URL: werkzeug's reply is fine
            return exc.get_response(environ)(environ, secured_start_response)
        except HTTPException as exc:
            return routing_error(exc)(environ, secured_start_response)
        refusal = self.server.gate.take_body(environ, getattr(provider, "max_body", None))
        if refusal is not None:
            return refusal(environ, secured_start_response)
        request = Request(environ, shallow=True)
        request.path_values = values
        return provider.handle_request(request)(environ, secured_start_response)


class BodyGate:
    """Reads each request body whole in the connection's own green thread,
    before nameko spawns a worker for it (a worker is one of ``max_workers``).

    - ``PELUIT_SOCKET_TIMEOUT`` (10 s): no byte for that long ends the
      connection, headers included;
    - ``PELUIT_BODY_SECONDS`` (10 s) plus one second per
      ``PELUIT_BODY_MIN_BYTES_PER_SECOND`` (16 kB) of declared length: the
      whole body must have arrived by then, and each 64 KiB of it within
      10 s plus 4 s, else 408;
    - ``PELUIT_MAX_REQUEST_BYTES`` (64 MiB) for a route without ``max_body``:
      413 from the declared length, before a byte is read;
    - ``PELUIT_BODY_BUFFER_BYTES`` (128 MiB): bytes being read at once over all
      requests; a body that does not fit is a 503 with ``Retry-After`` at once.
    A refused body is never read to its end: the connection is closed."""

    def __init__(self):
        self.socket_timeout = env_float("PELUIT_SOCKET_TIMEOUT", 10.0)
        self.seconds = env_float("PELUIT_BODY_SECONDS", 10.0)
        self.min_rate = env_int("PELUIT_BODY_MIN_BYTES_PER_SECOND", 16_000)
        self.max_bytes = env_int("PELUIT_MAX_REQUEST_BYTES", 64 * 1024 * 1024)
        self.budget = env_int("PELUIT_BODY_BUFFER_BYTES", 128 * 1024 * 1024)
        self.reserved = 0

    def take_body(self, environ, max_body: int | None = None) -> Response | None:
        """Replace ``wsgi.input`` by the body read whole; or the refusal to send instead.

        Past a route's own ``max_body`` the body is not read at all: the handler
        sees the declared length (or ``max_body`` + 1 bytes of a chunked body)
        and refuses it in its own words; the connection then ends."""
        cap = max_body or self.max_bytes  # a route's own limit stands in for the port's
        chunked = environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked"
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return _closing(environ, error_response(HttpError(400, "bad_request")))
        if not chunked and length <= 0:
            environ["wsgi.input"] = io.BytesIO(b"")
            return None
        if not chunked and length > cap:
            if max_body is None:
                return _closing(environ, error_response(HttpError(413, "payload_too_large", limit=cap)))
            environ["wsgi.input"] = io.BytesIO(b"")
            _closing(environ, None)
            return None
        reserve = 0 if chunked else length  # a chunked body is counted as it comes (``_read``)
        if self.reserved + reserve > self.budget:
            return _closing(environ, _busy())
        self.reserved += reserve
        try:
            raw = self._read(environ["wsgi.input"], None if chunked else length, cap)
        finally:
            self.reserved -= reserve
        if raw is BUSY:
            return _closing(environ, _busy())
        if raw is None:
            return _closing(environ, error_response(HttpError(408, "request_timeout")))
        if len(raw) > cap:
            if max_body is None:
                return _closing(environ, error_response(HttpError(413, "payload_too_large", limit=cap)))
            _closing(environ, None)
        environ["wsgi.input"] = io.BytesIO(raw)
        return None

    def _read(self, stream, length: int | None, cap: int):
        """The body (at most ``cap`` + 1 bytes); None when it did not arrive in time, ``BUSY`` when a
        chunked body finds no room in the budget. Each step of ``STEP`` bytes has its own deadline too,
        so a body dripped a byte at a time ends as soon as a step is late, whatever its length."""
        want = length if length is not None else cap + 1
        rate = max(1, self.min_rate)
        chunks, got, held = [], 0, 0
        try:
            with eventlet.Timeout(self.seconds + want / rate):
                while got < want:
                    step = min(STEP, want - got)
                    if length is None:
                        if self.reserved + step > self.budget:
                            return BUSY
                        self.reserved += step
                        held += step
                    with eventlet.Timeout(self.seconds + step / rate):
                        chunk = stream.read(step)
                    if not chunk:
                        break
                    chunks.append(chunk)
                    got += len(chunk)
        except (eventlet.Timeout, OSError, ValueError):  # deadline, socket timeout, reset, broken chunking
            return None
        finally:
            self.reserved -= held
        if length is not None and got < length:
            return None  # the client gave up or closed early
        return b"".join(chunks)


STEP = 64 * 1024
BUSY = object()


def _busy() -> Response:
    return error_response(HttpError(503, "busy", headers={"Retry-After": "1"}))


def _closing(environ, response: Response | None) -> Response | None:
    """The connection ends after this answer: an unread body is never drained."""
    close = environ.get("peluit.close_connection")
    if close is not None:
        close()
    return response


class GatedProtocol(HttpOnlyProtocol):
    """nameko's protocol, with a way for the app to end the connection after its answer."""

    def get_environ(self, *args, **kwargs):
        environ = super().get_environ(*args, **kwargs)
        environ["peluit.close_connection"] = lambda: setattr(self, "close_connection", 1)
        return environ


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
        self.gate = BodyGate()
        return SecureWsgiApp(self)

    def get_wsgi_server(self, sock, wsgi_app, protocol=GatedProtocol, debug=False):
        # no Nagle: a reply's last segment would wait for the client's delayed ACK of its headers,
        # 40 ms on every request of a kept-alive connection (the console's to the APIs); accepted sockets inherit it
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return wsgi.Server(
            sock, sock.getsockname(), wsgi_app, protocol=protocol, debug=False,
            log=logging.getLogger("nameko.web.server"), log_output=False, socket_timeout=self.gate.socket_timeout,
        )


class QuietHttpRequestHandler(HttpRequestHandler):
    """nameko's ``@http``; ``max_body`` caps the route's body at the gate (``BodyGate``)."""

    server = QuietWebServer()

    def __init__(self, method, url, max_body: int | None = None, **kwargs):
        super().__init__(method, url, **kwargs)
        self.max_body = max_body

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

    def __init__(self, status: int, code: str, fields: dict | None = None, *, text: str | None = None,
                 headers: dict | None = None, **params):
        super().__init__(code)
        self.status, self.code, self.fields, self.headers = status, code, fields, headers
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
    return json_response(err.status, body, err.headers)


def json_endpoint(func, refusal: type[Exception] | None = None, to_http=None):
    """Wrap an HTTP handler: ``HttpError`` → its reply; a ``refusal`` (a service's own
    error class) → the reply of ``to_http(refusal)``; anything else → 500."""

    @functools.wraps(func)
    def wrapper(self, request, *args, **kwargs):
        try:
            return func(self, request, *args, **kwargs)
        except HttpError as err:
            return error_response(err)
        except Exception as exc:
            if refusal is not None and isinstance(exc, refusal):
                return error_response(to_http(exc))
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
