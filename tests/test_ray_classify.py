"""`framing classify --ray` in Ray's local mode gives the same rows as the local path."""

from __future__ import annotations

import json

import pytest

ray = pytest.importorskip("ray", reason="the ray extra is not installed: pip install -e '.[ray]'")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_ray_matches_the_local_path_row_for_row(local_ray, tiny_run, tmp_path):
    from framing.ray_classify import classify_with_ray
    from framing.stream import classify_to_file

    source = tmp_path / "articles.jsonl"
    lines = [
        json.dumps({"id": f"a{i}", "outlet": "X", "text": f"Headline {i}\nThe ministry said {i} tankers arrived. He added more."})
        for i in range(12)
    ]
    lines.insert(5, "{not json")
    lines.insert(8, json.dumps({"id": "empty", "text": "   "}))
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")

    from model import FramingClassifier

    local = classify_to_file(FramingClassifier.from_pretrained(tiny_run), [source], tmp_path / "local.jsonl")
    rows_in, rows_out, failed = classify_with_ray(tiny_run, [source], tmp_path / "ray.jsonl", chunk_rows=4)
    assert (rows_in, rows_out, failed) == (local.rows_in, local.rows_out, local.rows_failed) == (14, 36, 2)
    read = lambda p: [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines()]  # noqa: E731
    ours, theirs = read(tmp_path / "ray.jsonl"), read(tmp_path / "local.jsonl")
    assert [(r["article"], r["sentence"], r["label"]) for r in ours] == [
        (r["article"], r["sentence"], r["label"]) for r in theirs
    ]
    assert read(tmp_path / "ray.errors.jsonl") == read(tmp_path / "local.errors.jsonl")


def test_the_command_runs_on_ray(local_ray, tiny_run, tmp_path):
    from typer.testing import CliRunner

    from framing.cli import app

    source = tmp_path / "s.jsonl"
    source.write_text("".join(json.dumps({"id": f"s{i}", "text": f"The army said {i}."}) + "\n" for i in range(5)))
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(app, ["classify", str(source), "--sentences", "--ray", "--model", str(tiny_run), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()] == [f"s{i}" for i in range(5)]
    assert "5 input sentence rows: 5 classified" in " ".join(result.output.split())
