"""What every command shares: the consoles, the one-line failure, loading a model, progress bars."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from typing import NoReturn

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

console = Console()
err_console = Console(stderr=True)

#: Where `framing classify` looks when no --model is given.
DEFAULT_MODEL_ENV = "FRAMING_MODEL"


def fail(message: str, code: int = 2) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def resolve_model(model: Path | None) -> Path:
    if model is not None:
        return model
    if os.environ.get(DEFAULT_MODEL_ENV):
        return Path(os.environ[DEFAULT_MODEL_ENV])
    from framing.model.default_model import default_model_dir

    found = default_model_dir()
    if found is None:
        fail(
            "no --model given and no default model installed; train one with "
            "`framing train configs/quick.yaml -o runs/quick` and pass --model runs/quick"
        )
    return found


def quiet_transformers() -> None:
    """No transformers progress bars under our own spinner, without importing transformers
    (the ONNX path never does): it reads huggingface_hub's switch when first imported."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    if "transformers" in sys.modules:
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()


def load_classifier(model: Path | None, backend: str = "auto"):
    from framing.model.classifier import FramingClassifier

    path = resolve_model(model)
    quiet_transformers()
    with console.status(f"loading model {path}", spinner="dots"):
        return FramingClassifier.from_pretrained(path, backend=backend)


def progress_bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
    )


def count_in_background(progress: Progress, task: TaskID, inputs: list[Path]) -> None:
    """Give the bar its total (and so a time remaining) once the input lines are counted: a
    large archive takes a while to count (docs/performance.md, "Small costs"),
    and classifying starts meanwhile."""
    from framing.batch.inputs import count_input_rows

    def count() -> None:
        try:
            progress.update(task, total=count_input_rows(inputs))
        except OSError:
            pass  # only the bar's total is lost; reading the input reports the problem itself

    threading.Thread(target=count, daemon=True).start()
