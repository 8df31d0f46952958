"""The article page end to end, in real headless Chromium (Debian's chromium, driven by Playwright).

Run as a script to remake the README screenshot with a real model:
    python -m tests.test_web_browser --model runs/quick --out docs/img/web-article.png
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from framing.model.labels import LABELS

from .conftest import CHROMIUM, CHROMIUM_ARGS

EXAMPLES = Path(__file__).parent.parent / "examples"

pytestmark = pytest.mark.skipif(
    not CHROMIUM.is_file(), reason="/usr/bin/chromium is missing: `apt-get install -y chromium` to run the browser test"
)


@contextlib.contextmanager
def running_server(app) -> Iterator[str]:
    """uvicorn in a background thread on a free loopback port; yields the base URL."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))  # bound here, so no other process can take the port in between
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@contextlib.contextmanager
def chromium_page(width: int = 1200, height: int = 900):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": width, "height": height}, accept_downloads=True)
            page = context.new_page()
            page.set_default_timeout(120_000)  # a loaded 2-core machine can be slow; a hang still fails
            yield page
        finally:
            browser.close()


def classify_pasted(page, text: str) -> None:
    from playwright.sync_api import expect

    page.fill("#text", text)
    page.click("#go")
    page.wait_for_selector("#articles .sent")
    # Not wait_for_function: it evaluates a string in the page, which the page's CSP forbids.
    expect(page.locator("#go")).to_be_enabled()


@pytest.fixture(scope="module")
def base_url(tiny_run):
    from framing.web.app import create_app

    with running_server(create_app(tiny_run)) as url:
        yield url


@pytest.fixture()
def page(base_url):
    with chromium_page() as page:
        requests: list[str] = []
        problems: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        # A 4xx answer is logged by Chromium as a console error; the tests that expect one check its message.
        expected_4xx = "Failed to load resource: the server responded with a status of 4"
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" and expected_4xx not in m.text else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto(base_url + "/")
        page.wait_for_selector(".legend-item")
        yield page
        # Everything the page asked for came from this server; nothing failed or was blocked by the CSP.
        assert all(url.startswith((base_url + "/", "data:", "blob:")) for url in requests), requests
        assert problems == [], problems


def test_english_article_is_tinted_with_probabilities_and_shares(page, tmp_path):
    from framing.model.segment import segment

    text = (EXAMPLES / "article_en.txt").read_text(encoding="utf-8")
    classify_pasted(page, text)

    sentences = page.locator("#articles .sent")
    expected = [s.text for s in segment(text)]
    assert sentences.count() == len(expected)
    assert sentences.all_inner_texts() == expected
    classes = sentences.evaluate_all("nodes => nodes.map(n => [...n.classList].filter(c => c.startsWith('lab-')))")
    assert all(len(c) == 1 and c[0][4:] in LABELS for c in classes), classes
    lines = [line for line in text.splitlines() if line.strip()]
    assert page.locator("#articles p[dir='ltr']").count() == len(lines)  # a paragraph per line of the example

    assert page.locator(".legend-item").count() == 4
    assert "attributed to an identifiable source" in page.inner_text("#legend")

    sentences.nth(5).hover()
    tooltip = page.locator("#tooltip")
    tooltip.wait_for(state="visible")
    tip = tooltip.inner_text()
    assert all(label in tip for label in LABELS), tip
    shown = [float(x) for x in tooltip.locator("td.num").all_inner_texts()]
    assert len(shown) == 4 and abs(sum(shown) - 1) < 0.03

    bar = page.locator("#articles .bar").first
    segments = bar.locator(".seg")
    labels_used = set(sentences.evaluate_all("nodes => nodes.map(n => n.dataset.label)"))
    assert segments.count() == len(labels_used)
    widths = segments.evaluate_all("nodes => nodes.map(n => n.getBoundingClientRect().width)")
    assert abs(sum(widths) - bar.bounding_box()["width"]) < 2
    counts = {label: 0 for label in LABELS}
    for label in sentences.evaluate_all("nodes => nodes.map(n => n.dataset.label)"):
        counts[label] += 1
    for label, n in counts.items():
        assert f": {n} (" in page.locator("#articles .bar-keys li").nth(LABELS.index(label)).inner_text()

    page.screenshot(path=str(tmp_path / "web-article.png"), full_page=True)
    assert (tmp_path / "web-article.png").stat().st_size > 10_000

    with page.expect_download() as info:
        page.click("#dl-csv")
    rows = list(csv.DictReader(io.StringIO(Path(info.value.path()).read_text(encoding="utf-8-sig"))))
    assert [r["text"] for r in rows] == expected and rows[0]["article"] == "pasted text"
    assert all(r["label"] in LABELS and r["p_attributed_fact"] for r in rows)
    with page.expect_download() as info:
        page.click("#dl-jsonl")
    lines = [json.loads(x) for x in Path(info.value.path()).read_text(encoding="utf-8").splitlines()]
    assert [x["text"] for x in lines] == expected and set(lines[0]["scores"]) == set(LABELS)


