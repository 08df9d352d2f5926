"""Is a data schema still compatible with the published version it claims to be?

``breaking_changes(frozen, current)`` compares two JSON Schemas (from
``schema_export``) field by field and names every change that breaks an
existing consumer (or, for inbound events, an existing sender):

- a removed field, or a required field that became optional (consumers rely on it);
- a new required field (senders of the old version lack it), or any new field
  in a closed schema (consumers validating the old schema refuse it);
- a changed type, format, pattern or length: narrowed (old values now
  refused) or widened (new values old consumers refuse) both break someone.

Descriptions and examples may change freely.
"""

from __future__ import annotations

_CHECKED = ("format", "pattern")


def _types(schema: dict) -> set:
    value = schema.get("type")
    return set(value) if isinstance(value, list) else {value}


def breaking_changes(old: dict, new: dict, path: str = "") -> list[str]:
    where = path or "(root)"
    problems = []
    old_types, new_types = _types(old), _types(new)
    if old_types != new_types:
        kind = "narrowed" if new_types < old_types else "widened" if new_types > old_types else "changed"
        problems.append(f"{where}: type {kind} from {sorted(old_types, key=str)} to {sorted(new_types, key=str)}")
    for key in _CHECKED:
        if old.get(key) != new.get(key):
            problems.append(f"{where}: {key} changed from {old.get(key)!r} to {new.get(key)!r}")
    for key, narrower in (("maxLength", lambda o, n: n < o), ("minLength", lambda o, n: n > o)):
        if old.get(key) != new.get(key):
            o, n = old.get(key), new.get(key)
            kind = "narrowed" if o is not None and n is not None and narrower(o, n) else "widened"
            problems.append(f"{where}: {key} {kind} from {o} to {n}")
    if "items" in old or "items" in new:
        problems += breaking_changes(old.get("items", {}), new.get("items", {}), f"{path}[]")
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    old_required, new_required = set(old.get("required", [])), set(new.get("required", []))
    for name, spec in old_props.items():
        child = f"{path}.{name}" if path else name
        if name not in new_props:
            problems.append(f"{child}: removed field")
            continue
        if name in old_required and name not in new_required:
            problems.append(f"{child}: required field became optional")
        elif name in new_required and name not in old_required:
            problems.append(f"{child}: optional field became required")
        problems += breaking_changes(spec, new_props[name], child)
    for name in new_props.keys() - old_props.keys():
        child = f"{path}.{name}" if path else name
        if name in new_required:
            problems.append(f"{child}: new required field")
        elif old.get("additionalProperties") is False:
            problems.append(f"{child}: new field in a closed schema")
    if old.get("additionalProperties") != new.get("additionalProperties"):
        problems.append(f"{where}: additionalProperties changed")
    return problems
