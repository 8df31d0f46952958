"""Limits every reader applies to what users give us, so that one hostile line becomes an error
row, never a crash: the longest line read into memory, and how deeply JSON may nest.

A 200 MB line without punctuation once reached the tokenizer as one sentence and took 9.4 GB;
JSON nested 1,000 deep raised RecursionError in `json.loads`, and 300 deep passed `json.loads`
but broke whatever walked it next (pydantic, `json.dumps`, rich). Each reader (classify's
inputs, the outlets input, the corpus loader, the web page) goes through here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from framing.errors import FramingError

#: Longest line any reader accepts: a 100,000-character Arabic article is about 0.4 MB as a
#: JSONL row, so this leaves room for ten times that, and no single line can exhaust memory.
MAX_LINE_BYTES = 4 * 1024 * 1024
#: Deepest JSON nesting accepted in a row; real rows are a flat object with a list or two.
MAX_JSON_DEPTH = 32


class RowError(FramingError):
    """One line that cannot be used; `str()` is the reason, without the file and line."""


def line_too_long(size: int, number: int | None = None) -> str:
    line = "line" if number is None else f"line {number} is"
    return f"{line} longer than {MAX_LINE_BYTES // (1024 * 1024)} MB ({size / (1024 * 1024):.1f} MB): not read"


def iter_lines(fh: IO[bytes]) -> Iterator[tuple[bytes, int]]:
    """(line, its length in bytes) of a binary file, newline included; a line longer than
    `MAX_LINE_BYTES` comes back as b"" with its true length, read past in blocks and never held
    in memory whole. Lines end at b"\\n" only, as JSONL defines them."""
    while True:
        raw = fh.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        if len(raw) <= MAX_LINE_BYTES or raw.endswith(b"\n"):
            yield raw, len(raw)
            continue
        size = len(raw)
        while raw and not raw.endswith(b"\n"):
            raw = fh.readline(1 << 20)
            size += len(raw)
        yield b"", size


def depth_exceeds(value: object, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether `value` nests lists and objects more than `limit` deep (iterative: no recursion)."""
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def _nesting_prefilter(line: str | bytes) -> bool:
    """Cheap upper bound: a line with fewer brackets than the limit cannot nest deeper."""
    if isinstance(line, bytes):
        return line.count(b"[") + line.count(b"{") > MAX_JSON_DEPTH
    return line.count("[") + line.count("{") > MAX_JSON_DEPTH


def loads_limited(line: str | bytes) -> object:
    """`json.loads` with the nesting limit; raises `json.JSONDecodeError` for malformed JSON
    and `RowError` for JSON nested too deeply."""
    try:
        value = json.loads(line)
    except RecursionError:
        raise RowError(f"JSON nested more than {MAX_JSON_DEPTH} levels deep") from None
    if _nesting_prefilter(line) and depth_exceeds(value):
        raise RowError(f"JSON nested more than {MAX_JSON_DEPTH} levels deep")
    if (b"\\u" if isinstance(line, bytes) else "\\u") in line and _has_lone_surrogate(value):
        # JSON may escape half of a UTF-16 pair ("\ud800"); such a string cannot be written as
        # UTF-8 again, so every later writer (our output, the web's JSON) would fail on it.
        raise RowError("a string holds a lone UTF-16 surrogate escape (such as \\ud800): not valid Unicode")
    return value


def _has_lone_surrogate(value: object) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def iter_json_objects(path: Path, error: type[FramingError] = FramingError) -> Iterator[tuple[int, dict]]:
    """(line number, object) for each non-blank line of a JSONL file, all or nothing: the one
    reader of every file that must be wholly usable (a corpus, an outlets input, a calibration
    file, a classified file to export). The first unusable line raises `error` naming the file,
    the line and the problem. Lines end at "\\n" only, are read in bounded pieces, and carry the
    nesting and surrogate limits; `framing classify`'s reader, which turns bad lines into error
    rows instead, applies the same limits through `iter_lines` and `loads_limited`."""
    if not path.exists():
        raise error(f"{path}: file not found")
    if path.is_dir():
        raise error(f"{path}: is a folder, not a file")
    try:
        with path.open("rb") as fh:
            if b"\x00" in fh.read(8192):
                raise error(f"{path}: binary file, expected UTF-8 JSONL")
            fh.seek(0)
            for number, (raw, size) in enumerate(iter_lines(fh), 1):
                if not raw:
                    raise error(f"{path}:{number}: {line_too_long(size)}")
                try:
                    line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
                except UnicodeDecodeError as exc:
                    raise error(f"{path}:{number}: invalid UTF-8 ({exc.reason})") from None
                if not line.strip():
                    continue
                try:
                    row = loads_limited(line)
                except json.JSONDecodeError as exc:
                    raise error(f"{path}:{number}: malformed JSON ({exc.msg})") from None
                except RowError as exc:
                    raise error(f"{path}:{number}: {exc}") from None
                if not isinstance(row, dict):
                    raise error(f"{path}:{number}: expected a JSON object, got {type(row).__name__}")
                yield number, row
    except OSError as exc:
        raise error(f"{path}: cannot read ({exc.strerror or exc})") from None
