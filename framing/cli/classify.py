"""`framing classify`: label every sentence of articles or sentence rows."""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
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
        # Input text is data, not rich markup: "[/]" in a sentence once raised MarkupError.
        table.add_row(
            escape(str(row.get("article", ""))),
            str(row.get("sentence", "")),
            escape(row["lang"]),
            f"[{colours.get(row['label'], 'white')}]{row['label']}[/]",
            f"{row['scores'][row['label']]:.2f}",
            escape(row["text"]),
            *(
                (escape(row.get("source") or ("(vague)" if row.get("vague_attribution") else "")), row.get("source_type") or "")
                if sources
                else ()
            ),
        )
    console.print(table)


def _spool_stdin(folder: Path) -> Path:
    """Standard input as a file, so that it is read like any JSONL input (and counted)."""
    spooled = folder / "stdin.jsonl"
    with spooled.open("wb") as fh:
        shutil.copyfileobj(sys.stdin.buffer, fh)
    return spooled


#: --backend values (FramingClassifier.from_pretrained's)
BACKENDS = ("auto", "onnx", "onnx-fp32", "torch")


def classify(
    inputs: Annotated[
        list[Path],
        typer.Argument(
            help=".txt or .html articles, JSONL, CSV, TSV or Parquet of articles/sentences, folders, or - (stdin JSONL)"
        ),
    ],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="file to write: .jsonl, .csv or .parquet, or - (JSONL on stdout)")
    ] = None,
    model: Annotated[Path | None, typer.Option("--model", "-m", help="model folder")] = None,
    sentences: Annotated[bool, typer.Option("--sentences", help="each JSONL row is one sentence")] = False,
    errors_path: Annotated[Path | None, typer.Option("--errors", help="where bad rows go (default OUT.errors.jsonl)")] = None,
    batch_size: int = 32,
    chunk_sentences: Annotated[int, typer.Option(help="sentences per checkpoint of a streamed run", min=1)] = 512,
    backend: Annotated[str, typer.Option(help="auto (int8 ONNX, torch fallback), onnx, onnx-fp32 or torch")] = "auto",
    use_ray: Annotated[bool, typer.Option("--ray", help="run on Ray Data (pip install '.[ray]'); needs -o")] = False,
    ray_address: Annotated[str | None, typer.Option(help="Ray cluster address (default: local, or $RAY_ADDRESS)")] = None,
    ray_workers: Annotated[int, typer.Option(help="model copies (one per Ray worker)", min=1)] = 1,
    text_column: Annotated[str, typer.Option(help="the column (field) holding the text")] = "text",
    id_column: Annotated[str, typer.Option(help="the column (field) holding the id")] = "id",
    outlet_from_folder: Annotated[
        bool, typer.Option("--outlet-from-folder", help="a folder's articles get the first folder level as `outlet`")
    ] = False,
    metadata: Annotated[
        Path | None,
        typer.Option("--metadata", help="CSV: `path` and fields for each article file (outlet, date, ...)"),
    ] = None,
    restart: Annotated[
        bool, typer.Option("--restart", help="start over instead of resuming an interrupted run of the same -o")
    ] = False,
    trust: Annotated[
        bool, typer.Option("--trust", help="load a model folder that has no checksums.json (nothing to verify it against)")
    ] = False,
) -> None:
    """Label every sentence of the inputs. With -o, output is streamed, and an interrupted run
    resumes where it stopped when the same command is run again."""
    # A folder for a spooled stdin that is removed however the run ends; every option above
    # and `scratch` are passed on by name.
    with tempfile.TemporaryDirectory(prefix="framing-stdin-") as scratch:
        _classify(**locals())


