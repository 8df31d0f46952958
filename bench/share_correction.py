"""Raw against corrected outlet shares on labelled outlets the error rates were not measured on.

    framing classify data/test.jsonl --sentences -o /tmp/test-pred.jsonl
    python bench/share_correction.py /tmp/test-pred.jsonl --gold data/test.jsonl

    framing classify data/test_hard.jsonl --sentences -o /tmp/hard-pred.jsonl
    python bench/share_correction.py /tmp/hard-pred.jsonl --gold data/test_hard.jsonl \
        --confusion model/default/confusion.json

Without --confusion, for every outlet of a language the error rates come from the OTHER outlets'
sentences of that language (leave one outlet out): measuring them on the outlet itself would
flatter the correction. With --confusion, every outlet is corrected with that file's rates (the
shipped model's, measured on the test split, for outlets outside it).
Prints, per language and method, the mean absolute share error per outlet (the mean over the four
labels of |estimated share − gold share|, averaged over outlets), the largest single-label error,
and how often the 95% interval contains the gold share; `--json` writes the per-outlet figures.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np

from framing.model.labels import LABELS
from framing.outlets import quantify
from framing.outlets.analysis import OutletsSettings, analyse, load_articles

METHODS = ("raw", *quantify.METHODS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("classified", type=Path, help="`framing classify --sentences` output over a labelled corpus")
    parser.add_argument("--gold", type=Path, required=True, help="the labelled corpus, joined by id")
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="write per-outlet figures here")
    parser.add_argument("--confusion", type=Path, help="a confusion file to correct every outlet with, instead of leave-one-out")
    args = parser.parse_args(argv)

    rows = quantify.join_gold(args.classified, args.gold)
    articles = load_articles([args.classified], args.gold)
    article_lang = {a.key: a.lang for a in articles}
    outlets_by_lang: dict[str, list[str]] = defaultdict(list)
    for a in articles:
        if a.outlet not in outlets_by_lang[a.lang]:
            outlets_by_lang[a.lang].append(a.outlet)

    results: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        for lang in sorted(outlets_by_lang):
            results[lang] = {}
            for outlet in sorted(outlets_by_lang[lang]):
                # the rows of the other outlets of this language, by article language as the report does
                if args.confusion:
                    calibration = quantify.read_confusion(args.confusion)
                else:
                    others = [r | {"lang": lang} for r in rows if article_lang[r["article"]] == lang and r["outlet"] != outlet]
                    path = Path(tmp) / "calibration.jsonl"
                    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in others), encoding="utf-8")
                    calibration = quantify.read_calibration(path)
                held_out = [a for a in articles if a.lang == lang and a.outlet == outlet]
                gold = np.sum([a.gold_counts for a in held_out], axis=0)
                gold_shares = gold / gold.sum()
                entry: dict = {"articles": len(held_out), "sentences": int(gold.sum()), "gold": gold_shares.tolist()}
                for method in quantify.METHODS:
                    settings = OutletsSettings(
                        n_bootstrap=args.bootstrap,
                        n_permutations=19,
                        min_articles=2,
                        min_sentences=1,
                        correction=method,
                        seed=args.seed,
                    )
                    out = analyse(held_out, settings, calibration)["languages"][lang]
                    o = out["outlets"][0]
                    if method == quantify.METHODS[0]:
                        entry["raw"] = _figures(o["shares"], o["share_ci"], gold_shares)
                    if o["corrected"] is None:
                        entry[method] = {"unavailable": out["correction"]["reason"]}
                    else:
                        entry[method] = _figures(o["corrected"]["shares"], o["corrected"]["share_ci"], gold_shares)
                results[lang][outlet] = entry

    how = f"error rates from {args.confusion}" if args.confusion else "leave one outlet out"
    print(f"{args.classified} (gold: {args.gold}), {how}; share errors in percentage points")
    for lang, outlets in results.items():
        print(f"\n{lang}: {len(outlets)} outlets")
        print(f"  {'method':<6} {'mean abs error':>15} {'max error':>10} {'95% CI covers gold':>19}")
        for method in METHODS:
            entries = [e[method] for e in outlets.values() if "mae" in e[method]]
            if not entries:
                continue
            mae = np.mean([e["mae"] for e in entries])
            worst = max(e["max"] for e in entries)
            covered = sum(e["covered"] for e in entries)
            total = sum(len(LABELS) for _ in entries)
            print(f"  {method:<6} {100 * mae:>15.2f} {100 * worst:>10.2f} {covered:>12d} of {total}")
        for outlet, e in outlets.items():
            cells = "  ".join(f"{m} {100 * e[m]['mae']:.2f}" for m in METHODS if "mae" in e[m])
            print(f"    {outlet}: {cells}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


def _figures(shares: dict, ci: dict | None, gold: np.ndarray) -> dict:
    estimate = np.array([shares[label] for label in LABELS])
    error = np.abs(estimate - gold)
    covered = sum(1 for i, label in enumerate(LABELS) if ci and ci[label][0] <= gold[i] <= ci[label][1])
    return {"shares": estimate.tolist(), "mae": float(error.mean()), "max": float(error.max()), "covered": covered}


if __name__ == "__main__":
    sys.exit(main())
