"""marshmallow contracts -> JSON Schema (draft 7 subset, as AsyncAPI 3.0 embeds it).

Covers the field types the event contracts use; an unknown field type is an
error, so a contract never gets a silently empty schema.
"""

from __future__ import annotations

from marshmallow import fields

from .fields import Pattern, Text


def _field(field) -> dict:
    if isinstance(field, fields.Nested):
        out = object_schema(field.nested if isinstance(field.nested, type) else type(field.nested))
    elif isinstance(field, fields.List):
        out = {"type": "array", "items": _field(field.inner)}
    elif isinstance(field, fields.UUID):
        out = {"type": "string", "format": "uuid"}
    elif isinstance(field, fields.DateTime):
        out = {"type": "string", "format": "date-time"}
    elif isinstance(field, Text):
        out = {"type": "string", "minLength": field.min_len, "maxLength": field.max_len}
        if isinstance(field, Pattern):
            out["pattern"] = f"^(?:{field.regex.pattern})$"
    elif isinstance(field, fields.Boolean):
        out = {"type": "boolean"}
    elif isinstance(field, fields.Integer):
        out = {"type": "integer"}
    elif isinstance(field, fields.Dict):
        out = {"type": "object"}
    else:
        raise TypeError(f"no JSON Schema for {type(field).__name__}")
    if field.allow_none:
        out["type"] = [out["type"], "null"]
    return out


def object_schema(schema_cls) -> dict:
    """A closed object schema (``Strict`` refuses unknown fields), fields in declaration order."""
    declared = schema_cls._declared_fields
    return {
        "type": "object",
        "additionalProperties": False,
        "required": [name for name, f in declared.items() if f.required],
        "properties": {name: _field(f) for name, f in declared.items()},
    }
