"""Classifying streams of articles or sentences in batches, row order kept.

Article mode: each input row is an article; the output has one row per sentence, carrying the
article's other fields, `article` (its id), `sentence`, `start`, `end`, `text`, `lang`,
`label` and `scores`. Sentence mode: each row is one sentence; the output row is the input row
plus `lang`, `label` and `scores`. Consecutive sentence rows that share an `article` value give
each other context, as the sentences of an article do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from framing.inputs import BadRow, InputRow
from model.classifier import FramingClassifier
from model.langid import detect_language, is_supported
from model.segment import segment

#: Sentences classified per model call; larger batches sort better by length.
CHUNK_SENTENCES = 512


def _scored(row: dict, lang: str, label: str, scores: dict[str, float]) -> dict:
    return {**row, "lang": lang, "label": label, "scores": {k: round(v, 5) for k, v in scores.items()}}


def classify_sentence_rows(
    classifier: FramingClassifier,
    rows: Iterable[InputRow],
    errors: list[BadRow],
    batch_size: int = 32,
    on_sentences: Callable[[int], None] | None = None,
) -> Iterator[dict]:
    chunk: list[InputRow] = []
    previous: dict | None = None  # last row of the previous chunk, for context

    def flush() -> Iterator[dict]:
        nonlocal previous
        texts = [r.fields["text"] for r in chunk]
        contexts = []
        for r in chunk:
            same = previous is not None and "article" in r.fields and previous.get("article") == r.fields["article"]
            contexts.append(previous["text"] if same else None)
            previous = r.fields
        predictions = classifier.predict(texts, contexts, batch_size, on_batch=on_sentences)
        for r, p in zip(chunk, predictions, strict=True):
            hint = r.fields.get("lang") if isinstance(r.fields.get("lang"), str) else None
            yield _scored(r.fields, detect_language(r.fields["text"], hint), p.label, p.scores)
        chunk.clear()

    for row in rows:
        if not row.fields["text"].strip():
            errors.append(BadRow(row.source, row.line, "empty text"))
            previous = None
            continue
        chunk.append(row)
        if len(chunk) >= CHUNK_SENTENCES:
            yield from flush()
    if chunk:
        yield from flush()


def classify_article_rows(
    classifier: FramingClassifier,
    rows: Iterable[InputRow],
    errors: list[BadRow],
    batch_size: int = 32,
    on_sentences: Callable[[int], None] | None = None,
) -> Iterator[dict]:
    pending: list[tuple[InputRow, list]] = []
    n_pending = 0

    def flush() -> Iterator[dict]:
        texts, contexts = [], []
        for _, sentences in pending:
            texts += [s.text for s in sentences]
            contexts += [None, *[s.text for s in sentences[:-1]]]
        predictions = iter(classifier.predict(texts, contexts, batch_size, on_batch=on_sentences))
        for row, sentences in pending:
            base = {k: v for k, v in row.fields.items() if k != "text"}
            article_id = row.fields.get("id", row.fields.get("article", f"{row.source}:{row.line}"))
            hint = detect_language(row.fields["text"])
            hint = hint if is_supported(hint) else None
            for index, s in enumerate(sentences):
                p = next(predictions)
                out = {**base, "article": article_id, "sentence": index, "start": s.start, "end": s.end, "text": s.text}
                yield _scored(out, detect_language(s.text, hint), p.label, p.scores)
        pending.clear()

    for row in rows:
        sentences = segment(row.fields["text"])
        if not sentences:
            errors.append(BadRow(row.source, row.line, "no sentences in text (empty or whitespace only)"))
            continue
        pending.append((row, sentences))
        n_pending += len(sentences)
        if n_pending >= CHUNK_SENTENCES:
            yield from flush()
            n_pending = 0
    if pending:
        yield from flush()
