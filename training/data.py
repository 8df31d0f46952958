"""Corpus loading, validation, splitting by article, and conversion to model features.

Corpus schema (one sentence a row, articles in reading order): `id, article, outlet, lang,
text, label`, and for attributed_fact / analyst_claim also `source` (the source's words, a
substring of the sentence) and `source_type`. Optional: topic, region, date.
"""

from __future__ import annotations

import csv
import hashlib
import random
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from framing.errors import FramingError
from framing.limits import iter_json_objects
from framing.model.labels import LABEL2ID, LABELS, SOURCE_TYPES, SOURCED_LABELS
from framing.training.config import Config

REQUIRED_FIELDS: tuple[str, ...] = ("id", "article", "outlet", "lang", "text", "label")
OPTIONAL_FIELDS: tuple[str, ...] = (
    "source",
    "source_type",
    "source_named",
    "vague_attribution",
    "pattern",
    "topic",
    "region",
    "date",
    "split",
)
#: Hard patterns a writer may tag a row with (docs/corpus.md); test_hard reports per pattern.
PATTERNS: tuple[str, ...] = (
    "far_follow_on",
    "long_sentence",
    "mentions_statement",
    "report_interpreter_vs_monitor",
    "vague",
    "furniture",
    "web_orthography",
    "commentary",
)


class CorpusError(FramingError):
    """A corpus file that cannot be used; the message names the file, line and problem."""


def _open_text(path: Path):
    if not path.exists():
        raise CorpusError(f"{path}: file not found")
    if path.is_dir():
        raise CorpusError(f"{path}: is a folder, not a corpus file")
    head = path.open("rb").read(4096)
    if b"\x00" in head:
        raise CorpusError(f"{path}: binary file, expected UTF-8 JSONL or CSV")
    return path.open(encoding="utf-8-sig", newline="")


def iter_raw_rows(path: str | Path) -> Iterator[tuple[int, dict]]:
    """(line number, row) for each record of a JSONL or CSV file; bad lines raise CorpusError."""
    path = Path(path)
    if path.suffix.lower() != ".csv":
        yield from iter_json_objects(path, CorpusError)
        return
    with _open_text(path) as fh:
        try:
            reader = csv.DictReader(fh)
            for row in reader:
                yield reader.line_num, {k: v for k, v in row.items() if k is not None and v != ""}
        except UnicodeDecodeError as exc:
            raise CorpusError(f"{path}: invalid UTF-8 ({exc.reason} at byte {exc.start})") from None


def validate_row(row: dict, where: str) -> dict:
    for field in REQUIRED_FIELDS:
        value = row.get(field)
        if not isinstance(value, str) or not value.strip():
            raise CorpusError(f"{where}: field '{field}' is missing or not a non-empty string")
    if row["label"] not in LABEL2ID:
        raise CorpusError(f"{where}: unknown label '{row['label']}' (expected one of {', '.join(LABELS)})")
    if row["label"] in SOURCED_LABELS:
        source = row.get("source")
        if not isinstance(source, str) or not source:
            raise CorpusError(f"{where}: {row['label']} needs a 'source'")
        if source not in row["text"]:
            raise CorpusError(f"{where}: source '{source}' is not a substring of the text")
        if row.get("source_type") not in SOURCE_TYPES:
            raise CorpusError(f"{where}: source_type '{row.get('source_type')}' is not one of {', '.join(SOURCE_TYPES)}")
        if (row["label"] == "analyst_claim") != (row["source_type"] == "expert_analyst"):
            raise CorpusError(f"{where}: source_type expert_analyst is for analyst_claim rows, and only for them")
        if "source_named" in row and not isinstance(row["source_named"], bool):
            raise CorpusError(f"{where}: source_named must be true or false")
    else:
        for field in ("source", "source_type", "source_named"):
            if field in row:
                raise CorpusError(f"{where}: '{field}' is only for attributed_fact and analyst_claim rows")
    if "vague_attribution" in row:
        if not isinstance(row["vague_attribution"], bool):
            raise CorpusError(f"{where}: vague_attribution must be true or false")
        if row["vague_attribution"] and row["label"] == "other":
            raise CorpusError(f"{where}: an 'other' row makes no claim, so it cannot borrow authority (vague_attribution)")
    if "pattern" in row and row["pattern"] not in PATTERNS:
        raise CorpusError(f"{where}: pattern '{row['pattern']}' is not one of {', '.join(PATTERNS)}")
    return {k: row[k] for k in (*REQUIRED_FIELDS, *OPTIONAL_FIELDS) if k in row}


def _read_rows(paths: str | Path | Iterable[str | Path], make_row: Callable[[dict, str], dict]) -> list[dict]:
    """Rows of one or more corpus files, in file order, each made (and checked) by
    `make_row(raw, "file:line")`; ids, where rows have them, must be unique across the files."""
    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    rows: list[dict] = []
    seen: dict[str, str] = {}
    for path in paths:
        for number, raw in iter_raw_rows(path):
            where = f"{path}:{number}"
            row = make_row(raw, where)
            if row.get("id") is not None:
                key = str(row["id"])
                if key in seen:
                    raise CorpusError(f"{where}: duplicate id '{key}' (first at {seen[key]})")
                seen[key] = where
            rows.append(row)
    if not rows:
        raise CorpusError(f"{', '.join(map(str, paths))}: no rows")
    return rows


