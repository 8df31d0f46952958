"""The researcher's workflow: files that keep their mode and open in Excel, one sentence is one
prediction, commands that say what they miss instead of printing empty tables."""

from __future__ import annotations

import json
import os
import stat

import numpy as np
import pytest
from typer.testing import CliRunner

from framing.cli.app import app
from framing.errors import FramingError
from framing.model.labels import LABELS

from .conftest import TINY_CORPUS

runner = CliRunner()


def run(*args: object):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def test_finished_files_get_the_ordinary_mode_not_a_private_one(tmp_path):
    from framing.files import write_text_atomic

    old = os.umask(0o022)
    try:
        write_text_atomic(tmp_path / "report.html", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "report.html").stat().st_mode) == 0o644


def test_outlet_tables_start_with_a_byte_order_mark_for_excel(tmp_path):
    from framing.outlets.report import _write_csv

    _write_csv(tmp_path / "t.csv", ["outlet"], [["الجزيرة"]])
    assert (tmp_path / "t.csv").read_bytes().startswith(b"\xef\xbb\xbfoutlet\n")


def test_one_string_is_one_sentence(tiny_classifier):
    one = tiny_classifier.predict("The ministry said 40 tankers arrived.")
    assert len(one) == 1
    assert one == tiny_classifier.predict(["The ministry said 40 tankers arrived."])


def test_corpus_stats_without_files_says_so(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("corpus", "stats")
    assert result.exit_code == 2 and "no corpus files given" in result.output


# ---------------------------------------------------------------------------------------------
# 1. Tables in and out


ARTICLES = [
    {"url": "https://a.example/1", "outlet": "A", "body": "Title here\nThe army said it. Experts warn more."},
    {"url": "https://b.example/2", "outlet": "B", "body": "قال المرصد إن خمسة قتلوا."},
]


def _jsonl(path, rows) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def _read_jsonl(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".parquet", ".jsonl"])
def test_classify_reads_tables_with_named_text_and_id_columns(tiny_run, tmp_path, suffix):
    import pandas as pd

    source = tmp_path / f"articles{suffix}"
    df = pd.DataFrame(ARTICLES)
    if suffix == ".csv":
        df.to_csv(source, index=False)
    elif suffix == ".tsv":
        df.to_csv(source, index=False, sep="\t")
    elif suffix == ".parquet":
        df.to_parquet(source)
    else:
        _jsonl(source, ARTICLES)
    out = tmp_path / "out.jsonl"
    result = run("classify", source, "--model", tiny_run, "--text-column", "body", "--id-column", "url", "-o", out)
    assert result.exit_code == 0, result.output
    got = _read_jsonl(out)
    assert [(g["article"], g["sentence"]) for g in got] == [(ARTICLES[0]["url"], i) for i in range(3)] + [(ARTICLES[1]["url"], 0)]
    assert got[3]["outlet"] == "B" and got[3]["url"] == ARTICLES[1]["url"] and "body" not in got[3]
    assert got[3]["text"] == ARTICLES[1]["body"] and got[3]["lang"] == "ar"


def test_classify_writes_csv_with_bom_and_parquet_with_probability_columns(tiny_run, tmp_path):
    import pandas as pd

    source = tmp_path / "articles.jsonl"
    _jsonl(source, [{"id": r["url"], "outlet": r["outlet"], "text": r["body"], "tags": ["x"]} for r in ARTICLES])
    frames = {}
    for suffix in (".csv", ".parquet"):
        out = tmp_path / f"out{suffix}"
        result = run("classify", source, "--model", tiny_run, "-o", out)
        assert result.exit_code == 0, result.output
        assert not list(tmp_path.glob("out*.rows.jsonl*")), "the streamed JSONL is removed once the table is written"
        frames[suffix] = pd.read_csv(out, encoding="utf-8-sig") if suffix == ".csv" else pd.read_parquet(out)
    assert (tmp_path / "out.csv").read_bytes().startswith(b"\xef\xbb\xbfid,")
    assert run("classify", source, "--model", tiny_run, "-o", tmp_path / "ref.jsonl").exit_code == 0
    reference = _read_jsonl(tmp_path / "ref.jsonl")
    for df in frames.values():
        assert "scores" not in df.columns and len(df) == len(reference) == 4
        for label in LABELS:
            assert list(df[f"p_{label}"].round(5)) == [r["scores"][label] for r in reference]
        assert list(df["label"]) == [r["label"] for r in reference] and list(df["tags"]) == ['["x"]'] * 4
        assert list(df["text"]) == [r["text"] for r in reference] and set(df["model_sha256"]) == {reference[0]["model_sha256"]}