def _classify(
    inputs: list[Path],
    output: Path | None,
    model: Path | None,
    sentences: bool,
    errors_path: Path | None,
    batch_size: int,
    chunk_sentences: int,
    backend: str,
    use_ray: bool,
    ray_address: str | None,
    ray_workers: int,
    text_column: str,
    id_column: str,
    outlet_from_folder: bool,
    metadata: Path | None,
    restart: bool,
    trust: bool,
    scratch: str,
) -> None:
    from framing.batch.classify import classify_article_rows, classify_sentence_rows
    from framing.batch.folders import DocumentFields
    from framing.batch.inputs import (
        TABLE_SUFFIXES,
        BadRow,
        ReadOptions,
        check_input_type,
        expand_inputs,
        input_order,
        iter_input_items,
        precheck,
    )
    from framing.batch.stream import check_output_paths, classify_to_file, default_errors_path, output_lock
    from framing.batch.tables import output_kind, write_table
    from framing.files import write_jsonl_atomic

    unit = "sentence rows" if sentences else "articles"
    to_stdout = output is not None and str(output) == "-"
    display: dict[str, str] = {}
    if backend not in BACKENDS:
        fail(f"--backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    try:
        if str(Path("-")) in map(str, inputs):
            spooled = _spool_stdin(Path(scratch))
            display[str(spooled)] = "-"
            inputs = [spooled if str(p) == "-" else p for p in inputs]
        for path in inputs:
            if not path.is_dir():
                # Fail early on files named explicitly; a bad file found in a folder of many is
                # an error row, as one bad article in a list is.
                check_input_type(path)
                precheck(path)
        roots: dict[str, Path] = {}
        inputs, passed_over = expand_inputs(inputs, roots)
        if output is not None and not to_stdout:
            errors_path = errors_path or default_errors_path(output)
        check_output_paths(inputs, None if to_stdout else output, errors_path or Path("framing-errors.jsonl"))
        kind = "jsonl" if output is None or to_stdout else output_kind(output)
        if passed_over:
            note = f"{passed_over} files in the input folders are not .jsonl, .txt or .html: not read"
            err_console.print(note, highlight=False)
        if outlet_from_folder and not roots:
            fail("--outlet-from-folder needs an input folder (its first level of folders are the outlets)")
        documents = DocumentFields(roots, outlet_from_folder, metadata)
        options = ReadOptions(text_column, id_column, documents, display)
        if use_ray:
            if output is None or to_stdout:
                fail("--ray writes a file: give -o OUT")
            tables = any(p.suffix.lower() in TABLE_SUFFIXES for p in inputs)
            if kind != "jsonl" or tables or display or (text_column, id_column) != ("text", "id"):
                fail("--ray reads JSONL, .txt and .html files and writes JSONL: no tables, stdin or column options")
            import importlib.util

            try:
                has_ray = importlib.util.find_spec("ray") is not None
            except (ImportError, ValueError):
                has_ray = False
            if not has_ray:
                fail("--ray needs the ray extra: pip install -e '.[ray]'")
            from framing.batch.ray_runner import classify_with_ray
            from framing.model.folder import check_model_folder

            check_model_folder(resolve_model(model), trust=trust)  # one line here, not a traceback in a worker
            with output_lock(output):
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
                    options=ReadOptions(documents=documents),
                    trust=trust,
                )
            err_console.print(
                f"{rows_in} input {unit}: {rows_in - failed} classified into {rows_out} output rows, "
                f"{failed} in errors; written to {output}",
                highlight=False,
            )
            return
        classifier = load_classifier(model, backend, trust=trust)
        with progress_bar() as progress:
            if output is not None and not to_stdout:
                task = progress.add_task(f"classifying {unit}", total=None)
                count_in_background(progress, task, inputs)
                # A table is made from the finished JSONL run, which is what resumes after a crash.
                streamed = output if kind == "jsonl" else output.with_name(output.name + ".rows.jsonl")
                summary = classify_to_file(
                    classifier,
                    inputs,
                    streamed,
                    sentences,
                    errors_path or default_errors_path(output),
                    batch_size,
                    chunk_sentences,
                    on_rows=lambda n: progress.advance(task, n),
                    options=options,
                    restart=restart,
                )
                if kind != "jsonl":
                    write_table(streamed, output)
                    streamed.unlink()
                if summary.resumed:
                    err_console.print("resumed an interrupted run", highlight=False)
                _report_documents(documents)
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
                for _, item in iter_input_items(inputs, options=options):
                    if isinstance(item, BadRow):
                        bad.append(item)
                    else:
                        n_read += 1
                        yield item

            run = classify_sentence_rows if sentences else classify_article_rows
            skipped: list[BadRow] = []
            collected = []
            for row in run(classifier, rows(), skipped, batch_size, on_sentences=advance):
                if to_stdout:
                    # Streamed as made, for a pipe; nothing is held.
                    sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
                    collected.append(None)
                else:
                    collected.append(row)
            sys.stdout.flush()
    except FramingError as exc:
        fail(str(exc))
    except OSError as exc:
        # A read-only folder, a full disk, a folder where a file should be: one line, not a traceback.
        verb = "read" if exc.filename in {str(p) for p in inputs} else "write"
        fail(f"{exc.filename or output}: cannot {verb} ({exc.strerror or exc})")
    _report_documents(documents)
    if not to_stdout:
        _print_rows(collected)
    errors = sorted(bad + skipped, key=input_order(inputs))
    if errors:
        errors_file = errors_path or Path("framing-errors.jsonl")
        try:
            write_jsonl_atomic(errors_file, (e.to_dict() for e in errors))
        except OSError as exc:
            fail(f"{exc.filename or errors_file}: cannot write ({exc.strerror or exc})")
        err_console.print(f"{len(errors)} input row(s) could not be classified: see {errors_file}", highlight=False)
    err_console.print(
        f"{n_read + len(bad)} input {unit}: {n_read - len(skipped)} classified into {len(collected)} output rows, "
        f"{len(errors)} in errors",
        highlight=False,
    )


def default_errors_path(output: Path) -> Path:
    from framing.batch.stream import default_errors_path as beside

    return beside(output)


def _report_documents(documents) -> None:
    if documents.metadata is not None and documents.unmatched:
        err_console.print(
            f"{len(documents.unmatched)} article file(s) have no row in {documents.metadata}: no metadata for them",
            highlight=False,
        )
