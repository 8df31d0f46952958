"""The web API of `framing serve`, through FastAPI's TestClient and the tiny model."""

from __future__ import annotations

import html
import json
import re
import tempfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from framing.model.labels import LABELS
from framing.web.app import STATIC_DIR, create_app, source_spans

from .conftest import TINY_CORPUS

EXAMPLES = Path(__file__).parent.parent / "examples"
ARTICLE = "Middle East\nThe ministry said 40 tankers arrived. He added more would come.\nExperts warn prices will rise.\n"


@pytest.fixture(scope="module")
def classifier(tiny_run):
    from framing.model.classifier import FramingClassifier

    return FramingClassifier.from_pretrained(tiny_run)


@pytest.fixture(scope="module")
def client(classifier):
    with TestClient(create_app(classifier)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def small_client(classifier):
    """A server with a 1 kB limit, to reach 413 with small requests."""
    with TestClient(create_app(classifier, max_bytes=1000)) as test_client:
        yield test_client


def check_article(article: dict) -> None:
    assert article["sentences"], article
    for index, s in enumerate(article["sentences"]):
        assert s["index"] == index
        assert article["text"][s["start"] : s["end"]] == s["text"]
        assert s["label"] in LABELS and set(s["scores"]) == set(LABELS)
        assert abs(sum(s["scores"].values()) - 1) < 1e-3
        assert s["label"] == max(s["scores"], key=s["scores"].get)
    assert sum(article["counts"].values()) == len(article["sentences"])
    assert abs(sum(article["shares"].values()) - 1) < 1e-3


def test_classify_pasted_text(client):
    response = client.post("/api/classify", data={"text": ARTICLE})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["kind"] == "text" and body["name"] == "pasted text" and len(body["articles"]) == 1
    article = body["articles"][0]
    check_article(article)
    assert [s["text"] for s in article["sentences"]] == [
        "Middle East",
        "The ministry said 40 tankers arrived.",
        "He added more would come.",
        "Experts warn prices will rise.",
    ]
    assert {s["lang"] for s in article["sentences"][1:]} == {"en"}
    assert body["n_sentences"] == 4 and body["counts"] == article["counts"]


def test_upload_txt_arabic(client):
    data = (EXAMPLES / "article_ar.txt").read_bytes()
    response = client.post("/api/classify", files={"file": ("article_ar.txt", data, "text/plain")})
    assert response.status_code == 200, response.text
    article = response.json()["articles"][0]
    check_article(article)
    assert article["id"] == "article_ar"
    assert [s["lang"] for s in article["sentences"]].count("ar") == len(article["sentences"])


def test_upload_html_extracts_the_article(client):
    html = (
        "<html><head><title>T</title><script>var tracker = 1;</script></head><body>"
        "<nav><a href='/a'>Home</a></nav><article><h1>Fuel convoy reaches Deir Hafer</h1>"
        "<p>The ministry said 40 tankers arrived in the town on Monday after a week of delays on the road.</p>"
        "<p>Experts warn that prices will rise again before the winter because storage remains scarce.</p>"
        "</article></body></html>"
    )
    response = client.post("/api/classify", files={"file": ("page.html", html.encode(), "text/html")})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["kind"] == "html"
    article = body["articles"][0]
    check_article(article)
    texts = " ".join(s["text"] for s in article["sentences"])
    assert "40 tankers" in texts and "prices will rise" in texts
    assert "<" not in texts and "tracker" not in texts


def test_upload_jsonl_articles_keeps_fields_and_highlights_sources(client):
    rows = [
        {
            "id": "a1",
            "outlet": "X",
            "source": ["the ministry said"],
            "text": "Title here\nThe Ministry  said it. Experts warn more.",
        },
        {"id": "a2", "outlet": "Y", "text": "قال المرصد إن خمسة قتلوا."},
    ]
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()
    response = client.post("/api/classify", files={"file": ("articles.jsonl", data)})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["mode"] == "articles" and [a["id"] for a in body["articles"]] == ["a1", "a2"]
    a1, a2 = body["articles"]
    check_article(a1)
    check_article(a2)
    assert a1["meta"]["outlet"] == "X" and a2["meta"]["outlet"] == "Y" and "text" not in a1["meta"]
    marked = a1["sentences"][1]
    assert [marked["text"][sp["start"] : sp["end"]] for sp in marked["source_spans"]] == ["The Ministry  said"]
    assert a2["sentences"][0]["lang"] == "ar"


def test_upload_jsonl_sentence_rows_are_grouped_by_article(client):
    data = TINY_CORPUS.read_bytes()
    rows = [json.loads(line) for line in data.decode().splitlines()]
    response = client.post("/api/classify", files={"file": ("corpus.jsonl", data)})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["mode"] == "sentences"
    assert [a["id"] for a in body["articles"]] == list(dict.fromkeys(r["article"] for r in rows))
    sentences = [s for a in body["articles"] for s in a["sentences"]]
    assert [s["text"] for s in sentences] == [r["text"] for r in rows]
    assert [s["given_label"] for s in sentences] == [r["label"] for r in rows]
    for article in body["articles"]:
        check_article(article)
        assert "outlet" in article["meta"] and "text" not in article["meta"]
    for s, row in zip(sentences, rows, strict=True):
        found = [s["text"][sp["start"] : sp["end"]] for sp in s["source_spans"]]
        assert found == ([row["source"]] if "source" in row else []), (row, found)
        assert s["meta"]["id"] == row["id"]

    as_articles = client.post("/api/classify", files={"file": ("corpus.jsonl", data)}, data={"mode": "articles"})
    assert as_articles.status_code == 200 and len(as_articles.json()["articles"]) == len(rows)


def test_empty_rows_are_reported_not_fatal(client):
    data = b'{"id": "a", "text": "The army said so."}\n{"id": "b", "text": "   "}\n'
    body = client.post("/api/classify", files={"file": ("x.jsonl", data)}).json()
    assert [a["id"] for a in body["articles"]] == ["a"]
    assert body["skipped"] == [{"line": 2, "error": "no sentences in text (empty or whitespace only)"}]


def test_too_large_is_413(small_client):
    response = small_client.post("/api/classify", data={"text": "word " * 300})
    assert response.status_code == 413
    assert "the limit is 1 kB" in response.json()["detail"]
    # Past the form overhead, the body is refused before it is parsed.
    response = small_client.post("/api/classify", files={"file": ("big.txt", b"a" * 200_000)})
    assert response.status_code == 413 and "--max-mb" in response.json()["detail"]
    # A chunked body declares no length; the bytes that arrive are counted instead.
    chunks = (b"x" * 10_000 for _ in range(20))
    response = small_client.post("/api/classify", content=chunks, headers={"content-type": "multipart/form-data; boundary=b"})
    assert response.status_code == 413
    assert small_client.post("/api/classify", data={"text": "The army said so."}).status_code == 200


BAD_INPUTS = [
    ("bad.txt", b"Line one.\nLine two.\nLine \xff three.\n", 400, "bad.txt, line 3: invalid UTF-8"),
    ("bad.jsonl", b'{"text": "ok."}\n{broken\n{"text": "ok."}\n[1, 2]\n', 400, "line 2: malformed JSON"),
    ("bad.jsonl", b'{"text": "ok."}\n{broken\n{"text": "ok."}\n[1, 2]\n', 400, "line 4: not a JSON object"),
    ("bad.jsonl", b'{"text": "ok."}\n{"text": "\xff"}\n', 400, "line 2: invalid UTF-8"),
    ("bad.jsonl", b'{"title": "no text"}\n', 400, "line 1: missing or non-string 'text' field"),
    ("bin.txt", b"\x00\x01\x02binary", 400, "binary file"),
    ("empty.txt", b"  \n", 400, "empty"),
    ("doc.pdf", b"%PDF-1.4", 415, "unsupported file type '.pdf'"),
    ("../../etc/evil.txt", b"The army said so.", 200, ""),
]


@pytest.mark.parametrize(("name", "data", "status", "message"), BAD_INPUTS)
def test_bad_uploads_get_clear_4xx(client, name, data, status, message):
    response = client.post("/api/classify", files={"file": (name, data)})
    assert response.status_code == status, response.text
    assert message in response.json().get("detail", "")


@pytest.mark.parametrize(
    ("kwargs", "status", "message"),
    [
        ({"data": {"text": "   "}}, 400, "Nothing to classify"),
        ({"data": {"text": "https://example.com/news/1"}}, 400, "does not fetch"),
        ({"data": {"text": "Some text.", "mode": "weird"}}, 400, "mode must be"),
        ({"data": {"text": "Some text."}, "files": {"file": ("a.txt", b"Other text.")}}, 400, "not both"),
        ({"json": {"text": "Some text."}}, 415, "multipart/form-data"),
        ({"content": b"--b\r\nbroken", "headers": {"content-type": "multipart/form-data; boundary=b"}}, 400, ""),
    ],
)
def test_bad_requests_get_clear_4xx(client, kwargs, status, message):
    response = client.post("/api/classify", **kwargs)
    assert response.status_code == status, response.text
    assert message in response.json()["detail"]


def test_uploads_touch_only_a_temporary_folder(client, tmp_path, monkeypatch):
    temp_root = tmp_path / "temp"
    temp_root.mkdir()
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp_root))
    monkeypatch.chdir(workdir)
    for name in ("a.txt", "a.jsonl"):
        data = b'{"id": "x", "text": "The army said so."}\n' if name.endswith("jsonl") else b"The army said so."
        assert client.post("/api/classify", files={"file": (name, data)}).status_code == 200
    assert client.post("/api/classify", files={"file": ("b.jsonl", b"{bad\n")}).status_code == 400
    assert list(temp_root.iterdir()) == [] and list(workdir.iterdir()) == []