def test_arabic_article_reads_right_to_left(page):
    text = (EXAMPLES / "article_ar.txt").read_text(encoding="utf-8")
    classify_pasted(page, text)
    paragraphs = page.locator("#articles .article-body p")
    assert paragraphs.count() == len([line for line in text.splitlines() if line.strip()])
    assert set(paragraphs.evaluate_all("nodes => nodes.map(n => getComputedStyle(n).direction)")) == {"rtl"}
    sentences = page.locator("#articles .sent")
    assert set(sentences.evaluate_all("nodes => nodes.map(n => n.getAttribute('dir'))")) == {"rtl"}
    assert set(sentences.evaluate_all("nodes => nodes.map(n => n.lang)")) == {"ar"}
    # Right-aligned: each paragraph's text ends at the right edge of the article, not the left.
    body = page.locator("#articles .article-body").bounding_box()
    first = sentences.first.bounding_box()
    assert abs((first["x"] + first["width"]) - (body["x"] + body["width"])) < 4


def test_jsonl_upload_highlights_sources_and_errors_name_the_line(page, tmp_path):
    rows = [
        {"id": "s1", "article": "a", "text": "Fuel prices rose, the ministry said.", "source": "the ministry said"},
        {"id": "s2", "article": "a", "text": "قال المرصد إن خمسة قتلوا.", "source": "قال المرصد"},
        {"id": "s3", "article": "b", "text": "Experts warn prices will rise."},
    ]
    good = tmp_path / "sentences.jsonl"
    good.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    page.set_input_files("#file", str(good))
    page.click("#go")
    page.wait_for_selector("#articles .sent")
    assert page.locator("#articles article").count() == 2
    assert page.locator("mark.source").all_inner_texts() == ["the ministry said", "قال المرصد"]
    assert page.locator("#overall-bar .bar").count() == 1  # several articles: a bar for all of them

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "fine."}\n{not json\n', encoding="utf-8")
    page.set_input_files("#file", str(bad))
    page.click("#go")
    error = page.locator("#error")
    error.wait_for(state="visible")
    assert "line 2" in error.inner_text() and "malformed JSON" in error.inner_text()


def test_downloaded_jsonl_feeds_the_outlet_report(page, base_url, tmp_path):
    articles = [
        {"id": f"{outlet[0]}{n}", "outlet": outlet, "text": f"Headline {n}\nThe ministry said {n} tankers arrived. Experts warn."}
        for outlet in ("Wire A", "Post B")
        for n in range(3)
    ]
    source = tmp_path / "articles.jsonl"
    source.write_text("".join(json.dumps(a) + "\n" for a in articles), encoding="utf-8")
    page.set_input_files("#file", str(source))
    page.click("#go")
    page.wait_for_selector("#articles article")
    with page.expect_download() as info:
        page.click("#dl-jsonl")
    classified = tmp_path / "classified.jsonl"
    info.value.save_as(classified)
    rows = [json.loads(line) for line in classified.read_text(encoding="utf-8").splitlines()]
    assert {r["outlet"] for r in rows} == {"Wire A", "Post B"} and all(r["label"] in LABELS for r in rows)

    page.click("text=Outlet report")
    page.set_input_files("#file", str(classified))
    page.click("button:has-text('Show the report')")
    page.wait_for_selector("h1:has-text('Framing across outlets')")
    assert "Wire A" in page.inner_text("body") and "Post B" in page.inner_text("body")
    page.click("text=report another file")
    page.wait_for_selector("input#file")
    assert page.url == base_url + "/outlets"


def main() -> None:
    """Screenshots of the page with a real model, for the README and docs/web.md."""
    import argparse

    from framing.web.app import create_app

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--model", required=True, type=Path)
    parser.add_argument("--out", type=Path, default=Path("docs/img/web-article.png"))
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with running_server(create_app(args.model)) as url, chromium_page(1100, 900) as page:
        page.goto(url + "/")
        page.wait_for_selector(".legend-item")
        for name, out in (("article_en.txt", args.out), ("article_ar.txt", args.out.with_name(args.out.stem + "-ar.png"))):
            classify_pasted(page, (EXAMPLES / name).read_text(encoding="utf-8"))
            target = page.locator("#articles .sent").nth(5)
            target.scroll_into_view_if_needed()
            target.hover()
            page.locator("#tooltip").wait_for(state="visible")
            page.screenshot(path=str(out), full_page=True)
            print(f"wrote {out}")


if __name__ == "__main__":
    main()
