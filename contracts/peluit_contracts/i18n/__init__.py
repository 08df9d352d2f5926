"""The one bilingual message catalogue: Bahasa Indonesia first, English second.

Every text a client reads for an error or a field is looked up here by a
stable code; services raise codes, never inline texts. The catalogue is split
by area (``validation``, ``http`` and one module per service) only to keep the
files short: the codes form one namespace, and a code defined twice is an
import error. Messages never echo a submitted value.
"""

from __future__ import annotations

from typing import Any

from . import cases, http, intake, reporting, validation, vault

Message = tuple[str, str]


def _merge(*areas) -> dict[str, Message]:
    merged: dict[str, Message] = {}
    for area in areas:
        twice = merged.keys() & area.MESSAGES.keys()
        if twice:
            raise ImportError(f"message codes defined twice: {sorted(twice)}")
        merged.update(area.MESSAGES)
    return merged


MESSAGES: dict[str, Message] = _merge(validation, http, intake, cases, vault, reporting)


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
