"""The shipped corpus: schema, splits, sizes and spread (issue: bilingual labelled corpus)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from framing.model.labels import LABELS
from framing.training.corpus_checks import cross_split_duplicates, normalise
from framing.training.data import load_corpus

DATA = Path(__file__).resolve().parent.parent / "data"
SPLITS = ("train", "dev", "test", "test_hard")


@pytest.fixture(scope="module")
def corpus() -> dict[str, list[dict]]:
    # load_corpus validates every row: required fields, label set, source a substring of the
    # sentence, source_type from the schema, unique ids within a file.
    return {name: load_corpus(DATA / f"{name}.jsonl") for name in SPLITS}


def test_ids_are_unique_across_splits(corpus):
    ids = Counter(r["id"] for rows in corpus.values() for r in rows)
    assert [i for i, n in ids.items() if n > 1] == []


def test_no_article_is_in_two_splits(corpus):
    articles = {name: {r["article"] for r in rows} for name, rows in corpus.items()}
    for i, first in enumerate(SPLITS):
        for second in SPLITS[i + 1 :]:
            assert not articles[first] & articles[second], (first, second)


def test_no_sentence_or_near_duplicate_is_in_two_splits(corpus):
    exact = {name: {normalise(r["text"]) for r in rows} - {""} for name, rows in corpus.items()}
    assert not exact["train"] & exact["test"] and not exact["train"] & exact["dev"] and not exact["dev"] & exact["test"]
    assert cross_split_duplicates({k: corpus[k] for k in ("train", "dev", "test")}, threshold=0.9) == []
    # The hard part shares nothing with what the model learns from (its one-word section labels,
    # such as «صحة», may repeat a section label of the other held-out part, which is harmless).
    assert cross_split_duplicates({k: corpus[k] for k in ("train", "dev", "test_hard")}, threshold=0.9) == []


def test_test_articles_come_from_outlets_train_never_sees(corpus):
    train_outlets = {r["outlet"] for r in corpus["train"]} | {r["outlet"] for r in corpus["dev"]}
    assert not train_outlets & {r["outlet"] for r in corpus["test"]}
    assert not train_outlets & {r["outlet"] for r in corpus["test_hard"]}
    assert not {r["outlet"] for r in corpus["test"]} & {r["outlet"] for r in corpus["test_hard"]}


def test_articles_are_contiguous_and_in_reading_order(corpus):
    for rows in corpus.values():
        seen: set[str] = set()
        previous = None
        for row in rows:
            if row["article"] != previous:
                assert row["article"] not in seen, f"article {row['article']} is split up"
                seen.add(row["article"])
                previous = row["article"]


@pytest.mark.parametrize("lang", ["ar", "en"])
def test_each_language_has_the_promised_size_and_spread(corpus, lang):
    rows = [r for split in corpus.values() for r in split if r["lang"] == lang]
    assert len({r["article"] for r in rows}) >= 300
    assert len(rows) >= 6000
    assert len({r["outlet"] for r in rows}) >= 12
    assert len({r["topic"] for r in rows}) >= 11
    assert len({r["region"] for r in rows}) >= 11
    shares = Counter(r["label"] for r in rows)
    total = sum(shares.values())
    assert set(shares) == set(LABELS)
    assert 0.30 <= shares["unattributed_assertion"] / total <= 0.47
    assert 0.28 <= shares["attributed_fact"] / total <= 0.42
    assert 0.10 <= shares["analyst_claim"] / total <= 0.22
    assert 0.06 <= shares["other"] / total <= 0.16


def test_outlets_differ_in_how_they_source(corpus):
    by_outlet: dict[str, Counter] = {}
    for rows in corpus.values():
        for r in rows:
            by_outlet.setdefault(r["outlet"], Counter())[r["label"]] += 1
    attributed = [c["attributed_fact"] / sum(c.values()) for c in by_outlet.values()]
    analyst = [c["analyst_claim"] / sum(c.values()) for c in by_outlet.values()]
    assert max(attributed) - min(attributed) > 0.25
    assert max(analyst) - min(analyst) > 0.2


def test_blind_relabelling_covers_a_tenth_and_is_settled_in_the_corpus(corpus):
    import json

    from framing.training.corpus_stats import agreement

    current = {r["id"]: r for rows in corpus.values() for r in rows}
    rows = [json.loads(line) for path in sorted((DATA / "agreement").glob("*.jsonl")) for line in path.read_text().splitlines()]
    # The build drops a repeated furniture line from train; a sampled row may be one of those.
    rows = [r for r in rows if r["id"] in current]
    for lang in ("ar", "en"):
        sampled = [r for r in rows if r["lang"] == lang]
        in_corpus = sum(1 for r in current.values() if r["lang"] == lang)
        assert abs(len(sampled) / in_corpus - 0.1) < 0.01
    assert all(current[r["id"]]["label"] == r["settled_label"] for r in rows)
    kappa = agreement(rows)
    assert set(kappa) == {"ar", "en"} and all(0 <= k["kappa"] <= 1 for k in kappa.values())


def test_every_row_carries_the_round_two_fields(corpus):
    # load_corpus checks their types, that only sourced rows carry source fields, and that no
    # `other` row is vague; here: none is missing.
    for rows in corpus.values():
        for r in rows:
            assert isinstance(r.get("vague_attribution"), bool), r["id"]
            if r["label"] in ("attributed_fact", "analyst_claim"):
                assert isinstance(r.get("source_named"), bool), r["id"]


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (r"prosecut|النيابة|المدعي العام", "document_court"),
        (
            r"UNHCR|OCHA|\bIOM\b|UNICEF|\bWFP\b|مفوضية الأمم المتحدة لشؤون اللاجئين|اليونيسف|"
            r"برنامج الأغذية العالمي|المنظمة الدولية للهجرة",
            "monitor_ngo",
        ),
    ],
)
def test_source_types_follow_the_type_table(corpus, pattern, expected):
    import re

    wrong = [
        (r["id"], r["source"], r["source_type"])
        for rows in corpus.values()
        for r in rows
        if r["label"] == "attributed_fact" and re.search(pattern, r["source"]) and r["source_type"] != expected
    ]
    assert wrong == []


@pytest.mark.parametrize("lang", ["ar", "en"])
def test_the_hard_test_part_is_big_and_dense_with_the_patterns(corpus, lang):
    rows = [r for r in corpus["test_hard"] if r["lang"] == lang]
    assert len(rows) >= 300
    tagged = [r for r in rows if "pattern" in r]
    assert len(tagged) / len(rows) >= 0.5
    assert {"far_follow_on", "long_sentence", "mentions_statement", "vague", "furniture"} <= {r["pattern"] for r in tagged}


@pytest.mark.parametrize("lang", ["ar", "en"])
def test_round_two_brought_longer_more_varied_sentences(corpus, lang):
    from framing.training.corpus_stats import text_profile

    new = [r for rows in corpus.values() for r in rows if r["lang"] == lang and r["id"][3] in "deh"]
    assert len(new) >= 1500 and len({r["article"] for r in new}) >= 80
    profile = text_profile(new)
    assert profile["words_median"] >= 22 and profile["words_p90"] >= 38
    assert profile["openings_per_100"] >= 85
