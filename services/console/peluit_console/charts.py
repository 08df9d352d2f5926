"""Bar charts drawn on the server as inline SVG: readable without
JavaScript, no outside asset, and each page shows the same numbers in a
data table beside it (the chart is ``role="img"`` with its title)."""

from __future__ import annotations

from markupsafe import Markup, escape

WIDTH = 640
LABEL_WIDTH = 250
ROW = 30
BAR = 20
LABEL_CHARS = 32
COLOURS = ("#283e6e", "#5a7bb5")  # alternate rows, both at least 3:1 against white


def bar_chart(chart_id: str, title: str, rows: list[tuple[str, float]]) -> Markup:
    """Horizontal bars, one per (label, value), the value written at its end."""
    top = max((value for _, value in rows), default=0) or 1
    room = WIDTH - LABEL_WIDTH - 70
    height = max(ROW, ROW * len(rows)) + 10
    parts = [f'<svg class="chart" id="{escape(chart_id)}" role="img" aria-labelledby="{escape(chart_id)}-title" '
             f'viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" xmlns="http://www.w3.org/2000/svg">',
             f'<title id="{escape(chart_id)}-title">{escape(title)}</title>']
    for n, (label, value) in enumerate(rows):
        y = 5 + n * ROW
        width = 0 if value <= 0 else max(2, round(room * value / top))
        short = label if len(label) <= LABEL_CHARS else label[:LABEL_CHARS - 1] + "…"
        parts.append(f'<text x="{LABEL_WIDTH - 8}" y="{y + BAR - 5}" text-anchor="end" font-size="14" '
                     f'fill="#1b1b1b">{escape(short)}</text>')
        parts.append(f'<rect x="{LABEL_WIDTH}" y="{y}" width="{width}" height="{BAR}" fill="{COLOURS[n % 2]}"/>')
        parts.append(f'<text x="{LABEL_WIDTH + width + 6}" y="{y + BAR - 5}" font-size="14" '
                     f'fill="#1b1b1b">{escape(_number(value))}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"
