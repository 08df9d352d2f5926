"""The Graph API media adapter against a local stand-in for Meta's media
endpoints (real HTTP, real sockets)."""

from __future__ import annotations

import contextlib
import json

import eventlet
import pytest

from peluit_intake import whatsapp_graph as wg


@contextlib.contextmanager
def graph_api(token="tok-1", file_size=None, status=200):
    """A local stand-in for the Graph API's media endpoints (real HTTP, real sockets)."""
    from http.server import BaseHTTPRequestHandler, HTTPServer

    seen = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            seen.append((self.path, self.headers.get("Authorization")))
            if self.headers.get("Authorization") != f"Bearer {token}":
                self.send_response(401)
                self.end_headers()
                return
            if self.path.startswith("/v21.0/"):
                if status != 200:
                    self.send_response(status)
                    self.end_headers()
                    return
                body = json.dumps({"url": f"http://127.0.0.1:{server.server_port}/cdn/x", "mime_type": "image/jpeg",
                                   "file_size": file_size or 5, "id": self.path.rsplit("/", 1)[1]}).encode()
            else:
                body = b"bytes"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = HTTPServer(("127.0.0.1", 0), Handler)
    gt = eventlet.spawn(server.serve_forever, 0.05)
    try:
        yield f"http://127.0.0.1:{server.server_port}/v21.0", seen
    finally:
        server.shutdown()
        server.server_close()
        gt.wait()


def test_graph_media_fetches_the_url_then_the_bytes_with_the_token():
    with graph_api() as (base, seen):
        assert wg.GraphMedia(base, "tok-1", timeout=5).fetch("123456", 100) == b"bytes"
        assert seen == [("/v21.0/123456", "Bearer tok-1"), ("/cdn/x", "Bearer tok-1")]
        with pytest.raises(wg.MediaGone):
            wg.GraphMedia(base, "wrong", timeout=5).fetch("123456", 100)
        with pytest.raises(wg.MediaGone):
            wg.GraphMedia(base, "tok-1", timeout=5).fetch("../me", 100)
        with pytest.raises(wg.MediaTooLarge):
            wg.GraphMedia(base, "tok-1", timeout=5).fetch("123456", 4)  # read bounded
    with graph_api(file_size=10_000_000) as (base, seen):
        with pytest.raises(wg.MediaTooLarge):
            wg.GraphMedia(base, "tok-1", timeout=5).fetch("123456", 1000)
        assert [p for p, _ in seen] == ["/v21.0/123456"]  # refused before the download
    with graph_api(status=404) as (base, _):
        with pytest.raises(wg.MediaGone):
            wg.GraphMedia(base, "tok-1", timeout=5).fetch("123456", 100)
    with graph_api(status=503) as (base, _):
        with pytest.raises(OSError):
            wg.GraphMedia(base, "tok-1", timeout=5).fetch("123456", 100)
