"""Streaming classification of large inputs: bounded memory, atomic output, resumable.

Rows are read, classified and written one chunk at a time, so memory does not grow with the
input. Output goes to `OUT.partial` beside the target; after every chunk a small progress file
records how far the input has been consumed and how many bytes of output and errors belong to
that point. A killed run leaves no file named OUT; run the same command again and it truncates
the partial files to the last checkpoint and carries on from the next input row, so no row is
lost or written twice. When the input is exhausted, the partial files are renamed into place.

A run resumes only what it can prove is the same work: the checkpoint records a fingerprint
(each input's size and the sha256 of the bytes consumed so far, the model's checksums, the
settings, where errors go) and the partial files must still hold what the checkpoint counted.
Anything else (a row inserted at the top, an edited line, another model, a deleted errors
partial) stops the run with one line; `restart=True` (`--restart`) starts over instead. An
exclusive lock on `OUT.lock` keeps a second run from writing the same output at the same time.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from framing.batch.classify import CHUNK_SENTENCES, classify_chunk, iter_chunks, sentence_budget
from framing.batch.inputs import DEFAULT_OPTIONS, ReadOptions, input_order, iter_input_spans
from framing.errors import FramingError
from framing.files import write_json_atomic
from framing.model.classifier import FramingClassifier

PROGRESS_VERSION = 2


class OutputError(FramingError):
    """An output that cannot be written as asked: it is an input, is locked, or cannot resume."""


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
    #: the model, the settings and where errors go: a resume must match them exactly
    fingerprint: dict = field(default_factory=dict)
    #: per input: its size when the run began, bytes consumed so far and their sha256
    consumed: list[dict] = field(default_factory=list)


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


def _same_file(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    try:
        return os.path.samefile(a, b)  # hard links, bind mounts
    except OSError:
        return False


def side_files(output: Path, errors_path: Path) -> list[Path]:
    """Every file a streamed run writes, the final ones first."""
    return [
        output,
        errors_path,
        output.with_name(output.name + ".partial"),
        errors_path.with_name(errors_path.name + ".partial"),
        output.with_name(output.name + ".progress.json"),
        output.with_name(output.name + ".progress.json.tmp"),
        output.with_name(output.name + ".lock"),
    ]


def check_output_paths(inputs: list[Path], output: Path | None, errors_path: Path) -> None:
    """Refuse outputs that would overwrite an input or each other, before any work is done:
    `-o a.jsonl` on input a.jsonl once replaced the input with its own labels."""
    written = side_files(output, errors_path) if output is not None else [errors_path]
    if output is not None:
        if output.is_dir():
            raise OutputError(f"{output}: is a folder; give -o a file name (e.g. {output / 'labelled.jsonl'})")
        if _same_file(output, errors_path):
            raise OutputError(f"{output}: is both the output and the errors file; give --errors another file")
    if errors_path.is_dir():
        raise OutputError(f"{errors_path}: is a folder; give --errors a file name")
    for path in inputs:
        for target in written:
            if _same_file(path, target):
                role = "errors file" if target == errors_path else "output"
                raise OutputError(f"{path}: is an input and would be overwritten as the {role}; write to another file")


@contextlib.contextmanager
def output_lock(output: Path) -> Iterator[Path]:
    """Hold an exclusive lock on OUT.lock for the run: a second run writing the same output
    fails at once instead of interleaving its rows with ours. The kernel drops the lock when the
    process dies, so a killed run never leaves a stale one."""
    lock_path = output.with_name(output.name + ".lock")
    output.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise OutputError(
                f"{output}: another framing run is writing it (lock {lock_path.name} is held); wait for it or choose another -o"
            ) from None
        try:
            same = os.fstat(fd).st_ino == os.stat(lock_path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the holder removed the file as we opened it: lock the new one instead
    try:
        yield lock_path
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock_path)
        os.close(fd)


def model_fingerprint(classifier: FramingClassifier) -> str:
    """The model's checksums (verified when it loaded) and the backend that runs it."""
    from framing.model.folder import CHECKSUMS_FILE, folder_checksums

    digest = hashlib.sha256(str(getattr(classifier, "backend", "")).encode())
    path = getattr(classifier, "path", None)
    if path is not None and (Path(path) / CHECKSUMS_FILE).is_file():
        digest.update((Path(path) / CHECKSUMS_FILE).read_bytes())
    elif path is not None and Path(path).is_dir():
        digest.update(json.dumps(folder_checksums(Path(path)), sort_keys=True).encode())
    else:
        digest.update(repr(id(classifier)).encode())  # an in-memory model: never resumed by another
    return digest.hexdigest()


