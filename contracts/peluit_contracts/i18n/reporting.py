"""Messages of reporting (statistics API)."""

from __future__ import annotations

MESSAGES: dict[str, tuple[str, str]] = {
    # the top-level text of a 400 (wire code validation_failed), with the fields' own messages beside it
    "stats_invalid_parameters": (
        "Periksa kembali parameter: tenant berupa kode wilayah (35.73), from/to berformat YYYY-MM, "
        "year antara 2000 dan 2100.",
        "Please check the parameters: tenant is a region code (35.73), from/to are YYYY-MM, "
        "year is between 2000 and 2100."),
    "stats_month": ("Bulan harus berformat YYYY-MM dengan tahun 2000 sampai 2100.",
                    "A month must be YYYY-MM with a year from 2000 to 2100."),
    "stats_period": ("Bulan akhir (to) tidak boleh sebelum bulan awal (from), dan periode paling panjang 120 bulan.",
                     "The last month (to) must not come before the first (from), and a period is at most "
                     "120 months."),
    # wire code forbidden
    "stats_forbidden": ("Anda tidak berwenang melihat statistik Inspektorat ini.",
                        "You are not allowed to see this Inspektorat's statistics."),
    # wire code not_found
    "unknown_export_format": ("Format ekspor tidak dikenal (csv, xlsx, pdf).", "Unknown export format (csv, xlsx, pdf)."),
    # the public statistics' reply names its rule
    "public_small_cell_rule": (
        "Hanya sel tabulasi silang (Inspektorat x tahun x kategori x status) yang diterbitkan; sel bernilai 1-4 "
        "ditampilkan sebagai \"<5\", sel bernilai 0 tidak ditampilkan, dan tidak ada total atau subtotal, "
        "sehingga sel yang disamarkan tidak dapat dihitung dari angka lain.",
        "Only the cells of the cross-classification (Inspektorat x year x category x status) are published; "
        "cells of 1-4 are shown as \"<5\", empty cells are left out, and there are no totals or subtotals, "
        "so no suppressed cell can be derived from other figures."),
}
