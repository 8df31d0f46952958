"""Classifying articles or sentences in chunks, row order kept.

Article mode: each input row is an article; the output has one row per sentence, carrying the
article's other fields, `article` (its id), `id` (`article:sentence`, so the output can be read
again as sentence rows), `sentence`, `start`, `end`, `text`, `lang`, `label` and `scores`.
Sentence mode: each row is one sentence; the output row is the input row plus `lang`, `label`
and `scores`, and an input `label` is kept as `gold_label` (a row that already holds a prediction,
with `scores`, is classified afresh). Consecutive sentence rows that share an `article` value are
read together, as the sentences of an article are. Every output row names the model that made
it: `model` (its folder's name) and `model_sha256` (`FramingClassifier.checksum`). A model with
source heads adds the source fields (`SOURCE_FIELDS`: null where the label has no source) and,
in article mode, `source_article_start`/`source_article_end`, the source's offsets in the article.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from framing.batch.inputs import BadRow, InputRow
from framing.model.classifier import SOURCE_FIELDS, ClassifiedSentence, FramingClassifier, Prediction
from framing.model.langid import detect_language

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
    if not sentences_mode:
        return _classify_article_chunk(classifier, rows, batch_size, on_sentences) + (context,)
    failed: list[BadRow] = []
    # Runs of rows of one article are read together; the chunk's first run starts with the
    # sentence before the chunk (context only) when it belongs to the same article.
    documents: list[list[str]] = []
    first_targets: list[int] = []
    kept: list[InputRow] = []
    previous_kept = False
    for row in rows:
        text = row.fields["text"]
        if not text.strip():
            failed.append(BadRow(row.source, row.line, "empty text"))
            context = context_after(row.fields)
            previous_kept = False
            continue
        same = context is not None and "article" in row.fields and context.get("article") == row.fields["article"]
        if same and previous_kept:
            documents[-1].append(text)
        elif same and context is not None:
            documents.append([context["text"], text])
            first_targets.append(1)
        else:
            documents.append([text])
            first_targets.append(0)
        context = context_after(row.fields)
        kept.append(row)
        previous_kept = True
    predicted = classifier.predict_documents(documents, first_targets, batch_size, on_batch=on_sentences) if documents else []
    predictions = [p for document in predicted for p in document]
    sources = classifier.source_heads
    out = []
    made_by = model_fields(classifier)
    for row, p in zip(kept, predictions, strict=True):
        hint = row.fields.get("lang") if isinstance(row.fields.get("lang"), str) else None
        out.append(_scored(keep_gold(row.fields), detect_language(row.fields["text"], hint), p, sources, made_by))
    return out, failed, context


def keep_gold(fields: dict) -> dict:
    """A sentence row's `label` is a gold label unless the row holds a model's prediction
    (`scores`): keep it as `gold_label`, where the prediction cannot overwrite it."""
    if "label" not in fields:
        return fields
    if "scores" in fields or "gold_label" in fields:
        # An earlier prediction (or a row that already keeps its gold apart): replaced below.
        return {k: v for k, v in fields.items() if k != "label"}
    return {("gold_label" if k == "label" else k): v for k, v in fields.items()}


def model_fields(classifier: FramingClassifier) -> dict:
    """`model` and `model_sha256` for every output row, so that rows made by two models can
    never pass for one run's."""
    checksum = getattr(classifier, "checksum", None)
    if checksum is None:
        return {}
    return {"model": classifier.name, "model_sha256": checksum}


def _classify_article_chunk(
    classifier: FramingClassifier, rows: list[InputRow], batch_size: int, on_sentences: Callable[[int], None] | None
) -> tuple[list[dict], list[BadRow]]:
    failed: list[BadRow] = []
    out: list[dict] = []
    articles = classifier.classify_articles([row.fields["text"] for row in rows], batch_size, on_sentences)
    made_by = model_fields(classifier)
    for row, sentences in zip(rows, articles, strict=True):
        if not sentences:
            failed.append(BadRow(row.source, row.line, "no sentences in text (empty or whitespace only)"))
            continue
        base = {k: v for k, v in row.fields.items() if k not in ("text", "id")}
        article_id = row.fields.get("id", row.fields.get("article", f"{Path(row.source).name}:{row.line}"))
        sources = classifier.source_heads
        for index, s in enumerate(sentences):
            # Each sentence its own id: the article's id on every row would make the output
            # unreadable as sentence rows (duplicate ids) and unjoinable to labels.
            fields = {
                "id": f"{article_id}:{index}",
                **base,
                "article": article_id,
                "sentence": index,
                "start": s.start,
                "end": s.end,
                "text": s.text,
            }
            scored = _scored(fields, s.lang, s, sources, made_by)
            if sources:
                sentence = s.to_dict()
                scored["source_article_start"] = sentence["source_article_start"]
                scored["source_article_end"] = sentence["source_article_end"]
            out.append(scored)
    return out, failed


def _scored(row: dict, lang: str, prediction: Prediction | ClassifiedSentence, sources: bool, made_by: dict) -> dict:
    """The output row: the input's fields, `lang`, `label`, rounded `scores`, from a model with
    source heads the source fields, and the model that made it."""
    out = {**row, "lang": lang, "label": prediction.label, "scores": {k: round(v, 5) for k, v in prediction.scores.items()}}
    if sources:
        for name in SOURCE_FIELDS:
            value = getattr(prediction, name)
            out[name] = round(value, 5) if isinstance(value, float) else value
    return {**out, **made_by}


@dataclass
class Chunk:
    """Consecutive input items: the rows to classify, the bad rows among them, and the position
    (file index, line) and byte span of the last item, where a checkpoint can resume."""

    rows: list[InputRow] = field(default_factory=list)
    bad: list[BadRow] = field(default_factory=list)
    #: every item in input order with the byte span of its JSONL line (None for a whole file)
    items: list[tuple[InputRow | BadRow, tuple[int, int] | None]] = field(default_factory=list)
    last: tuple[int, int] = (0, 0)


def iter_chunks(
    items: Iterable[tuple[int, InputRow | BadRow, tuple[int, int] | None]], size: Callable[[InputRow], int], limit: int
) -> Iterator[Chunk]:
    """The one chunk loop of every run (in memory, streamed to a file, planned for Ray): cut
    (file index, item, byte span) triples into chunks whose rows' sizes add up to `limit`."""
    chunk, total = Chunk(), 0
    for file_index, item, span in items:
        chunk.last = (file_index, item.line)
        chunk.items.append((item, span))
        if isinstance(item, BadRow):
            chunk.bad.append(item)
            continue
        chunk.rows.append(item)
        total += size(item)
        if total >= limit:
            yield chunk
            chunk, total = Chunk(last=chunk.last), 0
    if chunk.rows or chunk.bad:
        yield chunk


def sentence_budget(sentences_mode: bool) -> Callable[[InputRow], int]:
    """A chunk's size counted in (estimated) sentences."""
    return lambda row: estimated_sentences(row, sentences_mode)


def _classify_rows(
    classifier: FramingClassifier,
    rows: Iterable[InputRow],
    errors: list[BadRow],
    sentences_mode: bool,
    batch_size: int,
    on_sentences: Callable[[int], None] | None,
) -> Iterator[dict]:
    context: dict | None = None
    for chunk in iter_chunks(((0, row, None) for row in rows), sentence_budget(sentences_mode), CHUNK_SENTENCES):
        out, failed, context = classify_chunk(classifier, chunk.rows, sentences_mode, context, batch_size, on_sentences)
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
