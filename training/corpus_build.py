"""Assemble the corpus splits from the writers' files.

Test articles were written in a separate pass, by separate writers, on their own events and
outlets (folders named `*-t`); they form the test split whole. The hard test part (folders named
`*-h`: articles dense with the patterns real news has and the model gets wrong, again by its own
writers and outlets) forms `test_hard.jsonl` whole. Dev is drawn from the other articles, whole
articles at a time, seeded.
"""

from __future__ import annotations

from pathlib import Path

from framing.files import write_jsonl_atomic
from framing.training.corpus_checks import cross_split_duplicates
from framing.training.data import load_corpus, split_by_article

FIELD_ORDER = (
    "id",
    "article",
    "outlet",
    "lang",
    "topic",
    "region",
    "date",
    "text",
    "label",
    "source",
    "source_type",
    "source_named",
    "vague_attribution",
    "pattern",
)
#: Folder suffixes of the writers' folders that form an evaluation split whole.
HELD_OUT = {"-t": "test", "-h": "test_hard"}


def _ordered(row: dict) -> dict:
    return {k: row[k] for k in FIELD_ORDER if k in row}


def build_splits(raw_dir: Path, out_dir: Path, dev_fraction: float = 0.12, seed: int = 2026) -> dict[str, int]:
    folders = sorted(p for p in raw_dir.iterdir() if p.is_dir())
    held = {
        name: [f for d in folders if d.name.endswith(suffix) for f in sorted(d.glob("*.jsonl"))]
        for suffix, name in HELD_OUT.items()
    }
    train_files = [f for d in folders if not d.name.endswith(tuple(HELD_OUT)) for f in sorted(d.glob("*.jsonl"))]
    rows = load_corpus(train_files)
    test = load_corpus(held["test"]) if held["test"] else []
    test_hard = load_corpus(held["test_hard"]) if held["test_hard"] else []
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
    for keep, spare in (("test", "train"), ("test_hard", "train"), ("dev", "train"), ("test", "dev"), ("test_hard", "dev")):
        kept = {"train": train, "dev": dev, "test": test, "test_hard": test_hard}
        clashes = cross_split_duplicates({"a_keep": kept[keep], "b_spare": kept[spare]})
        gone = {pair["b_spare"] for pair in clashes}
        dropped[spare] += len(gone)
        if spare == "train":
            train = [r for r in train if r["id"] not in gone]
        else:
            dev = [r for r in dev if r["id"] not in gone]
    counts = {f"dropped_from_{name}": n for name, n in dropped.items()}
    for name, split in (("train", train), ("dev", dev), ("test", test), ("test_hard", test_hard)):
        if name == "test_hard" and not split:
            continue
        counts[name] = write_jsonl_atomic(out_dir / f"{name}.jsonl", (_ordered(r) for r in split))
    return counts