def test_unsupported_input_and_output_types_are_one_line_errors(tiny_run, tmp_path):
    pdf = tmp_path / "articles.pdf"
    pdf.write_text("id,text\n1,The army said so.\n", encoding="utf-8")
    result = run("classify", pdf, "--model", tiny_run)
    assert result.exit_code == 2 and f"{pdf}: unsupported file type '.pdf'" in " ".join(result.output.split())
    good = tmp_path / "a.txt"
    good.write_text("The army said so.", encoding="utf-8")
    result = run("classify", good, "--model", tiny_run, "-o", tmp_path / "out.xlsx")
    assert result.exit_code == 2 and "unsupported output type '.xlsx'" in result.output
    no_column = tmp_path / "t.csv"
    no_column.write_text("id,body\n1,The army said so.\n", encoding="utf-8")
    result = run("classify", no_column, "--model", tiny_run, "-o", tmp_path / "out.jsonl")
    assert result.exit_code == 2 and f"{no_column}:1: no 'text' column (columns: id, body)" in " ".join(result.output.split())


def test_classify_dataframe_gives_one_row_per_sentence(tiny_classifier):
    import pandas as pd

    df = pd.DataFrame(ARTICLES)
    out = tiny_classifier.classify_dataframe(df, text="body", id="url")
    assert list(out["article"]) == [ARTICLES[0]["url"]] * 3 + [ARTICLES[1]["url"]]
    assert list(out["sentence"]) == [0, 1, 2, 0] and list(out["outlet"]) == ["A"] * 3 + ["B"]
    expected = tiny_classifier.classify_article(ARTICLES[0]["body"])
    assert list(out["label"][:3]) == [s.label for s in expected]
    assert abs(out["p_other"][0] - expected[0].scores["other"]) < 1e-6
    with pytest.raises(FramingError, match="1 row\\(s\\) with no text in 'body', the first at index 1"):
        tiny_classifier.classify_dataframe(pd.DataFrame({"body": ["The army said so.", None]}), text="body")


def test_outlet_report_from_a_dataframe_displays_as_html(tiny_classifier):
    import pandas as pd

    from framing.notebook import outlet_report

    rng = np.random.default_rng(0)
    rows = [
        {"outlet": outlet, "article": f"{outlet}{a}", "label": LABELS[int(rng.integers(4))]}
        for outlet in ("Alpha", "Beta")
        for a in range(6)
        for _ in range(10)
    ]
    report = outlet_report(pd.DataFrame(rows), n_bootstrap=100, n_permutations=19)
    assert "<svg" in report._repr_html_() and "Alpha" in report._repr_html_()
    assert set(report.outlets["outlet"]) == {"Alpha", "Beta"}
    with pytest.raises(FramingError, match="DataFrame row 1: label 'opinion' is not one of"):
        outlet_report(pd.DataFrame([rows[0], {**rows[1], "label": "opinion"}]))


# ---------------------------------------------------------------------------------------------
# 2. Folders with metadata


