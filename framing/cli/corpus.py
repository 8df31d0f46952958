"""`framing corpus`: stats, agreement and build of the labelled corpus."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from framing.cli.common import console, fail
from framing.errors import FramingError

corpus_app = typer.Typer(no_args_is_help=True, help="Inspect a labelled corpus.")


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
    except FramingError as exc:
        fail(str(exc))
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
    extra = {
        "span_exact": "span exact",
        "span_token_f1": "span token F1",
        "source_type_kappa": "type kappa",
        "source_named_kappa": "named kappa",
        "vague_kappa": "vague kappa",
    }
    for column in ("lang", "sentences", "Cohen's kappa", "raw agreement", "disagreements", *extra.values()):
        table.add_column(column)
    for lang, stats in agreement(rows).items():
        table.add_row(
            lang,
            str(stats["n"]),
            f"{stats['kappa']:.3f}",
            f"{stats['raw_agreement']:.3f}",
            str(stats["disagreements"]),
            *[f"{stats[key]:.3f}" if key in stats else "–" for key in extra],
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
    except FramingError as exc:
        fail(str(exc))
    console.print(", ".join(f"{name}: {n}" for name, n in counts.items()))
