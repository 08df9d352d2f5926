"""The SVG bar chart: well-formed, named, scaled, escaped, and nothing a CSP without inline style refuses."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from markupsafe import Markup

from peluit_common.charts import FIGURE, WIDTH, Bar, bar_chart

SVG = "{http://www.w3.org/2000/svg}"


def parse(markup: Markup) -> ET.Element:
    assert isinstance(markup, Markup)  # rendered as is by a template
    return ET.fromstring(str(markup))


def test_bars_are_scaled_to_the_largest_and_carry_their_labels_and_figures():
    svg = parse(bar_chart([Bar("Diterima", 12), Bar("Selesai", 6), Bar("Ditolak", 0)], title="Korupsi",
                          chart_id="c1"))
    assert svg.get("role") == "img" and svg.get("aria-labelledby") == "c1-title"
    assert svg.find(f"{SVG}title").text == "Korupsi" and svg.find(f"{SVG}title").get("id") == "c1-title"
    assert svg.get("width") == "100%" and svg.get("viewBox").startswith(f"0 0 {WIDTH} ")
    widths = [float(r.get("width")) for r in svg.iter(f"{SVG}rect")]
    assert widths == [WIDTH - FIGURE, (WIDTH - FIGURE) / 2, 0]
    texts = [t.text for t in svg.iter(f"{SVG}text")]
    assert texts == ["Diterima", "12", "Selesai", "6", "Ditolak", "0"]


def test_a_common_scale_and_a_bound_drawn_as_an_outline():
    svg = parse(bar_chart([Bar("Diterima", 4, "<5", bound=True)], title="Pungli", chart_id="c2", scale=8))
    rect = svg.find(f"{SVG}rect")
    assert rect.get("stroke-dasharray") and rect.get("fill") == "#ffffff"
    assert abs(float(rect.get("width")) - ((WIDTH - FIGURE) / 2 - 2)) < 0.2  # half the scale, inside its stroke
    assert [t.text for t in svg.iter(f"{SVG}text")] == ["Diterima", "<5"]
    assert "&lt;5" in str(bar_chart([Bar("x", 4, "<5", True)], title="t", chart_id="c"))


def test_texts_are_escaped_and_long_labels_wrap():
    label = "Menunggu informasi tambahan dari pelapor <b>&</b>"
    markup = bar_chart([Bar(label, 3)], title='"><script>alert(1)</script>', chart_id="c3")
    assert "<script>" not in markup and "<b>" not in markup
    svg = parse(markup)
    lines = [t.text for t in svg.iter(f"{SVG}text")][:-1]
    assert len(lines) == 2 and " ".join(lines) == label
    assert float(svg.get("viewBox").split()[3]) > float(parse(bar_chart([Bar("x", 3)], title="t",
                                                                          chart_id="c")).get("viewBox").split()[3])


def test_no_inline_style_or_script_and_an_empty_chart_is_still_valid():
    markup = str(bar_chart([Bar("a", 1), Bar("b", 2)], title="t", chart_id="c4"))
    assert "style" not in markup and "<script" not in markup and " on" not in markup
    empty = parse(bar_chart([], title="Kosong", chart_id="c5"))
    assert empty.find(f"{SVG}rect") is None and empty.find(f"{SVG}title").text == "Kosong"
