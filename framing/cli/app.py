"""The `framing` command: a thin typer layer over plain functions."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from framing.cli.outlets import outlets
from framing.cli.serve import serve

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Label news sentences by how they are sourced.")
corpus_app = typer.Typer(no_args_is_help=True, help="Inspect a labelled corpus.")
app.add_typer(corpus_app, name="corpus")
app.command()(outlets)
app.command()(serve)
console = Console()
err_console = Console(stderr=True)

#: Where `framing classify` looks when no --model is given.
DEFAULT_MODEL_ENV = "FRAMING_MODEL"


def _fail(message: str, code: int = 2) -> None:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _user_errors():
    from framing.batch.inputs import InputError
    from framing.model.classifier import ModelFolderError
    from framing.model.packaged_e5 import PackagedModelError
    from framing.outlets.analysis import OutletsInputError
    from framing.training.config import ConfigError
    from framing.training.data import CorpusError

    return (InputError, OutletsInputError, ModelFolderError, PackagedModelError, ConfigError, CorpusError)


def _resolve_model(model: Path | None) -> Path:
    if model is not None:
        return model
    if os.environ.get(DEFAULT_MODEL_ENV):
        return Path(os.environ[DEFAULT_MODEL_ENV])
    from framing.model.default_model import default_model_dir

    found = default_model_dir()
    if found is None:
        _fail(
            "no --model given and no default model installed; train one with "
            "`framing train configs/quick.yaml -o runs/quick` and pass --model runs/quick"
        )
    return found


def _quiet_transformers() -> None:
    """No transformers progress bars under our own spinner, without importing transformers
    (the ONNX path never does): it reads huggingface_hub's switch when first imported."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    if "transformers" in sys.modules:
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()


def _load_classifier(model: Path | None, backend: str = "auto"):
    from framing.model.classifier import FramingClassifier

    path = _resolve_model(model)
    _quiet_transformers()
    with console.status(f"loading model {path}", spinner="dots"):
        return FramingClassifier.from_pretrained(path, backend=backend)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
    )


def _count_in_background(progress: Progress, task: TaskID, inputs: list[Path]) -> None:
    """Give the bar its total (and so a time remaining) once the input lines are counted: a
    large archive takes a while to count (0.5 s per GB from the page cache, longer from disk),
    and classifying starts meanwhile."""
    from framing.batch.inputs import count_input_rows

    def count() -> None:
        try:
            progress.update(task, total=count_input_rows(inputs))
        except OSError:
            pass  # only the bar's total is lost; reading the input reports the problem itself

    threading.Thread(target=count, daemon=True).start()


@app.command()
def train(
    config: Annotated[Path, typer.Argument(help="YAML training config")],
    output: Annotated[Path | None, typer.Option("-o", "--output", help="run folder to write")] = None,
    quiet: Annotated[bool, typer.Option(help="no progress bars")] = False,
) -> None:
    """Fine-tune a classifier from a config; writes a run folder."""
    try:
        from framing.training.config import load_config
        from framing.training.evaluate import render_report
        from framing.training.trainer import train as run_training

        cfg = load_config(config)
        output = output or Path("runs") / config.stem
        metrics = run_training(cfg, output, progress=not quiet, log=lambda m: err_console.print(m, highlight=False))
    except _user_errors() as exc:
        _fail(str(exc))
    console.print(render_report(metrics["dev"], "Dev"))
    if "test" in metrics:
        console.print(render_report(metrics["test"], "Test"))
    console.print(f"model saved to {output}")


@app.command()
def evaluate(
    data: Annotated[list[Path], typer.Argument(help="labelled corpus file(s), JSONL or CSV")],
    model: Annotated[Path | None, typer.Option("--model", "-m", help="model folder")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="also write the report as JSON")] = None,
    batch_size: int = 32,
    context: Annotated[bool, typer.Option(help="show the model the preceding sentence (--no-context to ablate)")] = True,
    backend: Annotated[str, typer.Option(help="auto (int8 ONNX, torch fallback), onnx, onnx-fp32 or torch")] = "auto",
) -> None:
    """Score a model on labelled data: macro-F1 overall and per language, per-label P/R/F1."""
    try:
        from framing.files import write_json_atomic
        from framing.training.data import load_corpus
        from framing.training.evaluate import render_report
        from framing.training.trainer import evaluate_rows

        rows = load_corpus(data)
        classifier = _load_classifier(model, backend)
        report = evaluate_rows(classifier, rows, batch_size, use_context=context)
    except _user_errors() as exc:
        _fail(str(exc))
    console.print(render_report(report, f"Evaluation on {', '.join(map(str, data))} ({classifier.backend})"))
    if json_out:
        write_json_atomic(json_out, report)
        console.print(f"report written to {json_out}")


