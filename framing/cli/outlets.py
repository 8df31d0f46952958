"""`framing outlets`: the command, registered in framing/cli.py with `app.command()(outlets)`.

Kept apart from cli.py so the analysis and its rendering stay plain functions; heavy imports
happen inside the command, as in cli.py, so `framing --help` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

DEFAULT_OUTPUT = Path("outlets-report")


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
    min_articles: Annotated[int, typer.Option(help="fewer articles: flagged, not ranked or tested")] = 5,
    min_sentences: Annotated[int, typer.Option(help="fewer sentences: flagged, not ranked or tested")] = 50,
    bootstrap: Annotated[int, typer.Option(help="cluster-bootstrap resamples of articles")] = 2000,
    permutations: Annotated[int, typer.Option(help="permutations per test (raised when many tests need it)")] = 2000,
    alpha: Annotated[float, typer.Option(help="family-wise error rate for the Holm correction")] = 0.05,
    seed: Annotated[int, typer.Option(help="seed for resampling and permutations")] = 0,
) -> None:
    """Label shares and sourcing index per outlet, with intervals, and tests of which outlets differ."""
    from framing.cli.common import console, err_console, fail
    from framing.outlets.analysis import OutletsInputError, OutletsSettings, analyse, load_articles
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
        )
        articles = load_articles(inputs, gold, stratify)
        with err_console.status("resampling articles", spinner="dots"):
            report = analyse(articles, settings)
    except OutletsInputError as exc:
        fail(str(exc))
    try:
        written = write_report(report, output, [str(p) for p in inputs] + ([f"gold: {gold}"] if gold else []))
    except OSError as exc:
        fail(f"{exc.filename or output}: cannot write ({exc.strerror})")
    console.print(render_terminal(report))
    tables = ", ".join(p.name for k, p in written.items() if k != "html")
    console.print(f"report written to {written['html']} (tables: {tables})", markup=False)
