"""Corpus counts per split, language, label and outlet (`framing corpus stats`)."""

from __future__ import annotations

from collections import Counter, defaultdict

from framing.model.labels import LABELS


def corpus_counts(per_split: dict[str, list[dict]]) -> dict:
    counts: dict = {"splits": {}, "languages": {}, "outlets": {}}
    by_lang: dict[str, Counter] = defaultdict(Counter)
    by_lang_articles: dict[str, set] = defaultdict(set)
    by_outlet: dict[tuple[str, str], Counter] = defaultdict(Counter)
    for split, rows in per_split.items():
        split_langs: dict[str, Counter] = defaultdict(Counter)
        articles: dict[str, set] = defaultdict(set)
        for row in rows:
            split_langs[row["lang"]][row["label"]] += 1
            articles[row["lang"]].add(row["article"])
            by_lang[row["lang"]][row["label"]] += 1
            by_lang_articles[row["lang"]].add(row["article"])
            by_outlet[(row["lang"], row["outlet"])][row["label"]] += 1
        counts["splits"][split] = {
            lang: {"articles": len(articles[lang]), "sentences": sum(c.values()), "labels": dict(c)}
            for lang, c in sorted(split_langs.items())
        }
    for lang, c in sorted(by_lang.items()):
        counts["languages"][lang] = {
            "articles": len(by_lang_articles[lang]),
            "sentences": sum(c.values()),
            "labels": {label: c.get(label, 0) for label in LABELS},
        }
    for (lang, outlet), c in sorted(by_outlet.items()):
        counts["outlets"][f"{lang}:{outlet}"] = {
            "lang": lang,
            "outlet": outlet,
            "sentences": sum(c.values()),
            "labels": {label: c.get(label, 0) for label in LABELS},
        }
    return counts


def render_counts(counts: dict):
    from rich.console import Group
    from rich.table import Table

    def share(n: int, total: int) -> str:
        return f"{n} ({n / total:.0%})" if total else "0"

    langs = Table(title="Per language")
    for column in ("lang", "articles", "sentences", *LABELS):
        langs.add_column(column, justify="left" if column == "lang" else "right")
    for lang, c in counts["languages"].items():
        langs.add_row(
            lang, str(c["articles"]), str(c["sentences"]), *[share(c["labels"][label], c["sentences"]) for label in LABELS]
        )
    splits = Table(title="Per split")
    for column in ("split", "lang", "articles", "sentences"):
        splits.add_column(column)
    for split, per_lang in counts["splits"].items():
        for lang, c in per_lang.items():
            splits.add_row(split, lang, str(c["articles"]), str(c["sentences"]))
    outlets = Table(title="Per outlet")
    for column in ("lang", "outlet", "sentences", *LABELS):
        outlets.add_column(column, justify="left" if column in ("lang", "outlet") else "right")
    for c in counts["outlets"].values():
        outlets.add_row(
            c["lang"], c["outlet"], str(c["sentences"]), *[share(c["labels"][label], c["sentences"]) for label in LABELS]
        )
    return Group(langs, splits, outlets)


def agreement(rows: list[dict]) -> dict:
    """Cohen's kappa between the first and the blind second labels, per language."""
    from sklearn.metrics import cohen_kappa_score

    out = {}
    for lang in sorted({r["lang"] for r in rows}):
        pairs = [(r["first_label"], r["second_label"]) for r in rows if r["lang"] == lang]
        first, second = zip(*pairs, strict=True)
        out[lang] = {
            "n": len(pairs),
            "kappa": round(float(cohen_kappa_score(first, second)), 3),
            "raw_agreement": round(sum(a == b for a, b in pairs) / len(pairs), 3),
            "disagreements": sum(a != b for a, b in pairs),
        }
    return out
