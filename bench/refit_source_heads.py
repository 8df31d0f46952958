#!/usr/bin/env python3
"""Refit a trained run's sentence-level source heads to convergence (how model/default was made).

The joint training run (configs/default.yaml, 1.2 epochs on 2 shared cores) left the source-type
head under-trained: its loss had barely left the uniform guess. Each of these heads is a linear
layer on the pooled sentence vector, so it can be refit exactly on the trained encoder's vectors:
a logistic regression per head (class-balanced for the nine types) on the train split, its
regularisation chosen on dev. The refit weights replace the head's in both the adapter and the
merged model, and the folders' checksums are refreshed. The encoder is not touched.

    python bench/refit_source_heads.py runs/default --heads type,named --C 1.0
    python bench/refit_source_heads.py runs/default --heads vague --C 1.0

Then copy runs/default/adapter to model/default and evaluate (docs/model.md).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import load_file, save_file
from sklearn.linear_model import LogisticRegression

from framing.model.classifier import FramingClassifier
from framing.model.features import pad_batch_numpy
from framing.model.folder import CHECKSUMS_FILE, folder_checksums
from framing.model.labels import SOURCE_TYPES, SOURCED_LABELS
from framing.training.data import documents_of, load_corpus


def pooled_vectors(classifier: FramingClassifier, rows: list[dict], keep) -> tuple[np.ndarray, list[dict]]:
    """The pooled sentence vector (what the heads read, in eval mode) of each row with keep(row)."""
    documents = documents_of(rows)
    encoded = classifier._encode([[r["text"] for r in d] for d in documents], None)
    flat = [r for d in documents for r in d]
    chosen = [i for i, r in enumerate(flat) if keep(r)]
    vectors = []
    model = classifier.model
    with torch.inference_mode():
        for begin in range(0, len(chosen), 32):
            idx = chosen[begin : begin + 32]
            batch = pad_batch_numpy([encoded.windows[encoded.targets[i].window] for i in idx], classifier.tokenizer.pad_token_id)
            hidden = model.bert(**{k: torch.from_numpy(v) for k, v in batch.items()}).last_hidden_state.numpy()
            for row, i in enumerate(idx):
                start, end = encoded.targets[i].pool
                vectors.append(hidden[row, start:end].mean(0))
    return np.array(vectors), [flat[i] for i in chosen]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a run folder with an adapter/ (framing train -o RUN)")
    parser.add_argument("--heads", default="type,named", help="comma-separated: type, named, vague")
    parser.add_argument("--C", type=float, default=1.0, help="inverse regularisation of the logistic regressions")
    parser.add_argument("--train", type=Path, default=Path("data/train.jsonl"))
    args = parser.parse_args()
    heads = set(args.heads.split(","))
    classifier = FramingClassifier.from_pretrained(args.run, backend="torch")
    rows = load_corpus(args.train)
    patches: dict[str, tuple[int | None, np.ndarray, np.ndarray]] = {}
    if heads & {"type", "named"}:
        x, sourced = pooled_vectors(classifier, rows, lambda r: r["label"] in SOURCED_LABELS)
        if "type" in heads:
            fit = LogisticRegression(C=args.C, max_iter=3000, class_weight="balanced").fit(x, [r["source_type"] for r in sourced])
            weight = np.zeros((len(SOURCE_TYPES), x.shape[1]), dtype=np.float32)
            bias = np.full(len(SOURCE_TYPES), -30.0, dtype=np.float32)  # a type never seen in train is never predicted
            for k, name in enumerate(fit.classes_):
                weight[SOURCE_TYPES.index(name)], bias[SOURCE_TYPES.index(name)] = fit.coef_[k], fit.intercept_[k]
            patches["source_type_head"] = (None, weight, bias)
        if "named" in heads:
            known = [i for i, r in enumerate(sourced) if "source_named" in r]
            fit = LogisticRegression(C=args.C, max_iter=3000).fit(x[known], [int(sourced[i]["source_named"]) for i in known])
            patches["flags_head.0"] = (0, fit.coef_[0].astype(np.float32), fit.intercept_.astype(np.float32))
    if "vague" in heads:
        x, known_rows = pooled_vectors(classifier, rows, lambda r: "vague_attribution" in r)
        fit = LogisticRegression(C=args.C, max_iter=3000).fit(x, [int(r["vague_attribution"]) for r in known_rows])
        patches["flags_head.1"] = (1, fit.coef_[0].astype(np.float32), fit.intercept_.astype(np.float32))

    for path, prefix in (
        (args.run / "adapter" / "adapter_model.safetensors", "base_model.model."),
        (args.run / "model.safetensors", ""),
    ):
        tensors = load_file(str(path))
        for name, (row, weight, bias) in patches.items():
            module = name.split(".")[0]
            if row is None:
                tensors[f"{prefix}{module}.weight"], tensors[f"{prefix}{module}.bias"] = weight, bias
            else:
                w, b = tensors[f"{prefix}{module}.weight"].copy(), tensors[f"{prefix}{module}.bias"].copy()
                w[row], b[row] = weight, bias[0]
                tensors[f"{prefix}{module}.weight"], tensors[f"{prefix}{module}.bias"] = w, b
        save_file(tensors, str(path), metadata={"format": "pt"})
    for folder in (args.run / "adapter", args.run):
        (folder / CHECKSUMS_FILE).write_text(json.dumps(folder_checksums(folder), indent=2), encoding="utf-8")
    print(f"refit {', '.join(sorted(patches))} of {args.run} (C={args.C})")


if __name__ == "__main__":
    main()
