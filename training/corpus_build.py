"""Assemble the corpus splits from the writers' files.

Test articles were written in a separate pass, by separate writers, on their own events and
outlets (folders named `*-t`); they form the test split whole. Dev is drawn from the other
articles, whole articles at a time, seeded.
"""

from __future__ import annotations

from pathlib import Path

from framing.outputs import write_jsonl_atomic
from training.data import load_corpus, split_by_article

FIELD_ORDER = ("id", "article", "outlet", "lang", "topic", "region", "date", "text", "label", "source", "source_type")


def _ordered(row: dict) -> dict:
    return {k: row[k] for k in FIELD_ORDER if k in row}


def build_splits(raw_dir: Path, out_dir: Path, dev_fraction: float = 0.12, seed: int = 2026) -> dict[str, int]:
    folders = sorted(p for p in raw_dir.iterdir() if p.is_dir())
    test_files = [f for d in folders if d.name.endswith("-t") for f in sorted(d.glob("*.jsonl"))]
    train_files = [f for d in folders if not d.name.endswith("-t") for f in sorted(d.glob("*.jsonl"))]
    rows = load_corpus(train_files)
    test = load_corpus(test_files) if test_files else []
    train, dev = [], []
    for lang in sorted({r["lang"] for r in rows}):
        # Split each language separately so both have their share of dev articles.
        rest, held = split_by_article([r for r in rows if r["lang"] == lang], dev_fraction, seed)
        train += rest
        dev += held
    counts = {}
    for name, split in (("train", train), ("dev", dev), ("test", test)):
        counts[name] = write_jsonl_atomic(out_dir / f"{name}.jsonl", (_ordered(r) for r in split))
    return counts
