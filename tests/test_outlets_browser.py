"""The outlets report as a person sees it: opened in headless Chromium, offline.

Uses Debian's chromium driven by Playwright; Playwright's own browser downloads are never used.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from framing.outlets.analysis import OutletsSettings, analyse, load_articles
from framing.outlets.report import write_report

from .conftest import CHROMIUM, CHROMIUM_ARGS
from .test_outlets import realistic_rows, write_jsonl

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium (apt-get install -y chromium)"
)
sync_api = pytest.importorskip("playwright.sync_api", reason="needs Playwright for Python (pip install playwright)")


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("outlets")
    data = folder / "classified.jsonl"
    write_jsonl(data, realistic_rows(np.random.default_rng(8)))
    settings = OutletsSettings(n_bootstrap=200, n_permutations=199, stratify="topic")
    result = analyse(load_articles([data], stratify="topic"), settings)
    written = write_report(result, folder / "report", [str(data)])
    return written["html"], result


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture()
def page(browser, report):
    html, _ = report
    page = browser.new_page(viewport={"width": 1460, "height": 1000})
    page.set_default_timeout(120_000)  # a loaded 2-core machine can be slow; a hang still fails
    page.requests, page.errors = [], []  # type: ignore[attr-defined]
    page.on("request", lambda request: page.requests.append(request.url))
    page.on("console", lambda message: page.errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.goto(html.as_uri())
    yield page
    page.close()


def test_the_page_loads_nothing_but_itself(page, report):
    html, _ = report
    assert page.requests == [html.as_uri()]
    assert page.errors == []
    assert page.title() == "Framing across outlets"


@pytest.mark.parametrize("lang", ["ar", "en"])
def test_charts_are_drawn(page, report, lang):
    _, result = report
    n_rows = len(result["languages"][lang]["outlets"]) + 1  # and the pooled row
    shares = page.locator(f"svg#shares-{lang}")
    forest = page.locator(f"svg#forest-{lang}")
    for chart in (shares, forest):
        chart.scroll_into_view_if_needed()
        assert chart.is_visible()
        box = chart.bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 30 * n_rows
    assert shares.locator("rect.seg").count() == 4 * n_rows
    assert shares.locator("path.whisker").count() >= 4 * (n_rows - 1)
    # Each outlet's segments, as laid out by the browser, fill the same bar: shares sum to one.
    totals = shares.evaluate(
        """svg => { const rows = {};
            for (const r of svg.querySelectorAll('rect.seg')) {
                const y = r.getAttribute('y'); rows[y] = (rows[y] || 0) + r.getBBox().width; }
            return Object.values(rows); }"""
    )
    assert len(totals) == n_rows and max(totals) - min(totals) < 1.0 and min(totals) > 300
    assert forest.locator("circle").count() == n_rows
    assert forest.locator("path.gold").count() == n_rows  # gold labels are in the input


def test_tables_list_every_outlet_with_arabic_names_right_to_left(page, report):
    _, result = report
    for lang, section in result["languages"].items():
        rows = page.locator(f"table#outlets-{lang} tbody tr")
        assert rows.count() == len(section["outlets"]) + 1
        for entry in section["outlets"]:
            assert page.locator(f"table#outlets-{lang}").get_by_text(entry["outlet"], exact=True).is_visible()
    name = page.locator("table#outlets-ar bdi", has_text="صحيفة صدى السودان")
    assert name.evaluate("e => e.matches(':dir(rtl)')")
    english = page.locator("table#outlets-en bdi", has_text="Metro Buzz")
    assert english.evaluate("e => e.matches(':dir(ltr)')")
    flagged = page.locator("table#outlets-ar tr.flagged")
    assert flagged.count() == 1 and "too little data" in flagged.inner_text()
    assert page.locator("table#gold-en").is_visible() and page.locator("table#source-types-en").is_visible()
    assert page.locator("p.statement").first.inner_text().startswith("On the same sentences")


def test_screenshot(page, tmp_path):
    path = tmp_path / "report.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 20_000
