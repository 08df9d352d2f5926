"""The one bilingual message catalogue: Bahasa Indonesia first, English second.

Every text a client reads for an error or a field is looked up here by a
stable code; services raise codes, never inline texts. The texts are data
(``*.toml`` beside this module, editable by translators), split by area only
to keep the files short: the codes form one namespace, and a code defined
twice is an import error. Messages never echo a submitted value.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from typing import Any

Message = tuple[str, str]
AREAS = ("validation", "http", "intake", "cases", "vault", "reporting", "console", "notifications",
         "integration")


def _load(area: str) -> dict[str, Message]:
    table = tomllib.loads(resources.files(__package__).joinpath(f"{area}.toml").read_text("utf-8"))
    out = {}
    for code, entry in table.items():
        if set(entry) != {"id", "en"} or not all(isinstance(t, str) and t.strip() for t in entry.values()):
            raise ImportError(f"{area}.toml: [{code}] needs exactly a non-empty id and en text")
        out[code] = (entry["id"], entry["en"])
    return out


def _merge(*areas: dict[str, Message]) -> dict[str, Message]:
    merged: dict[str, Message] = {}
    for area in areas:
        twice = merged.keys() & area.keys()
        if twice:
            raise ImportError(f"message codes defined twice: {sorted(twice)}")
        merged.update(area)
    return merged


MESSAGES: dict[str, Message] = _merge(*(_load(area) for area in AREAS))


def message(code: str, **params: Any) -> dict[str, str]:
    """The bilingual text of ``code``; an unknown code is a programming error."""
    id_, en = MESSAGES[code]
    return {"id": id_.format(**params), "en": en.format(**params)}


def text(code: str, **params: Any) -> dict[str, str]:
    """Like ``message``, but an unknown code says 'invalid' (for codes that
    come from outside, such as marshmallow's own defaults)."""
    return message(code if code in MESSAGES else "invalid", **params)


def encode(code: str, **params: Any) -> str:
    """Pack a code and its parameters into the string marshmallow carries."""
    if not params:
        return code
    return code + "|" + ",".join(f"{k}={v}" for k, v in sorted(params.items()))


def decode(packed: str) -> dict[str, str]:
    code, _, raw = packed.partition("|")
    params = dict(p.split("=", 1) for p in raw.split(",") if "=" in p)
    # a marshmallow default we did not map may quote input: never echo it raw
    return text(code, **params) if code in MESSAGES else text("invalid")


def bilingual_errors(messages: Any, prefix: str = "") -> dict[str, list[dict[str, str]]]:
    """Flatten marshmallow's nested error dict into dotted field paths."""
    out: dict[str, list[dict[str, str]]] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if key == "_schema":
                path = prefix or "_schema"
            for p, msgs in bilingual_errors(value, path).items():
                out.setdefault(p, []).extend(msgs)
    elif isinstance(messages, list):
        for item in messages:
            if isinstance(item, (dict, list)):
                for p, msgs in bilingual_errors(item, prefix).items():
                    out.setdefault(p, []).extend(msgs)
            else:
                out.setdefault(prefix or "_schema", []).append(decode(str(item)))
    else:
        out.setdefault(prefix or "_schema", []).append(decode(str(messages)))
    return out
