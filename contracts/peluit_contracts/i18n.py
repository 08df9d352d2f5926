"""Bilingual (Bahasa Indonesia first, English second) validation messages.

Schemas raise message *codes*; ``bilingual_errors`` turns marshmallow's error
tree into ``{"field.path": [{"id": ..., "en": ...}]}`` so every client gets the
same field-by-field answer. Messages never echo the submitted value.
"""

from __future__ import annotations

from typing import Any

MESSAGES: dict[str, tuple[str, str]] = {
    "required": ("Wajib diisi.", "This field is required."),
    "null": ("Tidak boleh kosong.", "This field may not be null."),
    "invalid_string": ("Harus berupa teks.", "Must be a string."),
    "invalid_object": ("Harus berupa objek JSON.", "Must be a JSON object."),
    "unknown_field": ("Kolom tidak dikenal.", "Unknown field."),
    "too_short": ("Minimal {min} karakter.", "At least {min} characters."),
    "too_long": ("Maksimal {max} karakter.", "At most {max} characters."),
    "blank": ("Tidak boleh hanya berisi spasi.", "Must not be blank."),
    "control_chars": ("Mengandung karakter kontrol yang tidak diizinkan.",
                      "Contains control characters that are not allowed."),
    "nik": ("NIK harus 16 digit angka.", "NIK must be exactly 16 digits."),
    "nip": ("NIP harus 18 digit angka.", "NIP must be exactly 18 digits."),
    "email": ("Alamat e-mail tidak valid.", "Not a valid e-mail address."),
    "phone": ("Nomor telepon tidak valid (contoh: +6281234567890).",
              "Not a valid phone number (example: +6281234567890)."),
    "identity_empty": ("Isi minimal satu data identitas atau hapus bagian identitas.",
                       "Give at least one identity detail or leave identity out."),
    "tenant_code": ("Kode wilayah tidak valid (contoh: 35.73).",
                    "Not a valid region code (example: 35.73)."),
    "code": ("Kode tidak valid.", "Not a valid code."),
    "receipt": ("Format tanda terima harus XXXX-XXXX-XXXX-XXXX (16 digit).",
                "Receipt must look like XXXX-XXXX-XXXX-XXXX (16 digits)."),
    "unknown_tenant": ("Inspektorat dengan kode ini tidak terdaftar.",
                       "No Inspektorat is registered under this code."),
    "unknown_category": ("Kategori ini tidak tersedia untuk Inspektorat yang dipilih.",
                         "This category is not offered by the chosen Inspektorat."),
    "invalid": ("Nilai tidak valid.", "Invalid value."),
    # werkzeug's own routing answers, made bilingual by peluit_common.web
    "not_found": ("Alamat tidak ditemukan.", "Not found."),
    "method_not_allowed": ("Metode HTTP ini tidak diizinkan untuk alamat ini.",
                           "This HTTP method is not allowed for this address."),
    "bad_request": ("Permintaan tidak dapat diproses.", "The request cannot be processed."),
}


def text(code: str, **params: Any) -> dict[str, str]:
    """One bilingual message for ``code``; unknown codes fall back to 'invalid'."""
    id_, en = MESSAGES.get(code, MESSAGES["invalid"])
    return {"id": id_.format(**params), "en": en.format(**params)}


def encode(code: str, **params: Any) -> str:
    """Pack a code and its parameters into the string marshmallow carries."""
    if not params:
        return code
    return code + "|" + ",".join(f"{k}={v}" for k, v in sorted(params.items()))


def decode(message: str) -> dict[str, str]:
    code, _, raw = message.partition("|")
    params = dict(p.split("=", 1) for p in raw.split(",") if "=" in p)
    if code not in MESSAGES:
        # a marshmallow default we did not map: never echo it raw (it may
        # quote input); say "invalid" instead
        return text("invalid")
    return text(code, **params)


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
