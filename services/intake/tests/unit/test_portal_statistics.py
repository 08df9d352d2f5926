"""The portal's statistics page over a fake reporting (``FakeBackend.public_stats``):
charts and tables of exactly the published cells (no totals), both languages,
the tenant list, bad parameters, and a 503 page when reporting is away."""

from __future__ import annotations

import datetime as dt
import html
import os
import re
import zoneinfo

import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from peluit_intake import portal, portal_statistics
from peluit_intake.portal_pages import PortalKit, serve

CELLS = [
    {"tenant": "35.73", "year": 2026, "category": "korupsi", "status": "selesai", "count": 7},
    {"tenant": "35.73", "year": 2026, "category": "korupsi", "status": "diterima", "count": 12},
    {"tenant": "35.73", "year": 2026, "category": "korupsi", "status": "menunggu_informasi", "count": "<5"},
    {"tenant": "35.73", "year": 2026, "category": "pungli", "status": "diterima", "count": "<5"},
    {"tenant": "35", "year": 2026, "category": "korupsi", "status": "diterima", "count": 5},
    {"tenant": "35.73", "year": 2025, "category": "korupsi", "status": "selesai", "count": 9},
]


@pytest.fixture(scope="module")
def kit():
    return PortalKit(os.urandom(32))


@pytest.fixture
def published(backend):
    backend.published = [dict(c) for c in CELLS]
    return backend


def page(kit, intake, **query):
    request = Request(EnvironBuilder(path="/statistik", query_string=query).get_environ())
    response = serve(kit, request, portal_statistics.statistics, intake)
    return response, response.get_data(as_text=True)


def tables(text: str) -> dict[str, list[tuple[str, str]]]:
    """Each chart's table: its category heading -> (status, figure) rows."""
    out = {}
    for section in re.findall(r'<section class="chart-block".*?</section>', text, re.S):
        heading = re.search(r"<h3[^>]*>(.*?)</h3>", section).group(1)
        rows = re.findall(r'<tr><th scope="row">(.*?)</th><td class="num">(.*?)</td></tr>', section)
        out[html.unescape(heading)] = [(html.unescape(s), html.unescape(n)) for s, n in rows]
    return out


def test_one_chart_per_category_with_a_table_of_exactly_the_published_cells(kit, intake, published):
    response, text = page(kit, intake, tenant="35.73", year="2026", lang="en")
    assert response.status_code == 200 and published.stats_queries == [{"tenant": "35.73", "year": 2026}]
    # statuses in the order of a case's life, labelled from the catalogue; "<5" as published; nothing added up
    assert tables(text) == {
        "korupsi": [("Report received and registered", "12"), ("Waiting for more information from the reporter", "<5"),
                    ("Closed", "7")],
        "pungli": [("Report received and registered", "<5")]}
    assert "19" not in re.sub(r"<svg.*?</svg>", "", text, flags=re.S)  # no total of a category (12 + 7)
    assert text.count('<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img"') == 2
    assert text.count('stroke-dasharray') == 2  # the two suppressed cells, drawn as outlines
    assert "Inspektorat 35.73 · 2026" in text and "Rule" in text
    assert '<option value="35.73" selected>' in text and '<option value="2026" selected>' in text
    assert 'href="/statistik?lang=id&amp;tenant=35.73&amp;year=2026"' in text  # the switch keeps the choice
    assert response.headers["Content-Security-Policy"].startswith("default-src 'self'")


def test_indonesian_first(kit, intake, published):
    _, text = page(kit, intake, tenant="35.73", year="2026")
    assert '<html lang="id">' in text and "Statistik laporan" in text
    assert tables(text)["pungli"] == [("Laporan diterima dan terdaftar", "<5")]
    assert re.search(r'<meta name="description" content="Statistik publik[^"]+">', text)


def test_without_a_tenant_the_inspektorat_with_figures_are_listed_for_this_year(kit, intake, published):
    this_year = dt.datetime.now(zoneinfo.ZoneInfo("Asia/Jakarta")).year
    published.published = [{**c, "year": this_year} for c in CELLS[:5]]
    _, text = page(kit, intake, lang="en")
    assert published.stats_queries == [{"year": this_year}]
    links = re.findall(r'<ul class="stats-tenants">(.*?)</ul>', text, re.S)[0]
    assert re.findall(r'<a href="([^"]+)">([^<]+)</a>', links) == [
        (f"/statistik?lang=en&amp;tenant=35&amp;year={this_year}", "Inspektorat 35"),
        (f"/statistik?lang=en&amp;tenant=35.73&amp;year={this_year}", "Inspektorat 35.73")]
    assert "chart-block" not in text


def test_no_figures_say_so(kit, intake, published):
    response, text = page(kit, intake, tenant="35.73", year="2024", lang="en")
    assert response.status_code == 200 and "No figures are published for this Inspektorat and year." in text
    assert '<option value="2024" selected>' in text


@pytest.mark.parametrize("query,fields", [({"year": "dua"}, {"year"}), ({"tenant": "35.7x"}, {"tenant"}),
                                          ({"tenant": "35.73'", "year": "1999"}, {"tenant", "year"})])
def test_bad_parameters_are_a_400_on_the_same_page_and_ask_nothing(kit, intake, published, query, fields):
    response, text = page(kit, intake, lang="en", **query)
    assert response.status_code == 400 and published.stats_queries == []
    assert set(re.findall(r'href="#f-([a-z]+)"', text)) == fields
    assert all(f'id="f-{name}-error"' in text and f'aria-describedby="f-{name}-error"' in text for name in fields)
    assert "35.73&#39;" not in text.split("<form")[0]  # the summary names fields, it does not echo values


@pytest.mark.parametrize("trouble", ["down", "refused"])
def test_reporting_away_is_a_friendly_503_in_the_visit_language(kit, intake, published, trouble):
    if trouble == "down":
        published.down.add("public_stats")
    else:
        published.refuse["public_stats"] = "validation_failed"
    for lang, title in (("id", "Statistik belum dapat ditampilkan saat ini"),
                        ("en", "The statistics cannot be shown right now")):
        response, text = page(kit, intake, tenant="35.73", lang=lang)
        assert response.status_code == 503 and response.headers["Retry-After"] == "60"
        assert f"<h1>{title}</h1>" in text and f'<html lang="{lang}">' in text
        assert response.headers["Content-Security-Policy"].startswith("default-src 'self'")


def test_tenant_codes_stand_in_while_the_catalogue_is_away(kit, intake, published):
    published.down.add("catalogue")
    response, text = page(kit, intake, tenant="35.73", year="2026", lang="en")
    assert response.status_code == 200 and "35.73 · 2026" in text and len(tables(text)) == 2


def test_the_home_page_links_to_the_statistics(kit, intake):
    request = Request(EnvironBuilder(path="/", query_string={"lang": "en"}).get_environ())
    text = serve(kit, request, portal.home, intake).get_data(as_text=True)
    assert 'href="/statistik?lang=en"' in text
