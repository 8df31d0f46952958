"""`framing classify --ray`: the same chunk classifier, run by Ray Data on one machine or a cluster.

Each Ray worker loads the model once (a callable class in `map_batches`) and classifies chunks of
rows with `framing.batch.classify.classify_chunk`, the function the local path uses. The driver reads
the inputs once, as the local path does, to find bad rows and duplicate ids, but keeps no rows:
it cuts the good rows into chunks and sends Ray only where each chunk lies (file, byte range,
first line number, row count) and, in sentence mode, the sentence before it, which the chunk's
first row reads as context; the worker re-reads those lines with the same parser. So the
driver's memory grows with the number of chunks, bad rows and ids, not with the text. Chunks are
sent as JSON strings, so that Arrow's schema inference never sees them, and order is preserved
so that the output lines up with the input. Bad rows found while reading and rows with nothing
to classify found by the workers both go to the errors file.

Point it at a cluster with `--ray-address ray://HEAD:10001` (or set RAY_ADDRESS); the model
folder and the inputs must be readable at the same paths on every node (relative input paths
are taken from the driver's working directory).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

from framing.batch.classify import classify_chunk, context_after, iter_chunks
from framing.batch.inputs import (
    DEFAULT_OPTIONS,
    BadRow,
    InputRow,
    ReadOptions,
    input_order,
    iter_input_spans,
    iter_jsonl_spans,
    read_document,
)
from framing.batch.stream import default_errors_path
from framing.files import atomic_open, write_jsonl_atomic

#: A run of good rows of one file: [source as given, start byte, end byte, first line, rows];
#: start and end are None for a whole .txt/.html file, whose segment also holds the fields the
#: driver gave it besides its text (its id from its path, outlet, metadata). A chunk is a list
#: of segments.
Segment = list


def plan_chunks(
    inputs: list[Path],
    chunk_rows: int,
    errors: list[BadRow],
    sentences_mode: bool = False,
    options: ReadOptions = DEFAULT_OPTIONS,
) -> tuple[list[str], int]:
    """Chunks of up to `chunk_rows` good rows, in input order, each a JSON object holding its
    `segments` and, in sentence mode, the `context` its first row reads (the row before it, as
    on the local path); also the number of good rows. Bad rows (and duplicate ids) go to
    `errors` and end the current segment, so that a worker never meets them; a chunk may span
    files, as the local path's chunks do."""
    chunks: list[str] = []
    good = 0
    context = None
    for chunk in iter_chunks(iter_input_spans(inputs, options=options), lambda _row: 1, chunk_rows):
        errors.extend(chunk.bad)
        if not chunk.rows:
            continue
        segments: list[Segment] = []
        open_segment: Segment | None = None
        for item, span in chunk.items:
            if isinstance(item, BadRow):
                open_segment = None
            elif span is None:
                segments.append([item.source, None, None, 1, 1, {k: v for k, v in item.fields.items() if k != "text"}])
                open_segment = None
            elif open_segment is not None and open_segment[0] == item.source:
                # Blank lines between two good rows may fall inside a segment: the parser skips them.
                open_segment[2] = span[1]
                open_segment[4] += 1
            else:
                open_segment = [item.source, span[0], span[1], item.line, 1]
                segments.append(open_segment)
        chunks.append(json.dumps({"segments": segments, "context": context}, ensure_ascii=False))
        good += len(chunk.rows)
        if sentences_mode:
            context = context_after(chunk.rows[-1].fields)
    return chunks, good


def read_chunk(segments: list[Segment], base: str = ".") -> Iterator[InputRow]:
    """The rows of a chunk planned by `plan_chunks`, re-read from the inputs (relative paths
    under `base`). Fails if a segment no longer holds good rows ending exactly where the plan
    saw them end, rather than classify other rows than the errors file accounts for (a change
    that keeps every length goes unnoticed)."""
    for source, start, end, first_line, expected, *given in segments:
        path = Path(base, source)
        if start is None:
            row = read_document(path)
            yield InputRow(source, row.line, {**(given[0] if given else row.fields), "text": row.fields["text"]})
            continue
        found, last_end = 0, start
        for _, line_end, item in iter_jsonl_spans(path, start, end, first_line):
            if isinstance(item, BadRow) or found == expected:
                raise RuntimeError(f"{source}:{item.line}: the file changed while it was being classified")
            found, last_end = found + 1, line_end
            yield InputRow(source, item.line, item.fields)
        if found != expected or last_end != end:
            raise RuntimeError(f"{source}: the file changed while it was being classified")


class _ChunkClassifier:
    """One per Ray worker: the model is loaded once, then reused for every batch."""

    def __init__(
        self, model_path: str, sentences_mode: bool, batch_size: int, base: str = ".", backend: str = "auto", trust: bool = False
    ) -> None:
        from framing.model.classifier import FramingClassifier

        self.classifier = FramingClassifier.from_pretrained(model_path, backend=backend, trust=trust)
        self.sentences_mode = sentences_mode
        self.batch_size = batch_size
        self.base = base

    def __call__(self, batch: dict) -> dict:
        encoded: list[str] = []
        # Each planned chunk on its own, context included, so that the output depends on the
        # driver's chunks and not on how Ray happens to batch them.
        for encoded_chunk in batch["chunk"]:
            chunk = json.loads(encoded_chunk)
            rows = list(read_chunk(chunk["segments"], self.base))
            out, failed, _ = classify_chunk(self.classifier, rows, self.sentences_mode, chunk["context"], self.batch_size, None)
            encoded += [json.dumps({"ok": row}, ensure_ascii=False) for row in out]
            encoded += [json.dumps({"error": bad.to_dict()}, ensure_ascii=False) for bad in failed]
        return {"row": encoded}


def classify_with_ray(
    model_path: Path,
    inputs: list[Path],
    output: Path,
    sentences_mode: bool = False,
    errors_path: Path | None = None,
    batch_size: int = 32,
    chunk_rows: int = 256,
    workers: int = 1,
    address: str | None = None,
    backend: str = "auto",
    options: ReadOptions = DEFAULT_OPTIONS,
    trust: bool = False,
) -> tuple[int, int, int]:
    """Classify `inputs` into `output` with Ray; returns (input rows, output rows, error rows).

    Chunks hold `chunk_rows` good rows (counted by the driver); articles are never split, and in
    sentence mode each chunk carries the sentence before it, so the output is the local path's.
    """
    import ray

    errors: list[BadRow] = []
    chunks, good = plan_chunks(inputs, chunk_rows, errors, sentences_mode, options)
    read_errors = len(errors)
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True
    rows_out = 0
    with atomic_open(output) as fh:
        if chunks:
            results = ray.data.from_items([{"chunk": c} for c in chunks]).map_batches(
                _ChunkClassifier,
                fn_constructor_args=(str(model_path), sentences_mode, batch_size, os.getcwd(), backend, trust),
                batch_size=1,
                concurrency=workers,
                batch_format="numpy",
            )
            for record in results.iter_rows():
                decoded = json.loads(record["row"])
                if "ok" in decoded:
                    fh.write(json.dumps(decoded["ok"], ensure_ascii=False) + "\n")
                    rows_out += 1
                else:
                    bad = decoded["error"]
                    errors.append(BadRow(bad["file"], bad["line"], bad["error"]))
    errors_path = errors_path or default_errors_path(output)
    if errors:
        write_jsonl_atomic(errors_path, (e.to_dict() for e in sorted(errors, key=input_order(inputs))))
    return good + read_errors, rows_out, len(errors)