def test_a_folder_of_outlets_gets_ids_from_paths_outlets_and_metadata(tiny_run, tmp_path):
    from framing.outlets.analysis import load_articles

    arch = tmp_path / "arch"
    for outlet in ("outletA", "outletB"):
        (arch / outlet).mkdir(parents=True)
        (arch / outlet / "001.txt").write_text(f"The ministry said {outlet} was right. Experts doubt it.", encoding="utf-8")
    (arch / "outletB" / "002.html").write_text(
        "<html><body><article><p>The army said the road was closed.</p></article></body></html>", encoding="utf-8"
    )
    meta = tmp_path / "meta.csv"
    meta.write_text(
        "path,date,title,url\narch/outletA/001.txt,2025-03-01,First,https://a.example/1\noutletB/001.txt,2025-03-02,Second,\n",
        encoding="utf-8",
    )
    out = tmp_path / "out.jsonl"
    result = run("classify", arch, "--model", tiny_run, "--outlet-from-folder", "--metadata", meta, "-o", out)
    assert result.exit_code == 0, result.output
    got = _read_jsonl(out)
    assert not (tmp_path / "out.errors.jsonl").exists()
    assert sorted({(g["article"], g["outlet"]) for g in got}) == [
        ("outletA/001", "outletA"),
        ("outletB/001", "outletB"),
        ("outletB/002", "outletB"),
    ]
    first = next(g for g in got if g["article"] == "outletA/001")
    assert (first["date"], first["title"], first["url"]) == ("2025-03-01", "First", "https://a.example/1")
    second = next(g for g in got if g["article"] == "outletB/001")
    assert (second["date"], second["title"], "url" in second) == ("2025-03-02", "Second", False)
    assert "1 article file(s) have no row in" in " ".join(result.output.split())
    assert {a.outlet for a in load_articles([out])} == {"outletA", "outletB"}  # straight into `framing outlets`


# ---------------------------------------------------------------------------------------------
# 3. Nothing silently changed


def test_sentence_mode_keeps_an_input_label_as_gold_label(tiny_run, tmp_path):
    source = tmp_path / "s.jsonl"
    _jsonl(source, [{"id": "s1", "text": "The army said so.", "label": "analyst_claim"}, {"id": "s2", "text": "Hello."}])
    out = tmp_path / "out.jsonl"
    assert run("classify", source, "--sentences", "--model", tiny_run, "-o", out).exit_code == 0
    got = _read_jsonl(out)
    assert got[0]["gold_label"] == "analyst_claim" and got[0]["label"] in LABELS and "gold_label" not in got[1]


def test_article_output_reads_again_as_sentence_rows_and_names_its_model(tiny_run, tmp_path):
    from framing.model.folder import model_checksum

    source = tmp_path / "a.jsonl"
    _jsonl(source, [{"id": r["url"], "text": r["body"]} for r in ARTICLES])
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    assert run("classify", source, "--model", tiny_run, "-o", first).exit_code == 0
    result = run("classify", first, "--sentences", "--model", tiny_run, "-o", second)
    assert result.exit_code == 0 and "0 in errors" in result.output, result.output
    before, after = _read_jsonl(first), _read_jsonl(second)
    assert (
        [r["id"] for r in after]
        == [r["id"] for r in before]
        == [f"{ARTICLES[0]['url']}:{i}" for i in range(3)] + [f"{ARTICLES[1]['url']}:0"]
    )
    # A prediction read back is not a gold label.
    assert all("gold_label" not in r for r in after)
    for row in before + after:
        assert row["model"] == tiny_run.name and row["model_sha256"] == model_checksum(tiny_run)


def test_the_model_checksum_changes_with_the_model(tiny_run, tmp_path):
    import shutil

    from framing.model.folder import model_checksum

    copy = tmp_path / "copy"
    shutil.copytree(tiny_run, copy)
    assert model_checksum(copy) == model_checksum(tiny_run)
    recorded = json.loads((copy / "checksums.json").read_text())
    recorded["model.safetensors"] = "0" * 64
    (copy / "checksums.json").write_text(json.dumps(recorded))
    assert model_checksum(copy) != model_checksum(tiny_run)


