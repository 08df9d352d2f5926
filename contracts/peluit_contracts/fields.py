"""marshmallow fields and base schema that speak in bilingual message codes."""

from __future__ import annotations

import re
import unicodedata

from marshmallow import RAISE, Schema, ValidationError, fields

from .i18n import encode

_CODES = {
    "required": "required",
    "null": "null",
    "validator_failed": "invalid",
    "invalid": "invalid",
    "invalid_utf8": "invalid_string",
    "type": "invalid_object",
}


class _Coded:
    """Mixin: replace marshmallow's English defaults with our message codes."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.error_messages = {key: _CODES.get(key, "invalid") for key in self.error_messages}


class Text(_Coded, fields.String):
    """Trimmed free text with a length window; refuses NUL and other control
    characters (PostgreSQL cannot store NUL in text, and they are never meant)."""

    def __init__(self, *, min_len: int = 1, max_len: int = 4000, multiline: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.min_len, self.max_len, self.multiline = min_len, max_len, multiline
        self.error_messages["invalid"] = "invalid_string"

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        value = unicodedata.normalize("NFC", value).strip()
        allowed = {"\n", "\t", "\r"} if self.multiline else set()
        if any(unicodedata.category(ch) == "Cc" and ch not in allowed for ch in value):
            raise ValidationError(encode("control_chars"))
        if not value:
            raise ValidationError(encode("blank"))
        if len(value) < self.min_len:
            raise ValidationError(encode("too_short", min=self.min_len))
        if len(value) > self.max_len:
            raise ValidationError(encode("too_long", max=self.max_len))
        return value


class Pattern(Text):
    """Single-line text that must match a regular expression after trimming."""

    def __init__(self, pattern: str, code: str, *, strip: str = "", **kwargs):
        kwargs.setdefault("max_len", 320)
        super().__init__(multiline=False, **kwargs)
        # ASCII: \d must not admit other scripts' digits into codes, NIKs or tenants
        self.regex = re.compile(pattern, re.ASCII)
        self.code = code
        self.strip_chars = strip

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        for ch in self.strip_chars:
            value = value.replace(ch, "")
        if not self.regex.fullmatch(value):
            raise ValidationError(encode(self.code))
        return value


class Nested(_Coded, fields.Nested):
    pass


class Bool(_Coded, fields.Boolean):
    pass


class Int(_Coded, fields.Integer):
    pass


class Strict(Schema):
    """Base schema: unknown fields are an error, messages are codes."""

    class Meta:
        unknown = RAISE

    error_messages = {"unknown": "unknown_field", "type": "invalid_object"}
