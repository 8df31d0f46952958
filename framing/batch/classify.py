"""Classifying articles or sentences in chunks, row order kept.

Article mode: each input row is an article; the output has one row per sentence, carrying the
article's other fields, `article` (its id), `sentence`, `start`, `end`, `text`, `lang`,
`label` and `scores`. Sentence mode: each row is one sentence; the output row is the input row
plus `lang`, `label` and `scores`. Consecutive sentence rows that share an `article` value give
each other context, as the sentences of an article do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from framing.batch.inputs import BadRow, InputRow
from framing.model.classifier import FramingClassifier
from framing.model.langid import detect_language, is_supported
from framing.model.segment import segment

#: Sentences classified per model call; larger batches sort better by length.
CHUNK_SENTENCES = 512
#: Characters per sentence in news text, roughly; used only to size chunks of articles.
_CHARS_PER_SENTENCE = 120


def estimated_sentences(row: InputRow, sentences_mode: bool) -> int:
    return 1 if sentences_mode else max(1, len(row.fields["text"]) // _CHARS_PER_SENTENCE)


def context_after(fields: dict) -> dict | None:
    """The context a sentence row leaves for the row after it: itself, or none after an empty row."""
    return {"article": fields.get("article"), "text": fields["text"]} if fields["text"].strip() else None


def classify_chunk(
    classifier: FramingClassifier,
    rows: list[InputRow],
    sentences_mode: bool,
    context: dict | None,
    batch_size: int,
    on_sentences: Callable[[int], None] | None,
) -> tuple[list[dict], list[BadRow], dict | None]:
    """Output rows, rows with nothing to classify, and the context for the next chunk."""
    failed: list[BadRow] = []
    texts: list[str] = []
    contexts: list[str | None] = []
    plan: list[tuple[InputRow, list]] = []
    for row in rows:
        text = row.fields["text"]
        if sentences_mode:
            if not text.strip():
                failed.append(BadRow(row.source, row.line, "empty text"))
                context = context_after(row.fields)
                continue
            same = context is not None and "article" in row.fields and context.get("article") == row.fields["article"]
            texts.append(text)
            contexts.append(context["text"] if same else None)
            context = context_after(row.fields)
            plan.append((row, []))
        else:
            sentences = segment(text)
            if not sentences:
                failed.append(BadRow(row.source, row.line, "no sentences in text (empty or whitespace only)"))
                continue
            texts += [s.text for s in sentences]
            contexts += [None, *[s.text for s in sentences[:-1]]]
            plan.append((row, sentences))
    predictions = iter(classifier.predict(texts, contexts, batch_size, on_batch=on_sentences)) if texts else iter(())
    out: list[dict] = []
    for row, sentences in plan:
        if sentences_mode:
            p = next(predictions)
            hint = row.fields.get("lang") if isinstance(row.fields.get("lang"), str) else None
            out.append(_scored(row.fields, detect_language(row.fields["text"], hint), p.label, p.scores))
            continue
        base = {k: v for k, v in row.fields.items() if k != "text"}
        article_id = row.fields.get("id", row.fields.get("article", f"{Path(row.source).name}:{row.line}"))
        hint = detect_language(row.fields["text"])
        hint = hint if is_supported(hint) else None
        for index, s in enumerate(sentences):
            p = next(predictions)
            fields = {**base, "article": article_id, "sentence": index, "start": s.start, "end": s.end, "text": s.text}
            out.append(_scored(fields, detect_language(s.text, hint), p.label, p.scores))
    return out, failed, context


def _scored(row: dict, lang: str, label: str, scores: dict[str, float]) -> dict:
    return {**row, "lang": lang, "label": label, "scores": {k: round(v, 5) for k, v in scores.items()}}


def _classify_rows(
    classifier: FramingClassifier,
    rows: Iterable[InputRow],
    errors: list[BadRow],
    sentences_mode: bool,
    batch_size: int,
    on_sentences: Callable[[int], None] | None,
) -> Iterator[dict]:
    chunk: list[InputRow] = []
    size = 0
    context: dict | None = None
    for row in rows:
        chunk.append(row)
        size += estimated_sentences(row, sentences_mode)
        if size >= CHUNK_SENTENCES:
            out, failed, context = classify_chunk(classifier, chunk, sentences_mode, context, batch_size, on_sentences)
            errors.extend(failed)
            yield from out
            chunk, size = [], 0
    if chunk:
        out, failed, _ = classify_chunk(classifier, chunk, sentences_mode, context, batch_size, on_sentences)
        errors.extend(failed)
        yield from out


def classify_sentence_rows(
    classifier: FramingClassifier,
    rows: Iterable[InputRow],
    errors: list[BadRow],
    batch_size: int = 32,
    on_sentences: Callable[[int], None] | None = None,
) -> Iterator[dict]:
    """Each row one sentence; rows with empty text go to `errors`."""
    return _classify_rows(classifier, rows, errors, True, batch_size, on_sentences)


def classify_article_rows(
    classifier: FramingClassifier,
    rows: Iterable[InputRow],
    errors: list[BadRow],
    batch_size: int = 32,
    on_sentences: Callable[[int], None] | None = None,
) -> Iterator[dict]:
    """Each row an article, segmented; rows with no sentences go to `errors`."""
    return _classify_rows(classifier, rows, errors, False, batch_size, on_sentences)
