"""Reliability diagram (10 equal-width confidence bins) of classified sentences against gold.

    framing classify data/test.jsonl --sentences -o test-pred.jsonl
    python bench/reliability.py test-pred.jsonl data/test.jsonl docs/img/reliability.svg

The SVG is written by hand (no plotting library needed) and is self-contained.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from framing.model.labels import LABELS
from framing.training.evaluate import expected_calibration_error


def bins(confidence: np.ndarray, correct: np.ndarray, n: int = 10) -> list[tuple[float, float, float, int]]:
    edges = np.linspace(0, 1, n + 1)
    out = []
    for low, high in zip(edges[:-1], edges[1:], strict=True):
        inside = (confidence > low) & (confidence <= high)
        if inside.any():
            out.append((float(low), float(confidence[inside].mean()), float(correct[inside].mean()), int(inside.sum())))
    return out


def svg(rows: list[tuple[float, float, float, int]], ece: float, title: str) -> str:
    size, pad = 360, 40
    scale = size - 2 * pad

    def x(v: float) -> float:
        return pad + v * scale

    def y(v: float) -> float:
        return size - pad - v * scale

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size + 20}" font-family="sans-serif" font-size="11">',
        f'<text x="{pad}" y="16" font-size="13">{title}</text>',
        f'<line x1="{x(0)}" y1="{y(0)}" x2="{x(1)}" y2="{y(1)}" stroke="#999" stroke-dasharray="4 3"/>',
        f'<rect x="{x(0)}" y="{y(1)}" width="{scale}" height="{scale}" fill="none" stroke="#333"/>',
    ]
    for low, confidence, accuracy, count in rows:
        parts.append(
            f'<rect x="{x(low) + 1:.1f}" y="{y(accuracy):.1f}" width="{scale / 10 - 2:.1f}" height="{accuracy * scale:.1f}" '
            f'fill="#2b7a78" fill-opacity="0.75">'
            f"<title>confidence {confidence:.3f}, accuracy {accuracy:.3f}, n={count}</title></rect>"
        )
        parts.append(f'<circle cx="{x(confidence):.1f}" cy="{y(confidence):.1f}" r="2.5" fill="#d1495b"/>')
    for tick in (0, 0.5, 1):
        parts.append(f'<text x="{x(tick) - 6}" y="{y(0) + 14}">{tick}</text>')
        parts.append(f'<text x="{x(0) - 24}" y="{y(tick) + 4}">{tick}</text>')
    parts.append(f'<text x="{x(0.25)}" y="{size - 6}">confidence (red dots: mean per bin)</text>')
    parts.append(f'<text x="{x(0.02)}" y="{y(0.93)}">bars: accuracy per bin; ECE {ece:.3f}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def main() -> None:
    predictions, gold_file, out = map(Path, sys.argv[1:4])
    gold = {r["id"]: r["label"] for r in map(json.loads, gold_file.read_text(encoding="utf-8").splitlines())}
    rows = [json.loads(line) for line in predictions.read_text(encoding="utf-8").splitlines()]
    probs = np.array([[r["scores"][label] for label in LABELS] for r in rows])
    gold_ids = np.array([LABELS.index(gold[r["id"]]) for r in rows])
    ece = expected_calibration_error(probs, gold_ids)
    table = bins(probs.max(axis=1), probs.argmax(axis=1) == gold_ids)
    out.write_text(svg(table, ece, f"Reliability on {gold_file.name} ({len(rows)} sentences)"), encoding="utf-8")
    keys = ("low", "confidence", "accuracy", "n")
    print(json.dumps({"ece": round(ece, 4), "bins": [dict(zip(keys, b, strict=True)) for b in table]}))


if __name__ == "__main__":
    main()
