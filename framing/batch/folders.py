"""A folder of saved pages as articles with metadata: ids from their paths below the folder, the
outlet from the first folder level (`arch/outletA/001.html` is outlet `outletA`), and any other
fields (outlet, date, title, url, ...) from a metadata sidecar, a CSV with a `path` column.

Paths in the sidecar may be relative to the sidecar's folder, to the working directory or to an
input folder; they are compared resolved, so any of the three finds the file.
"""

from __future__ import annotations

import csv
from pathlib import Path

from framing.batch.inputs import InputError


class DocumentFields:
    """The fields a whole .txt/.html article gets besides its text (`ReadOptions.documents`)."""

    def __init__(self, roots: dict[str, Path], outlet_from_folder: bool = False, metadata: Path | None = None) -> None:
        self.roots = roots
        self.outlet_from_folder = outlet_from_folder
        self.metadata = metadata
        self.by_path: dict[Path, dict] = read_metadata(metadata, set(roots.values())) if metadata else {}
        #: articles that had no row in the sidecar, and sidecar rows used at least once
        self.unmatched: set[str] = set()
        self.used: set[Path] = set()

    def __call__(self, path: Path) -> dict:
        root = self.roots.get(str(path))
        fields: dict = {}
        if root is None:
            fields["id"] = path.stem
        else:
            relative = path.relative_to(root)
            # The path below the folder, so that outletA/001.txt and outletB/001.txt stay apart.
            fields["id"] = relative.with_suffix("").as_posix()
            if self.outlet_from_folder:
                if len(relative.parts) < 2:
                    raise InputError(f"{path}: not inside an outlet folder below {root} (needed by --outlet-from-folder)")
                fields["outlet"] = relative.parts[0]
        if self.metadata is not None:
            key = path.resolve()
            found = self.by_path.get(key)
            if found is None:
                self.unmatched.add(str(path))
            else:
                self.used.add(key)
                fields.update(found)
        return fields


def read_metadata(path: Path, roots: set[Path]) -> dict[Path, dict]:
    """Resolved file path -> the sidecar row's other non-empty cells."""
    if not path.is_file():
        raise InputError(f"{path}: metadata file not found")
    out: dict[Path, dict] = {}
    first_line: dict[Path, int] = {}
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh, delimiter=delimiter)
            if "path" not in (reader.fieldnames or []):
                raise InputError(f"{path}:1: no 'path' column (columns: {', '.join(reader.fieldnames or [])})")
            line = 1
            for row in reader:
                line, start = reader.line_num, line + 1
                given = (row.get("path") or "").strip()
                if not given:
                    raise InputError(f"{path}:{start}: empty 'path'")
                if None in row:
                    raise InputError(f"{path}:{start}: more cells than the header has")
                fields = {k: v for k, v in row.items() if k != "path" and v not in (None, "")}
                candidates = [path.parent / given, Path(given), *(root / given for root in sorted(roots))]
                for candidate in candidates:
                    key = candidate.resolve()
                    if key in first_line and first_line[key] != start:
                        raise InputError(f"{path}:{start}: '{given}' already has a row (line {first_line[key]})")
                    if candidate.exists():
                        out[key], first_line[key] = fields, start
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: invalid UTF-8 ({exc.reason})") from None
    except csv.Error as exc:
        raise InputError(f"{path}: malformed CSV ({exc})") from None
    return out
