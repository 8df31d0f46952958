"""`framing classify`: label every sentence of articles or sentence rows."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from framing.cli.common import console, count_in_background, err_console, fail, load_classifier, progress_bar, resolve_model
from framing.errors import FramingError


def _print_rows(rows: list[dict]) -> None:
    table = Table(show_lines=False)
    sources = any("vague_attribution" in row for row in rows)  # a model with source heads
    for column in ("article", "#", "lang", "label", "p", "sentence", *(("source", "type") if sources else ())):
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
            *(
                (row.get("source") or ("(vague)" if row.get("vague_attribution") else ""), row.get("source_type") or "")
                if sources
                else ()
            ),
        )
    console.print(table)


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
                fail("--ray writes a file: give -o OUT")
            try:
                from framing.batch.ray_runner import classify_with_ray
            except ModuleNotFoundError:
                fail("--ray needs the ray extra: pip install -e '.[ray]'")
            rows_in, rows_out, failed = classify_with_ray(
                resolve_model(model),
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
        classifier = load_classifier(model, backend)
        with progress_bar() as progress:
            if output is not None:
                task = progress.add_task(f"classifying {unit}", total=None)
                count_in_background(progress, task, inputs)
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
    except FramingError as exc:
        fail(str(exc))
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
