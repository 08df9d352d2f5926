"""The external bodies a case may be forwarded to, as data (``external_bodies.json``,
or the file ``PELUIT_EXTERNAL_BODIES_FILE`` names); the rules are in ``destinations``."""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_FILE = Path(__file__).with_name("external_bodies.json")
RULES = ("province_inspektorat_reported",)


@dataclass(frozen=True)
class ExternalBody:
    code: str
    name_id: str
    name_en: str
    only_for: str | None = None

    def catalogue(self) -> dict:
        return {"code": self.code, "label_id": self.name_id, "label_en": self.name_en, "only_for": self.only_for}


def parse(data: dict) -> tuple[ExternalBody, ...]:
    """The list from its JSON form; a malformed list stops the service at start."""
    bodies = tuple(ExternalBody(code=b["code"], name_id=b["name_id"], name_en=b["name_en"],
                                only_for=b.get("only_for")) for b in data["bodies"])
    if len({b.code for b in bodies}) != len(bodies) or any(b.only_for not in (None, *RULES) for b in bodies):
        raise ValueError("external bodies: codes must be unique and rules known")
    return bodies


@functools.cache
def external_bodies() -> tuple[ExternalBody, ...]:
    path = Path(os.environ.get("PELUIT_EXTERNAL_BODIES_FILE") or DEFAULT_FILE)
    return parse(json.loads(path.read_text(encoding="utf-8")))


def external_codes() -> frozenset[str]:
    return frozenset(b.code for b in external_bodies())
