"""`framing export labelstudio` and `framing import labelstudio`: the correction loop."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from framing.cli.common import err_console, fail
from framing.errors import FramingError

export_app = typer.Typer(no_args_is_help=True, help="Export sentences for correction in an annotation tool.")
import_app = typer.Typer(no_args_is_help=True, help="Import corrected labels as corpus rows.")


@export_app.command("labelstudio")
def export_labelstudio(
    inputs: Annotated[list[Path], typer.Argument(help="classified sentence JSONL (`framing classify -o` output)")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Label Studio tasks to write (JSON)")] = Path("tasks.json"),
    config: Annotated[Path | None, typer.Option("--config", help="labelling config to write (default: OUT with .xml)")] = None,
    n: Annotated[int, typer.Option("-n", "--n", help="sentences to export", min=1)] = 200,
    random_share: Annotated[
        float, typer.Option(help="share drawn at random rather than least sure (keeps estimates honest)", min=0, max=1)
    ] = 0.2,
    by: Annotated[str, typer.Option(help="least sure by margin (top two probabilities) or entropy")] = "margin",
    seed: int = 0,
) -> None:
    """Write the sentences the model is least sure of (and a random share) as Label Studio tasks,
    with the model's predictions as pre-annotations, plus the labelling config."""
    from framing.batch.labelstudio import labelling_config, read_classified, select, task
    from framing.files import write_json_atomic, write_text_atomic

    if by not in ("margin", "entropy"):
        fail(f"--by must be margin or entropy, not {by!r}")
    try:
        rows = read_classified(inputs)
    except FramingError as exc:
        fail(str(exc))
    if not rows:
        fail(f"{', '.join(map(str, inputs))}: no rows")
    chosen = select(rows, n, random_share, by, seed)
    write_json_atomic(output, [task(row, context, how, score) for row, context, how, score in chosen])
    config = config or output.with_suffix(".xml")
    write_text_atomic(config, labelling_config())
    n_random = sum(how == "random" for *_, how, _ in chosen)
    err_console.print(
        f"{len(chosen)} tasks ({len(chosen) - n_random} least sure by {by}, {n_random} at random) written to {output}; "
        f"labelling config in {config}",
        highlight=False,
    )


@import_app.command("labelstudio")
def import_labelstudio(
    export: Annotated[Path, typer.Argument(help="Label Studio JSON export of the corrected tasks")],
    output: Annotated[Path, typer.Option("-o", "--output", help="corpus rows to write (JSONL)")] = Path("corrections.jsonl"),
) -> None:
    """Turn a Label Studio JSON export into corpus rows (checked as the training corpus is) that a
    training config can add with `data.extra`."""
    from framing.batch.labelstudio import corpus_rows
    from framing.files import write_jsonl_atomic
    from framing.training.data import load_corpus, validate_row

    rows, skipped = [], []
    try:
        for number, row in enumerate(corpus_rows(export), 1):
            if isinstance(row, str):
                skipped.append(row)
            else:
                rows.append(validate_row(row, f"{export}: task {row['id']} (#{number})"))
        if not rows:
            fail(f"{export}: no annotated tasks")
        write_jsonl_atomic(output, rows)
        load_corpus(output)  # the corpus loader's own checks (duplicate ids among them)
    except FramingError as exc:
        fail(str(exc))
    note = f"; {len(skipped)} task(s) not annotated, left out" if skipped else ""
    err_console.print(f"{len(rows)} corpus rows written to {output}{note}", highlight=False)