def test_dash_is_stdin_and_stdout(tiny_run):
    lines = "".join(json.dumps({"id": f"s{i}", "text": f"The army said {i}."}) + "\n" for i in range(3))
    result = runner.invoke(app, ["classify", "-", "--sentences", "--model", str(tiny_run), "-o", "-"], input=lines)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [r["id"] for r in rows] == ["s0", "s1", "s2"] and all(r["label"] in LABELS for r in rows)


# ---------------------------------------------------------------------------------------------
# 4. Evaluate on your own sample


def test_evaluate_a_minimal_sample_writes_predictions_and_intervals(tiny_run, tmp_path):
    sample = tmp_path / "sample.jsonl"
    rows = [json.loads(line) for line in TINY_CORPUS.read_text(encoding="utf-8").splitlines()]
    _jsonl(sample, [{"text": r["text"], "label": r["label"], "note": i} for i, r in enumerate(rows)])
    predictions, report_path = tmp_path / "pred.jsonl", tmp_path / "report.json"
    result = run("evaluate", sample, "--model", tiny_run, "--predictions", predictions, "--json", report_path, "--bootstrap", 200)
    assert result.exit_code == 0, result.output
    report = json.loads(report_path.read_text())
    low, high = report["macro_f1_ci"]
    assert low <= report["macro_f1"] <= high and high - low > 0 and report["bootstrap"]["unit"] == "sentence"
    assert "95% interval" in result.output and "200 bootstrap resamples of sentences" in " ".join(result.output.split())
    got = _read_jsonl(predictions)
    assert len(got) == len(rows)
    for given, row in zip(rows, got, strict=True):
        assert row["gold_label"] == given["label"] and row["label"] in LABELS and set(row["scores"]) == set(LABELS)
        assert row["lang"] in ("ar", "en", "und") and row["text"] == given["text"] and "note" in row
    assert sum(r["label"] == r["gold_label"] for r in got) / len(got) == pytest.approx(report["accuracy"])


def test_bootstrap_resamples_articles_when_rows_name_them():
    from framing.training.evaluate import bootstrap_macro_f1

    gold, pred, articles = [], [], []
    for a in range(20):
        # Whole articles right or wrong: errors cluster by article, as they do in news.
        label = LABELS[a % 2]
        gold += [label] * 10
        pred += [label if a % 4 < 2 else LABELS[(a + 1) % 2]] * 10
        articles += [f"a{a}"] * 10
    by_sentence = bootstrap_macro_f1(gold, pred, [f"s{i}" for i in range(len(gold))], 500)
    by_article = bootstrap_macro_f1(gold, pred, articles, 500)
    assert by_article[1] - by_article[0] > 2 * (by_sentence[1] - by_sentence[0])
    assert bootstrap_macro_f1(gold, gold, articles, 100) == [1.0, 1.0]


def test_evaluate_names_a_bad_row(tiny_run, tmp_path):
    sample = tmp_path / "sample.csv"
    sample.write_text("text,label\nThe army said so.,attributed_fact\nHello.,fact\n", encoding="utf-8")
    result = run("evaluate", sample, "--model", tiny_run)
    assert result.exit_code == 2 and f"{sample}:3: unknown label 'fact'" in " ".join(result.output.split())


# ---------------------------------------------------------------------------------------------
# 6. JSON API


def test_api_classify_takes_json_text_and_sentences(tiny_classifier):
    from fastapi.testclient import TestClient

    from framing.web.app import create_app

    article = "Middle East\nThe ministry said 40 tankers arrived. He added more would come."
    with TestClient(create_app(tiny_classifier)) as client:
        as_form = client.post("/api/classify", data={"text": article}).json()
        as_json = client.post("/api/classify", json={"text": article})
        assert as_json.status_code == 200, as_json.text
        assert as_json.json()["articles"] == as_form["articles"]
        sentences = [
            {"text": "The ministry said 40 tankers arrived.", "article": "a", "label": "attributed_fact"},
            {"text": "He added more would come.", "article": "a"},
            "Experts warn prices will rise.",
        ]
        response = client.post("/api/classify", json={"sentences": sentences})
        assert response.status_code == 200, response.text
        got = [s for a in response.json()["articles"] for s in a["sentences"]]
    expected = tiny_classifier.predict(
        [s["text"] if isinstance(s, dict) else s for s in sentences], [None, "The ministry said 40 tankers arrived.", None]
    )
    assert [s["label"] for s in got] == [p.label for p in expected]
    assert got[0]["given_label"] == "attributed_fact" and response.json()["kind"] == "json"


