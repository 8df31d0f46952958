"""`framing baselines`: cue-word rules and TF-IDF on a config's split."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from framing.cli.common import console, fail
from framing.errors import FramingError


def baselines(
    config: Annotated[Path, typer.Argument(help="training config: its train/dev/test files are used")],
    json_out: Annotated[Path | None, typer.Option("--json", help="also write the reports as JSON")] = None,
) -> None:
    """Cue-word rules and TF-IDF + logistic regression on the config's split."""
    try:
        from framing.files import write_json_atomic
        from framing.training.baselines import cue_word_predict, tfidf_logreg
        from framing.training.config import load_config
        from framing.training.data import load_splits
        from framing.training.evaluate import framing_report, render_report

        cfg = load_config(config)
        splits = load_splits(cfg)
    except FramingError as exc:
        fail(str(exc))
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
