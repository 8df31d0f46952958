"""Evaluation: macro-F1 overall and per language, per-label P/R/F1, confusion matrix, ECE, and
for a model with source heads the source outputs (span, type, named, vague), per language."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from framing.model.labels import LABELS, SOURCE_TYPES, SOURCED_LABELS
from framing.training.data import documents_of

if TYPE_CHECKING:
    from framing.model.classifier import FramingClassifier, Prediction
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
    with_ci = "macro_f1_ci" in report
    columns = ("scope", "sentences", "macro-F1", *(["95% interval"] if with_ci else []), "accuracy")
    for column in columns:
        summary.add_column(column, justify="right" if column != "scope" else "left")

    def interval(stats: dict) -> list[str]:
        return [f"{stats['macro_f1_ci'][0]:.3f}–{stats['macro_f1_ci'][1]:.3f}"] if with_ci else []

    summary.add_row("all", str(report["n"]), f"{report['macro_f1']:.3f}", *interval(report), f"{report['accuracy']:.3f}")
    for lang, stats in report["per_language"].items():
        summary.add_row(lang, str(stats["n"]), f"{stats['macro_f1']:.3f}", *interval(stats), f"{stats['accuracy']:.3f}")
    captions = []
    if with_ci:
        boot = report["bootstrap"]
        captions.append(f"intervals: {boot['resamples']} bootstrap resamples of {boot['unit']}s")
    if "ece" in report:
        captions.append(f"expected calibration error (10 bins): {report['ece']:.3f}")
    summary.caption = "; ".join(captions) or None
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
    if "source" not in report:
        return Group(summary, labels, confusion)
    sources = Table(title="Source outputs (end to end: sources only where the predicted label has one)")
    columns = {
        "span exact F1": "span_exact_f1",
        "span token F1": "span_token_f1",
        "type macro-F1": "source_type_macro_f1",
        "named F1": "named_f1",
        "vague F1": "vague_f1",
    }
    sources.add_column("scope")
    for column in columns:
        sources.add_column(column, justify="right")
    scopes = {"all": report["source"], **report["source"]["per_language"]}
    for scope, stats in scopes.items():
        sources.add_row(scope, *("–" if stats[key] is None else f"{stats[key]:.3f}" for key in columns.values()))
    return Group(summary, labels, confusion, sources)


def _f1(tp: float, n_pred: float, n_gold: float) -> dict:
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def _binary_f1(gold: list[bool], pred: list[bool]) -> float | None:
    if not gold:
        return None
    tp = sum(g and p for g, p in zip(gold, pred, strict=True))
    return _f1(tp, sum(pred), sum(gold))["f1"]


def _source_scores(rows: list[dict], predictions: list[Prediction]) -> dict:
    """End to end, as a user gets them: a source is predicted only where the predicted label is
    attributed_fact or analyst_claim.

    - span exact match: predicted source string == gold `source` (whitespace trimmed); precision
      over predicted sources, recall over gold ones;
    - span token overlap: micro F1 of the words (whitespace-split, as multisets) of predicted
      and gold sources, summed over sentences;
    - source type: macro-F1 over the nine types on the sentences with a gold type (a sentence
      predicted unsourced counts as a miss);
    - named: F1 of `source_named` true, on sentences with a gold `source_named`;
    - vague: F1 of `vague_attribution` true, on sentences with a gold `vague_attribution`.
    None where the rows have no gold for it."""
    exact = overlap = pred_words = gold_words = 0
    n_pred = n_gold = 0
    gold_types: list[str] = []
    pred_types: list[str] = []
    named_gold: list[bool] = []
    named_pred: list[bool] = []
    vague_gold: list[bool] = []
    vague_pred: list[bool] = []
    for row, p in zip(rows, predictions, strict=True):
        gold_source = row.get("source", "").strip() if row["label"] in SOURCED_LABELS else ""
        pred_source = (p.source or "").strip()
        n_pred += bool(pred_source)
        n_gold += bool(gold_source)
        pred_words += len(pred_source.split())
        gold_words += len(gold_source.split())
        if gold_source and pred_source:
            exact += gold_source == pred_source
            overlap += sum((Counter(gold_source.split()) & Counter(pred_source.split())).values())
        if row["label"] in SOURCED_LABELS and row.get("source_type"):
            gold_types.append(row["source_type"])
            pred_types.append(p.source_type or "(none)")
        if row["label"] in SOURCED_LABELS and "source_named" in row:
            named_gold.append(bool(row["source_named"]))
            named_pred.append(bool(p.source_named))
        if "vague_attribution" in row:
            vague_gold.append(bool(row["vague_attribution"]))
            vague_pred.append(bool(p.vague_attribution))
    span = _f1(exact, n_pred, n_gold)
    tokens = _f1(overlap, pred_words, gold_words)
    types = type_accuracy = None
    if gold_types:
        present = [t for t in SOURCE_TYPES if t in set(gold_types)]
        types = float(f1_score(gold_types, pred_types, labels=present, average="macro", zero_division=0))
        type_accuracy = float(np.mean([g == p for g, p in zip(gold_types, pred_types, strict=True)]))
    return {
        "sourced_gold": n_gold,
        "sourced_predicted": n_pred,
        "span_exact_f1": span["f1"] if n_gold else None,
        "span_exact_precision": span["precision"] if n_gold else None,
        "span_exact_recall": span["recall"] if n_gold else None,
        "span_token_f1": tokens["f1"] if n_gold else None,
        "source_type_macro_f1": types,
        "source_type_accuracy": type_accuracy,
        "named_f1": _binary_f1(named_gold, named_pred),
        "named_n": len(named_gold),
        "vague_f1": _binary_f1(vague_gold, vague_pred),
        "vague_n": len(vague_gold),
    }


def source_report(rows: list[dict], predictions: list[Prediction]) -> dict:
    """`_source_scores` over all rows and per language."""
    report = _source_scores(rows, predictions)
    report["per_language"] = {}
    for lang in sorted({r["lang"] for r in rows}):
        idx = [i for i, r in enumerate(rows) if r["lang"] == lang]
        report["per_language"][lang] = _source_scores([rows[i] for i in idx], [predictions[i] for i in idx])
    return report


def predict_rows(classifier: FramingClassifier, rows: list[dict], batch_size: int = 32, use_context: bool = True) -> list:
    """A prediction per labelled row, in row order, each row read in its article (runs of
    consecutive rows of the same `article`); `use_context=False` gives each sentence alone, to
    measure what the model takes from the article."""
    documents = documents_of(rows) if use_context else [[r] for r in rows]
    return [p for doc in classifier.predict_documents([[r["text"] for r in d] for d in documents], None, batch_size) for p in doc]


def probabilities(predictions: list) -> np.ndarray:
    """Rows of probabilities, columns in `LABELS` order."""
    return np.array([[p.scores[label] for label in LABELS] for p in predictions]).reshape(len(predictions), len(LABELS))


def evaluate_rows(
    classifier: FramingClassifier,
    rows: list[dict],
    batch_size: int = 32,
    use_context: bool = True,
    n_bootstrap: int = 0,
    seed: int = 0,
    predictions: list | None = None,
) -> dict:
    """The framing report of `classifier` on labelled rows (see `predict_rows`). With
    `n_bootstrap`, macro-F1 (overall and per language) gets a percentile interval
    (`bootstrap_macro_f1`); with source heads, `source` holds `source_report`. `predictions`,
    when given, are the rows' predictions already made (`predict_rows`)."""
    if predictions is None:
        predictions = predict_rows(classifier, rows, batch_size, use_context)
    probs = probabilities(predictions)
    pred = [p.label for p in predictions]
    gold, langs = [r["label"] for r in rows], [r["lang"] for r in rows]
    report = framing_report(gold, pred, langs, probs)
    if classifier.source_heads:
        report["source"] = source_report(rows, predictions)
    if n_bootstrap:
        groups = resampling_units(rows)
        report["bootstrap"] = {
            "resamples": n_bootstrap,
            "unit": "article" if any(r.get("article") is not None for r in rows) else "sentence",
            "confidence": 0.95,
        }
        report["macro_f1_ci"] = bootstrap_macro_f1(gold, pred, groups, n_bootstrap, seed)
        for lang, stats in report["per_language"].items():
            idx = [i for i, code in enumerate(langs) if code == lang]
            stats["macro_f1_ci"] = bootstrap_macro_f1(
                [gold[i] for i in idx], [pred[i] for i in idx], [groups[i] for i in idx], n_bootstrap, seed
            )
    return report


