"""Exports of one tenant-year (laporan berkala): CSV, XLSX and PDF, in Bahasa Indonesia.

Built from the dict of ``stats.tenant_stats`` only: codes, counts and
durations, never report text or identity. The XLSX and PDF builders are CPU
work; the service runs them in ``eventlet.tpool`` so the hub keeps serving.
"""

from __future__ import annotations

import csv
import io

TITLE = "Laporan Berkala Whistleblowing System"

STATUS_ID = {
    "diterima": "Diterima", "verifikasi": "Verifikasi", "menunggu_informasi": "Menunggu informasi",
    "dilimpahkan": "Dilimpahkan", "ditolak": "Ditolak", "diarsipkan": "Diarsipkan", "penelaahan": "Penelaahan",
    "investigasi": "Investigasi", "hasil": "Hasil", "tindak_lanjut": "Tindak lanjut", "selesai": "Selesai",
}
TIMING_ID = {"acknowledge": "Waktu tanggapan pertama", "verify": "Waktu verifikasi", "close": "Waktu penyelesaian"}
SECTION_ID = {"status": "Status", "kategori": "Kategori", "kanal": "Kanal", "bulan": "Bulan registrasi"}


def rows(stats: dict) -> list[tuple[str, str, object]]:
    """(bagian, kode, nilai) lines: the one layout behind CSV and XLSX."""
    out: list[tuple[str, str, object]] = [("ringkasan", "jumlah_laporan", stats["total"])]
    for section, key in (("status", "by_status"), ("kategori", "by_category"), ("kanal", "by_channel"),
                         ("bulan", "by_month")):
        out += [(section, k, v) for k, v in stats[key].items()]
    for name, t in stats["timings"].items():
        out += [(f"waktu_{name}", "jumlah", t["count"]), (f"waktu_{name}", "median_hari", t["median_days"]),
                (f"waktu_{name}", "p90_hari", t["p90_days"])]
    for d in stats["deadlines"]:
        key = f"{d['pack']}/{d['rule']}"
        out += [("tenggat_terpenuhi", key, d["met"]), ("tenggat_terlewat", key, d["missed"])]
    out += [("tenggat_dilanggar", b["rule"], b["count"]) for b in stats["breaches"]]
    out += [("pelimpahan", f"{f['destination_kind']}/{f['destination']}", f["count"]) for f in stats["forwarded"]]
    out += [("sanksi", s["level"], s["count"]) for s in stats["sanctions"]]
    return out


def _cell(value):
    # a code that starts like a formula must not run in a spreadsheet
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return "" if value is None else value


def to_csv(stats: dict) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["bagian", "kode", "nilai"])
    for line in rows(stats):
        writer.writerow([_cell(v) for v in line])
    return buf.getvalue().encode("utf-8")


def to_xlsx(stats: dict, tenant_name: str) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "Laporan"
    ws.append([TITLE])
    ws.append(["Inspektorat", tenant_name])
    ws.append(["Periode", f"{stats['period']['from']} s.d. {stats['period']['to']}"])
    ws.append([])
    ws.append(["bagian", "kode", "nilai"])
    for line in rows(stats):
        ws.append([_cell(v) for v in line])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _days(value) -> str:
    return "-" if value is None else f"{value:.1f}".replace(".", ",")


