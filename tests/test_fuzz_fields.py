"""Random JSON values in every field never produce a traceback: in `framing classify` (every
row is classified or an error row), in `framing outlets` (a report or one OutletsInputError)
and in the web API (a 2xx or a 4xx, never a 500)."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from framing.batch.stream import classify_to_file
from framing.model import FramingClassifier
from framing.model.labels import LABELS
from framing.web.app import create_app

# Every kind of JSON value, lone surrogates and NaN included (both are valid JSON text).
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats()
    | st.text(max_size=40)
    | st.sampled_from(["\ud800", "half \udfff a pair", "=cmd|' /C calc'!A0", "\u2028\x85"])
)
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=6
)
sentences = st.sampled_from(
    ["The ministry said 40 tankers arrived.", "قال المرصد إن خمسة قتلوا.", "Experts warn.", " ", "", "He said \ud83d so."]
)
FIELDS = {
    "id": st.text(max_size=6) | st.integers(0, 5),
    "text": sentences,
    "article": st.sampled_from(["a1", "a2"]),
    "outlet": st.sampled_from(["Outlet A", "Outlet B", "=HYPERLINK(1)", "[/]"]),
    "lang": st.sampled_from(["en", "ar"]),
    "label": st.sampled_from(LABELS),
    "gold_label": st.sampled_from(LABELS),
    "source": st.text(max_size=10),
    "source_type": st.sampled_from(["official", "agency"]),
    "date": st.sampled_from(["2024-01-02", "2024-13"]),
    "topic": st.sampled_from(["war", "economy"]),
    "sentence": st.integers(0, 3),
}
# Each field absent, plausible, or any JSON value at all.
rows = st.fixed_dictionaries({}, optional={name: plausible | json_values for name, plausible in FIELDS.items()})


def jsonl(batch: list[dict]) -> bytes:
    # ensure_ascii: a lone surrogate is only representable escaped, as it would arrive in a file
    return "".join(json.dumps(row) + "\n" for row in batch).encode("utf-8")


@pytest.fixture(scope="module")
def classifier(tiny_run):
    return FramingClassifier.from_pretrained(tiny_run)


@pytest.fixture(scope="module")
def client(classifier):
    with TestClient(create_app(classifier)) as test_client:
        yield test_client


FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(batch=st.lists(rows, min_size=1, max_size=6), sentences_mode=st.booleans())
def test_classify_accounts_for_every_row_whatever_its_fields(classifier, tmp_path_factory, batch, sentences_mode):
    folder = tmp_path_factory.mktemp("fuzz")
    source = folder / "in.jsonl"
    source.write_bytes(jsonl(batch))
    summary = classify_to_file(classifier, [source], folder / "out.jsonl", sentences_mode, chunk_sentences=3)
    assert summary.rows_in == len(batch)
    assert summary.rows_failed + (summary.rows_in - summary.rows_failed) == len(batch)
    # JSONL lines end at "\n" only (a raw U+0085 inside a string is not a line break).
    written = (folder / "out.jsonl").read_text(encoding="utf-8").split("\n")[:-1]
    assert len(written) == summary.rows_out
    for line in written:
        json.loads(line)


@FUZZ
@given(batch=st.lists(rows, min_size=1, max_size=12), stratify=st.sampled_from([None, "topic", "month"]))
def test_outlets_give_a_report_or_one_error_whatever_the_fields(tmp_path_factory, batch, stratify):
    from framing.outlets.analysis import OutletsInputError, OutletsSettings, analyse, load_articles
    from framing.outlets.report import render_terminal, write_report

    folder = tmp_path_factory.mktemp("fuzz")
    source = folder / "in.jsonl"
    source.write_bytes(jsonl(batch))
    try:
        articles = load_articles([source], None, stratify)
    except OutletsInputError as exc:
        assert "\n" not in str(exc)
        return
    report = analyse(
        articles, OutletsSettings(min_articles=2, min_sentences=1, n_bootstrap=100, n_permutations=19, stratify=stratify)
    )
    write_report(report, folder / "report", [str(source)])
    from rich.console import Console

    Console(file=open(folder / "terminal.txt", "w", encoding="utf-8")).print(render_terminal(report))


@FUZZ
@given(batch=st.lists(rows, min_size=1, max_size=6), mode=st.sampled_from(["auto", "articles", "sentences"]))
def test_the_web_api_never_answers_500_whatever_the_fields(client, batch, mode):
    data = jsonl(batch)
    response = client.post("/api/classify", files={"file": ("in.jsonl", data)}, data={"mode": mode})
    assert response.status_code < 500, response.text
    response = client.post("/api/outlets", files={"file": ("in.jsonl", data)}, data={"min_articles": "2", "min_sentences": "1"})
    assert response.status_code < 500, response.text


@FUZZ
@given(text=st.text(max_size=200))
def test_pasted_text_never_gets_a_500(client, text):
    assert client.post("/api/classify", data={"text": text}).status_code < 500
