"""Horizontal bar charts as inline SVG, drawn on the server.

Readable without JavaScript and without anything a CSP without inline style
refuses (presentation attributes only: no ``style``, no script). A chart is a
picture for sighted readers: put a table of the same numbers beside it, which
is what screen readers and copying use. No nameko, no translations: the
caller passes every text. One module for every server-rendered page (the
portal's statistics, the officers' console).
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import Sequence

from markupsafe import Markup, escape

WIDTH = 300  # viewBox units; the SVG scales to its container (width 100%)
FIGURE = 52  # room at the right of the longest bar for its figure
LABEL, BAR, GAP = 16, 18, 12  # heights of a label line, a bar, the space after it
FONT = 13
LINE_CHARS = 36  # characters of a label line: about the width at FONT
INK, FILL = "#1b1b1b", "#0b4f6c"  # ink and a deep blue (contrast > 7:1 on white)


@dataclass(frozen=True)
class Bar:
    """One bar: ``value`` is the length drawn, ``shown`` the figure written
    beside it (default: the value). ``bound``: the value is only an upper
    bound (a suppressed "<5" drawn up to 4), shown as a dashed outline."""

    label: str
    value: float
    shown: str | None = None
    bound: bool = False


def bar_chart(bars: Sequence[Bar], *, title: str, chart_id: str, scale: float | None = None,
              css_class: str = "chart") -> Markup:
    """An ``<svg role="img">`` named by ``title``: each bar's label above it,
    its figure at its end, its length scaled so that ``scale`` (default: the
    largest value; give several charts one scale to compare them) fills the width."""
    top = max(scale or 0, *(b.value for b in bars), 0) or 1
    room = WIDTH - FIGURE
    rows, y = [], 0
    for bar in bars:
        # a long label wraps at words rather than run past the chart's edge
        lines = textwrap.wrap(bar.label, LINE_CHARS) or [""]
        rows.append((bar, lines, y))
        y += LABEL * len(lines) + BAR + GAP
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="{escape(css_class)}" role="img" '
             f'aria-labelledby="{escape(chart_id)}-title" viewBox="0 0 {WIDTH} {max(y, 1)}" width="100%" '
             f'preserveAspectRatio="xMinYMin meet" focusable="false">',
             f'<title id="{escape(chart_id)}-title">{escape(title)}</title>']
    for bar, lines, y in rows:
        for line in lines:
            y += LABEL
            parts.append(f'<text x="0" y="{y - 4}" font-size="{FONT}" fill="{INK}">{escape(line)}</text>')
        length = max(round(bar.value / top * room, 1), 2.0) if bar.value > 0 else 0
        shown = bar.shown if bar.shown is not None else f"{bar.value:g}"
        if bar.bound:
            parts.append(f'<rect x="1" y="{y + 1}" width="{max(length - 2, 1)}" height="{BAR - 2}" '
                         f'fill="#ffffff" stroke="{FILL}" stroke-width="2" stroke-dasharray="4 3"/>')
        else:
            parts.append(f'<rect x="0" y="{y}" width="{length}" height="{BAR}" fill="{FILL}"/>')
        parts.append(f'<text x="{length + 6}" y="{y + BAR - 4}" font-size="{FONT}" font-weight="700" '
                     f'fill="{INK}">{escape(shown)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
