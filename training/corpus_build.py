"""Assemble the corpus splits from the writers' files.

Test articles were written in a separate pass, by separate writers, on their own events and
outlets (folders named `*-t`); they form the test split whole. Dev is drawn from the other
articles, whole articles at a time, seeded.
"""

from __future__ import annotations

from pathlib import Path

from framing.files import write_jsonl_atomic
from framing.training.corpus_checks import cross_split_duplicates
from framing.training.data import load_corpus, split_by_article

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
    # Page furniture repeats across an outlet's pages ("Share this article", a kicker); a
    # sentence may sit in one split only, so a repeat is dropped from the split that can best
    # spare it (train before dev, dev before test), keeping the evaluation articles whole.
    dropped = {"train": 0, "dev": 0}
    for keep, spare in (("test", "train"), ("dev", "train"), ("test", "dev")):
        kept = {"train": train, "dev": dev, "test": test}
        clashes = cross_split_duplicates({"a_keep": kept[keep], "b_spare": kept[spare]})
        gone = {pair["b_spare"] for pair in clashes}
        dropped[spare] += len(gone)
        if spare == "train":
            train = [r for r in train if r["id"] not in gone]
        else:
            dev = [r for r in dev if r["id"] not in gone]
    counts = {f"dropped_from_{name}": n for name, n in dropped.items()}
    for name, split in (("train", train), ("dev", dev), ("test", test)):
        counts[name] = write_jsonl_atomic(out_dir / f"{name}.jsonl", (_ordered(r) for r in split))
    return counts
