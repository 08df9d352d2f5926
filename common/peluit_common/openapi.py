"""OpenAPI 3.1 documents generated from the marshmallow contracts (apispec).

One starting point for every service's document: our own ``Text`` and
``Pattern`` fields described with their limits and what they accept, the
officer token scheme, and the one error reply every refusal uses.
"""

from __future__ import annotations

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from peluit_contracts.fields import Pattern, Text
from peluit_contracts.replies import ErrorReply

JSON = "application/json"
BEARER = [{"bearer": []}]

# Text refuses control characters (a multi-line one allows tab and line breaks) and blank values
CONTROL = r"\x00-\x1f\x7f-\x9f"
TEXT_PATTERNS = {
    True: rf"^[ \t\r\n]*[^\s{CONTROL}][^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$",
    False: rf"^ *[^\s{CONTROL}][^{CONTROL}]*$",
}


def _text_attributes(self, field, **kwargs) -> dict:
    """Our fields check inside themselves, where apispec does not look: their
    length window, and what they accept (a Pattern's expression matched whole,
    after trimming)."""
    out = {}
    if isinstance(field, Text):
        out.update(minLength=field.min_len, maxLength=field.max_len)
        out["pattern"] = field.metadata.get("pattern", TEXT_PATTERNS[field.multiline])
    if isinstance(field, Pattern):
        out["pattern"] = f"^(?:{field.regex.pattern})$"
    return out


def new_spec(title: str, description: str) -> APISpec:
    plugin = MarshmallowPlugin()
    spec = APISpec(title=title, version="1.0.0", openapi_version="3.1.0", plugins=[plugin],
                   info={"description": description})
    plugin.converter.add_attribute_function(_text_attributes)
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer", "bearerFormat": "EdDSA JWT"})
    spec.components.schema("ErrorReply", schema=ErrorReply)
    return spec


def error(description: str) -> dict:
    """A refusal's response object."""
    return {"description": description, "content": {JSON: {"schema": "ErrorReply"}}}
