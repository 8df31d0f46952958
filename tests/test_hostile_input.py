"""Issue 18, case by case: nothing lost, nothing trusted blindly, a server that stays up, and
one-line errors instead of tracebacks. Each table row is one reproduced case from the issue."""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from framing.batch.stream import OutputError, classify_to_file, output_lock
from framing.cli.app import app
from framing.model import FramingClassifier
from framing.model.folder import ModelFolderError
from framing.web.app import create_app

from .conftest import copy_model, record_checksums

runner = CliRunner()


@pytest.fixture(scope="module")
def classifier(tiny_run):
    return FramingClassifier.from_pretrained(tiny_run)


def write_rows(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def sentence_rows(n: int, start: int = 0) -> list[dict]:
    return [{"id": f"s{i}", "article": f"a{i // 4}", "text": f"The ministry said {i} tankers arrived."} for i in range(start, n)]


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def one_line_error(result, message: str) -> None:
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split()), result.output
    assert "Traceback" not in result.output
    assert len([line for line in result.output.splitlines() if line.strip()]) <= 4  # one message, maybe wrapped


# ---------------------------------------------------------------------------------------------
# Data loss: outputs never touch inputs


CLASHES = [
    # -o the input: exited 0 and replaced the input with its own labels
    (["{a}", "-o", "{a}"], "a.jsonl: is an input and would be overwritten as the output"),
    # --errors the input
    (["{a}", "-o", "{tmp}/out.jsonl", "--errors", "{a}"], "a.jsonl: is an input and would be overwritten as the errors file"),
    # the same through another spelling of the path
    (["{a}", "-o", "{tmp}/sub/../a.jsonl"], "is an input and would be overwritten"),
    # without -o, the errors file is the only thing written
    (["{a}", "--errors", "{a}"], "is an input and would be overwritten as the errors file"),
    # -o X --errors X: overwrote output rows, then a traceback
    (["{a}", "-o", "{tmp}/x.jsonl", "--errors", "{tmp}/x.jsonl"], "is both the output and the errors file"),
]


@pytest.mark.parametrize(("args", "message"), CLASHES)
def test_an_output_that_is_an_input_is_refused_and_the_input_kept(tiny_run, tmp_path, args, message):
    (tmp_path / "sub").mkdir()
    source = write_rows(tmp_path / "a.jsonl", sentence_rows(6))
    before = source.read_bytes()
    args = ["classify", *(a.format(a=source, tmp=tmp_path) for a in args), "--sentences", "--model", str(tiny_run)]
    one_line_error(runner.invoke(app, args), message)
    assert source.read_bytes() == before


def test_a_second_run_writing_the_same_output_is_refused(tiny_run, tmp_path):
    source = write_rows(tmp_path / "a.jsonl", sentence_rows(6))
    out = tmp_path / "out.jsonl"
    with output_lock(out):  # a first run, still writing
        result = runner.invoke(app, ["classify", str(source), "-o", str(out), "--sentences", "--model", str(tiny_run)])
    one_line_error(result, "another framing run is writing it")
    assert not out.exists()
    # once the first run is done, the lock is gone and the file is written
    result = runner.invoke(app, ["classify", str(source), "-o", str(out), "--sentences", "--model", str(tiny_run)])
    assert result.exit_code == 0, result.output
    assert len(read(out)) == 6 and not (tmp_path / "out.jsonl.lock").exists()


def _interrupted(classifier, source: Path, out: Path, **options) -> None:
    summary = classify_to_file(classifier, [source], out, sentences_mode=True, chunk_sentences=4, stop_after_chunks=2, **options)
    assert summary.extra == {"interrupted": True}


def _insert_at_top(source: Path, tmp_path: Path) -> None:
    rows = read(source)
    write_rows(source, [{"id": "new", "article": "new", "text": "A new row at the top."}, *rows])


def _edit_first_line(source: Path, tmp_path: Path) -> None:
    text = source.read_text(encoding="utf-8")
    source.write_text(text.replace("said 0 tankers", "said 9 tankers", 1), encoding="utf-8")  # same size


def _append(source: Path, tmp_path: Path) -> None:
    with source.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps({"id": "late", "text": "Appended later."}) + "\n")


