"""The Graph API adapter: outbound texts and inbound media, with in-memory
stand-ins for development and tests. In ``record`` mode the replies of one
webhook call go back in its response, not to a file: a file would put phone
numbers and report text at rest on disk, and the response goes only to
whoever sent that signed webhook, who knows both already.
"""

from __future__ import annotations

import json
import re
import secrets
import urllib.error
import urllib.request
from collections import OrderedDict

from peluit_common.settings import env, env_float
from peluit_common.whatsapp import OutboundWhatsApp, RecordingWhatsApp, graph_outbound  # noqa: F401 (intake's names)

# a media id goes into a Graph API URL: digits and a few safe characters, no path tricks
MEDIA_ID = r"[A-Za-z0-9_\-]{1,128}\Z"  # marshmallow's Regexp only anchors the start


# -- inbound media ---------------------------------------------------------------------

class MediaGone(Exception):
    """The media id is unknown or expired at Meta (a 4xx): permanent, not retried."""


class MediaTooLarge(Exception):
    """Over the per-file limit: refused without reading it all."""


class GraphMedia:
    """Fetches inbound media through the Cloud API: ``GET /{media-id}`` gives a
    short-lived ``url``, ``GET url`` the bytes; both with the bearer token.
    Raises ``MediaGone``, ``MediaTooLarge``, or ``OSError`` (temporary)."""

    def __init__(self, base_url: str, access_token: str, timeout: float = 20.0):
        self.base_url, self.access_token, self.timeout = base_url.rstrip("/"), access_token, timeout

    def _get(self, url: str):
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {self.access_token}"})
        try:
            return urllib.request.urlopen(request, timeout=self.timeout)  # noqa: S310 (Graph API URLs only)
        except urllib.error.HTTPError as exc:
            exc.close()
            if 400 <= exc.code < 500 and exc.code != 429:
                raise MediaGone(exc.code) from None
            raise OSError(f"graph api answered {exc.code}") from None

    def fetch(self, media_id: str, max_bytes: int) -> bytes:
        if not re.fullmatch(MEDIA_ID, media_id):
            raise MediaGone("media id")
        with self._get(f"{self.base_url}/{media_id}") as resp:
            try:
                meta = json.loads(resp.read(64 * 1024))
            except ValueError:
                raise OSError("graph api sent no JSON") from None
        url = meta.get("url") if isinstance(meta, dict) else None
        # the token goes only to an https URL (Meta's CDN), or to the configured API's own scheme in tests
        if not isinstance(url, str) or not url.startswith(("https://", self.base_url.split("://")[0] + "://")):
            raise OSError("graph api sent no media url")
        size = meta.get("file_size")
        if isinstance(size, (int, str)) and str(size).isdigit() and int(size) > max_bytes:
            raise MediaTooLarge()
        with self._get(url) as resp:
            data = resp.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise MediaTooLarge()
        return data


class RecordingMedia(GraphMedia):
    """Development and tests: Meta's media store faked in memory. ``put`` (the
    signed dev-media endpoint) returns a media id that a webhook can name."""

    def __init__(self, max_items: int = 100):
        self.items: OrderedDict = OrderedDict()
        self.max_items = max_items

    def put(self, data: bytes) -> str:
        media_id = secrets.token_hex(16)
        self.items[media_id] = data
        while len(self.items) > self.max_items:
            self.items.popitem(last=False)
        return media_id

    def fetch(self, media_id: str, max_bytes: int) -> bytes:
        if media_id not in self.items:
            raise MediaGone("unknown media id")
        data = self.items[media_id]
        if len(data) > max_bytes:
            raise MediaTooLarge()
        return data


def graph_media() -> GraphMedia:
    with open(env("PELUIT_WHATSAPP_ACCESS_TOKEN_FILE")) as fh:
        token = fh.read().strip()
    return GraphMedia(env("PELUIT_WHATSAPP_GRAPH_URL", "https://graph.facebook.com/v21.0"), token,
                      timeout=env_float("PELUIT_WHATSAPP_MEDIA_TIMEOUT", 20.0))