def resampling_units(rows: list[dict]) -> list[str]:
    """What a bootstrap resamples: whole articles when rows name them (sentences of one article
    share a writer and a story, so they are not independent draws), else single sentences."""
    return [f"a:{r['article']}" if r.get("article") is not None else f"s:{i}" for i, r in enumerate(rows)]


def bootstrap_macro_f1(
    gold: Sequence[str], pred: Sequence[str], groups: Sequence[str], n: int = 1000, seed: int = 0, confidence: float = 0.95
) -> list[float]:
    """Percentile interval of macro-F1 over `n` resamples of the groups (with replacement).

    Each group's (gold, predicted) counts are a row of 16 cells; a resample is a vector of group
    weights, so all confusion matrices come from one matrix product. Macro-F1 averages over the
    labels present in the full sample, as `macro_f1` does, so replicates estimate the same thing."""
    k = len(LABELS)
    index = {label: i for i, label in enumerate(LABELS)}
    units = sorted(set(groups))
    unit_of = {u: i for i, u in enumerate(units)}
    cells = np.zeros((len(units), k * k))
    for g, p, unit in zip(gold, pred, groups, strict=True):
        cells[unit_of[unit], index[g] * k + index[p]] += 1
    present = [index[label] for label in LABELS if label in set(gold) | set(pred)]
    rng = np.random.default_rng(seed)
    weights = rng.multinomial(len(units), np.full(len(units), 1 / len(units)), size=n)
    confusion = (weights @ cells).reshape(n, k, k)
    tp = np.diagonal(confusion, axis1=1, axis2=2)
    fp = confusion.sum(axis=1) - tp
    fn = confusion.sum(axis=2) - tp
    denominator = 2 * tp + fp + fn
    f1 = np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)
    scores = f1[:, present].mean(axis=1)
    alpha = (1 - confidence) / 2
    return [float(np.quantile(scores, alpha)), float(np.quantile(scores, 1 - alpha))]


def prediction_rows(rows: list[dict], probs: np.ndarray, model: dict | None = None) -> list[dict]:
    """One row per sentence for `framing evaluate --predictions`: the input fields, `gold_label`
    (the input's label), `label` (the prediction), `scores` (label -> probability) and `lang`;
    `framing outlets --calibration` reads exactly this."""
    out = []
    for row, p in zip(rows, probs, strict=True):
        fields = {k: v for k, v in row.items() if k not in ("label", "context")}
        scores = {label: round(float(x), 5) for label, x in zip(LABELS, p, strict=True)}
        out.append({**fields, "gold_label": row["label"], "label": LABELS[int(p.argmax())], "scores": scores, **(model or {})})
    return out
