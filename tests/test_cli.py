"""Round trips through the `framing` command."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from framing.cli.app import app
from framing.model.labels import LABELS

from .conftest import TINY_CORPUS

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def test_train_then_evaluate_then_classify(tiny_config_file, tmp_path):
    out = tmp_path / "run"
    result = run("train", tiny_config_file, "-o", out, "--quiet")
    assert result.exit_code == 0, result.output
    assert (out / "model.safetensors").is_file() and "Dev" in result.output

    report_path = tmp_path / "report.json"
    result = run("evaluate", TINY_CORPUS, "--model", out, "--json", report_path)
    assert result.exit_code == 0, result.output
    report = json.loads(report_path.read_text())
    assert report["n"] == len(TINY_CORPUS.read_text().splitlines())
    assert set(report["per_language"]) == {"ar", "en"} and "macro-F1" in result.output

    article = tmp_path / "article.txt"
    article.write_text("Middle East\nThe ministry said 40 tankers arrived. He added more would come.\n", encoding="utf-8")
    result = run("classify", article, "--model", out)
    assert result.exit_code == 0, result.output
    assert "tankers" in result.output and "3 output rows" in result.output


def test_classify_jsonl_articles_keeps_fields_and_order(tiny_run, tmp_path):
    source = tmp_path / "articles.jsonl"
    rows = [
        {"id": "a1", "outlet": "X", "text": "Title here\nThe army said it. Experts warn more."},
        {"id": "a2", "outlet": "Y", "date": "2025-01-01", "text": "قال المرصد إن خمسة قتلوا."},
    ]
    source.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert run("classify", source, "--model", tiny_run, "-o", out).exit_code == 0
    got = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [(g["article"], g["sentence"]) for g in got] == [("a1", 0), ("a1", 1), ("a1", 2), ("a2", 0)]
    assert got[3]["date"] == "2025-01-01" and got[0]["outlet"] == "X" and got[3]["lang"] == "ar"
    for g in got:
        assert g["label"] in LABELS and set(g["scores"]) == set(LABELS)


def test_classify_reads_a_folder_of_articles_in_sorted_order(tiny_run, tmp_path):
    archive = tmp_path / "archive"
    (archive / "2025" / "march").mkdir(parents=True)
    (archive / "b.txt").write_text("The army said the road was closed.", encoding="utf-8")
    (archive / "a-empty.txt").write_text("   \n", encoding="utf-8")  # one bad article among many: an error row
    (archive / "notes.md").write_text("# not an article", encoding="utf-8")
    (archive / "2025" / "march" / "day.jsonl").write_text(
        json.dumps({"id": "m1", "text": "Analysts said the deal may not hold."}) + "\n", encoding="utf-8"
    )
    out = tmp_path / "out.jsonl"
    result = run("classify", archive, "--model", tiny_run, "-o", out)
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["article"] for line in out.read_text(encoding="utf-8").splitlines()] == ["m1", "b"]
    errors = [json.loads(line) for line in (tmp_path / "out.errors.jsonl").read_text().splitlines()]
    assert [(e["file"], e["error"]) for e in errors] == [(str(archive / "a-empty.txt"), "no text to classify")]
    output = " ".join(result.output.split())
    assert "1 files in the input folders are not .jsonl, .txt or .html: not read" in output
    assert "3 input articles: 2 classified" in output


def test_classify_sentences_accounts_for_every_row(tiny_run, tmp_path):
    source = tmp_path / "sentences.jsonl"
    lines = [
        json.dumps({"id": "s1", "article": "a", "text": "The ministry said so."}),
        "{broken json",
        json.dumps({"id": "s3", "article": "a", "text": 42}),
        json.dumps({"id": "s4", "article": "a", "text": "   "}),
        json.dumps({"id": "s5", "article": "a", "text": "He added more.", "extra": [1, 2]}),
        json.dumps({"id": "s1", "article": "a", "text": "The same id again."}),
    ]
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = run("classify", source, "--sentences", "--model", tiny_run, "-o", out)
    assert result.exit_code == 0, result.output
    got = [json.loads(line) for line in out.read_text().splitlines()]
    assert [g["id"] for g in got] == ["s1", "s5"] and got[1]["extra"] == [1, 2]
    errors = [json.loads(line) for line in (tmp_path / "out.errors.jsonl").read_text().splitlines()]
    assert [(e["line"], e["error"].split(" ")[0]) for e in errors] == [
        (2, "malformed"),
        (3, "missing"),
        (4, "empty"),
        (6, "duplicate"),
    ]
    assert "6 input sentence rows: 2 classified into 2 output rows, 4 in errors" in " ".join(result.output.split())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["classify", "nope.txt", "--model", "{run}"], "nope.txt: file not found"),
        (["classify", "{article}", "--model", "{tmp}/nomodel"], "model folder not found"),
        (["train", "{tmp}/missing.yaml"], "missing.yaml: config file not found"),
        (["evaluate", "{tmp}/missing.jsonl", "--model", "{run}"], "missing.jsonl: file not found"),
    ],
)
def test_user_mistakes_get_one_line_errors(tiny_run, tmp_path, args, message):
    article = tmp_path / "a.txt"
    article.write_text("Some text.", encoding="utf-8")
    args = [a.format(run=tiny_run, tmp=tmp_path, article=article) for a in args]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output
