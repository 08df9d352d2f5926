"""The one shape of every refusal on every HTTP API: a stable code, its text
in Bahasa Indonesia and English, and field-by-field messages where fields
were refused. Documentation schemas: services build the replies."""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields


class _Closed(Schema):
    class Meta:
        unknown = RAISE  # documented as additionalProperties: false


class BilingualText(_Closed):
    id = fields.String(required=True, metadata={"description": "Bahasa Indonesia"})
    en = fields.String(required=True, metadata={"description": "English"})


class ErrorDetail(_Closed):
    code = fields.String(required=True, metadata={"description": "Stable error code"})
    message = fields.Nested(BilingualText, required=True)
    fields_ = fields.Dict(keys=fields.String(), values=fields.List(fields.Nested(BilingualText)), data_key="fields",
                          metadata={"description": "Field-by-field messages, by field or parameter name"})


class ErrorReply(_Closed):
    """Every refusal: a stable code and its text, Bahasa Indonesia first."""

    error = fields.Nested(ErrorDetail, required=True)