@app.command()
def baselines(
    config: Annotated[Path, typer.Argument(help="training config: its train/dev/test files are used")],
    json_out: Annotated[Path | None, typer.Option("--json", help="also write the reports as JSON")] = None,
) -> None:
    """Cue-word rules and TF-IDF + logistic regression on the config's split."""
    try:
        from framing.files import write_json_atomic
        from framing.training.baselines import cue_word_predict, tfidf_logreg
        from framing.training.config import load_config
        from framing.training.evaluate import framing_report, render_report
        from framing.training.trainer import load_splits

        cfg = load_config(config)
        splits = load_splits(cfg)
    except _user_errors() as exc:
        _fail(str(exc))
    model = tfidf_logreg(cfg.seed).fit([r["text"] for r in splits.train], [r["label"] for r in splits.train])
    reports: dict = {}
    for split_name, rows in (("dev", splits.dev), ("test", splits.test or [])):
        if not rows:
            continue
        texts, gold, langs = [r["text"] for r in rows], [r["label"] for r in rows], [r["lang"] for r in rows]
        for name, pred in (("cue_words", cue_word_predict(texts)), ("tfidf_logreg", list(model.predict(texts)))):
            reports[f"{name}/{split_name}"] = framing_report(gold, pred, langs)
            console.print(render_report(reports[f"{name}/{split_name}"], f"{name} on {split_name}"))
    if json_out:
        write_json_atomic(json_out, reports)


def _print_rows(rows: list[dict]) -> None:
    table = Table(show_lines=False)
    for column in ("article", "#", "lang", "label", "p", "sentence"):
        table.add_column(column, overflow="fold")
    colours = {"attributed_fact": "green", "analyst_claim": "magenta", "unattributed_assertion": "yellow", "other": "dim"}
    for row in rows:
        table.add_row(
            str(row.get("article", "")),
            str(row.get("sentence", "")),
            row["lang"],
            f"[{colours.get(row['label'], 'white')}]{row['label']}[/]",
            f"{row['scores'][row['label']]:.2f}",
            row["text"],
        )
    console.print(table)


@app.command()
def classify(
    inputs: Annotated[list[Path], typer.Argument(help=".txt or .html articles, JSONL of articles/sentences, or folders of them")],
    output: Annotated[Path | None, typer.Option("-o", "--output", help="JSONL to write; without it, a table")] = None,
    model: Annotated[Path | None, typer.Option("--model", "-m", help="model folder")] = None,
    sentences: Annotated[bool, typer.Option("--sentences", help="each JSONL row is one sentence")] = False,
    errors_path: Annotated[Path | None, typer.Option("--errors", help="where bad rows go (default OUT.errors.jsonl)")] = None,
    batch_size: int = 32,
    chunk_sentences: Annotated[int, typer.Option(help="sentences per checkpoint of a streamed run", min=1)] = 512,
    backend: Annotated[str, typer.Option(help="auto (int8 ONNX, torch fallback), onnx, onnx-fp32 or torch")] = "auto",
    use_ray: Annotated[bool, typer.Option("--ray", help="run on Ray Data (pip install '.[ray]'); needs -o")] = False,
    ray_address: Annotated[str | None, typer.Option(help="Ray cluster address (default: local, or $RAY_ADDRESS)")] = None,
    ray_workers: Annotated[int, typer.Option(help="model copies (one per Ray worker)", min=1)] = 1,
) -> None:
    """Label every sentence of the inputs. With -o, output is streamed, and an interrupted run
    resumes where it stopped when the same command is run again."""
    from framing.batch.classify import classify_article_rows, classify_sentence_rows
    from framing.batch.inputs import BadRow, expand_inputs, input_order, iter_input_items, precheck
    from framing.batch.stream import classify_to_file
    from framing.files import write_jsonl_atomic

    unit = "sentence rows" if sentences else "articles"
    try:
        for path in inputs:
            if not path.is_dir():
                # Fail early on files named explicitly; a bad file found in a folder of many is
                # an error row, as one bad article in a list is.
                precheck(path)
        inputs, passed_over = expand_inputs(inputs)
        if passed_over:
            note = f"{passed_over} files in the input folders are not .jsonl, .txt or .html: not read"
            err_console.print(note, highlight=False)
        if use_ray:
            if output is None:
                _fail("--ray writes a file: give -o OUT")
            try:
                from framing.batch.ray_runner import classify_with_ray
            except ModuleNotFoundError:
                _fail("--ray needs the ray extra: pip install -e '.[ray]'")
            rows_in, rows_out, failed = classify_with_ray(
                _resolve_model(model),
                inputs,
                output,
                sentences,
                errors_path,
                batch_size,
                workers=ray_workers,
                address=ray_address,
                backend=backend,
            )
            err_console.print(
                f"{rows_in} input {unit}: {rows_in - failed} classified into {rows_out} output rows, "
                f"{failed} in errors; written to {output}",
                highlight=False,
            )
            return
        classifier = _load_classifier(model, backend)
        with _progress() as progress:
            if output is not None:
                task = progress.add_task(f"classifying {unit}", total=None)
                _count_in_background(progress, task, inputs)
                summary = classify_to_file(
                    classifier,
                    inputs,
                    output,
                    sentences,
                    errors_path,
                    batch_size,
                    chunk_sentences,
                    on_rows=lambda n: progress.advance(task, n),
                )
                if summary.resumed:
                    err_console.print("resumed an interrupted run", highlight=False)
                err_console.print(
                    f"{summary.rows_in} input {unit}: {summary.rows_in - summary.rows_failed} classified into "
                    f"{summary.rows_out} output rows, {summary.rows_failed} in errors; written to {output}"
                    + (f"; errors in {summary.errors}" if summary.errors else ""),
                    highlight=False,
                )
                return
            task = progress.add_task("classifying sentences", total=None)
            advance = lambda n: progress.advance(task, n)  # noqa: E731
            bad: list[BadRow] = []
            n_read = 0

            def rows():
                nonlocal n_read
                for _, item in iter_input_items(inputs):
                    if isinstance(item, BadRow):
                        bad.append(item)
                    else:
                        n_read += 1
                        yield item

            run = classify_sentence_rows if sentences else classify_article_rows
            skipped: list[BadRow] = []
            collected = list(run(classifier, rows(), skipped, batch_size, on_sentences=advance))
    except _user_errors() as exc:
        _fail(str(exc))
    _print_rows(collected)
    errors = sorted(bad + skipped, key=input_order(inputs))
    if errors:
        errors_file = errors_path or Path("framing-errors.jsonl")
        write_jsonl_atomic(errors_file, (e.to_dict() for e in errors))
        err_console.print(f"{len(errors)} input row(s) could not be classified: see {errors_file}", highlight=False)
    err_console.print(
        f"{n_read + len(bad)} input {unit}: {n_read - len(skipped)} classified into {len(collected)} output rows, "
        f"{len(errors)} in errors",
        highlight=False,
    )