# ---------------------------------------------------------------------------------------------
# 5. The correction loop


NEWS = [
    ("n1", "Ministry says fuel convoy reached Deir Hafer."),
    ("n1", "He added that more trucks would follow."),
    ("n1", "Analysts said the deal may not hold."),
    ("n2", "By Lina Saab"),
    ("n2", "The army said the road was closed."),
    ("n2", "Prices will rise."),
    ("n3", "قال المرصد إن خمسة قتلوا."),
    ("n3", "Experts warn prices will rise."),
]


def _labelstudio_export(tasks: list[dict]) -> list[dict]:
    """What Label Studio's JSON export gives for the imported tasks once annotators have worked:
    ids, and annotations whose `result` regions are named by the config's `from_name`s."""
    exported = []
    for number, item in enumerate(tasks, 1):
        text = item["data"]["text"]
        annotations = []
        if number != 2:  # task 2 was never annotated
            annotations.append(  # a first pass, later corrected
                {
                    "id": 100 + number,
                    "was_cancelled": False,
                    "updated_at": "2026-01-01T10:00:00Z",
                    "completed_by": 1,
                    "result": [
                        {"id": "a", "from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": ["other"]}}
                    ],
                }
            )
            word = text.split()[0]
            annotations.append(
                {
                    "id": 200 + number,
                    "was_cancelled": False,
                    "updated_at": "2026-01-02T10:00:00Z",
                    "completed_by": 1,
                    "result": [
                        {
                            "id": "b",
                            "from_name": "label",
                            "to_name": "text",
                            "type": "choices",
                            "value": {"choices": ["attributed_fact"]},
                        },
                        {
                            "id": "c",
                            "from_name": "source",
                            "to_name": "text",
                            "type": "labels",
                            "value": {"start": 0, "end": len(word), "text": word, "labels": ["source"]},
                        },
                        {
                            "id": "d",
                            "from_name": "source_type",
                            "to_name": "text",
                            "type": "choices",
                            "value": {"choices": ["official"]},
                        },
                    ],
                }
            )
            annotations.append(  # cancelled after the correction: never counts
                {"id": 300 + number, "was_cancelled": True, "updated_at": "2026-01-03T10:00:00Z", "result": []}
            )
        exported.append(
            {
                "id": number,
                "data": item["data"],
                "annotations": annotations,
                "predictions": item["predictions"],
                "project": 1,
                "created_at": "2026-01-01T09:00:00Z",
                "updated_at": "2026-01-03T10:00:00Z",
            }
        )
    return exported


