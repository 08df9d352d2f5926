"""Exports without a database: a formula in a code cannot run in a spreadsheet;
the province export's cells, sheets and PDF text, from an overview as
``stats.province_overview`` gives it (checked against the contract)."""

from __future__ import annotations

import csv
import io

from openpyxl import load_workbook

from peluit_common.testing import pdf_text
from peluit_contracts.statistics import ProvinceOverview
from peluit_reporting import export

NAMES = {"35": "Inspektorat Provinsi Jawa Timur", "35.73": "Inspektorat Kota Malang",
         "35.07": "=Inspektorat Kabupaten Malang"}  # a name that starts like a formula


def test_a_spreadsheet_formula_in_a_code_is_neutralised():
    assert export._cell("=cmd|' /C calc'!A0") == "'=cmd|' /C calc'!A0"
    assert export._cell("korupsi") == "korupsi" and export._cell(None) == ""


def timing(count, median=None, p90=None):
    return {"count": count, "median_days": median, "p90_days": p90}


def overview() -> dict:
    period = {"from": "2026-01", "to": "2026-12"}
    none = {"acknowledge": timing(0), "verify": timing(0), "close": timing(0)}
    malang = {"acknowledge": timing(3, 1.5, 2.25), "verify": timing(2, 3.0, 4.0), "close": timing(1, 10.0, 10.0)}
    out = {"province": "35", "overall": {
        "period": period, "tenants": ["35", "35.07", "35.73"], "total": 7,
        "by_status": {"diterima": 4, "menunggu_informasi": 1, "selesai": 2},
        "by_category": {"korupsi": 5, "pungli": 2}, "by_channel": {"web": 6, "email": 1},
        "by_month": {"2026-03": 5, "2026-04": 2},
        "timings": {"acknowledge": timing(4, 1.0, 2.0), "verify": timing(2, 3.0, 4.0), "close": timing(2, 8.0, 9.6)},
        "deadlines": [{"pack": "lapor", "rule": "first_response", "total": 2, "met": 1, "missed": 1,
                       "compliance": 0.5}],
        "breaches": [{"rule": "first_response", "count": 1}],
        "forwarded": [{"destination_kind": "external", "destination": "kpk", "count": 1}],
        "sanctions": [{"level": "sedang", "count": 1}]},
        "tenants": [
            {"tenant": "35", "total": 1, "by_status": {"diterima": 1}, "timings": none},
            {"tenant": "35.07", "total": 1, "by_status": {"selesai": 1}, "timings": none},
            {"tenant": "35.73", "total": 5, "by_status": {"diterima": 3, "menunggu_informasi": 1, "selesai": 1},
             "timings": malang}]}
    assert ProvinceOverview().validate(out) == {}  # what the service hands the builders
    return out


def test_the_province_csv_has_the_totals_then_one_line_per_tenant():
    lines = list(csv.reader(io.StringIO(export.province_to_csv(overview()).decode("utf-8"))))
    assert lines[0] == ["lingkup", "bagian", "kode", "nilai"]
    province = [line[1:] for line in lines[1:] if line[0] == export.PROVINCE_SCOPE]
    # the totals: every section of a tenant's laporan berkala
    assert province == [list(map(str, row)) if None not in row else [*map(str, row[:2]), ""]
                        for row in export.rows(overview()["overall"])]
    assert ["ringkasan", "jumlah_laporan", "7"] in province and ["pelimpahan", "external/kpk", "1"] in province
    malang = [line[1:] for line in lines if line[0] == "35.73"]
    assert malang == [["ringkasan", "jumlah_laporan", "5"], ["status", "diterima", "3"],
                      ["status", "menunggu_informasi", "1"], ["status", "selesai", "1"],
                      ["waktu_acknowledge", "jumlah", "3"], ["waktu_acknowledge", "median_hari", "1.5"],
                      ["waktu_acknowledge", "p90_hari", "2.25"], ["waktu_verify", "jumlah", "2"],
                      ["waktu_verify", "median_hari", "3.0"], ["waktu_verify", "p90_hari", "4.0"],
                      ["waktu_close", "jumlah", "1"], ["waktu_close", "median_hari", "10.0"],
                      ["waktu_close", "p90_hari", "10.0"]]
    assert ["35", "waktu_close", "median_hari", ""] in lines  # no duration: an empty cell
    assert [line[0] for line in lines[1:]] == sorted(
        (line[0] for line in lines[1:]), key=lambda scope: ["provinsi", "35", "35.07", "35.73"].index(scope))


