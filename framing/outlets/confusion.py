"""Write a model's confusion file (confusion.json) from predictions on labelled data.

    python -m framing.outlets.confusion PREDICTIONS.jsonl -o model/default/confusion.json

PREDICTIONS.jsonl is what `framing evaluate --predictions` writes: one row per sentence with
`gold_label`, `label` (the prediction), `scores`, and `lang` and `article` when known. Output of
`framing classify --sentences` over a labelled corpus works too, with `--gold CORPUS.jsonl`: classify
overwrites `label` with the prediction, so the gold label is taken back from the corpus by `id`.

The file holds, per language, the confusion counts, the rates both ways (hard and mean predicted
probability per gold label) and the rows themselves, so that `framing outlets` can redraw them
in its bootstrap. When the output folder holds a `checksums.json` (a model folder), its entry for
the file is updated: the model loader checks every listed file, and refuses an unlisted change.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path

from framing.errors import FramingError
from framing.files import write_json_atomic
from framing.outlets import quantify


def confusion_from_predictions(predictions: Path, gold: Path | None = None, description: str | None = None) -> dict:
    """The confusion file's content from a predictions file (or classify output plus its corpus)."""
    if gold is not None:
        rows = quantify.join_gold(predictions, gold)
        with tempfile.TemporaryDirectory() as tmp:
            joined = Path(tmp) / predictions.name
            joined.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
            calibration = quantify.read_calibration(joined)
    else:
        calibration = quantify.read_calibration(predictions)
    source = f"{predictions.name}" + (f" with gold labels from {gold.name}" if gold else "")
    return quantify.build_confusion(calibration, description or f"measured on {source}")


def write_confusion(content: dict, output: Path) -> None:
    write_json_atomic(output, content)
    checksums = output.parent / "checksums.json"
    if checksums.is_file():
        recorded = json.loads(checksums.read_text(encoding="utf-8"))
        recorded[output.name] = hashlib.sha256(output.read_bytes()).hexdigest()
        write_json_atomic(checksums, dict(sorted(recorded.items())))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m framing.outlets.confusion", description=__doc__.split("\n")[0])
    parser.add_argument("predictions", type=Path, help="predictions JSONL (gold_label, label, scores, lang, article)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="confusion.json to write")
    parser.add_argument("--gold", type=Path, help="labelled corpus joined by id (for `framing classify --sentences` output)")
    parser.add_argument("--description", help="where the rows come from, recorded in the file")
    args = parser.parse_args(argv)
    try:
        content = confusion_from_predictions(args.predictions, args.gold, args.description)
        write_confusion(content, args.output)
    except FramingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for lang, entry in content["languages"].items():
        print(f"{lang}: {entry['n']} sentences in {entry['articles']} articles")
    print(f"written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
