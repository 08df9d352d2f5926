"""Exports of a laporan berkala (periodic report) in Bahasa Indonesia: a
tenant-year's, and a province-year's (its totals and one line per tenant);
CSV, XLSX and PDF each.

Built from the dicts of ``stats.tenant_stats`` / ``stats.province_overview``
only: codes, counts and durations, never report text or identity. The XLSX
and PDF builders are CPU work; the service runs them in ``eventlet.tpool`` so
the hub keeps serving.
"""

from __future__ import annotations

import csv
import io
from xml.sax.saxutils import escape

TITLE = "Laporan Berkala Whistleblowing System"

STATUS_ID = {
    "diterima": "Diterima", "verifikasi": "Verifikasi", "menunggu_informasi": "Menunggu informasi",
    "dilimpahkan": "Dilimpahkan", "ditolak": "Ditolak", "diarsipkan": "Diarsipkan", "penelaahan": "Penelaahan",
    "investigasi": "Investigasi", "hasil": "Hasil", "tindak_lanjut": "Tindak lanjut", "selesai": "Selesai",
}
TIMING_ID = {"acknowledge": "Waktu tanggapan pertama", "verify": "Waktu verifikasi", "close": "Waktu penyelesaian"}
SECTION_ID = {"status": "Status", "kategori": "Kategori", "kanal": "Kanal", "bulan": "Bulan registrasi"}
PROVINCE_SCOPE = "provinsi"  # the province export's scope column for the province's totals
SHEETS = ("Ringkasan", "Per Inspektorat")  # the province workbook's sheets


def _timing_rows(timings: dict) -> list[tuple[str, str, object]]:
    out = []
    for name, t in timings.items():
        out += [(f"waktu_{name}", "jumlah", t["count"]), (f"waktu_{name}", "median_hari", t["median_days"]),
                (f"waktu_{name}", "p90_hari", t["p90_days"])]
    return out


def rows(stats: dict) -> list[tuple[str, str, object]]:
    """(bagian, kode, nilai) lines: the one layout behind CSV and XLSX."""
    out: list[tuple[str, str, object]] = [("ringkasan", "jumlah_laporan", stats["total"])]
    for section, key in (("status", "by_status"), ("kategori", "by_category"), ("kanal", "by_channel"),
                         ("bulan", "by_month")):
        out += [(section, k, v) for k, v in stats[key].items()]
    out += _timing_rows(stats["timings"])
    for d in stats["deadlines"]:
        key = f"{d['pack']}/{d['rule']}"
        out += [("tenggat_terpenuhi", key, d["met"]), ("tenggat_terlewat", key, d["missed"])]
    out += [("tenggat_dilanggar", b["rule"], b["count"]) for b in stats["breaches"]]
    out += [("pelimpahan", f"{f['destination_kind']}/{f['destination']}", f["count"]) for f in stats["forwarded"]]
    out += [("sanksi", s["level"], s["count"]) for s in stats["sanctions"]]
    return out


def line_rows(line: dict) -> list[tuple[str, str, object]]:
    """One tenant's line of a province overview, in the same layout: its total, statuses and timings."""
    return [("ringkasan", "jumlah_laporan", line["total"]),
            *(("status", k, v) for k, v in line["by_status"].items()), *_timing_rows(line["timings"])]


def province_rows(overview: dict) -> list[tuple[str, str, str, object]]:
    """(lingkup, bagian, kode, nilai): the province's totals (lingkup "provinsi"), then each tenant's line
    (lingkup: its code)."""
    out = [(PROVINCE_SCOPE, *r) for r in rows(overview["overall"])]
    for line in overview["tenants"]:
        out += [(line["tenant"], *r) for r in line_rows(line)]
    return out


def _cell(value):
    # a code that starts like a formula must not run in a spreadsheet
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return "" if value is None else value


def _csv(header: list[str], lines) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    for line in lines:
        writer.writerow([_cell(v) for v in line])
    return buf.getvalue().encode("utf-8")


def to_csv(stats: dict) -> bytes:
    return _csv(["bagian", "kode", "nilai"], rows(stats))


def province_to_csv(overview: dict) -> bytes:
    return _csv(["lingkup", "bagian", "kode", "nilai"], province_rows(overview))


def _summary_sheet(ws, stats: dict, name: str) -> None:
    for line in ([TITLE], ["Inspektorat", name], ["Periode", f"{stats['period']['from']} s.d. {stats['period']['to']}"],
                 [], ["bagian", "kode", "nilai"], *rows(stats)):
        ws.append([_cell(v) for v in line])


