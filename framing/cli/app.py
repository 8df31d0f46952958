"""The `framing` command: a thin typer layer over plain functions, one module per command."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from framing.cli.baselines import baselines
from framing.cli.classify import classify
from framing.cli.common import console, err_console
from framing.cli.corpus import corpus_app
from framing.cli.evaluate import evaluate
from framing.cli.labelstudio import export_app, import_app
from framing.cli.outlets import outlets
from framing.cli.serve import serve
from framing.cli.train import train

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Label news sentences by how they are sourced.")


def _show_version(value: bool) -> None:
    if value:
        from framing import __version__

        console.print(f"framing {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_show_version, is_eager=True, help="print the version and exit")
    ] = False,
) -> None:
    """Label news sentences by how they are sourced."""


for command in (train, evaluate, baselines, classify, outlets, serve):
    app.command()(command)
app.add_typer(corpus_app, name="corpus")
app.add_typer(export_app, name="export")
app.add_typer(import_app, name="import")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