def _delete_errors_partial(source: Path, tmp_path: Path) -> None:
    (tmp_path / "out.errors.jsonl.partial").unlink()


def _truncate_output_partial(source: Path, tmp_path: Path) -> None:
    partial = tmp_path / "out.jsonl.partial"
    partial.write_bytes(partial.read_bytes()[:10])


RESUME_REFUSALS = [
    # a row inserted at the top: an article written twice, the new row missing, wrong counts
    (_insert_at_top, {}, "changed since the interrupted run"),
    # an edited first line kept its old result
    (_edit_first_line, {}, "first"),
    (_append, {}, "changed since the interrupted run"),
    # the errors file's partial deleted: NUL bytes and lost rows
    (_delete_errors_partial, {}, "out.errors.jsonl.partial is missing"),
    (_truncate_output_partial, {}, "out.jsonl.partial holds 10 bytes"),
    # another --errors than the interrupted run's
    (None, {"errors_path": "other.errors.jsonl"}, "its errors went to"),
    # --sentences left out
    (None, {"sentences_mode": False}, "--sentences was given then"),
]


@pytest.mark.parametrize(("change", "options", "message"), RESUME_REFUSALS)
def test_a_resume_after_any_change_is_refused_and_restart_starts_over(classifier, tmp_path, change, options, message):
    source = write_rows(tmp_path / "in.jsonl", [*sentence_rows(10), {"id": "bad", "text": ""}, *sentence_rows(20, 10)])
    out = tmp_path / "out.jsonl"
    _interrupted(classifier, source, out)
    if change is not None:
        change(source, tmp_path)
    options = {"sentences_mode": True, **options}
    if "errors_path" in options:
        options["errors_path"] = tmp_path / options["errors_path"]
    with pytest.raises(OutputError, match="cannot resume") as caught:
        classify_to_file(classifier, [source], out, chunk_sentences=4, **options)
    assert message in str(caught.value) and "--restart" in str(caught.value)
    summary = classify_to_file(classifier, [source], out, chunk_sentences=4, restart=True, **options)
    assert not summary.resumed
    fresh = tmp_path / "fresh.jsonl"
    classify_to_file(classifier, [source], fresh, chunk_sentences=4, **{**options, "errors_path": None})
    assert read(out) == read(fresh)  # each row once, the new row in, counts right
    n_rows = len([line for line in source.read_text().splitlines() if line.strip()])
    assert summary.rows_in == n_rows == summary.rows_out + summary.rows_failed if options["sentences_mode"] else True


def test_a_resume_with_another_model_is_refused(classifier, tiny_run, tmp_path):
    source = write_rows(tmp_path / "in.jsonl", sentence_rows(20))
    out = tmp_path / "out.jsonl"
    _interrupted(classifier, source, out)
    other = FramingClassifier.from_pretrained(
        copy_model(tiny_run, tmp_path / "other", lambda c: c["framing"].update(temperature=2.0))
    )
    with pytest.raises(OutputError, match="the model .* is not the one it used"):
        classify_to_file(other, [source], out, sentences_mode=True, chunk_sentences=4)


def test_an_unchanged_rerun_still_resumes_to_the_same_bytes(classifier, tmp_path):
    source = write_rows(tmp_path / "in.jsonl", [*sentence_rows(10), {"id": "bad", "text": ""}, *sentence_rows(30, 10)])
    whole = tmp_path / "whole.jsonl"
    classify_to_file(classifier, [source], whole, sentences_mode=True, chunk_sentences=4)
    out = tmp_path / "out.jsonl"
    _interrupted(classifier, source, out)
    summary = classify_to_file(classifier, [source], out, sentences_mode=True, chunk_sentences=4)
    assert summary.resumed and out.read_bytes() == whole.read_bytes()
    assert summary.rows_in == 31 and summary.rows_failed == 1