def test_model_loads_once_from_a_path(tiny_run, monkeypatch):
    from framing.model.classifier import FramingClassifier

    loads = []
    original = FramingClassifier.from_pretrained.__func__

    def counting(cls, path):
        loads.append(path)
        return original(cls, path)

    monkeypatch.setattr(FramingClassifier, "from_pretrained", classmethod(counting))
    with TestClient(create_app(tiny_run)) as test_client:
        for _ in range(2):
            assert test_client.post("/api/classify", data={"text": "The army said so."}).status_code == 200
        assert test_client.get("/api/info").json()["model"] == str(tiny_run)
    assert loads == [tiny_run]


def test_openapi_schema_lists_the_endpoints(client):
    schema = client.get("/openapi.json").json()
    paths = schema["paths"]
    assert "post" in paths["/api/classify"] and "post" in paths["/api/outlets"] and "get" in paths["/api/info"]
    classify = paths["/api/classify"]["post"]
    form = classify["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"]
    assert {"text", "file", "mode"} <= set(form)
    assert {"200", "400", "413", "415"} <= set(classify["responses"])
    assert classify["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/ClassifyResponse")
    components = schema["components"]["schemas"]
    assert {"ClassifyResponse", "ArticleOut", "SentenceOut", "OutletsResponse"} <= set(components)
    assert set(components["SentenceOut"]["properties"]["label"]["enum"]) == set(LABELS)


