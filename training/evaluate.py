"""Evaluation: macro-F1 overall and per language, per-label P/R/F1, confusion matrix, ECE."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from framing.model.labels import LABELS
from framing.training.data import with_context

if TYPE_CHECKING:
    from framing.model.classifier import FramingClassifier
from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support


def macro_f1(gold: Sequence[str], pred: Sequence[str]) -> float:
    """Macro-F1 over the labels present in gold or prediction (absent labels would only add
    zeros or undefined terms to the mean)."""
    present = [label for label in LABELS if label in set(gold) | set(pred)]
    return float(f1_score(gold, pred, labels=present, average="macro", zero_division=0))


def expected_calibration_error(probs: np.ndarray, gold_ids: np.ndarray, bins: int = 10) -> float:
    """ECE with equal-width confidence bins."""
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == gold_ids
    edges = np.linspace(0.0, 1.0, bins + 1)
    ece = 0.0
    for low, high in zip(edges[:-1], edges[1:], strict=True):
        in_bin = (confidence > low) & (confidence <= high)
        if in_bin.any():
            ece += in_bin.mean() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return float(ece)


def framing_report(gold: Sequence[str], pred: Sequence[str], langs: Sequence[str], probs: np.ndarray | None = None) -> dict:
    if not (len(gold) == len(pred) == len(langs)):
        raise ValueError("gold, pred and langs must have the same length")
    gold, pred, langs = list(gold), list(pred), list(langs)
    precision, recall, f1, support = precision_recall_fscore_support(gold, pred, labels=list(LABELS), zero_division=0)
    report: dict = {
        "n": len(gold),
        "macro_f1": macro_f1(gold, pred),
        "accuracy": float(np.mean([g == p for g, p in zip(gold, pred, strict=True)])) if gold else 0.0,
        "per_language": {},
        "per_label": {
            label: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for label, p, r, f, s in zip(LABELS, precision, recall, f1, support, strict=True)
        },
        "confusion": {
            "labels": list(LABELS),
            "rows_are": "gold",
            "matrix": confusion_matrix(gold, pred, labels=list(LABELS)).tolist(),
        },
    }
    for lang in sorted(set(langs)):
        idx = [i for i, code in enumerate(langs) if code == lang]
        g, p = [gold[i] for i in idx], [pred[i] for i in idx]
        report["per_language"][lang] = {
            "n": len(idx),
            "macro_f1": macro_f1(g, p),
            "accuracy": float(np.mean([a == b for a, b in zip(g, p, strict=True)])),
            "per_label_f1": dict(
                zip(LABELS, map(float, f1_score(g, p, labels=list(LABELS), average=None, zero_division=0)), strict=True)
            ),
        }
    if probs is not None:
        gold_ids = np.array([LABELS.index(g) for g in gold])
        report["ece"] = expected_calibration_error(probs, gold_ids)
    return report


def render_report(report: dict, title: str = "Evaluation"):
    """Rich renderables for people: a summary, per-label scores and the confusion matrix."""
    from rich.console import Group
    from rich.table import Table

    summary = Table(title=title)
    for column in ("scope", "sentences", "macro-F1", "accuracy"):
        summary.add_column(column, justify="right" if column != "scope" else "left")
    summary.add_row("all", str(report["n"]), f"{report['macro_f1']:.3f}", f"{report['accuracy']:.3f}")
    for lang, stats in report["per_language"].items():
        summary.add_row(lang, str(stats["n"]), f"{stats['macro_f1']:.3f}", f"{stats['accuracy']:.3f}")
    if "ece" in report:
        summary.caption = f"expected calibration error (10 bins): {report['ece']:.3f}"
    labels = Table(title="Per label")
    for column in ("label", "precision", "recall", "F1", "support"):
        labels.add_column(column, justify="right" if column != "label" else "left")
    for label, stats in report["per_label"].items():
        labels.add_row(label, f"{stats['precision']:.3f}", f"{stats['recall']:.3f}", f"{stats['f1']:.3f}", str(stats["support"]))
    confusion = Table(title="Confusion (rows gold, columns predicted)")
    confusion.add_column("gold \\ predicted")
    short = {"attributed_fact": "attr", "analyst_claim": "analyst", "unattributed_assertion": "unattr", "other": "other"}
    for label in report["confusion"]["labels"]:
        confusion.add_column(short.get(label, label), justify="right")
    for label, row in zip(report["confusion"]["labels"], report["confusion"]["matrix"], strict=True):
        confusion.add_row(label, *map(str, row))
    return Group(summary, labels, confusion)


def evaluate_rows(classifier: FramingClassifier, rows: list[dict], batch_size: int = 32, use_context: bool = True) -> dict:
    """The framing report of `classifier` on labelled rows; `use_context=False` withholds the
    preceding sentence, to measure what the model takes from it."""
    rows = with_context(rows)
    contexts = [r["context"] if use_context else None for r in rows]
    probs = classifier.predict_proba([r["text"] for r in rows], contexts, batch_size)
    pred = [LABELS[i] for i in probs.argmax(axis=1)]
    return framing_report([r["label"] for r in rows], pred, [r["lang"] for r in rows], probs)
