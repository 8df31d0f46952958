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
    counts["profiles"] = {
        split: {lang: text_profile([r for r in rows if r["lang"] == lang]) for lang in sorted({r["lang"] for r in rows})}
        for split, rows in per_split.items()
    }
    every = [r for rows in per_split.values() for r in rows]
    counts["profiles"]["all"] = {lang: text_profile([r for r in every if r["lang"] == lang]) for lang in sorted(by_lang)}
    return counts


def openings_per_100(texts: list[str], draws: int = 200, seed: int = 0) -> float:
    """Distinct first words among 100 sentences drawn at random, averaged over draws: how varied
    the openings are (real news ~90; a corpus that starts every other sentence "He said" is low)."""
    import random

    if len(texts) < 100:
        return float("nan")
    rnd = random.Random(seed)
    firsts = [t.split()[0] if t.split() else "" for t in texts]
    return sum(len(set(rnd.sample(firsts, 100))) for _ in range(draws)) / draws


def text_profile(rows: list[dict]) -> dict:
    """Sentence length in words (claim sentences: `other` furniture left out), openings per 100,
    and the round-2 fields: vague share, and for sourced rows the named share and source types."""
    import numpy as np

    claims = [len(r["text"].split()) for r in rows if r["label"] != "other"]
    sourced = [r for r in rows if "source" in r]
    named = [r["source_named"] for r in sourced if "source_named" in r]
    flagged = [r["vague_attribution"] for r in rows if "vague_attribution" in r]
    return {
        "sentences": len(rows),
        "words_median": float(np.median(claims)) if claims else None,
        "words_p90": float(np.percentile(claims, 90)) if claims else None,
        "share_35_words_or_more": round(sum(n >= 35 for n in claims) / len(claims), 3) if claims else None,
        "openings_per_100": round(openings_per_100([r["text"] for r in rows]), 1),
        "vague_share": round(sum(flagged) / len(flagged), 3) if flagged else None,
        "named_share_of_sourced": round(sum(named) / len(named), 3) if named else None,
        "source_types": dict(Counter(r["source_type"] for r in sourced)),
        "patterns": dict(Counter(r["pattern"] for r in rows if "pattern" in r)),
    }


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
    profiles = Table(title="Length, variety and the round-2 fields (words: claim sentences, `other` left out)")
    columns = ("split", "lang", "median words", "p90 words", "35+ words", "openings /100", "vague", "named (sourced)")
    for column in columns:
        profiles.add_column(column, justify="left" if column in ("split", "lang") else "right")

    def fmt(value, pct: bool = False) -> str:
        if value is None or value != value:  # None or NaN
            return "–"
        return f"{value:.0%}" if pct else f"{value:g}"

    for split, per_lang in counts["profiles"].items():
        for lang, c in per_lang.items():
            profiles.add_row(
                split,
                lang,
                fmt(c["words_median"]),
                fmt(c["words_p90"]),
                fmt(c["share_35_words_or_more"], True),
                fmt(c["openings_per_100"]),
                fmt(c["vague_share"], True),
                fmt(c["named_share_of_sourced"], True),
            )
    return Group(langs, splits, outlets, profiles)


def _token_f1(a: str, b: str) -> float:
    left, right = a.split(), b.split()
    common = sum(min(left.count(t), right.count(t)) for t in set(left))
    return 0.0 if not common else 2 * common / (len(left) + len(right))


def agreement(rows: list[dict]) -> dict:
    """Cohen's kappa between the first and the blind second labels, per language; where both
    annotators gave a source (round 2 files), also span exact match and token-overlap F1, and
    kappa on source_type, source_named and vague_attribution."""
    from sklearn.metrics import cohen_kappa_score

    def kappa(first: list, second: list) -> float:
        # kappa is undefined when both annotators used one value throughout: they agree fully.
        return 1.0 if len(set(first) | set(second)) < 2 else round(float(cohen_kappa_score(first, second)), 3)

    out = {}
    for lang in sorted({r["lang"] for r in rows}):
        mine = [r for r in rows if r["lang"] == lang]
        pairs = [(r["first_label"], r["second_label"]) for r in mine]
        first, second = zip(*pairs, strict=True)
        stats: dict = {
            "n": len(pairs),
            "kappa": kappa(list(first), list(second)),
            "raw_agreement": round(sum(a == b for a, b in pairs) / len(pairs), 3),
            "disagreements": sum(a != b for a, b in pairs),
        }
        sourced = [r for r in mine if r.get("first_source") and r.get("second_source")]
        if sourced:
            stats["sourced_both"] = len(sourced)
            stats["span_exact"] = round(sum(r["first_source"] == r["second_source"] for r in sourced) / len(sourced), 3)
            stats["span_token_f1"] = round(
                sum(_token_f1(r["first_source"], r["second_source"]) for r in sourced) / len(sourced), 3
            )
            for field in ("source_type", "source_named"):
                stats[f"{field}_kappa"] = kappa([r[f"first_{field}"] for r in sourced], [r[f"second_{field}"] for r in sourced])
        flagged = [r for r in mine if "first_vague_attribution" in r]
        if flagged:
            stats["vague_kappa"] = kappa(
                [r["first_vague_attribution"] for r in flagged], [r["second_vague_attribution"] for r in flagged]
            )
        out[lang] = stats
    return out