def test_info_gives_label_definitions(client):
    info = client.get("/api/info").json()
    assert [label["name"] for label in info["labels"]] == list(LABELS)
    assert all(label["definition"] for label in info["labels"]) and info["max_bytes"] == 2 * 1024 * 1024


def test_pages_load_nothing_from_other_hosts(client):
    pages = {path: client.get(path) for path in ("/", "/outlets")}
    for path, response in pages.items():
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/html"), path
        assert "default-src 'none'" in response.headers["content-security-policy"]
    referenced = set()
    for response in pages.values():
        referenced |= set(re.findall(r'(?:src|href)="(/static/[^"]+)"', response.text))
    assert {"/static/app.js", "/static/style.css"} <= referenced
    bodies = {path: r.text for path, r in pages.items()}
    for path in referenced:
        response = client.get(path)
        assert response.status_code == 200, path
        bodies[path] = response.text
    for path in STATIC_DIR.iterdir():  # also what no page references yet
        bodies[str(path)] = path.read_text(encoding="utf-8")
    for name, text in bodies.items():
        assert not re.search(r"(?i)\b(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text), f"{name} refers to another host"
        assert not re.search(r"(?i)(?:src|href)=[\"'](?:https?:)?//", text), name
        assert not re.search(r"(?i)@import|url\(\s*['\"]?(?:https?:)?//", text), name


def test_no_cdn_documentation_pages(client):
    # FastAPI's own /docs and /redoc load scripts from a CDN, so they are off.
    assert client.get("/docs").status_code == 404 and client.get("/redoc").status_code == 404


def test_source_spans_merge_and_ignore_case():
    text = "The Ministry said, the ministry  said again."
    spans = source_spans(text, ["the ministry said", "ministry", ""])
    assert [text[s.start : s.end] for s in spans] == ["The Ministry said", "the ministry  said"]


@pytest.fixture()
def outlets_module():
    import framing.outlets.report

    return framing.outlets.report


def classified_rows() -> list[dict]:
    """Sentence rows shaped like `framing classify -o` output: outlet, article, label, scores."""
    rows = []
    for outlet, labels in (("Wire A", ["attributed_fact", "other", "analyst_claim"]), ("Post B", ["unattributed_assertion"] * 3)):
        for a in range(3):
            for i, label in enumerate(labels):
                rows.append(
                    {"outlet": outlet, "article": f"{outlet}-{a}", "sentence": i, "text": "x", "lang": "en", "label": label}
                )
    return rows


def test_outlets_api_returns_the_report_json(client, outlets_module):
    data = "".join(json.dumps(r) + "\n" for r in classified_rows()).encode()
    form = {"min_articles": "2", "stratify": "topic"}
    response = client.post("/api/outlets", files={"file": ("classified.jsonl", data)}, data=form)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["name"] == "classified.jsonl" and body["report"]["inputs"] == ["classified.jsonl"]
    report = body["report"]
    assert report["settings"]["min_articles"] == 2 and report["settings"]["stratify"] == "topic"
    assert list(report["languages"]) == ["en"]
    outlets = {o["outlet"]: o for o in report["languages"]["en"]["outlets"]}
    assert set(outlets) == {"Wire A", "Post B"}


def test_outlets_page_shows_the_self_contained_report(client, outlets_module):
    data = "".join(json.dumps(r) + "\n" for r in classified_rows()).encode()
    response = client.post("/outlets/report", files={"file": ("classified.jsonl", data)})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert "Framing across outlets" in response.text and 'href="/outlets"' in response.text
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert not re.search(r"(?i)(?:src|href)=[\"'](?:https?:)?//", response.text)
    download = client.post("/outlets/report?download=1", files={"file": ("classified.jsonl", data)})
    assert download.headers["content-disposition"] == 'attachment; filename="classified-outlets-report.html"'
    assert 'href="/outlets"' not in download.text  # the saved file stands alone


@pytest.mark.parametrize(
    ("name", "data", "status", "message"),
    [
        (
            "c.jsonl",
            b'{"outlet": "A", "article": "a", "label": "other"}\n{"article": "b", "label": "other"}\n',
            400,
            "c.jsonl, line 2",
        ),
        ("c.jsonl", b'{"outlet": "A", "article": "a", "label": "other"}\n{oops\n', 400, "line 2: malformed JSON"),
        ("c.jsonl", b'{"outlet": "A", "article": "a", "label": "fact"}\n', 400, "'fact' is not one of"),
        ("c.jsonl", b"\xff\xfe", 400, "invalid UTF-8"),
        ("c.csv", b"outlet,article,label\n", 415, "classified .jsonl"),
    ],
)
def test_outlets_bad_uploads_get_clear_4xx(client, outlets_module, name, data, status, message):
    response = client.post("/api/outlets", files={"file": (name, data)})
    assert response.status_code == status, response.text
    assert message in response.json()["detail"] and "/tmp" not in response.json()["detail"]
    page = client.post("/outlets/report", files={"file": (name, data)})
    assert page.status_code == status and message in html.unescape(page.text) and "<h2>" in page.text


def test_outlets_bad_settings_get_400(client, outlets_module):
    data = "".join(json.dumps(r) + "\n" for r in classified_rows()).encode()
    for form, message in (
        ({"min_articles": "1"}, "articles per outlet must be at least 2"),
        ({"min_sentences": "x"}, "whole number"),
    ):
        response = client.post("/api/outlets", files={"file": ("c.jsonl", data)}, data=form)
        assert response.status_code == 400 and message in response.json()["detail"]


def serve_app():
    import typer

    from framing.cli.serve import serve

    app = typer.Typer()
    app.command()(serve)
    return app


def test_serve_binds_loopback_and_loads_the_model_once(tiny_run, monkeypatch):
    import uvicorn
    from typer.testing import CliRunner

    started = {}

    def fake_run(self, sockets=None):
        started["app"] = self.config.app
        started["address"] = sockets[0].getsockname()
        sockets[0].close()

    monkeypatch.setattr(uvicorn.Server, "run", fake_run)
    result = CliRunner().invoke(serve_app(), ["--model", str(tiny_run), "--port", "0", "--max-mb", "0.5"])
    assert result.exit_code == 0, result.output
    assert started["address"][0] == "127.0.0.1" and f":{started['address'][1]}/" in result.output
    with TestClient(started["app"]) as test_client:
        assert test_client.get("/api/info").json()["max_bytes"] == 512 * 1024


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "{tmp}/nomodel", "--port", "0"], "model folder not found"),
        (["--model", "{run}", "--port", "{busy}"], "is another server using it?"),
        (["--model", "{run}", "--max-mb", "0"], "--max-mb must be positive"),
    ],
)
def test_serve_mistakes_get_one_line_errors(tiny_run, tmp_path, args, message):
    import socket

    from typer.testing import CliRunner

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        args = [a.format(tmp=tmp_path, run=tiny_run, busy=busy.getsockname()[1]) for a in args]
        result = CliRunner().invoke(serve_app(), args)
    assert result.exit_code == 2 and message in " ".join(result.output.split()), result.output
    assert "Traceback" not in result.output