def test_the_command_line_names_restart(tiny_run, tmp_path):
    classifier = FramingClassifier.from_pretrained(tiny_run)
    source = write_rows(tmp_path / "in.jsonl", sentence_rows(20))
    out = tmp_path / "out.jsonl"
    _interrupted(classifier, source, out)
    _insert_at_top(source, tmp_path)
    base = ["classify", str(source), "-o", str(out), "--sentences", "--chunk-sentences", "4", "--model", str(tiny_run)]
    one_line_error(runner.invoke(app, base), "run again with --restart to start over")
    result = runner.invoke(app, [*base, "--restart"])
    assert result.exit_code == 0, result.output
    assert [r["id"] for r in read(out)] == ["new", *(f"s{i}" for i in range(20))]


# ---------------------------------------------------------------------------------------------
# Integrity: model folders


def _plant_onnx(folder: Path) -> None:
    """A graph beside the model with a manifest naming the right key: once used without a check."""
    from framing.model.onnx_backend import convert

    convert(folder, folder / "onnx")


def _plant_listed_then_changed(folder: Path) -> None:
    _plant_onnx(folder)
    record_checksums(folder)
    with open(folder / "onnx" / "model.int8.onnx", "r+b") as fh:
        fh.seek(-8, 2)
        fh.write(b"\x01\x02\x03\x04\x05\x06\x07\x08")


def _delete_checksums(folder: Path) -> None:
    (folder / "checksums.json").unlink()


def _edit_config(edit):
    def change(folder: Path) -> None:
        path = folder / "config.json"
        config = json.loads(path.read_text())
        path.write_text(json.dumps(edit(config)))
        record_checksums(folder)

    return change


def _write(name: str, text: str):
    def change(folder: Path) -> None:
        (folder / name).write_text(text)

    return change


def _contradicting_label2id(config: dict) -> dict:
    config["label2id"] = {"attributed_fact": 1, "analyst_claim": 0, "unattributed_assertion": 2, "other": 3}
    return config


MODEL_FOLDERS = [
    (_plant_onnx, "onnx/heads.safetensors: not listed in checksums.json"),
    (_plant_listed_then_changed, "model.int8.onnx: checksum differs"),
    (_delete_checksums, "no checksums.json"),
    (_edit_config(_contradicting_label2id), "label2id"),
    (_write("checksums.json", "{not json"), "checksums.json: unreadable checksums"),
    (_write("checksums.json", '["a list"]'), "checksums.json: expected a JSON object"),
    (_write("checksums.json", '{"../../etc/passwd": "' + "0" * 64 + '"}'), "outside the model folder"),
    (
        _edit_config(lambda c: {**c, "id2label": ["attributed_fact", "analyst_claim", "unattributed_assertion", "other"]}),
        "id2label must be an object",
    ),
    (_edit_config(lambda c: [c]), "config.json: expected a JSON object, not list"),
    (_write("tokenizer_extra.json", "{}"), "tokenizer_extra.json: not listed in checksums.json"),
]


@pytest.mark.parametrize(("change", "message"), MODEL_FOLDERS)
def test_every_file_a_model_folder_contributes_is_verified(tiny_run, tmp_path, change, message):
    folder = tmp_path / "m"
    shutil.copytree(tiny_run, folder)
    FramingClassifier.from_pretrained(folder)
    change(folder)
    with pytest.raises(ModelFolderError, match=re.escape(message)):
        FramingClassifier.from_pretrained(folder)
    source = write_rows(tmp_path / "in.jsonl", sentence_rows(2))
    one_line_error(runner.invoke(app, ["classify", str(source), "--model", str(folder)]), message)


def test_a_folder_without_checksums_loads_only_when_trusted(tiny_run, tmp_path):
    folder = tmp_path / "m"
    shutil.copytree(tiny_run, folder)
    (folder / "checksums.json").unlink()
    with pytest.raises(ModelFolderError, match="--trust"):
        FramingClassifier.from_pretrained(folder)
    assert FramingClassifier.from_pretrained(folder, trust=True).predict(["The army said so."])
    source = write_rows(tmp_path / "in.jsonl", sentence_rows(2))
    result = runner.invoke(app, ["classify", str(source), "--sentences", "--model", str(folder), "--trust"])
    assert result.exit_code == 0, result.output