def _xlsx(wb) -> bytes:
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def to_xlsx(stats: dict, tenant_name: str) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    wb.active.title = "Laporan"
    _summary_sheet(wb.active, stats, tenant_name)
    return _xlsx(wb)


def statuses_of(overview: dict) -> list[str]:
    """The statuses any line of the overview has, in the order of a case's life (unknown ones last)."""
    seen = set(overview["overall"]["by_status"]).union(*(line["by_status"] for line in overview["tenants"]))
    return [s for s in STATUS_ID if s in seen] + sorted(seen - set(STATUS_ID))


def tenant_table(overview: dict, names: dict[str, str]) -> tuple[list[str], list[list]]:
    """The "Per Inspektorat" sheet: a header and one row per tenant (code, name, total, each status,
    each timing's count, median and p90 in days)."""
    statuses = statuses_of(overview)
    header = ["Kode", "Inspektorat", "Jumlah laporan", *(STATUS_ID.get(s, s) for s in statuses)]
    for label in TIMING_ID.values():
        header += [f"{label}: jumlah", f"{label}: median (hari)", f"{label}: p90 (hari)"]
    body = []
    for line in overview["tenants"]:
        row = [line["tenant"], names.get(line["tenant"], line["tenant"]), line["total"],
               *(line["by_status"].get(s, 0) for s in statuses)]
        for name in TIMING_ID:
            t = line["timings"][name]
            row += [t["count"], t["median_days"], t["p90_days"]]
        body.append(row)
    return header, body


def province_to_xlsx(overview: dict, province_name: str, names: dict[str, str]) -> bytes:
    """Sheet "Ringkasan": the province's totals as a tenant's report; sheet "Per Inspektorat": one row per tenant."""
    from openpyxl import Workbook

    wb = Workbook()
    wb.active.title = SHEETS[0]
    _summary_sheet(wb.active, overview["overall"], province_name)
    header, body = tenant_table(overview, names)
    per_tenant = wb.create_sheet(SHEETS[1])
    for line in (header, *body):
        per_tenant.append([_cell(v) for v in line])
    return _xlsx(wb)


def _days(value) -> str:
    return "-" if value is None else f"{value:.1f}".replace(".", ",")


class _Pdf:
    """A laporan berkala as reportlab flowables: headings, tables and charts, then ``build``."""

    def __init__(self, name: str):
        from reportlab.lib.styles import getSampleStyleSheet

        self.name, self.styles, self.story = name, getSampleStyleSheet(), []

    def paragraph(self, value: str, style: str = "Normal") -> None:
        from reportlab.platypus import Paragraph

        self.story.append(Paragraph(escape(value), self.styles[style]))  # names are text, not markup

    def space(self, cm_: float = 0.3) -> None:
        from reportlab.lib.units import cm
        from reportlab.platypus import Spacer

        self.story.append(Spacer(1, cm_ * cm))

    def table(self, title: str, header: list, body: list[list], font: int = 9) -> None:
        from reportlab.lib import colors
        from reportlab.platypus import Paragraph, Table, TableStyle

        self.paragraph(title, "Heading3")
        if not body:
            self.paragraph("Tidak ada data.")
            return
        head_style = self.styles["Normal"].clone("head", fontSize=font, leading=font + 2)
        t = Table([[Paragraph(escape(str(h)), head_style) for h in header]] + [[str(c) for c in r] for r in body],
                  hAlign="LEFT", repeatRows=1)
        t.setStyle(TableStyle([("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#dfe7ef")),
                               ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                               ("FONTSIZE", (0, 0), (-1, -1), font), ("VALIGN", (0, 0), (-1, -1), "TOP")]))
        self.story.append(t)
        self.space()

    def bars(self, title: str, items: list[tuple[str, int]]) -> None:
        from reportlab.graphics.charts.barcharts import VerticalBarChart
        from reportlab.lib import colors
        from reportlab.lib.units import cm

        chart = VerticalBarChart()
        chart.x, chart.y, chart.width, chart.height = 1 * cm, 0.8 * cm, 14 * cm, 4.2 * cm
        chart.data = [[v for _, v in items] or [0]]
        chart.categoryAxis.categoryNames = [k for k, _ in items] or ["-"]
        chart.categoryAxis.labels.fontSize = 7
        chart.valueAxis.valueMin = 0
        chart.bars[0].fillColor = colors.HexColor("#2f6690")
        self._drawing(title, chart)

    def pie(self, title: str, items: list[tuple[str, int]]) -> None:
        from reportlab.graphics.charts.piecharts import Pie
        from reportlab.lib.units import cm

        pie = Pie()
        pie.x, pie.y, pie.width, pie.height = 4 * cm, 0.3 * cm, 4.8 * cm, 4.8 * cm
        pie.data = [v for _, v in items] or [1]
        pie.labels = [f"{k} ({v})" for k, v in items] or ["tidak ada data"]
        pie.slices.fontSize = 7
        self._drawing(title, pie)

    def _drawing(self, title: str, chart) -> None:
        from reportlab.graphics.shapes import Drawing, String
        from reportlab.lib.units import cm

        drawing = Drawing(16 * cm, 6 * cm)
        drawing.add(String(0, 5.5 * cm, title, fontSize=10))
        drawing.add(chart)
        self.story.append(drawing)
        self.space()

    def build(self) -> bytes:
        from reportlab.lib.pagesizes import A4
        from reportlab.lib.units import cm
        from reportlab.platypus import SimpleDocTemplate

        out = io.BytesIO()
        SimpleDocTemplate(out, pagesize=A4, title=TITLE, author="Peluit", subject=self.name,
                          leftMargin=2 * cm, rightMargin=2 * cm).build(self.story)
        return out.getvalue()


