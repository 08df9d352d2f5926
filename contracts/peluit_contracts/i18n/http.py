"""Messages of the HTTP layer every service shares: routing, bodies, tokens,
and the answers that name no detail."""

from __future__ import annotations

MESSAGES: dict[str, tuple[str, str]] = {
    "not_found": ("Alamat tidak ditemukan.", "Not found."),
    "method_not_allowed": ("Metode HTTP ini tidak diizinkan untuk alamat ini.",
                           "This HTTP method is not allowed for this address."),
    "bad_request": ("Permintaan tidak dapat diproses.", "The request cannot be processed."),
    "payload_too_large": ("Ukuran data melebihi batas {limit} byte.", "The body exceeds the limit of {limit} bytes."),
    "unsupported_media_type": ("Kirim data sebagai application/json.", "Send the body as application/json."),
    "malformed_json": ("Data bukan JSON yang valid.", "The body is not valid JSON."),
    "json_not_object": ("Data harus berupa objek JSON.", "The body must be a JSON object."),
    "internal_error": ("Terjadi kesalahan pada server. Silakan coba lagi.",
                       "Something went wrong on our side. Please try again."),
    # officer tokens (peluit_common.auth)
    "missing_token": ("Token akses tidak ada. Silakan masuk terlebih dahulu.", "No access token. Please sign in first."),
    "invalid_token": ("Token akses tidak sah.", "The access token is invalid."),
    "expired_token": ("Token akses sudah kedaluwarsa. Silakan masuk kembali.",
                      "The access token has expired. Please sign in again."),
}