def test_labelstudio_round_trip_and_fine_tuning_from_the_model(tiny_run, tmp_path):
    import xml.etree.ElementTree as ET

    from framing.batch.labelstudio import uncertainty
    from framing.model import FramingClassifier
    from framing.training.data import load_corpus

    source = tmp_path / "news.jsonl"
    _jsonl(source, [{"id": f"ls-{i}", "article": a, "outlet": "Wire", "text": t} for i, (a, t) in enumerate(NEWS)])
    classified = tmp_path / "classified.jsonl"
    assert run("classify", source, "--sentences", "--model", tiny_run, "-o", classified).exit_code == 0
    rows = _read_jsonl(classified)
    rows[4] |= {"source_start": 0, "source_end": 8}  # a source-aware model's span
    _jsonl(classified, rows)

    tasks_path = tmp_path / "tasks.json"
    result = run("export", "labelstudio", classified, "-o", tasks_path, "-n", 6, "--random-share", 0.5)
    assert result.exit_code == 0, result.output
    tasks = json.loads(tasks_path.read_text())
    assert len(tasks) == 6 and sorted(t["data"]["selected"] for t in tasks).count("random") == 3
    least = {t["data"]["id"] for t in tasks if t["data"]["selected"] == "least_sure"}
    by_uncertainty = sorted(rows, key=lambda r: -uncertainty(r["scores"]))
    assert least == {r["id"] for r in by_uncertainty[:3]}
    by_id = {r["id"]: (i, r) for i, r in enumerate(rows)}
    for t in tasks:
        index, row = by_id[t["data"]["id"]]
        previous = rows[index - 1] if index and rows[index - 1]["article"] == row["article"] else None
        assert t["data"]["context"] == (previous["text"] if previous else "")
        regions = {r["from_name"]: r for r in t["predictions"][0]["result"]}
        assert regions["label"]["value"]["choices"] == [row["label"]]
        assert ("source" in regions) == (row["id"] == "ls-4")
        if "source" in regions:
            assert regions["source"]["value"]["text"] == "The army"
    config = ET.fromstring(tasks_path.with_suffix(".xml").read_text())
    controls = {e.get("name"): e for e in config.iter() if e.get("toName")}
    assert set(controls) == {"source", "label", "source_type"} and {e.get("toName") for e in controls.values()} == {"text"}
    assert [c.get("value") for c in controls["label"].iter("Choice")] == list(LABELS)
    assert {e.get("name") for e in config.iter("Text")} == {"text", "context"}

    export = tmp_path / "export.json"
    export.write_text(json.dumps(_labelstudio_export(tasks), ensure_ascii=False), encoding="utf-8")
    corrections = tmp_path / "corrections.jsonl"
    result = run("import", "labelstudio", export, "-o", corrections)
    assert result.exit_code == 0, result.output
    assert "5 corpus rows" in result.output and "1 task(s) not annotated" in result.output
    imported = load_corpus(corrections)
    assert len(imported) == 5 and {r["label"] for r in imported} == {"attributed_fact"}
    for r in imported:
        assert r["text"].startswith(r["source"]) and r["source_type"] == "official" and r["outlet"] == "Wire"

    # Fine-tune the model with the corrections added; a vanishing learning rate shows where it starts.
    config_path = tmp_path / "more.yaml"
    config_path.write_text(
        json.dumps(
            {
                "seed": 7,
                "data": {"train": str(TINY_CORPUS), "dev_fraction": 0.3, "extra": [str(corrections)]},
                "model": {"init_from": str(tiny_run), "max_length": 64, "context_max_tokens": 16},
                "training": {"max_steps": 1, "batch_size": 4, "learning_rate": 1e-12, "calibrate": False},
            }
        ),
        encoding="utf-8",
    )
    out = tmp_path / "run"
    result = run("train", config_path, "-o", out, "--quiet")
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert str(corrections) in metrics["corpus_files"]
    assert metrics["label_counts_train"]["attributed_fact"] >= 5
    texts = [t for _, t in NEWS]
    before = FramingClassifier.from_pretrained(tiny_run, backend="torch").predict_logits(texts)
    after = FramingClassifier.from_pretrained(out, backend="torch").predict_logits(texts)
    np.testing.assert_allclose(after, before, atol=1e-4)


def test_init_from_refuses_a_base_and_lora_and_extra_ids_must_be_new(tiny_run, tmp_path):
    from framing.training.config import ConfigError, parse_config
    from framing.training.data import CorpusError, load_splits

    base = {"seed": 1, "data": {"train": str(TINY_CORPUS)}}
    with pytest.raises(ConfigError, match="give model.base or model.init_from, not both"):
        parse_config(base | {"model": {"init_from": str(tiny_run), "base": "x"}})
    with pytest.raises(ConfigError, match="drop training.lora"):
        parse_config(base | {"model": {"init_from": str(tiny_run)}, "training": {"lora": {}}})
    with pytest.raises(ConfigError, match="data.extras: unknown key"):
        parse_config({"seed": 1, "data": {"train": str(TINY_CORPUS), "extras": []}})
    again = tmp_path / "again.jsonl"
    again.write_text(TINY_CORPUS.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="duplicate id 't-en-1-000'"):
        load_splits(parse_config({"seed": 1, "data": {"train": str(TINY_CORPUS), "extra": [str(again)]}}))