@corpus_app.command("stats")
def corpus_stats(
    files: Annotated[list[Path] | None, typer.Argument(help="corpus files (default: data/*.jsonl)")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="also write the counts as JSON")] = None,
) -> None:
    """Counts per language, label, outlet and split."""
    from framing.files import write_json_atomic
    from framing.training.corpus_stats import corpus_counts, render_counts
    from framing.training.data import load_corpus

    files = files or sorted(Path("data").glob("*.jsonl"))
    try:
        per_split = {path.stem: load_corpus(path) for path in files}
    except _user_errors() as exc:
        _fail(str(exc))
    counts = corpus_counts(per_split)
    console.print(render_counts(counts))
    if json_out:
        write_json_atomic(json_out, counts)


@corpus_app.command("agreement")
def corpus_agreement(
    files: Annotated[list[Path] | None, typer.Argument(help="relabel files (default: data/agreement/*.jsonl)")] = None,
) -> None:
    """Cohen's kappa between the first labels and a blind relabelling, per language."""
    import json as json_module

    from framing.training.corpus_stats import agreement

    files = files or sorted(Path("data/agreement").glob("*.jsonl"))
    rows = [json_module.loads(line) for path in files for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    table = Table(title="Blind relabelling agreement")
    for column in ("lang", "sentences", "Cohen's kappa", "raw agreement", "disagreements"):
        table.add_column(column)
    for lang, stats in agreement(rows).items():
        table.add_row(
            lang, str(stats["n"]), f"{stats['kappa']:.3f}", f"{stats['raw_agreement']:.3f}", str(stats["disagreements"])
        )
    console.print(table)


@corpus_app.command("build")
def corpus_build(
    raw_dir: Annotated[Path, typer.Argument(help="folder of writers' folders (test writers' end in -t)")] = Path("data/raw"),
    out_dir: Annotated[Path, typer.Option("-o", "--output", help="where train/dev/test.jsonl go")] = Path("data"),
    dev_fraction: float = 0.12,
    seed: int = 2026,
) -> None:
    """Assemble train/dev/test files from the writers' files, split by article."""
    from framing.training.corpus_build import build_splits

    try:
        counts = build_splits(raw_dir, out_dir, dev_fraction, seed)
    except _user_errors() as exc:
        _fail(str(exc))
    console.print(", ".join(f"{name}: {n}" for name, n in counts.items()))


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
