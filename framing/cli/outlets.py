"""`framing outlets`: the command, registered in framing/cli.py with `app.command()(outlets)`.

Kept apart from cli.py so the analysis and its rendering stay plain functions; heavy imports
happen inside the command, as in cli.py, so `framing --help` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from framing.outlets.analysis import OutletsSettings

DEFAULT_OUTPUT = Path("outlets-report")
#: The thresholds and resampling sizes of the analysis itself, so the command cannot drift from them.
_DEFAULTS = OutletsSettings()


def outlets(
    inputs: Annotated[list[Path], typer.Argument(help="sentence JSONL: output of `framing classify`, or a labelled corpus")],
    output: Annotated[Path, typer.Option("-o", "--output", help="folder for report.html, CSV and JSON")] = DEFAULT_OUTPUT,
    gold: Annotated[
        Path | None,
        typer.Option("--gold", help="labelled corpus joined by `id`: its `label` is the gold label, the input's the prediction"),
    ] = None,
    stratify: Annotated[
        str | None,
        typer.Option("--stratify", help="compare outlets within strata: `topic`, `month` (from `date`) or another article field"),
    ] = None,
    min_articles: Annotated[int, typer.Option(help="fewer articles: flagged, not ranked or tested")] = _DEFAULTS.min_articles,
    min_sentences: Annotated[int, typer.Option(help="fewer sentences: flagged, not ranked or tested")] = _DEFAULTS.min_sentences,
    bootstrap: Annotated[int, typer.Option(help="cluster-bootstrap resamples of articles")] = _DEFAULTS.n_bootstrap,
    permutations: Annotated[
        int, typer.Option(help="permutations per test (raised when many tests need it)")
    ] = _DEFAULTS.n_permutations,
    alpha: Annotated[float, typer.Option(help="family-wise error rate for the Holm correction")] = 0.05,
    seed: Annotated[int, typer.Option(help="seed for resampling and permutations")] = 0,
    correction: Annotated[
        str,
        typer.Option(
            "--correction",
            help="correct shares for the model's errors: auto (pacc when rows carry scores), pacc, acc, em or none",
        ),
    ] = "auto",
    calibration: Annotated[
        Path | None,
        typer.Option(
            "--calibration",
            help="your own labelled sample with predictions (`framing evaluate --predictions` output) for the error rates",
        ),
    ] = None,
    model: Annotated[
        Path | None,
        typer.Option(
            "--model", "-m", help="model folder whose confusion.json gives the error rates (default: the shipped model)"
        ),
    ] = None,
    shares: Annotated[str, typer.Option("--shares", help="what tests and ranks use: raw or corrected")] = "raw",
) -> None:
    """Label shares and sourcing index per outlet, with intervals, and tests of which outlets differ."""
    from framing.cli.common import console, err_console, fail
    from framing.errors import FramingError
    from framing.outlets import quantify
    from framing.outlets.analysis import OutletsSettings, analyse, load_articles
    from framing.outlets.report import render_terminal, write_report

    if output.exists() and not output.is_dir():
        fail(f"{output}: exists and is not a folder")
    try:
        settings = OutletsSettings(
            min_articles=min_articles,
            min_sentences=min_sentences,
            n_bootstrap=bootstrap,
            n_permutations=permutations,
            seed=seed,
            alpha=alpha,
            stratify=stratify,
            correction=correction,
            shares=shares,
        )
        articles = load_articles(inputs, gold, stratify)
        rates, why_not = None, None
        if correction != "none":
            if calibration is not None:
                rates = quantify.read_calibration(calibration)
            else:
                made_by = {a.model_sha256 for a in articles if a.model_sha256}
                rates, why_not = quantify.rates_for_rows(_model_folder(model), made_by)
        with err_console.status("resampling articles", spinner="dots"):
            report = analyse(articles, settings, rates, why_not)
    except FramingError as exc:
        fail(str(exc))
    try:
        extra = [f"gold: {gold}"] if gold else []
        extra += [f"calibration: {calibration}"] if calibration else []
        written = write_report(report, output, [str(p) for p in inputs] + extra)
    except OSError as exc:
        fail(f"{exc.filename or output}: cannot write ({exc.strerror})")
    console.print(render_terminal(report))
    tables = ", ".join(p.name for k, p in written.items() if k != "html")
    console.print(f"report written to {written['html']} (tables: {tables})", markup=False)


def _model_folder(model: Path | None) -> Path | None:
    """The model folder whose confusion file gives the error rates: --model, $FRAMING_MODEL, or the
    shipped default. Rows that name their model (`model_sha256`, written by classify) are checked
    against it; older files do not say, and are taken to be that model's."""
    import os

    from framing.cli.common import DEFAULT_MODEL_ENV, fail
    from framing.model.default_model import default_model_dir

    if model is not None:
        if not model.is_dir():
            fail(f"{model}: model folder not found")
        return model
    if os.environ.get(DEFAULT_MODEL_ENV):
        return Path(os.environ[DEFAULT_MODEL_ENV])
    return default_model_dir()
