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
    from framing.batch.ray_runner import classify_with_ray
    from framing.batch.stream import classify_to_file

    source = tmp_path / "articles.jsonl"
    lines = [
        json.dumps({"id": f"a{i}", "outlet": "X", "text": f"Headline {i}\nThe ministry said {i} tankers arrived. He added more."})
        for i in range(12)
    ]
    lines.insert(5, "{not json")
    lines.insert(8, json.dumps({"id": "empty", "text": "   "}))
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")

    from framing.model import FramingClassifier

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

    from framing.cli.app import app

    source = tmp_path / "s.jsonl"
    source.write_text("".join(json.dumps({"id": f"s{i}", "text": f"The army said {i}."}) + "\n" for i in range(5)))
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(app, ["classify", str(source), "--sentences", "--ray", "--model", str(tiny_run), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()] == [f"s{i}" for i in range(5)]
    assert "5 input sentence rows: 5 classified" in " ".join(result.output.split())


def _mixed_inputs(folder):
    """Two JSONL files and a .txt article, with bad lines and duplicate ids between good rows
    (a BOM, blank lines, CRLF, a missing final newline), names in input order."""
    a = folder / "a.jsonl"
    lines = [
        json.dumps({"id": f"s{i}", "article": f"A{i // 3}", "text": f"The ministry said {i} tankers arrived."}) for i in range(10)
    ]
    lines[2:2] = ["{not json", ""]
    lines.insert(6, json.dumps({"id": "s1", "text": "A second s1."}))  # duplicate id
    lines.insert(8, json.dumps({"id": "blank", "article": "A2", "text": "   "}))  # nothing to classify
    lines.insert(9, json.dumps(["not", "an", "object"]))
    a.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(lines).encode("utf-8") + b"\r\n")
    b = folder / "b.jsonl"
    b.write_bytes(
        json.dumps({"id": "s3", "text": "Duplicate across files."}).encode()
        + b"\n"
        + b'{"id": "bad-utf8", "text": "\xff"}\n'
        + b"".join(json.dumps({"id": f"t{i}", "article": "B", "text": f"He added {i} more."}).encode() + b"\n" for i in range(5))
        + json.dumps({"id": "last", "text": "No newline at the end."}).encode()
    )
    c = folder / "c.txt"
    c.write_text("Headline\nThe army said the road was closed. Officials added nothing.", encoding="utf-8")
    return [a, b, c]


def test_planned_chunks_hold_exactly_the_good_rows(tmp_path):
    from framing.batch.inputs import BadRow, iter_input_items
    from framing.batch.ray_runner import plan_chunks, read_chunk

    inputs = _mixed_inputs(tmp_path)
    expected = [item for _, item in iter_input_items(inputs) if not isinstance(item, BadRow)]
    bad = [item for _, item in iter_input_items(inputs) if isinstance(item, BadRow)]
    for chunk_rows in (1, 3, 4, 100):
        errors: list[BadRow] = []
        chunks, good = plan_chunks(inputs, chunk_rows, errors)
        read = [list(read_chunk(json.loads(c)["segments"], str(tmp_path))) for c in chunks]
        assert [row for rows in read for row in rows] == expected
        assert good == len(expected) and errors == bad
        assert [len(rows) for rows in read[:-1]] == [chunk_rows] * (len(read) - 1)


def test_a_changed_file_fails_instead_of_classifying_other_rows(tmp_path):
    from framing.batch.ray_runner import plan_chunks, read_chunk

    source = tmp_path / "s.jsonl"
    source.write_text("".join(json.dumps({"id": f"s{i}", "text": f"Row {i}."}) + "\n" for i in range(6)))
    chunks, _ = plan_chunks([source], 3, [])
    source.write_text("".join(json.dumps({"id": f"s{i}", "text": f"Row {i}."}) + "\n\n" for i in range(6)))
    with pytest.raises(RuntimeError, match="changed"):
        list(read_chunk(json.loads(chunks[0])["segments"]))


def test_the_driver_sends_ray_where_rows_are_not_the_rows(local_ray, tiny_run, tmp_path, monkeypatch):
    """Driver memory (and the object store) must not grow with the input: what goes to Ray is
    one small descriptor per chunk (with one sentence of context in sentence mode), whatever
    the number of rows."""
    from framing.batch.ray_runner import classify_with_ray

    sent: list[list] = []
    real = ray.data.from_items
    monkeypatch.setattr(ray.data, "from_items", lambda items, *a, **k: sent.append(items) or real(items, *a, **k))
    for n, length in ((8, 20), (40, 2000)):
        source = tmp_path / f"in-{n}.jsonl"
        marker = "Zq" * (length // 2)
        source.write_text("".join(json.dumps({"id": f"s{i}", "text": f"{marker} {i}."}) + "\n" for i in range(n)))
        rows_in, rows_out, failed = classify_with_ray(tiny_run, [source], tmp_path / f"out-{n}.jsonl", True, chunk_rows=8)
        assert (rows_in, rows_out, failed) == (n, n, 0)
        assert len(sent[-1]) == n // 8
        # At most one row's text per chunk: the sentence before it, read as context.
        assert repr(sent[-1]).count(marker) == len(sent[-1]) - 1
        assert len(repr(sent[-1])) < (300 + len(marker)) * len(sent[-1])


@pytest.mark.parametrize(
    "sentences_mode, chunk_rows, reverse", [(False, 3, False), (True, 1000, False), (True, 2, False), (False, 100, True)]
)
def test_bad_lines_and_duplicates_inside_chunks_match_the_local_path(
    local_ray, tiny_run, tmp_path, sentences_mode, chunk_rows, reverse
):
    """Article mode with chunks of 3 rows (bad rows fall inside chunks); sentence mode in one
    chunk and in chunks of 2, where each chunk's first sentence must still read the sentence
    before it, as it does locally; and the inputs given in reverse alphabetical order, which
    the errors file must keep."""
    from framing.batch.ray_runner import classify_with_ray
    from framing.batch.stream import classify_to_file
    from framing.model import FramingClassifier

    inputs = _mixed_inputs(tmp_path)[:: -1 if reverse else 1]
    local = classify_to_file(FramingClassifier.from_pretrained(tiny_run), inputs, tmp_path / "local.jsonl", sentences_mode)
    counts = classify_with_ray(tiny_run, inputs, tmp_path / "ray.jsonl", sentences_mode, chunk_rows=chunk_rows)
    assert counts == (local.rows_in, local.rows_out, local.rows_failed)
    assert local.rows_failed == 6
    read = lambda p: [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines()]  # noqa: E731
    ours, theirs = read(tmp_path / "ray.jsonl"), read(tmp_path / "local.jsonl")
    assert [{k: v for k, v in r.items() if k != "scores"} for r in ours] == [
        {k: v for k, v in r.items() if k != "scores"} for r in theirs
    ]
    for mine, local_row in zip(ours, theirs, strict=True):
        assert mine["scores"] == pytest.approx(local_row["scores"], abs=1e-4)
    assert read(tmp_path / "ray.errors.jsonl") == read(tmp_path / "local.errors.jsonl")
