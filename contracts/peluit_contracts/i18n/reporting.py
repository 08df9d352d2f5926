"""Messages of reporting (statistics API)."""

from __future__ import annotations

MESSAGES: dict[str, tuple[str, str]] = {
}
