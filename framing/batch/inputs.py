"""Reading what users give `framing classify`: .txt and .html articles, JSONL of articles or
sentences. Every input row ends up either classified or in the errors list, with its line."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from framing.errors import FramingError


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


def expand_inputs(paths: list[Path]) -> tuple[list[Path], int]:
    """Folders become the .jsonl, .txt and .html files anywhere below them, in sorted path order
    (so that running the command again finds the same list, and resumes); files stay as given.
    Also returns how many files below the folders were passed over for another suffix."""
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
        if path.suffix.lower() != ".jsonl":
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


def read_document(path: Path) -> InputRow:
    """A whole .txt or .html file as one article."""
    text = read_text(path)
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


def parse_jsonl_line(source: str, number: int, raw: bytes) -> InputRow | BadRow | None:
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
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        return BadRow(source, number, f"malformed JSON ({exc.msg})")
    if not isinstance(row, dict):
        return BadRow(source, number, "not a JSON object")
    if not isinstance(row.get("text"), str):
        return BadRow(source, number, "missing or non-string 'text' field")
    return InputRow(source, number, row)


def iter_jsonl_spans(
    path: Path, start: int = 0, end: int | None = None, first_line: int = 1
) -> Iterator[tuple[int, int, InputRow | BadRow]]:
    """(byte offset of the line, byte offset after it, row or bad row) for each non-blank line
    of a JSONL file, streamed. `start` must be the offset of line `first_line`; reading stops
    at the first line that begins at or after `end`. Lets a later reader (a Ray worker) parse
    exactly the lines an earlier pass saw, with the same line numbers, from a few integers."""
    if not path.exists():
        raise InputError(f"{path}: file not found")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not a file")
    with path.open("rb") as fh:
        head = fh.read(8192)
        if b"\x00" in head:
            raise InputError(f"{path}: binary file, expected JSONL")
        fh.seek(start)
        offset = start
        for number, raw in enumerate(fh, first_line):
            if end is not None and offset >= end:
                return
            line_start, offset = offset, offset + len(raw)
            item = parse_jsonl_line(str(path), number, raw)
            if item is not None:
                yield line_start, offset, item


def iter_input_items(inputs: list[Path], start_file: int = 0, after_line: int = 0) -> Iterator[tuple[int, InputRow | BadRow]]:
    """(file index, row or bad row) over all inputs in order: JSONL files row by row, .txt and
    .html files as one article each. A row whose `id` was already seen is a bad row: two rows
    with one id make every later join ambiguous. Rows before (start_file, after_line) are
    skipped, but their ids still count, so a resumed run finds the same duplicates."""
    for index, item, _ in iter_input_spans(inputs, start_file, after_line):
        yield index, item


def iter_input_spans(
    inputs: list[Path], start_file: int = 0, after_line: int = 0
) -> Iterator[tuple[int, InputRow | BadRow, tuple[int, int] | None]]:
    """`iter_input_items`, each item with the byte span of its line in a JSONL file (None for a
    whole .txt or .html file), so that a caller can hand the line to another process to re-read
    instead of holding the row."""
    seen: dict[str, tuple[str, int]] = {}

    def unique(item: InputRow | BadRow) -> InputRow | BadRow:
        if isinstance(item, InputRow) and isinstance(item.fields.get("id"), str | int):
            key = str(item.fields["id"])
            if key in seen:
                first = seen[key]
                return BadRow(item.source, item.line, f"duplicate id '{key}' (first at {first[0]}:{first[1]})")
            seen[key] = (item.source, item.line)
        return item

    for index, path in enumerate(inputs):
        if index < start_file:
            if path.suffix.lower() == ".jsonl":
                for _, _, item in iter_jsonl_spans(path):
                    unique(item)
            continue
        skip = after_line if index == start_file else 0
        if path.suffix.lower() == ".jsonl":
            for line_start, line_end, item in iter_jsonl_spans(path):
                checked = unique(item)
                if item.line > skip:
                    yield index, checked, (line_start, line_end)
        elif skip == 0:
            try:
                yield index, unique(read_document(path)), None
            except InputError as exc:
                # One unreadable article in a list of many is a row error, not the end of the run.
                yield index, BadRow(str(path), 1, str(exc).split(": ", 1)[-1]), None