def to_pdf(stats: dict, tenant_name: str) -> bytes:
    from reportlab.graphics.charts.barcharts import VerticalBarChart
    from reportlab.graphics.charts.piecharts import Pie
    from reportlab.graphics.shapes import Drawing, String
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import cm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    styles = getSampleStyleSheet()
    story = [Paragraph(TITLE, styles["Title"]),
             Paragraph(f"Inspektorat: {tenant_name}", styles["Heading2"]),
             Paragraph(f"Periode: {stats['period']['from']} s.d. {stats['period']['to']}", styles["Normal"]),
             Paragraph(f"Jumlah laporan terdaftar: {stats['total']}", styles["Normal"]), Spacer(1, 0.4 * cm)]

    def table(title: str, header: list[str], body: list[list]) -> None:
        story.append(Paragraph(title, styles["Heading3"]))
        if not body:
            story.append(Paragraph("Tidak ada data.", styles["Normal"]))
            return
        t = Table([header] + [[str(c) for c in r] for r in body], hAlign="LEFT")
        t.setStyle(TableStyle([("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#dfe7ef")),
                               ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                               ("FONTSIZE", (0, 0), (-1, -1), 9)]))
        story.append(t)
        story.append(Spacer(1, 0.3 * cm))

    # chart 1: cases per registration month
    months = list(stats["by_month"].items())
    bar = Drawing(16 * cm, 6 * cm)
    bar.add(String(0, 5.5 * cm, "Laporan per bulan registrasi", fontSize=10))
    chart = VerticalBarChart()
    chart.x, chart.y, chart.width, chart.height = 1 * cm, 0.8 * cm, 14 * cm, 4.2 * cm
    chart.data = [[v for _, v in months] or [0]]
    chart.categoryAxis.categoryNames = [k for k, _ in months] or ["-"]
    chart.categoryAxis.labels.fontSize = 7
    chart.valueAxis.valueMin = 0
    chart.bars[0].fillColor = colors.HexColor("#2f6690")
    bar.add(chart)
    story += [bar, Spacer(1, 0.3 * cm)]

    # chart 2: current status of the period's cases
    statuses = [(STATUS_ID.get(k, k), v) for k, v in stats["by_status"].items()]
    pie_drawing = Drawing(16 * cm, 6 * cm)
    pie_drawing.add(String(0, 5.5 * cm, "Status laporan", fontSize=10))
    pie = Pie()
    pie.x, pie.y, pie.width, pie.height = 4 * cm, 0.3 * cm, 4.8 * cm, 4.8 * cm
    pie.data = [v for _, v in statuses] or [1]
    pie.labels = [f"{k} ({v})" for k, v in statuses] or ["tidak ada data"]
    pie.slices.fontSize = 7
    pie_drawing.add(pie)
    story += [pie_drawing, Spacer(1, 0.3 * cm)]

    table("Status", ["Status", "Jumlah"], [[STATUS_ID.get(k, k), v] for k, v in stats["by_status"].items()])
    table("Kategori", ["Kategori", "Jumlah"], [[k, v] for k, v in stats["by_category"].items()])
    table("Kanal", ["Kanal", "Jumlah"], [[k, v] for k, v in stats["by_channel"].items()])
    table("Waktu penanganan (hari sejak registrasi)", ["Ukuran", "Jumlah", "Median", "P90"],
          [[TIMING_ID[k], t["count"], _days(t["median_days"]), _days(t["p90_days"])]
           for k, t in stats["timings"].items()])
    table("Kepatuhan tenggat (kasus yang berakhir: selesai, ditolak, diarsipkan, dilimpahkan ke luar)",
          ["Paket", "Aturan", "Terpenuhi", "Terlewat", "Kepatuhan"],
          [[d["pack"], d["rule"], d["met"], d["missed"], f"{d['compliance'] * 100:.0f}%"]
           for d in stats["deadlines"]])
    table("Tenggat yang dilanggar (termasuk kasus berjalan)", ["Aturan", "Jumlah"],
          [[b["rule"], b["count"]] for b in stats["breaches"]])
    table("Pelimpahan", ["Jenis tujuan", "Tujuan", "Jumlah"],
          [[f["destination_kind"], f["destination"], f["count"]] for f in stats["forwarded"]])
    table("Rekomendasi sanksi (PP 94/2021)", ["Tingkat", "Jumlah"], [[s["level"], s["count"]] for s in stats["sanctions"]])

    out = io.BytesIO()
    doc = SimpleDocTemplate(out, pagesize=A4, title=TITLE, author="Peluit", subject=tenant_name,
                            leftMargin=2 * cm, rightMargin=2 * cm)
    doc.build(story)
    return out.getvalue()
