"""Messages of intake (reporter API, portal, channels)."""

from __future__ import annotations

MESSAGES: dict[str, tuple[str, str]] = {
    "unavailable": ("Layanan sedang sibuk. Kirim ulang laporan yang sama (dengan Idempotency-Key yang sama).",
                    "The service is busy. Send the same report again (with the same Idempotency-Key)."),
    "idempotency_key_reused": ("Idempotency-Key ini sudah dipakai untuk laporan lain.",
                               "This Idempotency-Key was already used for a different report."),
    "case_closed": ("Kasus sudah ditutup.", "The case is closed."),
}