def test_onnxruntime_keeps_nothing_and_sends_nothing(tmp_path):
    home, tmp = tmp_path / "home", tmp_path / "tmp"
    home.mkdir()
    tmp.mkdir()
    script = textwrap.dedent(
        """
        import numpy as np
        from onnx import TensorProto, helper
        import framing.model.onnx_backend as backend
        graph = helper.make_graph(
            [helper.make_node("Relu", ["x"], ["y"])], "g",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        session = backend.ort.InferenceSession(model.SerializeToString(), backend.session_options(1))
        assert session.run(None, {"x": np.array([1.0], dtype=np.float32)})[0][0] == 1.0
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "ORT_DISABLE_TELEMETRY"}
    env.update(HOME=str(home), TMPDIR=str(tmp), XDG_CACHE_HOME=str(home / ".cache"))
    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=120)
    assert [str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()] == []


# ---------------------------------------------------------------------------------------------
# Integrity: spreadsheet formulas and form encodings

FORMULAS = ['=HYPERLINK("http://evil.example/","x")', "+1+1", "-2+3", "@SUM(A1)", "=cmd|' /C calc'!A0"]


@pytest.mark.parametrize("name", FORMULAS)
def test_outlet_names_that_start_a_formula_stay_text_in_outlets_csv(tmp_path, name):
    from framing.outlets.analysis import OutletsSettings, analyse, load_articles
    from framing.outlets.report import write_report

    rows = [
        {"id": f"{o}{a}{s}", "outlet": o, "article": f"{o}-{a}", "lang": "en", "label": "other"}
        for o in (name, "Plain")
        for a in range(2)
        for s in range(2)
    ]
    source = write_rows(tmp_path / "in.jsonl", rows)
    report = analyse(load_articles([source]), OutletsSettings(n_bootstrap=100, n_permutations=19))
    written = write_report(report, tmp_path / "report", [str(source)])
    import csv

    cells = [row["outlet"] for row in csv.DictReader(written["outlets"].open(encoding="utf-8"))]
    assert "'" + name in cells and "Plain" in cells
    assert not any(c.startswith(("=", "+", "-", "@", "\t")) for c in cells)


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node to run the page's JavaScript")
def test_the_pages_csv_download_neutralises_formulas_too():
    from framing.web.app import STATIC_DIR

    source = (STATIC_DIR / "app.js").read_text(encoding="utf-8")
    start = source.index("function csvCell(")
    end = source.index("\n}\n", start) + 3
    script = (
        source[start:end]
        + "\nconsole.log(JSON.stringify("
        + json.dumps(FORMULAS)
        + ".map(csvCell).concat([csvCell(-0.5), csvCell('ok')])));"
    )
    out = json.loads(subprocess.run(["node", "-e", script], capture_output=True, text=True, check=True, timeout=30).stdout)
    assert out[-2:] == ["-0.5", "ok"]
    assert all(cell.lstrip('"').startswith("'") for cell in out[:-2])


# ---------------------------------------------------------------------------------------------
# The web server


@pytest.fixture(scope="module")
def client(classifier):
    with TestClient(create_app(classifier)) as test_client:
        yield test_client


def _multipart(fields: dict[str, bytes], boundary: str = "b0undary") -> tuple[bytes, dict]:
    body = b""
    for name, value in fields.items():
        body += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + value + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return body, {"content-type": f"multipart/form-data; boundary={boundary}"}


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


WEB_CASES = [
    # invalid UTF-8 in the form's text: decoded as Latin-1 and classified (200, garbled Arabic)
    (
        "text-multipart",
        lambda c: c.post(
            "/api/classify", content=_multipart({"text": "قال".encode()[:-1] + b" x"})[0], headers=_multipart({})[1]
        ),
        400,
        "not valid UTF-8",
    ),
    (
        "text-urlencoded",
        lambda c: c.post(
            "/api/classify", content=b"text=%D9%82%D8", headers={"content-type": "application/x-www-form-urlencoded"}
        ),
        400,
        "not valid UTF-8",
    ),
    # an upload named a\q.txt with bad UTF-8: 500 (re.error)
    ("backslash-name", lambda c: c.post("/api/classify", files={"file": ("a\\q.txt", b"ok\n\xff\xfe bad")}), 400, "line 2"),
    # JSON nested 300 deep: 500
    (
        "nested-300",
        lambda c: c.post(
            "/api/classify",
            files={
                "file": (
                    "n.jsonl",
                    json.dumps({"id": "x", "text": "The army said so.", "meta": json.loads(_nested(300))}).encode(),
                )
            },
        ),
        400,
        "nested",
    ),
    # `label` a list in the outlets input: 500
    (
        "label-list",
        lambda c: c.post(
            "/api/outlets", files={"file": ("o.jsonl", json.dumps({"outlet": "A", "article": "a", "label": ["other"]}).encode())}
        ),
        400,
        "label",
    ),
    # cross-origin POST: refused; same-origin and no Origin (curl) pass
    (
        "cross-origin",
        lambda c: c.post("/api/classify", data={"text": "The army said so."}, headers={"origin": "http://evil.example"}),
        403,
        "Cross-origin",
    ),
    (
        "null-origin",
        lambda c: c.post("/api/classify", data={"text": "The army said so."}, headers={"origin": "null"}),
        403,
        "Cross-origin",
    ),
    (
        "same-origin",
        lambda c: c.post("/api/classify", data={"text": "The army said so."}, headers={"origin": "http://testserver"}),
        200,
        None,
    ),
    ("no-origin", lambda c: c.post("/api/classify", data={"text": "The army said so."}), 200, None),
    (
        "valid-arabic",
        lambda c: c.post(
            "/api/classify", content=_multipart({"text": "قال الجيش إن الهجوم وقع.".encode()})[0], headers=_multipart({})[1]
        ),
        200,
        None,
    ),
]


@pytest.mark.parametrize(("case", "send", "status", "detail"), WEB_CASES, ids=[c[0] for c in WEB_CASES])
def test_the_web_api_answers_hostile_requests_with_a_4xx(client, case, send, status, detail):
    response = send(client)
    assert response.status_code == status, response.text
    if detail:
        assert detail in response.json()["detail"]


class SlowClassifier:
    """The tiny classifier, `delay` seconds slower per model call (one turn)."""

    def __init__(self, classifier, delay: float) -> None:
        self.inner, self.delay, self.path = classifier, delay, None
        self.calls = 0

    def predict(self, sentences, contexts=None, batch_size=32, on_batch=None):
        self.calls += 1
        time.sleep(self.delay)
        return self.inner.predict(sentences, contexts, batch_size, on_batch)

    @property
    def source_heads(self):
        return self.inner.source_heads

    def predict_documents(self, documents, first_targets=None, batch_size=32, on_batch=None):
        self.calls += 1
        time.sleep(self.delay)
        return self.inner.predict_documents(documents, first_targets, batch_size, on_batch)


def test_a_request_over_the_sentence_budget_gets_413_before_any_model_work(classifier):
    slow = SlowClassifier(classifier, 0)
    with TestClient(create_app(slow, max_sentences=10)) as c:
        response = c.post("/api/classify", data={"text": "The army said so. " * 20})
        assert response.status_code == 413 and "10 sentences" in response.json()["detail"]
        assert slow.calls == 0
        assert c.post("/api/classify", data={"text": "The army said so. " * 5}).status_code == 200


def test_a_request_past_the_time_limit_gets_503(classifier):
    with TestClient(create_app(SlowClassifier(classifier, 0.2), time_limit=0.5)) as c:
        started = time.monotonic()
        response = c.post("/api/classify", data={"text": "The army said so.\n" * 200})
        assert response.status_code == 503 and "limit" in response.json()["detail"]
        assert response.headers["retry-after"]
        assert time.monotonic() - started < 2.0  # stopped at its next turn, not after all its work


def test_a_big_request_in_flight_does_not_block_a_small_one(classifier):
    """Once a 92 kB article blocked a small request for 6 s behind one lock; now requests take
    turns of a few dozen sentences at the model, so a small one waits about one turn."""
    slow = SlowClassifier(classifier, 0.05)
    with TestClient(create_app(slow)) as c:
        big_done: list[float] = []
        big = threading.Thread(
            target=lambda: (
                c.post("/api/classify", data={"text": "The army said so.\n" * 1280}),
                big_done.append(time.monotonic()),
            )
        )
        big.start()
        give_up = time.monotonic() + 10
        while slow.calls < 3 and time.monotonic() < give_up:  # the big request is at the model
            time.sleep(0.01)
        assert slow.calls >= 3, "the big request never took turns at the model"
        started = time.monotonic()
        response = c.post("/api/classify", data={"text": "The ministry said 40 tankers arrived."})
        small_took = time.monotonic() - started
        big.join()
    assert response.status_code == 200
    assert small_took < 0.6, small_took  # a turn or two; the big request alone needs 40 turns (2 s)
    assert big_done[0] > started + small_took  # it really was in flight meanwhile


def test_requests_past_the_queue_get_503_at_once(classifier):
    slow = SlowClassifier(classifier, 0.3)
    with TestClient(create_app(slow, queue=1)) as c:
        first = threading.Thread(target=lambda: c.post("/api/classify", data={"text": "The army said so.\n" * 64}))
        first.start()
        give_up = time.monotonic() + 10
        while slow.calls < 1 and time.monotonic() < give_up:
            time.sleep(0.01)
        started = time.monotonic()
        response = c.post("/api/classify", data={"text": "The army said so."})
        assert response.status_code == 503 and "busy" in response.json()["detail"]
        assert time.monotonic() - started < 0.3
        first.join()
        assert c.post("/api/classify", data={"text": "The army said so."}).status_code == 200


def _outlet_rows(n_outlets: int, articles: int = 2, sentences: int = 1) -> bytes:
    labels = ["attributed_fact", "analyst_claim", "unattributed_assertion", "other"]
    rows = [
        {"id": f"{o}-{a}-{s}", "outlet": f"outlet {o}", "article": f"{o}-{a}", "lang": "en", "label": labels[(o + a + s) % 4]}
        for o in range(n_outlets)
        for a in range(articles)
        for s in range(sentences)
    ]
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def test_an_outlet_report_with_too_many_outlets_gets_422(client):
    """200 outlets at low thresholds ran past 60 s holding the model's lock."""
    response = client.post(
        "/api/outlets", files={"file": ("o.jsonl", _outlet_rows(200))}, data={"min_articles": "2", "min_sentences": "1"}
    )
    assert response.status_code == 422 and "200 outlets" in response.json()["detail"]


def test_an_outlet_report_past_the_time_limit_is_stopped_with_503(classifier):
    with TestClient(create_app(classifier, time_limit=1.0)) as c:
        started = time.monotonic()
        response = c.post(
            "/api/outlets",
            files={"file": ("o.jsonl", _outlet_rows(30, articles=3, sentences=2))},
            data={"min_articles": "2", "min_sentences": "1"},
        )
        took = time.monotonic() - started
        assert response.status_code == 503 and "limit" in response.json()["detail"]
        assert took < 4.0
        # the model was free meanwhile, and is free now
        assert c.post("/api/classify", data={"text": "The army said so."}).status_code == 200


def test_a_small_outlet_report_still_works(client):
    response = client.post("/api/outlets", files={"file": ("o.jsonl", _outlet_rows(3, articles=5, sentences=10))})
    assert response.status_code == 200, response.text
    assert response.json()["report"]["languages"]["en"]["n_outlets"] == 3


# ---------------------------------------------------------------------------------------------
# Readers: the longest line and the deepest nesting


def test_a_line_past_the_limit_is_an_error_row_not_a_crash(tiny_run, tmp_path):
    from framing.limits import MAX_LINE_BYTES

    # one line without punctuation, past the limit: once a 200 MB one took 9.4 GB in the tokenizer
    huge = json.dumps({"id": "huge", "text": "a" * (MAX_LINE_BYTES + 10)})
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"id": "ok", "text": "The army said so."}) + "\n" + huge + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["classify", str(source), "-o", str(out), "--model", str(tiny_run)])
    assert result.exit_code == 0, result.output
    assert [r["article"] for r in read(out)] == ["ok"]
    (error,) = read(tmp_path / "out.errors.jsonl")
    assert error["line"] == 2 and "line longer than 4 MB" in error["error"]
    text = tmp_path / "huge.txt"
    text.write_text("Headline\n" + "b" * (MAX_LINE_BYTES + 10), encoding="utf-8")
    result = runner.invoke(app, ["classify", str(text), "-o", str(tmp_path / "t.jsonl"), "--model", str(tiny_run)])
    assert result.exit_code == 0, result.output
    (error,) = read(tmp_path / "t.errors.jsonl")
    assert error["file"] == str(text) and error["error"].startswith("line 2 is longer than 4 MB")


