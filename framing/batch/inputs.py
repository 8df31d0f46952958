"""Reading what users give `framing classify`: .txt and .html articles, JSONL of articles or
sentences. Every input row ends up either classified or in the errors list, with its line."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from framing.batch.tables import iter_table, parquet_rows
from framing.errors import FramingError
from framing.limits import MAX_LINE_BYTES, RowError, iter_lines, line_too_long, loads_limited


class InputError(FramingError):
    """An input that cannot be read at all; the message names the file and the problem."""


@dataclass
class InputRow:
    source: str  # file name
    line: int  # 1-based line in the file (1 for a whole .txt/.html file)
    fields: dict  # the row as given; `text` holds the article or sentence text


@dataclass
class BadRow:
    source: str
    line: int
    reason: str

    def to_dict(self) -> dict:
        return {"file": self.source, "line": self.line, "error": self.reason}


#: What `framing classify` reads: JSONL of rows, or one article per .txt or saved .html page.
INPUT_SUFFIXES = (".jsonl", ".txt", ".html", ".htm")
#: Tables of rows, read when named on the command line (never picked up from a folder, where a
#: .csv is more likely a metadata sidecar than articles).
TABLE_SUFFIXES = (".csv", ".tsv", ".parquet")


@dataclass(frozen=True)
class ReadOptions:
    """How rows are read beyond the defaults: which column holds the text and which the id (the
    text column becomes `text`; the id column is kept and copied to `id`), extra fields for a
    whole .txt/.html file (`documents`: its id from its path below the folder, its outlet,
    metadata), and names to show instead of paths (`display`, e.g. `-` for a spooled stdin)."""

    text_column: str = "text"
    id_column: str = "id"
    documents: Callable[[Path], dict] | None = None
    display: dict[str, str] = field(default_factory=dict)

    def adapt(self, row: dict) -> dict:
        if self.text_column != "text":
            row = {k: v for k, v in row.items() if k not in (self.text_column, "text")} | {"text": row.get(self.text_column)}
        if self.id_column != "id" and row.get(self.id_column) is not None:
            row["id"] = row[self.id_column]
        return row


DEFAULT_OPTIONS = ReadOptions()


def check_input_type(path: Path) -> None:
    """A file named on the command line must be of a type we read: anything else read as plain
    text would be classified as if it were an article (a CSV header as a sentence)."""
    suffix = path.suffix.lower()
    if suffix not in INPUT_SUFFIXES + TABLE_SUFFIXES:
        raise InputError(
            f"{path}: unsupported file type '{suffix or '(none)'}'; expected .jsonl, .txt, .html, .csv, .tsv or .parquet"
        )


def expand_inputs(paths: list[Path], roots: dict[str, Path] | None = None) -> tuple[list[Path], int]:
    """Folders become the .jsonl, .txt and .html files anywhere below them, in sorted path order
    (so that running the command again finds the same list, and resumes); files stay as given.
    Also returns how many files below the folders were passed over for another suffix. `roots`,
    when given, receives the folder each found file came from (for ids from relative paths)."""
    expanded: list[Path] = []
    passed_over = 0
    for path in paths:
        if not path.is_dir():
            expanded.append(path)
            continue
        try:
            files = sorted(p for p in path.rglob("*") if p.is_file())
        except OSError as exc:
            raise InputError(f"{exc.filename or path}: cannot read folder ({exc.strerror})") from None
        found = [p for p in files if p.suffix.lower() in INPUT_SUFFIXES]
        if not found:
            raise InputError(f"{path}: folder holds no .jsonl, .txt or .html files")
        expanded += found
        passed_over += len(files) - len(found)
        if roots is not None:
            roots.update((str(p), path) for p in found)
    return expanded, passed_over


def input_order(inputs: list[Path]) -> Callable[[BadRow], tuple[int, int]]:
    """Sort key for bad rows: the order in which the inputs were given, then the line (not the
    file names' alphabetical order)."""
    index: dict[str, int] = {}
    for position, path in enumerate(inputs):
        index.setdefault(str(path), position)
    return lambda bad: (index.get(bad.source, len(inputs)), bad.line)


def count_input_rows(inputs: list[Path]) -> int:
    """Input rows, roughly, for a progress bar's total: lines of each JSONL file (blank lines
    included, so at most a little high), one per .txt or .html file. Reads 1 MB blocks and counts
    newlines in C (its speed: docs/performance.md, "Small costs")."""
    total = 0
    for path in inputs:
        if path.suffix.lower() == ".parquet":
            total += parquet_rows(path)
            continue
        if path.suffix.lower() not in (".jsonl", ".csv", ".tsv"):
            total += 1
            continue
        last = b"\n"
        with path.open("rb") as fh:
            while block := fh.read(1 << 20):
                total += block.count(b"\n")
                last = block[-1:]
        total += last != b"\n"  # a final line without its newline
    return total


def _read_bytes(path: Path) -> bytes:
    if not path.exists():
        raise InputError(f"{path}: file not found")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not a file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    if b"\x00" in data[:8192]:
        raise InputError(f"{path}: binary file, expected UTF-8 text, HTML or JSONL")
    return data


def precheck(path: Path) -> None:
    """Fail early, before any model loads, on inputs that cannot be read at all."""
    if not path.exists():
        raise InputError(f"{path}: file not found")
    if not path.is_file():
        raise InputError(f"{path}: not a file")
    try:
        with path.open("rb") as fh:
            head = fh.read(8192)
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    if path.suffix.lower() == ".parquet":
        return  # binary by design; pyarrow reports a damaged file when it is read
    if b"\x00" in head:
        kind = "JSONL" if path.suffix.lower() == ".jsonl" else "UTF-8 text, HTML or JSONL"
        raise InputError(f"{path}: binary file, expected {kind}")
    if not head.strip(b" \t\r\n\xef\xbb\xbf") and path.stat().st_size <= len(head):
        raise InputError(f"{path}: empty file, nothing to classify")


def _decode(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(f"{path}:{line}: invalid UTF-8 ({exc.reason})") from None


def html_to_text(html: str) -> str:
    """Main article text of a saved page; navigation, share bars and footers dropped."""
    import trafilatura

    return trafilatura.extract(html, include_comments=False, include_tables=False, favor_recall=True) or ""


def read_text(path: Path) -> str:
    """A whole text file, checked: exists, is a file, readable, not binary, valid UTF-8."""
    return _decode(path, _read_bytes(path))


def _check_line_lengths(path: Path, data: bytes) -> None:
    """One over-long line (a 200 MB paragraph without punctuation) would become one sentence
    that the tokenizer and the language detector cannot hold: refuse it, naming the line."""
    if len(data) <= MAX_LINE_BYTES:
        return
    start, number = 0, 1
    while start < len(data):
        end = data.find(b"\n", start)
        end = len(data) if end < 0 else end + 1
        if end - start > MAX_LINE_BYTES:
            raise InputError(f"{path}: {line_too_long(end - start, number)}")
        start, number = end, number + 1


def read_document(path: Path) -> InputRow:
    """A whole .txt or .html file as one article."""
    data = _read_bytes(path)
    _check_line_lengths(path, data)
    text = _decode(path, data)
    if path.suffix.lower() in (".html", ".htm"):
        text = html_to_text(text)
    if not text.strip():
        raise InputError(f"{path}: no text to classify")
    return InputRow(str(path), 1, {"id": path.stem, "text": text})


def iter_jsonl(path: Path, errors: list[BadRow]) -> Iterator[InputRow]:
    """Rows of a JSONL file, streamed; malformed rows are recorded in `errors` and skipped."""
    for item in iter_jsonl_items(path):
        if isinstance(item, BadRow):
            errors.append(item)
        else:
            yield item


def iter_jsonl_items(path: Path) -> Iterator[InputRow | BadRow]:
    """Each non-blank line of a JSONL file as a row or as the reason it is unusable, in file
    order, streamed."""
    for _, _, item in iter_jsonl_spans(path):
        yield item


def parse_jsonl_line(source: str, number: int, raw: bytes, options: ReadOptions = DEFAULT_OPTIONS) -> InputRow | BadRow | None:
    """Line `number` (1-based, bytes as read, newline included) of a JSONL file: a row, the
    reason it is unusable, or None for a blank line."""
    if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    if not raw.strip():
        return None
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return BadRow(source, number, f"invalid UTF-8 ({exc.reason})")
    try:
        row = loads_limited(line)
    except json.JSONDecodeError as exc:
        return BadRow(source, number, f"malformed JSON ({exc.msg})")
    except RowError as exc:
        return BadRow(source, number, str(exc))
    if not isinstance(row, dict):
        return BadRow(source, number, "not a JSON object")
    return checked_row(source, number, row, options)


def checked_row(source: str, number: int, row: dict, options: ReadOptions = DEFAULT_OPTIONS) -> InputRow | BadRow:
    """A row of any reader, with its columns mapped by `options`: usable, or why not."""
    row = options.adapt(row)
    if not isinstance(row.get("text"), str):
        return BadRow(source, number, f"missing or non-string '{options.text_column}' field")
    if "id" in row and not _usable_id(row["id"]):
        # `framing outlets` and every later join need a real id; null, a list or "" would be
        # accepted here and refused there.
        return BadRow(source, number, "'id' must be a non-empty string or a whole number")
    return InputRow(source, number, row)


def _usable_id(value: object) -> bool:
    return (isinstance(value, str) and bool(value.strip())) or (isinstance(value, int) and not isinstance(value, bool))


def iter_jsonl_spans(
    path: Path, start: int = 0, end: int | None = None, first_line: int = 1, options: ReadOptions = DEFAULT_OPTIONS
) -> Iterator[tuple[int, int, InputRow | BadRow]]:
    """(byte offset of the line, byte offset after it, row or bad row) for each non-blank line
    of a JSONL file, streamed. `start` must be the offset of line `first_line`; reading stops
    at the first line that begins at or after `end`. Lets a later reader (a Ray worker) parse
    exactly the lines an earlier pass saw, with the same line numbers, from a few integers."""
    if not path.exists():
        raise InputError(f"{path}: file not found")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not a file")
    try:
        with path.open("rb") as fh:
            head = fh.read(8192)
            if b"\x00" in head:
                raise InputError(f"{path}: binary file, expected JSONL")
            fh.seek(start)
            offset = start
            for number, (raw, size) in enumerate(iter_lines(fh), first_line):
                if end is not None and offset >= end:
                    return
                line_start, offset = offset, offset + size
                if not raw:  # longer than the limit: skipped without being held in memory
                    yield line_start, offset, BadRow(str(path), number, line_too_long(size))
                    continue
                item = parse_jsonl_line(str(path), number, raw, options)
                if item is not None:
                    yield line_start, offset, item
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None


def iter_table_rows(path: Path, options: ReadOptions = DEFAULT_OPTIONS) -> Iterator[InputRow | BadRow]:
    """Rows of a CSV, TSV or Parquet file (`framing.batch.tables`), checked as JSONL rows are."""
    for number, record in iter_table(path, options.text_column):
        yield BadRow(str(path), number, record) if isinstance(record, str) else checked_row(str(path), number, record, options)


def iter_input_items(
    inputs: list[Path], start_file: int = 0, after_line: int = 0, options: ReadOptions = DEFAULT_OPTIONS
) -> Iterator[tuple[int, InputRow | BadRow]]:
    """(file index, row or bad row) over all inputs in order: JSONL files row by row, .txt and
    .html files as one article each. A row whose `id` was already seen is a bad row: two rows
    with one id make every later join ambiguous. Rows before (start_file, after_line) are
    skipped, but their ids still count, so a resumed run finds the same duplicates."""
    for index, item, _ in iter_input_spans(inputs, start_file, after_line, options):
        yield index, item


def iter_input_spans(
    inputs: list[Path], start_file: int = 0, after_line: int = 0, options: ReadOptions = DEFAULT_OPTIONS
) -> Iterator[tuple[int, InputRow | BadRow, tuple[int, int] | None]]:
    """`iter_input_items`, each item with the byte span of its line in a JSONL file (None for a
    whole .txt or .html file or a table row), so that a caller can hand the line to another
    process to re-read instead of holding the row."""
    seen: dict[str, tuple[str, int]] = {}

    def unique(item: InputRow | BadRow) -> InputRow | BadRow:
        if options.display.get(item.source):
            item.source = options.display[item.source]
        if isinstance(item, InputRow) and isinstance(item.fields.get("id"), str | int):
            key = str(item.fields["id"])
            if key in seen:
                first = seen[key]
                return BadRow(item.source, item.line, f"duplicate id '{key}' (first at {first[0]}:{first[1]})")
            seen[key] = (item.source, item.line)
        return item

    for index, path in enumerate(inputs):
        suffix = path.suffix.lower()
        if index < start_file:
            if suffix == ".jsonl":
                with contextlib.suppress(InputError):  # its error row was written before the checkpoint
                    for _, _, item in iter_jsonl_spans(path, options=options):
                        unique(item)
            elif suffix in TABLE_SUFFIXES:
                for item in iter_table_rows(path, options):
                    unique(item)
            continue
        skip = after_line if index == start_file else 0
        if suffix == ".jsonl":
            last = 0
            try:
                for line_start, line_end, item in iter_jsonl_spans(path, options=options):
                    checked = unique(item)
                    last = item.line
                    if item.line > skip:
                        yield index, checked, (line_start, line_end)
            except InputError as exc:
                # A file that fails mid-read (EIO, permissions) is an error row, as an unreadable
                # article in a folder is; the rows before it stand.
                if last + 1 > skip:
                    yield index, BadRow(str(path), last + 1, str(exc).split(": ", 1)[-1]), None
        elif suffix in TABLE_SUFFIXES:
            for item in iter_table_rows(path, options):
                checked = unique(item)
                if item.line > skip:
                    yield index, checked, None
        elif skip == 0:
            try:
                row = read_document(path)
                if options.documents is not None:
                    row.fields = {**options.documents(path), "text": row.fields["text"]}
            except InputError as exc:
                # One unreadable article in a list of many is a row error, not the end of the run.
                yield index, unique(BadRow(str(path), 1, str(exc).split(": ", 1)[-1])), None
                continue
            yield index, unique(row), None