def _figures(pdf: _Pdf, stats: dict) -> None:
    """The heading, charts and tables of one set of figures (a tenant's, or a province's totals)."""
    pdf.paragraph(TITLE, "Title")
    pdf.paragraph(f"Inspektorat: {pdf.name}", "Heading2")
    pdf.paragraph(f"Periode: {stats['period']['from']} s.d. {stats['period']['to']}")
    pdf.paragraph(f"Jumlah laporan terdaftar: {stats['total']}")
    pdf.space(0.4)
    pdf.bars("Laporan per bulan registrasi", list(stats["by_month"].items()))
    pdf.pie("Status laporan", [(STATUS_ID.get(k, k), v) for k, v in stats["by_status"].items()])
    pdf.table("Status", ["Status", "Jumlah"], [[STATUS_ID.get(k, k), v] for k, v in stats["by_status"].items()])
    pdf.table("Kategori", ["Kategori", "Jumlah"], [[k, v] for k, v in stats["by_category"].items()])
    pdf.table("Kanal", ["Kanal", "Jumlah"], [[k, v] for k, v in stats["by_channel"].items()])
    pdf.table("Waktu penanganan (hari sejak registrasi)", ["Ukuran", "Jumlah", "Median", "P90"],
              [[TIMING_ID[k], t["count"], _days(t["median_days"]), _days(t["p90_days"])]
               for k, t in stats["timings"].items()])
    pdf.table("Kepatuhan tenggat (kasus yang berakhir: selesai, ditolak, diarsipkan, dilimpahkan ke luar)",
              ["Paket", "Aturan", "Terpenuhi", "Terlewat", "Kepatuhan"],
              [[d["pack"], d["rule"], d["met"], d["missed"], f"{d['compliance'] * 100:.0f}%"]
               for d in stats["deadlines"]])
    pdf.table("Tenggat yang dilanggar (termasuk kasus berjalan)", ["Aturan", "Jumlah"],
              [[b["rule"], b["count"]] for b in stats["breaches"]])
    pdf.table("Pelimpahan", ["Jenis tujuan", "Tujuan", "Jumlah"],
              [[f["destination_kind"], f["destination"], f["count"]] for f in stats["forwarded"]])
    pdf.table("Rekomendasi sanksi (PP 94/2021)", ["Tingkat", "Jumlah"],
              [[s["level"], s["count"]] for s in stats["sanctions"]])


def to_pdf(stats: dict, tenant_name: str) -> bytes:
    pdf = _Pdf(tenant_name)
    _figures(pdf, stats)
    return pdf.build()


def province_to_pdf(overview: dict, province_name: str, names: dict[str, str]) -> bytes:
    """The province's totals as a tenant's report, then its tenants: totals and timings, and statuses."""
    pdf = _Pdf(province_name)
    _figures(pdf, overview["overall"])
    lines = overview["tenants"]
    pdf.paragraph("Per Inspektorat", "Heading2")
    pdf.bars("Laporan per Inspektorat", [(line["tenant"], line["total"]) for line in lines])
    pdf.table("Jumlah laporan dan waktu penanganan (median hari sejak registrasi)",
              ["Kode", "Inspektorat", "Jumlah", *TIMING_ID.values()],
              [[line["tenant"], names.get(line["tenant"], line["tenant"]), line["total"],
                *(_days(line["timings"][k]["median_days"]) for k in TIMING_ID)] for line in lines], font=8)
    statuses = statuses_of(overview)
    pdf.table("Status laporan per Inspektorat", ["Kode", *(STATUS_ID.get(s, s) for s in statuses)],
              [[line["tenant"], *(line["by_status"].get(s, 0) for s in statuses)] for line in lines], font=7)
    return pdf.build()