def test_every_reader_refuses_deep_nesting_naming_the_line(tmp_path):
    from framing.outlets.analysis import OutletsInputError, load_articles
    from framing.training.data import CorpusError, load_corpus

    deep = tmp_path / "deep.jsonl"
    first = {"id": "a", "article": "a", "outlet": "o", "lang": "en", "text": "The army said so.", "label": "other"}
    deep.write_text(json.dumps(first) + "\n" + '{"id": "b", "x": ' + _nested(1000) + "}\n", encoding="utf-8")
    with pytest.raises(OutletsInputError, match=r"deep.jsonl:2: JSON nested more than"):
        load_articles([deep])
    with pytest.raises(CorpusError, match=r"deep.jsonl:2: JSON nested more than"):
        load_corpus(deep)


# ---------------------------------------------------------------------------------------------
# Tracebacks instead of one-line errors


def _unreadable_member(tmp_path, monkeypatch):
    folder = tmp_path / "archive"
    folder.mkdir()
    write_rows(folder / "a.jsonl", sentence_rows(3))
    write_rows(folder / "b.jsonl", sentence_rows(6, 3))
    original = Path.open

    def failing(self, *args, **kwargs):
        if self.name == "b.jsonl":
            raise OSError(errno.EIO, "Input/output error", str(self))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", failing)
    return [str(folder), "--sentences", "-o", str(tmp_path / "out.jsonl")]