class _InputHashes:
    """sha256 of the bytes of each input consumed so far, read again from the page cache in
    step with the checkpoints (a chained hash would have to replay the same chunking)."""

    def __init__(self, inputs: list[Path], consumed: list[dict] | None) -> None:
        self.inputs = inputs
        if consumed is None:
            consumed = [{"size": _size(p), "bytes": 0, "sha256": hashlib.sha256().hexdigest()} for p in inputs]
        self.consumed = consumed
        self._hashers: dict[int, tuple[Any, int]] = {}

    def verify(self) -> str | None:
        """The first difference between the inputs now and what the checkpoint consumed."""
        for index, (path, record) in enumerate(zip(self.inputs, self.consumed, strict=True)):
            size = _size(path)
            if size != record["size"]:
                return f"{path} changed since the interrupted run ({record['size']} bytes then, {size} now)"
            if record["bytes"]:
                hasher = hashlib.sha256()
                self._feed(index, hasher, 0, record["bytes"])
                if hasher.hexdigest() != record["sha256"]:
                    return f"{path} changed since the interrupted run (its first {record['bytes']} bytes differ)"
                self._hashers[index] = (hasher, record["bytes"])
        return None

    def _feed(self, index: int, hasher, start: int, end: int) -> None:
        try:
            with self.inputs[index].open("rb") as fh:
                fh.seek(start)
                remaining = end - start
                while remaining > 0:
                    block = fh.read(min(remaining, 1 << 20))
                    if not block:
                        break
                    hasher.update(block)
                    remaining -= len(block)
        except OSError as exc:
            # An input that cannot be read is an error row of the run; its fingerprint says so.
            hasher.update(f"unreadable: {exc.errno}".encode())

    def advance(self, file_index: int, offset: int | None) -> None:
        """Everything before `offset` of input `file_index` (all of it for None), and every
        input before it, is consumed."""
        for index in range(len(self.inputs)):
            if index > file_index:
                break
            end = self.consumed[index]["size"] if index < file_index or offset is None else offset
            hasher, position = self._hashers.get(index) or (hashlib.sha256(), 0)
            if end > position:
                self._feed(index, hasher, position, end)
                self._hashers[index] = (hasher, end)
                self.consumed[index]["bytes"] = end
                self.consumed[index]["sha256"] = hasher.hexdigest()


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return -1


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
    restart: bool = False,
) -> StreamSummary:
    """Classify `inputs` into `output` (JSONL), resuming an interrupted run of the same command.

    `on_rows` is called with the number of input rows each checkpointed chunk accounted for
    (classified or in errors), and first, on a resumed run, with the rows an earlier run
    already accounted for. An interrupted run that differs in any way (inputs, model, settings,
    partial files) raises `OutputError`, unless `restart` starts over.

    `stop_after_chunks` ends the run early, as a crash would, leaving the partial files; it
    exists so that tests can interrupt a run at a known point.
    """
    errors_path = errors_path or default_errors_path(output)
    check_output_paths(inputs, output, errors_path)
    with output_lock(output):
        run = (sentences_mode, errors_path, batch_size, chunk_sentences, stop_after_chunks, on_rows, restart, options)
        return _classify_to_file(classifier, inputs, output, *run)


