"""HTTP entrypoints for Peluit services.

- ``http``: nameko's entrypoint on a web server that writes no access log
  (eventlet's access lines carry client addresses).
- ``json_endpoint``: turns a handler's return/exception into JSON replies;
  an unexpected error is a bare 500 that names no detail, logged by type only.
- ``read_json``: enforces a body limit before reading (413), and malformed
  JSON is a bilingual 400.
"""

from __future__ import annotations

import functools
import json
import logging

from eventlet import wsgi
from nameko.web.handlers import HttpRequestHandler
from nameko.web.server import HttpOnlyProtocol, WebServer
from werkzeug.wrappers import Response

log = logging.getLogger(__name__)

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


class QuietWebServer(WebServer):
    def get_wsgi_server(self, sock, wsgi_app, protocol=HttpOnlyProtocol, debug=False):
        return wsgi.Server(
            sock, sock.getsockname(), wsgi_app, protocol=protocol, debug=False,
            log=logging.getLogger("nameko.web.server"), log_output=False,
        )


class QuietHttpRequestHandler(HttpRequestHandler):
    server = QuietWebServer()


http = QuietHttpRequestHandler.decorator


class HttpError(Exception):
    """A deliberate client-facing error with a bilingual message."""

    def __init__(self, status: int, code: str, message: dict[str, str], fields: dict | None = None):
        super().__init__(code)
        self.status, self.code, self.message, self.fields = status, code, message, fields


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


INTERNAL = {"id": "Terjadi kesalahan pada server. Silakan coba lagi.",
            "en": "Something went wrong on our side. Please try again."}


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
            return error_response(HttpError(500, "internal_error", INTERNAL))

    return wrapper


def read_json(request, limit: int):
    """The request's JSON object, or an ``HttpError`` (413 / 415 / 400)."""
    length = request.content_length
    if length is not None and length > limit:
        raise HttpError(413, "payload_too_large", {
            "id": f"Ukuran data melebihi batas {limit} byte.",
            "en": f"The body exceeds the limit of {limit} bytes."})
    mimetype = request.mimetype or ""
    if mimetype != "application/json":
        raise HttpError(415, "unsupported_media_type", {
            "id": "Kirim data sebagai application/json.",
            "en": "Send the body as application/json."})
    # werkzeug hides a chunked body (no Content-Length) behind an empty stream;
    # eventlet's input decodes chunks itself, so read that, still bounded
    stream = request.stream if length is not None else request.environ["wsgi.input"]
    raw = stream.read(limit + 1)
    if len(raw) > limit:
        raise HttpError(413, "payload_too_large", {
            "id": f"Ukuran data melebihi batas {limit} byte.",
            "en": f"The body exceeds the limit of {limit} bytes."})
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise HttpError(400, "malformed_json", {
            "id": "Data bukan JSON yang valid.", "en": "The body is not valid JSON."}) from None
    if not isinstance(data, dict):
        raise HttpError(400, "malformed_json", {
            "id": "Data harus berupa objek JSON.", "en": "The body must be a JSON object."})
    return data