TRACEBACKS = [
    # -o a directory (after classifying everything): now before the model is even loaded
    ("out-is-folder", lambda t, m: [str(write_rows(t / "a.jsonl", sentence_rows(2))), "-o", str(t)], 2, "is a folder"),
    # a read-only output folder (/proc refuses new files even to root)
    (
        "read-only",
        lambda t, m: [str(write_rows(t / "a.jsonl", sentence_rows(2))), "-o", "/proc/framing-out/x.jsonl"],
        2,
        "cannot write",
    ),
    # --errors in a missing folder: created, as -o's folder is
    (
        "errors-missing-folder",
        lambda t, m: [
            str(write_rows(t / "a.jsonl", [*sentence_rows(2), {"id": "e", "text": ""}])),
            "--sentences",
            "-o",
            str(t / "o.jsonl"),
            "--errors",
            str(t / "new" / "e.jsonl"),
        ],
        0,
        None,
    ),
    # an unreadable .jsonl inside a folder (EIO): an error row
    ("eio-member", _unreadable_member, 0, None),
    # sentence text containing [/] (rich markup), without -o
    (
        "markup-text",
        lambda t, m: [str(write_rows(t / "a.jsonl", [{"id": "m", "text": "He said [/] and [bold]x[/bold]."}]))],
        0,
        "[/]",
    ),
    # JSON nested ~1,000 deep: an error row
    ("nested-1000", lambda t, m: [str(t / "n.jsonl"), "-o", str(t / "o.jsonl")], 0, None),
    # id: null accepted by classify but rejected by outlets: now an error row in classify
    (
        "id-null",
        lambda t, m: [str(write_rows(t / "a.jsonl", [{"id": None, "text": "The army said so."}])), "-o", str(t / "o.jsonl")],
        0,
        None,
    ),
    (
        "backend-typo",
        lambda t, m: [str(write_rows(t / "a.jsonl", sentence_rows(2))), "--backend", "onxx"],
        2,
        "--backend must be one of",
    ),
]