def _resume_refusal(output: Path, reason: str) -> OutputError:
    return OutputError(f"{output}: cannot resume the interrupted run: {reason}; run again with --restart to start over")


def _classify_to_file(
    classifier: FramingClassifier,
    inputs: list[Path],
    output: Path,
    sentences_mode: bool,
    errors_path: Path,
    batch_size: int,
    chunk_sentences: int,
    stop_after_chunks: int | None,
    on_rows: Callable[[int], None] | None,
    restart: bool,
    options: ReadOptions,
) -> StreamSummary:
    partial = output.with_name(output.name + ".partial")
    errors_partial = errors_path.with_name(errors_path.name + ".partial")
    progress_path = output.with_name(output.name + ".progress.json")
    errors_path.parent.mkdir(parents=True, exist_ok=True)
    names = [str(p) for p in inputs]
    fingerprint = {
        "model": model_fingerprint(classifier),
        "sentences_mode": sentences_mode,
        "errors": str(errors_path.resolve()),
        # Reading a table by other columns gives other rows.
        "columns": [options.text_column, options.id_column],
    }

    checkpoint = Checkpoint(names, sentences_mode, fingerprint=fingerprint)
    hashes = _InputHashes(inputs, None)
    resumed = False
    if progress_path.is_file() and not restart:
        saved = _read_checkpoint(progress_path, output)
        hashes = _InputHashes(inputs, saved.consumed) if saved.inputs == names and saved.consumed else hashes
        reason = _resume_mismatch(saved, checkpoint, partial, errors_partial) or hashes.verify()
        if reason:
            raise _resume_refusal(output, reason)
        checkpoint, resumed = saved, True
    checkpoint.consumed = hashes.consumed
    if not resumed:
        # Starting over: an old checkpoint must not outlive the partial files it described.
        progress_path.unlink(missing_ok=True)
    if resumed and on_rows:
        on_rows(checkpoint.rows_in)
    with open(partial, "r+b" if resumed else "wb") as out_fh, open(errors_partial, "r+b" if resumed else "wb") as err_fh:
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
            span = chunk.items[-1][1] if chunk.items else None
            hashes.advance(checkpoint.file_index, span[1] if span else None)
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
    progress_path.unlink(missing_ok=True)
    written_errors = errors_path if checkpoint.rows_failed else None
    return StreamSummary(checkpoint.rows_in, checkpoint.rows_out, checkpoint.rows_failed, resumed, output, written_errors)


def _read_checkpoint(progress_path: Path, output: Path) -> Checkpoint:
    try:
        saved = json.loads(progress_path.read_text(encoding="utf-8"))
        if not isinstance(saved, dict) or saved.get("version") != PROGRESS_VERSION:
            raise ValueError("written by another version of framing")
        return Checkpoint(**saved)
    except (OSError, UnicodeDecodeError, ValueError, TypeError) as exc:
        raise _resume_refusal(output, f"{progress_path.name} is unreadable ({exc})") from None


def _resume_mismatch(saved: Checkpoint, now: Checkpoint, partial: Path, errors_partial: Path) -> str | None:
    """Why the saved checkpoint cannot be continued by this run, or None."""
    if saved.inputs != now.inputs:
        return "the inputs are not the same files in the same order"
    if saved.sentences_mode != now.sentences_mode:
        return "--sentences was " + ("given" if saved.sentences_mode else "not given") + " then"
    if saved.fingerprint.get("model") != now.fingerprint["model"]:
        return "the model (or its backend) is not the one it used"
    if saved.fingerprint.get("errors") != now.fingerprint["errors"]:
        return f"its errors went to {saved.fingerprint.get('errors')}, not {now.fingerprint['errors']}"
    for path, needed in ((partial, saved.output_bytes), (errors_partial, saved.errors_bytes)):
        size = _size(path)
        if size < needed:
            state = "is missing" if size < 0 else f"holds {size} bytes, not the {needed} checkpointed"
            return f"{path.name} {state}"
    return None