def load_corpus(paths: str | Path | Iterable[str | Path]) -> list[dict]:
    """Validated rows of one or more corpus files, in file order; ids must be unique."""
    return _read_rows(paths, validate_row)


def load_sample(paths: str | Path | Iterable[str | Path]) -> list[dict]:
    """A labelled sample to evaluate on: rows need only `text` and `label`; `article` (which
    gives the preceding sentence as context, and is the unit of resampling), `lang` (detected
    when absent), `id` and any other fields are kept as given. Any bad row stops, naming its line:
    a score on a silently shortened sample would describe another sample."""
    return _read_rows(paths, _sample_row)


def _sample_row(raw: dict, where: str) -> dict:
    from framing.model.langid import detect_language

    if not isinstance(raw.get("text"), str) or not raw["text"].strip():
        raise CorpusError(f"{where}: field 'text' is missing or not a non-empty string")
    if raw.get("label") not in LABEL2ID:
        raise CorpusError(f"{where}: unknown label {raw.get('label')!r} (expected one of {', '.join(LABELS)})")
    row = dict(raw)
    if not isinstance(row.get("lang"), str) or not row["lang"].strip():
        row["lang"] = detect_language(row["text"])
    return row


def documents_of(rows: list[dict]) -> list[list[dict]]:
    """Runs of consecutive rows of the same article, in order: the documents the model reads."""
    documents: list[list[dict]] = []
    for row in rows:
        if documents and row.get("article") is not None and documents[-1][0].get("article") == row["article"]:
            documents[-1].append(row)
        else:
            documents.append([row])
    return documents


def with_context(rows: list[dict]) -> list[dict]:
    """Add `context`: the previous row's text when it belongs to the same article (rows with
    no `article` stand alone)."""
    out = []
    previous: dict | None = None
    for row in rows:
        same = previous is not None and row.get("article") is not None and previous.get("article") == row.get("article")
        out.append({**row, "context": previous["text"] if same else None})
        previous = row
    return out


def split_by_article(rows: list[dict], fraction: float, seed: int) -> tuple[list[dict], list[dict]]:
    """(rest, held out): whole articles, about `fraction` of the sentences held out."""
    by_article: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_article[row["article"]].append(row)
    articles = sorted(by_article)
    random.Random(seed).shuffle(articles)
    target = fraction * len(rows)
    held: set[str] = set()
    count = 0
    for article in articles:
        if count >= target:
            break
        held.add(article)
        count += len(by_article[article])
    return [r for r in rows if r["article"] not in held], [r for r in rows if r["article"] in held]


def subsample_articles(rows: list[dict], max_sentences: int, seed: int) -> list[dict]:
    """Whole articles, seeded, up to `max_sentences` sentences; order kept."""
    if len(rows) <= max_sentences:
        return rows
    _, kept = split_by_article(rows, max_sentences / len(rows), seed)
    return kept


def corpus_hash(paths: Iterable[str | Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()


def label_counts(rows: Iterable[dict]) -> Counter:
    return Counter(row["label"] for row in rows)


@dataclass
class Splits:
    train: list[dict]
    dev: list[dict]
    test: list[dict] | None
    files: list[Path]


def load_splits(config: Config) -> Splits:
    data = config.data
    train_path = config.resolve_path(data.train)
    files = [train_path]
    train_rows = load_corpus(train_path)
    n_train_file = len(train_rows)
    if data.dev:
        dev_path = config.resolve_path(data.dev)
        files.append(dev_path)
        dev_rows = load_corpus(dev_path)
    else:
        train_rows, dev_rows = split_by_article(train_rows, data.dev_fraction, config.seed)
    test_rows = None
    if data.test:
        test_path = config.resolve_path(data.test)
        files.append(test_path)
        test_rows = load_corpus(test_path)
    if data.max_train_sentences:
        train_rows = subsample_articles(train_rows, data.max_train_sentences, config.seed)
    if data.extra:
        extra_paths = [config.resolve_path(p) for p in data.extra]
        files += extra_paths
        # Loaded together with the training file, so an id in both is a duplicate, named.
        extra_rows = load_corpus([train_path, *extra_paths])[n_train_file:]
        train_rows = train_rows + extra_rows
    overlap = {r["article"] for r in train_rows} & {r["article"] for r in dev_rows + (test_rows or [])}
    if overlap:
        raise CorpusError(f"{train_path}: articles in two splits: {', '.join(sorted(overlap)[:5])}")
    missing = [label for label in LABELS if label not in label_counts(train_rows)]
    if missing:
        raise CorpusError(f"{train_path}: label(s) {', '.join(missing)} missing entirely from the training data")
    return Splits(train_rows, dev_rows, test_rows, files)
