"""Field validation messages, raised as codes by the contract schemas."""

from __future__ import annotations

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
    # evidence payloads
    "base64": ("Harus berupa data base64.", "Must be base64 data."),
    "mime": ("Jenis berkas tidak diizinkan.", "File type not allowed."),
    "size_mismatch": ("Ukuran tidak sesuai isi.", "The size does not match the content."),
    "too_many": ("Terlalu banyak item.", "Too many items."),
    # disclosure commands
    "legal_basis": ("Dasar hukum harus salah satu dari: lpsk_protection, proven_slander, court_order.",
                    "The legal basis must be one of: lpsk_protection, proven_slander, court_order."),
    "public_key": ("Kunci publik harus 32 byte X25519 dalam base64.",
                   "The public key must be a 32-byte X25519 key in base64."),
}