# ---------------------------------------------------------------------------------------------
# 7. The Hugging Face route


def test_a_run_folder_is_a_transformers_pipeline_with_our_labels_or_refuses(tiny_run, tmp_path, monkeypatch):
    import sys

    import transformers.dynamic_module_utils as dynamic
    from transformers import pipeline

    from framing.model import FramingClassifier

    # transformers copies remote code into a modules cache: keep it out of the user's home.
    monkeypatch.setattr(dynamic, "HF_MODULES_CACHE", str(tmp_path / "modules"))
    monkeypatch.setattr(sys, "path", list(sys.path))
    with pytest.raises(ValueError, match="trust_remote_code=True"):
        pipeline("text-classification", model=str(tiny_run))  # never BERT's untrained pooler head
    classify = pipeline("text-classification", model=str(tiny_run), trust_remote_code=True)
    sentences = [t for _, t in NEWS] + ["word " * 200 + "the ministry said"]
    contexts = [None, NEWS[0][1], NEWS[1][1], None, "By Lina Saab", None, None, None, None]
    ours = FramingClassifier.from_pretrained(tiny_run, backend="torch").predict(sentences, contexts)
    inputs = [{"text": s, "text_pair": c} if c else s for s, c in zip(sentences, contexts, strict=True)]
    theirs = classify(inputs, top_k=None)
    assert len({p.label for p in ours}) > 1 or len(set(ours[0].scores.values())) > 1
    for mine, got in zip(ours, theirs, strict=True):
        assert max(got, key=lambda g: g["score"])["label"] == mine.label
        assert {g["label"]: round(g["score"], 5) for g in got} == pytest.approx(mine.scores, abs=1e-5)


def test_the_model_card_says_what_the_folder_is(tiny_run, tiny_base):
    import yaml

    from framing.model.folder import folder_checksums

    card = (tiny_run / "README.md").read_text(encoding="utf-8")
    assert card.startswith("---\n")
    meta = yaml.safe_load(card.split("---\n")[1])
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    assert (meta["library_name"], meta["license"], meta["pipeline_tag"]) == ("transformers", "mit", "text-classification")
    assert meta["base_model"] == str(tiny_base) and "custom_code" in meta["tags"]
    dev = meta["model-index"][0]["results"][0]
    assert dev["dataset"]["split"] == "dev"
    assert {m["type"]: m["value"] for m in dev["metrics"]} == {
        "f1": round(metrics["dev"]["macro_f1"], 4),
        "accuracy": round(metrics["dev"]["accuracy"], 4),
    }
    # The code transformers would run is covered by the folder's checksums.
    assert "modeling_framing.py" in json.loads((tiny_run / "checksums.json").read_text())
    assert "modeling_framing.py" in folder_checksums(tiny_run)


def test_ray_workers_read_folder_articles_with_the_fields_the_driver_gave(tmp_path):
    """Planned without Ray: the rows a worker re-reads carry the same ids, outlets and metadata
    as the local path's, not the file's bare name."""
    from framing.batch.folders import DocumentFields
    from framing.batch.inputs import ReadOptions, expand_inputs, iter_input_items
    from framing.batch.ray_runner import plan_chunks, read_chunk

    arch = tmp_path / "arch"
    for outlet in ("outletA", "outletB"):
        (arch / outlet).mkdir(parents=True)
        (arch / outlet / "001.txt").write_text(f"The ministry said {outlet} was right.", encoding="utf-8")
    roots: dict = {}
    inputs, _ = expand_inputs([arch], roots)
    options = ReadOptions(documents=DocumentFields(roots, outlet_from_folder=True))
    local = [item.fields for _, item in iter_input_items(inputs, options=options)]
    chunks, good = plan_chunks(inputs, 1, [], options=options)
    worker = [row.fields for chunk in chunks for row in read_chunk(json.loads(chunk)["segments"])]
    assert good == 2 and worker == local
    assert [(f["id"], f["outlet"]) for f in worker] == [("outletA/001", "outletA"), ("outletB/001", "outletB")]


