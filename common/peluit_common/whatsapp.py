"""The WhatsApp Business Cloud API (Graph API) sender, shared by intake
(replies to reporters who write in) and the identity vault (template
messages to reporters who left only a phone number), with an in-memory
recorder for development and tests: nothing is written to disk, so a number
never rests outside the process that holds it.
"""

from __future__ import annotations

import json
import urllib.request

from .settings import ConfigError, env, production


class OutboundWhatsApp:
    """Sends texts and template messages through the Cloud API."""

    def __init__(self, base_url: str, phone_number_id: str, access_token: str, timeout: float = 10.0):
        self.url = f"{base_url.rstrip('/')}/{phone_number_id}/messages"
        self.access_token, self.timeout = access_token, timeout

    def _post(self, body: dict) -> None:
        request = urllib.request.Request(self.url, data=json.dumps(body).encode(), method="POST", headers={
            "Authorization": f"Bearer {self.access_token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=self.timeout) as resp:  # noqa: S310 (fixed https URL)
            if resp.status >= 300:
                raise OSError(f"graph api answered {resp.status}")

    def send_text(self, to: str, text: str) -> None:
        """Raises ``OSError`` (urllib's errors are OSErrors) when not accepted."""
        self._post({"messaging_product": "whatsapp", "recipient_type": "individual", "to": to,
                    "type": "text", "text": {"preview_url": False, "body": text}})

    def send_template(self, to: str, name: str, language: str) -> None:
        """A pre-approved template without parameters (outside the 24-hour window
        only templates may be sent). Raises ``OSError`` when not accepted."""
        self._post({"messaging_product": "whatsapp", "recipient_type": "individual", "to": to,
                    "type": "template", "template": {"name": name, "language": {"code": language}}})


class RecordingWhatsApp(OutboundWhatsApp):
    """Development and tests: keeps what would have been sent, in memory only."""

    def __init__(self, keep: int = 1000):
        self.sent: list[dict] = []
        self.keep = keep

    def send_text(self, to: str, text: str) -> None:
        self._keep({"to": to, "text": text})

    def send_template(self, to: str, name: str, language: str) -> None:
        self._keep({"to": to, "template": name, "language": language})

    def _keep(self, item: dict) -> None:
        self.sent.append(item)
        del self.sent[:-self.keep]


def graph_outbound() -> OutboundWhatsApp:
    token_file = env("PELUIT_WHATSAPP_ACCESS_TOKEN_FILE")
    with open(token_file) as fh:
        token = fh.read().strip()
    return OutboundWhatsApp(env("PELUIT_WHATSAPP_GRAPH_URL", "https://graph.facebook.com/v21.0"),
                            env("PELUIT_WHATSAPP_PHONE_NUMBER_ID"), token)


def outbound_mode(variable: str, default: str | None = None) -> str:
    """``graph`` or ``record`` from ``variable`` (by default record outside
    production, graph in it; record is refused in production)."""
    mode = env(variable, default or ("graph" if production() else "record"))
    if mode not in ("graph", "record"):
        raise ConfigError(f"{variable} must be 'graph' or 'record'")
    if mode == "record" and production():
        raise ConfigError(f"{variable}=record is for development and tests only")
    return mode
