"""`framing classify --ray`: the same chunk classifier, run by Ray Data on one machine or a cluster.

Each Ray worker loads the model once (a callable class in `map_batches`) and classifies chunks of
rows with `framing.classify.classify_chunk`, the function the local path uses. Rows travel as
JSON strings, so that articles with different fields never meet Arrow's schema inference, and
order is preserved so that the output lines up with the input. Bad rows are found by the driver
while reading, and rows with nothing to classify by the workers; both go to the errors file.

Point it at a cluster with `--ray-address ray://HEAD:10001` (or set RAY_ADDRESS); the model
folder and the inputs must be readable at the same paths on every node.
"""

from __future__ import annotations

import json
from pathlib import Path

from framing.inputs import BadRow, InputRow, iter_input_items
from framing.outputs import atomic_open, write_jsonl_atomic
from framing.stream import default_errors_path


class _ChunkClassifier:
    """One per Ray worker: the model is loaded once, then reused for every batch."""

    def __init__(self, model_path: str, sentences_mode: bool, batch_size: int) -> None:
        from model.classifier import FramingClassifier

        self.classifier = FramingClassifier.from_pretrained(model_path)
        self.sentences_mode = sentences_mode
        self.batch_size = batch_size

    def __call__(self, batch: dict) -> dict:
        from framing.classify import classify_chunk

        rows = [InputRow(r["source"], r["line"], r["fields"]) for r in map(json.loads, batch["row"])]
        out, failed, _ = classify_chunk(self.classifier, rows, self.sentences_mode, None, self.batch_size, None)
        encoded = [json.dumps({"ok": row}, ensure_ascii=False) for row in out]
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
) -> tuple[int, int, int]:
    """Classify `inputs` into `output` with Ray; returns (input rows, output rows, error rows).

    In sentence mode a chunk boundary cuts the preceding-sentence context, as a new article
    would; articles are never split.
    """
    import ray

    errors: list[BadRow] = []
    items: list[str] = []
    for _, item in iter_input_items(inputs):
        if isinstance(item, BadRow):
            errors.append(item)
        else:
            items.append(json.dumps({"source": item.source, "line": item.line, "fields": item.fields}, ensure_ascii=False))
    read_errors = len(errors)
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True
    rows_out = 0
    with atomic_open(output) as fh:
        if items:
            results = ray.data.from_items([{"row": r} for r in items]).map_batches(
                _ChunkClassifier,
                fn_constructor_args=(str(model_path), sentences_mode, batch_size),
                batch_size=chunk_rows,
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
        write_jsonl_atomic(errors_path, (e.to_dict() for e in sorted(errors, key=lambda e: (e.source, e.line))))
    return len(items) + read_errors, rows_out, len(errors)