def test_shipped_configs_parse():
    from pathlib import Path

    from framing.training.config import load_config

    configs = sorted((Path(__file__).parent.parent / "configs").glob("*.yaml"))
    assert any(p.name == "corrections.yaml" for p in configs)
    for path in configs:
        load_config(path)
    assert load_config(configs[0].with_name("corrections.yaml")).model.init_from == "default"


@pytest.mark.slow
def test_fine_tuning_starts_from_the_shipped_adapter_model(tmp_path):
    """init_from: default merges the shipped LoRA adapter into the packaged e5 and trains on."""
    from framing.model import FramingClassifier
    from framing.model.default_model import default_model_dir

    extra = tmp_path / "corrections.jsonl"
    _jsonl(
        extra,
        [
            {
                "id": "c1",
                "article": "c",
                "outlet": "Wire",
                "lang": "en",
                "text": "The army said the road was closed.",
                "label": "attributed_fact",
                "source": "The army said",
                "source_type": "military_security",
            },
            {
                "id": "c2",
                "article": "c",
                "outlet": "Wire",
                "lang": "en",
                "text": "Prices will rise.",
                "label": "unattributed_assertion",
            },
        ],
    )
    config = tmp_path / "c.yaml"
    config.write_text(
        json.dumps(
            {
                "seed": 1,
                "data": {"train": str(TINY_CORPUS), "dev_fraction": 0.3, "extra": [str(extra)]},
                "model": {"init_from": "default", "max_length": 128, "context_max_tokens": 32},
                "training": {"max_steps": 1, "batch_size": 4, "learning_rate": 1e-12, "calibrate": False},
            }
        ),
        encoding="utf-8",
    )
    out = tmp_path / "run"
    result = run("train", config, "-o", out, "--quiet")
    assert result.exit_code == 0, result.output
    texts = [t for _, t in NEWS]
    before = FramingClassifier.from_pretrained(default_model_dir(), backend="torch").predict_logits(texts)
    after = FramingClassifier.from_pretrained(out, backend="torch").predict_logits(texts)
    np.testing.assert_allclose(after, before, atol=1e-3)


def test_an_interrupted_run_over_a_csv_resumes_exactly(tiny_classifier, tmp_path):
    from framing.batch.inputs import ReadOptions
    from framing.batch.stream import classify_to_file

    source = tmp_path / "in.csv"
    lines = ["ref,article,body"]
    for i in range(30):
        # A quoted cell across two lines: records and lines differ, and resuming must follow records.
        body = "" if i % 9 == 8 else (f'"The ministry said {i}\ntankers arrived."' if i % 4 == 0 else f"Row {i} said so.")
        lines.append(f"r{i},a{i // 5},{body}")
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    options = ReadOptions(text_column="body", id_column="ref")
    whole = tmp_path / "whole.jsonl"
    classify_to_file(tiny_classifier, [source], whole, True, chunk_sentences=4, options=options)
    out = tmp_path / "out.jsonl"
    first = classify_to_file(tiny_classifier, [source], out, True, chunk_sentences=4, stop_after_chunks=3, options=options)
    assert first.extra == {"interrupted": True}
    second = classify_to_file(tiny_classifier, [source], out, True, chunk_sentences=4, options=options)
    assert second.resumed and _read_jsonl(out) == _read_jsonl(whole)
    assert second.rows_in == 30 and [r["ref"] for r in _read_jsonl(out)] == [f"r{i}" for i in range(30) if i % 9 != 8]
    errors = _read_jsonl(tmp_path / "out.errors.jsonl")
    assert [e["error"] for e in errors] == ["missing or non-string 'body' field"] * 3
