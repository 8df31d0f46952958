"""`framing train`: fine-tune from a config into a run folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from framing.cli.common import console, err_console, fail
from framing.errors import FramingError


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
    except FramingError as exc:
        fail(str(exc))
    console.print(render_report(metrics["dev"], "Dev"))
    if "test" in metrics:
        console.print(render_report(metrics["test"], "Test"))
    console.print(f"model saved to {output}")
