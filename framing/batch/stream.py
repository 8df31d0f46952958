"""Streaming classification of large inputs: bounded memory, atomic output, resumable.

Rows are read, classified and written one chunk at a time, so memory does not grow with the
input. Output goes to `OUT.partial` beside the target; after every chunk a small progress file
records how far the input has been consumed and how many bytes of output and errors belong to
that point. A killed run leaves no file named OUT; run the same command again and it truncates
the partial files to the last checkpoint and carries on from the next input row, so no row is
lost or written twice. When the input is exhausted, the partial files are renamed into place.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from framing.batch.classify import CHUNK_SENTENCES, classify_chunk, iter_chunks, sentence_budget
from framing.batch.inputs import DEFAULT_OPTIONS, ReadOptions, input_order, iter_input_spans
from framing.files import write_json_atomic
from framing.model.classifier import FramingClassifier

PROGRESS_VERSION = 1


@dataclass
class Checkpoint:
    """Everything before (file_index, line) inclusive is done and on disk."""

    inputs: list[str]
    sentences_mode: bool
    file_index: int = 0
    line: int = 0
    output_bytes: int = 0
    errors_bytes: int = 0
    rows_in: int = 0
    rows_out: int = 0
    rows_failed: int = 0
    #: sentence mode: the last classified row's article and text, the next row's context
    context: dict | None = None
    version: int = PROGRESS_VERSION


@dataclass
class StreamSummary:
    rows_in: int
    rows_out: int
    rows_failed: int
    resumed: bool
    output: Path
    errors: Path | None
    extra: dict = field(default_factory=dict)


def _fsync_write(fh, data: bytes) -> None:
    fh.write(data)
    fh.flush()
    os.fsync(fh.fileno())


def _write_progress(path: Path, checkpoint: Checkpoint) -> None:
    write_json_atomic(path, asdict(checkpoint))


def default_errors_path(output: Path) -> Path:
    """Where the rows that could not be classified go: OUT.errors.jsonl beside OUT."""
    return output.with_name(output.stem + ".errors.jsonl")


def classify_to_file(
    classifier: FramingClassifier,
    inputs: list[Path],
    output: Path,
    sentences_mode: bool = False,
    errors_path: Path | None = None,
    batch_size: int = 32,
    chunk_sentences: int = CHUNK_SENTENCES,
    stop_after_chunks: int | None = None,
    on_rows: Callable[[int], None] | None = None,
    options: ReadOptions = DEFAULT_OPTIONS,
) -> StreamSummary:
    """Classify `inputs` into `output` (JSONL), resuming an interrupted run of the same command.

    `on_rows` is called with the number of input rows each checkpointed chunk accounted for
    (classified or in errors), and first, on a resumed run, with the rows an earlier run
    already accounted for.

    `stop_after_chunks` ends the run early, as a crash would, leaving the partial files; it
    exists so that tests can interrupt a run at a known point.
    """
    errors_path = errors_path or default_errors_path(output)
    partial = output.with_name(output.name + ".partial")
    errors_partial = errors_path.with_name(errors_path.name + ".partial")
    progress_path = output.with_name(output.name + ".progress.json")
    names = [str(p) for p in inputs]

    checkpoint = Checkpoint(names, sentences_mode)
    resumed = False
    if progress_path.is_file() and partial.is_file():
        saved = Checkpoint(**json.loads(progress_path.read_text(encoding="utf-8")))
        if saved.inputs == names and saved.sentences_mode == sentences_mode and saved.version == PROGRESS_VERSION:
            checkpoint, resumed = saved, True
    if resumed and on_rows:
        on_rows(checkpoint.rows_in)
    output.parent.mkdir(parents=True, exist_ok=True)
    with open(partial, "ab" if resumed else "wb") as out_fh, open(errors_partial, "ab" if resumed else "wb") as err_fh:
        # Anything written after the last checkpoint belongs to a chunk that never finished.
        out_fh.truncate(checkpoint.output_bytes)
        err_fh.truncate(checkpoint.errors_bytes)
        out_fh.seek(checkpoint.output_bytes)
        err_fh.seek(checkpoint.errors_bytes)
        chunks_done = 0
        order = input_order(inputs)
        items = iter_input_spans(inputs, checkpoint.file_index, checkpoint.line, options)
        for chunk in iter_chunks(items, sentence_budget(sentences_mode), chunk_sentences):
            rows, failed, checkpoint.context = classify_chunk(
                classifier, chunk.rows, sentences_mode, checkpoint.context, batch_size, None
            )
            bad = sorted(chunk.bad + failed, key=order)
            if rows:
                _fsync_write(out_fh, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8"))
            if bad:
                _fsync_write(err_fh, "".join(json.dumps(e.to_dict(), ensure_ascii=False) + "\n" for e in bad).encode("utf-8"))
            consumed = len(chunk.rows) + len(chunk.bad)
            checkpoint.rows_in += consumed
            if on_rows:
                on_rows(consumed)
            checkpoint.rows_out += len(rows)
            checkpoint.rows_failed += len(bad)
            checkpoint.file_index, checkpoint.line = chunk.last
            checkpoint.output_bytes, checkpoint.errors_bytes = out_fh.tell(), err_fh.tell()
            _write_progress(progress_path, checkpoint)
            chunks_done += 1
            if stop_after_chunks is not None and chunks_done >= stop_after_chunks:
                extra = {"interrupted": True}
                return StreamSummary(
                    checkpoint.rows_in, checkpoint.rows_out, checkpoint.rows_failed, resumed, partial, errors_partial, extra
                )
    os.replace(partial, output)
    if checkpoint.rows_failed:
        os.replace(errors_partial, errors_path)
    else:
        errors_partial.unlink(missing_ok=True)
        errors_path = None
    progress_path.unlink(missing_ok=True)
    return StreamSummary(checkpoint.rows_in, checkpoint.rows_out, checkpoint.rows_failed, resumed, output, errors_path)
