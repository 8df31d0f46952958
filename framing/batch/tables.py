"""Tables in and out: CSV, TSV and Parquet rows for `framing classify`, and classified rows
written as CSV (UTF-8 with a byte-order mark, so Excel reads Arabic) or Parquet.

Reading streams: CSV and TSV through the csv module (a row's line is the line its record starts
on), Parquet in record batches (a row's "line" is its row number, from 1). `framing.batch.inputs`
turns each record into a row with `checked_row`, so the text and id columns map and a missing text
is an error row, exactly as for JSONL (this module does not import it: it imports this one).
Writing converts the streamed JSONL of a run once it is complete: the JSONL is what resumes after
a crash, and a table needs every row's columns before it can start.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import json
import math
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from framing.errors import FramingError
from framing.files import atomic_open
from framing.model.labels import LABELS


class TableError(FramingError):
    """A table that cannot be read or written at all; one line naming the file."""


#: Output types by suffix of `-o`.
OUTPUT_KINDS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".parquet": "parquet"}
#: Rows per Parquet batch: bounded memory on the way in and out.
_BATCH_ROWS = 4096


def output_kind(path: Path) -> str:
    """jsonl, csv or parquet, from the suffix of `-o`; anything else is refused before any work."""
    kind = OUTPUT_KINDS.get(path.suffix.lower())
    if kind is None:
        raise TableError(f"{path}: unsupported output type '{path.suffix or '(none)'}'; use .jsonl, .csv or .parquet")
    return kind


def _jsonable(value: object) -> object:
    """A Parquet cell as a JSON value: dates as ISO text, decimals as numbers, NaN as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def iter_table(path: Path, text_column: str) -> Iterator[tuple[int, dict | str]]:
    """(line, record) or (line, why the record is unusable) for each row of a CSV, TSV or
    Parquet file, in file order, streamed."""
    if path.suffix.lower() == ".parquet":
        yield from _iter_parquet(path, text_column)
    else:
        yield from _iter_delimited(path, text_column, "\t" if path.suffix.lower() == ".tsv" else ",")


def _iter_delimited(path: Path, text_column: str, delimiter: str) -> Iterator[tuple[int, dict | str]]:
    csv.field_size_limit(sys.maxsize)  # an article is a long cell; the default limit is 128 kB
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh, delimiter=delimiter)
            header = next(reader, None)
            if header is None:
                return
            if text_column not in header:
                raise TableError(f"{path}:1: no '{text_column}' column (columns: {', '.join(header)})")
            first = reader.line_num + 1
            for cells in reader:
                line, first = first, reader.line_num + 1
                if not any(c.strip() for c in cells):
                    continue
                if len(cells) != len(header):
                    yield line, f"{len(cells)} cells, but the header has {len(header)}"
                    continue
                # An empty cell is a missing value, as pandas reads it, not an empty string.
                yield line, {k: v for k, v in zip(header, cells, strict=True) if v != ""}
    except UnicodeDecodeError as exc:
        raise TableError(f"{path}: invalid UTF-8 ({exc.reason})") from None
    except csv.Error as exc:
        raise TableError(f"{path}: malformed {'TSV' if delimiter == chr(9) else 'CSV'} ({exc})") from None


def parquet_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path).metadata.num_rows
    except Exception:  # the reader reports it properly; this is only a progress bar's total
        return 0


def _iter_parquet(path: Path, text_column: str) -> Iterator[tuple[int, dict | str]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.ParquetFile(path)
    except (OSError, pa.ArrowException) as exc:
        raise TableError(f"{path}: not a readable Parquet file ({exc})") from None
    if text_column not in table.schema_arrow.names:
        raise TableError(f"{path}: no '{text_column}' column (columns: {', '.join(table.schema_arrow.names)})")
    number = 0
    for batch in table.iter_batches(batch_size=_BATCH_ROWS):
        for row in batch.to_pylist():
            number += 1
            yield number, {k: _jsonable(v) for k, v in row.items() if v is not None}


# ---------------------------------------------------------------------------------------------
# Writing


def flat_row(row: dict) -> dict:
    """A classified row for a table: `scores` becomes one `p_<label>` column per label, and
    nested values (lists, objects) become JSON text."""
    out: dict = {}
    for key, value in row.items():
        if key == "scores" and isinstance(value, dict):
            out.update({f"p_{label}": value.get(label) for label in LABELS})
        elif isinstance(value, dict | list):
            out[key] = json.dumps(value, ensure_ascii=False)
        else:
            out[key] = value
    return out


def _iter_jsonl_rows(path: Path) -> Iterator[dict]:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield flat_row(json.loads(line))


def _columns(rows: Iterable[dict]) -> list[str]:
    seen: dict[str, None] = {}
    for row in rows:
        seen.update(dict.fromkeys(row))
    return list(seen)


def write_table(jsonl: Path, output: Path) -> int:
    """The rows of a finished JSONL run as a CSV or Parquet file (by `output`'s suffix),
    written atomically; returns the number of rows. Two passes: columns first, then rows."""
    columns = _columns(_iter_jsonl_rows(jsonl))
    if output_kind(output) == "csv":
        return _write_csv(jsonl, output, columns)
    return _write_parquet(jsonl, output, columns)


def _write_csv(jsonl: Path, output: Path, columns: list[str]) -> int:
    count = 0
    with atomic_open(output) as fh:
        fh.write("\ufeff")  # Excel reads UTF-8 without a byte-order mark as the local code page
        writer = csv.DictWriter(fh, columns, lineterminator="\r\n")
        writer.writeheader()
        for row in _iter_jsonl_rows(jsonl):
            writer.writerow(row)
            count += 1
    return count


def _arrow_type(values: set[type]):
    import pyarrow as pa

    values.discard(type(None))
    if values == {bool}:
        return pa.bool_()
    if values == {int}:
        return pa.int64()
    if values and values <= {int, float}:
        return pa.float64()
    return pa.string()


def _write_parquet(jsonl: Path, output: Path, columns: list[str]) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    kinds: dict[str, set[type]] = {c: set() for c in columns}
    for row in _iter_jsonl_rows(jsonl):
        for key, value in row.items():
            kinds[key].add(type(value))
    schema = pa.schema([(c, _arrow_type(kinds[c])) for c in columns])
    strings = {c for c in columns if schema.field(c).type == pa.string()}

    def cell(column: str, value: object) -> object:
        # A column of mixed kinds (numbers in some rows, text in others) is written as text.
        return str(value) if value is not None and column in strings and not isinstance(value, str) else value

    count = 0
    with atomic_open(output, "wb") as fh, pq.ParquetWriter(fh, schema) as writer:
        batch: list[dict] = []
        for row in _iter_jsonl_rows(jsonl):
            batch.append({c: cell(c, row.get(c)) for c in columns})
            if len(batch) >= _BATCH_ROWS:
                writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                count, batch = count + len(batch), []
        if batch or count == 0:
            writer.write_table(pa.Table.from_pylist(batch, schema=schema))
            count += len(batch)
    return count
