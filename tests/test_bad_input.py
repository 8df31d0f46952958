"""The table of bad inputs in docs/errors.md, each with the message it must get."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from framing.cli.app import app

runner = CliRunner()


def _files(tmp_path):
    (tmp_path / "folder").mkdir()
    (tmp_path / "binary.jsonl").write_bytes(b"\x00\x01\x02garbage")
    (tmp_path / "latin1.txt").write_bytes("line one\nline two\ncaf\xe9\n".encode("latin-1"))
    (tmp_path / "ok.txt").write_text("The ministry said so.", encoding="utf-8")
    (tmp_path / "empty.jsonl").write_text("", encoding="utf-8")
    return tmp_path


FATAL = [
    (["classify", "{tmp}/nope.txt"], "nope.txt: file not found"),
    (["classify", "{tmp}/folder"], "folder: folder holds no .jsonl, .txt or .html files"),
    (["classify", "{tmp}/binary.jsonl"], "binary.jsonl: binary file, expected JSONL"),
    (["classify", "{tmp}/empty.jsonl"], "empty.jsonl: empty file, nothing to classify"),
    (["classify", "{tmp}/ok.txt", "--model", "{tmp}/nomodel"], "nomodel: model folder not found"),
    (["train", "{tmp}/missing.yaml"], "missing.yaml: config file not found"),
    (["evaluate", "{tmp}/binary.jsonl", "--model", "{run}"], "binary.jsonl: binary file"),
    (["evaluate", "{tmp}/empty.jsonl", "--model", "{run}"], "empty.jsonl: no rows"),
]


@pytest.mark.parametrize(("args", "message"), FATAL)
def test_fatal_mistakes_stop_with_one_line_and_exit_2(tiny_run, tmp_path, args, message):
    tmp = _files(tmp_path)
    args = [a.format(tmp=tmp, run=tiny_run) for a in args]
    if args[0] == "classify" and "--model" not in args:
        args += ["--model", str(tiny_run)]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert len([line for line in result.output.splitlines() if line.strip()]) <= 2  # one message, maybe wrapped


ROWS = [
    (b'{"id": "r1", "text": "caf\xe9"}', "invalid UTF-8"),
    (b'{"id": "r2", text}', "malformed JSON"),
    (b'["a list"]', "not a JSON object"),
    (b'{"id": "r4"}', "missing or non-string 'text' field"),
    (b'{"id": "r5", "text": ["a"]}', "missing or non-string 'text' field"),
    (b'{"id": "r6", "text": "  \\n  "}', "no sentences in text"),
    (b'{"id": "ok", "text": "The ministry said so."}', None),
    (b'{"id": "ok", "text": "Again."}', "duplicate id 'ok'"),
]


def test_bad_rows_go_to_the_errors_file_with_line_and_reason(tiny_run, tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"\n".join(line for line, _ in ROWS) + b"\n")
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["classify", str(source), "--model", str(tiny_run), "-o", str(out)])
    assert result.exit_code == 0, result.output
    errors = {e["line"]: e["error"] for e in map(json.loads, (tmp_path / "out.errors.jsonl").read_text().splitlines())}
    for number, (_, message) in enumerate(ROWS, 1):
        if message is None:
            assert number not in errors
        else:
            assert message in errors[number], (number, errors.get(number))
    assert [json.loads(line)["article"] for line in out.read_text().splitlines()] == ["ok"]
    assert f"{len(ROWS)} input articles: 1 classified" in " ".join(result.output.split())


@pytest.mark.parametrize(
    ("text", "expected_sentences"),
    [
        ("\ufeffThe ministry said so.\r\nIt was late.\r\n", 2),
        ("قال المرصد\u200f إن خمسة قتلوا. The army said 🙂 nothing &amp; more.", 2),
        ("Le gouvernement a annoncé mardi une hausse des prix du carburant.", 1),
        ("control\x07 characters\x00 inside. ok.", 2),
    ],
)
def test_unusual_but_valid_text_is_classified(tiny_run, tmp_path, text, expected_sentences):
    source = tmp_path / "a.jsonl"
    source.write_text(json.dumps({"id": "a", "text": text}, ensure_ascii=False) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["classify", str(source), "--model", str(tiny_run), "-o", str(out)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == expected_sentences
    for row in rows:
        assert text[row["start"] : row["end"]] == row["text"]
    if text.startswith("Le gouvernement"):
        assert rows[0]["lang"] == "fr"


def test_a_folder_that_cannot_be_listed_is_a_one_line_error(tiny_run, tmp_path, monkeypatch):
    from pathlib import Path

    (tmp_path / "archive").mkdir()

    def unreadable(self, pattern):
        raise OSError(5, "Input/output error", str(self))

    monkeypatch.setattr(Path, "rglob", unreadable)
    result = runner.invoke(app, ["classify", str(tmp_path / "archive"), "--model", str(tiny_run)])
    assert result.exit_code == 2
    assert "archive: cannot read folder (Input/output error)" in " ".join(result.output.split())
    assert "Traceback" not in result.output