@pytest.mark.parametrize(("case", "make_args", "code", "expected"), TRACEBACKS, ids=[c[0] for c in TRACEBACKS])
def test_classify_mistakes_are_one_line_or_error_rows(tiny_run, tmp_path, monkeypatch, case, make_args, code, expected):
    if case == "read-only" and not Path("/proc/self").is_dir():
        pytest.skip("needs /proc")
    (tmp_path / "n.jsonl").write_text(
        json.dumps({"id": "ok", "text": "The army said so."})
        + "\n"
        + '{"id": "deep", "text": "x", "m": '
        + _nested(1000)
        + "}\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["classify", *make_args(tmp_path, monkeypatch), "--model", str(tiny_run)])
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output and result.exception is None or isinstance(result.exception, SystemExit)
    if expected:
        assert expected in result.output
    if code == 2:
        one_line_error(result, expected)
    if case == "errors-missing-folder":
        assert read(tmp_path / "new" / "e.jsonl")[0]["error"] == "empty text"
    if case == "eio-member":
        monkeypatch.undo()
        assert [r["id"] for r in read(tmp_path / "out.jsonl")] == ["s0", "s1", "s2"]
        (error,) = read(tmp_path / "out.errors.jsonl")
        assert error["file"].endswith("b.jsonl") and "cannot read" in error["error"]
    if case == "nested-1000":
        (error,) = read(tmp_path / "o.errors.jsonl")
        assert error["line"] == 2 and "nested" in error["error"]
    if case == "id-null":
        (error,) = read(tmp_path / "o.errors.jsonl")
        assert "'id' must be" in error["error"]


def test_ray_without_ray_is_one_line(tiny_run, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    source = write_rows(tmp_path / "a.jsonl", sentence_rows(2))
    result = runner.invoke(app, ["classify", str(source), "-o", str(tmp_path / "o.jsonl"), "--ray", "--model", str(tiny_run)])
    one_line_error(result, "--ray needs the ray extra")


OUTLET_ROWS = [
    # `label` a list: a traceback (unhashable)
    ([{"outlet": "A", "article": "a", "label": ["other"]}], 2, "in.jsonl:1: label ['other'] is not one of"),
    ([{"outlet": "A", "article": "a", "label": {"x": 1}}], 2, "label {'x': 1} is not one of"),
    # an outlet name containing [/] (rich markup)
    ([{"outlet": "[/]x[bold]", "article": f"a{i}", "label": "other"} for i in range(3)], 0, "[/]x[bold]"),
]


@pytest.mark.parametrize(("rows", "code", "expected"), OUTLET_ROWS)
def test_outlets_mistakes_are_one_line(tmp_path, rows, code, expected):
    source = write_rows(tmp_path / "in.jsonl", rows)
    result = runner.invoke(
        app, ["outlets", str(source), "-o", str(tmp_path / "report"), "--bootstrap", "100", "--permutations", "19"]
    )
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output and expected in result.output


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\u0085"])
def test_outlets_reads_classifys_own_output_with_line_separators_in_fields(tiny_run, tmp_path, separator):
    """classify writes U+2028 and U+0085 raw (JSON allows it); outlets split lines at them."""
    rows = [
        {"id": f"r{i}", "outlet": f"Al{separator}Outlet", "text": f"The ministry said {i} tankers arrived."} for i in range(3)
    ]
    source = write_rows(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out.jsonl"
    assert runner.invoke(app, ["classify", str(source), "-o", str(out), "--model", str(tiny_run)]).exit_code == 0
    result = runner.invoke(
        app, ["outlets", str(out), "-o", str(tmp_path / "report"), "--bootstrap", "100", "--permutations", "19"]
    )
    assert result.exit_code == 0, result.output


BAD_AGREEMENT = [
    ("{not json\n", "a.jsonl:1: malformed JSON"),
    ('{"lang": "en", "first_label": "other"}\n', "a.jsonl:1: field 'second_label' is missing"),
    ('["a list"]\n', "a.jsonl:1: expected a JSON object"),
    ("", "no rows"),
]


@pytest.mark.parametrize(("content", "message"), BAD_AGREEMENT)
def test_a_bad_agreement_file_is_one_line(tmp_path, content, message):
    (tmp_path / "a.jsonl").write_text(content, encoding="utf-8")
    one_line_error(runner.invoke(app, ["corpus", "agreement", str(tmp_path / "a.jsonl")]), message)
