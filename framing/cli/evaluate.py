"""`framing evaluate`: score a model on labelled data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from framing.cli.common import console, fail, load_classifier
from framing.errors import FramingError


def evaluate(
    data: Annotated[list[Path], typer.Argument(help="labelled file(s), JSONL or CSV: text and label (article, lang optional)")],
    model: Annotated[Path | None, typer.Option("--model", "-m", help="model folder")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="also write the report as JSON")] = None,
    batch_size: int = 32,
    context: Annotated[bool, typer.Option(help="show the model the preceding sentence (--no-context to ablate)")] = True,
    backend: Annotated[str, typer.Option(help="auto (int8 ONNX, torch fallback), onnx, onnx-fp32 or torch")] = "auto",
    predictions: Annotated[
        Path | None, typer.Option("--predictions", help="write one JSONL row per sentence: the row, gold_label, label, scores")
    ] = None,
    bootstrap: Annotated[int, typer.Option(help="resamples for the macro-F1 intervals (0: none)", min=0)] = 1000,
    seed: Annotated[int, typer.Option(help="seed of the resampling")] = 0,
    trust: Annotated[
        bool, typer.Option("--trust", help="load a model folder that has no checksums.json (nothing to verify it against)")
    ] = False,
) -> None:
    """Score a model on labelled data: macro-F1 overall and per language with bootstrap intervals
    (resampling articles when rows name them, else sentences), per-label P/R/F1."""
    try:
        from framing.batch.classify import model_fields
        from framing.files import write_json_atomic, write_jsonl_atomic
        from framing.training.data import load_sample
        from framing.training.evaluate import evaluate_rows, predict_rows, prediction_rows, probabilities, render_report

        rows = load_sample(data)
        classifier = load_classifier(model, backend, trust=trust)
        made = predict_rows(classifier, rows, batch_size, use_context=context)
        report = evaluate_rows(classifier, rows, n_bootstrap=bootstrap, seed=seed, predictions=made)
    except FramingError as exc:
        fail(str(exc))
    console.print(render_report(report, f"Evaluation on {', '.join(map(str, data))} ({classifier.backend})"))
    if json_out:
        write_json_atomic(json_out, report)
        console.print(f"report written to {json_out}")
    if predictions:
        write_jsonl_atomic(predictions, prediction_rows(rows, probabilities(made), model_fields(classifier)))
        console.print(f"predictions written to {predictions}")