def test_the_province_workbook_has_a_summary_sheet_and_one_row_per_tenant():
    wb = load_workbook(io.BytesIO(export.province_to_xlsx(overview(), "Inspektorat Provinsi Jawa Timur (35)", NAMES)))
    assert wb.sheetnames == ["Ringkasan", "Per Inspektorat"]
    summary = [tuple(row) for row in wb["Ringkasan"].iter_rows(values_only=True)]
    assert summary[:3] == [(export.TITLE, None, None), ("Inspektorat", "Inspektorat Provinsi Jawa Timur (35)", None),
                           ("Periode", "2026-01 s.d. 2026-12", None)]
    assert ("bagian", "kode", "nilai") in summary and ("ringkasan", "jumlah_laporan", 7) in summary
    assert ("kategori", "pungli", 2) in summary and ("tenggat_terlewat", "lapor/first_response", 1) in summary
    table = [list(row) for row in wb["Per Inspektorat"].iter_rows(values_only=True)]
    # the statuses any tenant has, in the order of a case's life
    assert table[0][:6] == ["Kode", "Inspektorat", "Jumlah laporan", "Diterima", "Menunggu informasi", "Selesai"]
    assert table[0][6:9] == ["Waktu tanggapan pertama: jumlah", "Waktu tanggapan pertama: median (hari)",
                             "Waktu tanggapan pertama: p90 (hari)"]
    assert len(table[0]) == 6 + 9
    rows = {row[0]: row for row in table[1:]}
    assert list(rows) == ["35", "35.07", "35.73"]
    assert rows["35.73"][:6] == ["35.73", "Inspektorat Kota Malang", 5, 3, 1, 1]
    assert rows["35.73"][6:] == [3, 1.5, 2.25, 2, 3.0, 4.0, 1, 10.0, 10.0]
    assert rows["35.07"][1:6] == ["'=Inspektorat Kabupaten Malang", 1, 0, 0, 1]  # neutralised; no count is a 0
    assert rows["35"][6:9] == [0, None, None]


def test_the_province_pdf_shows_the_totals_and_every_tenant():
    pdf = export.province_to_pdf(overview(), "Inspektorat Provinsi Jawa Timur (35)", NAMES)
    assert pdf.startswith(b"%PDF")
    text = pdf_text(pdf)
    lines = text.splitlines()
    for expected in (export.TITLE, "Inspektorat: Inspektorat Provinsi Jawa Timur (35)", "Periode: 2026-01 s.d. 2026-12",
                     "Jumlah laporan terdaftar: 7", "Per Inspektorat", "Status laporan per Inspektorat",
                     "Inspektorat Kota Malang", "Menunggu informasi", "Rekomendasi sanksi (PP 94/2021)"):
        assert expected in text, expected
    assert {"35", "35.07", "35.73", "10,0", "3,0"} <= set(lines)  # codes and median days as table cells


def test_a_tenant_pdf_keeps_its_layout():
    stats = {**overview()["overall"], "tenants": ["35.73"]}
    text = pdf_text(export.to_pdf(stats, "Inspektorat Kota Malang (35.73)"))
    assert "Inspektorat: Inspektorat Kota Malang (35.73)" in text and "Per Inspektorat" not in text
    assert "Laporan per bulan registrasi" in text and "Menunggu informasi (1)" in text  # the charts


def test_names_are_text_in_a_pdf_not_markup():
    text = pdf_text(export.to_pdf(overview()["overall"], "Inspektorat <b>Uji</b> & Co (35.99)"))
    assert "Inspektorat: Inspektorat <b>Uji</b> & Co (35.99)" in text.replace("\n", "")  # shown, not made bold
