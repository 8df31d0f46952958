"""`framing outlets` on synthetic outlets whose truth is known.

Articles are drawn with their own label mix around the outlet's (a Dirichlet per article), as in
real news: that overdispersion is what makes sentence-level statistics wrong, so it is what the
article-level ones must survive.
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from framing.cli.outlets import outlets
from framing.model.labels import LABELS
from framing.outlets.analysis import (
    Article,
    OutletsInputError,
    OutletsSettings,
    analyse,
    load_articles,
    permutation_test,
    permutations_needed,
    read_sentences,
    sourcing_index,
)

BASE = np.array([0.40, 0.15, 0.30, 0.15])  # attributed, analyst, unattributed, other
UNSOURCED_HEAVY = np.array([0.20, 0.10, 0.55, 0.15])
FAST = {"n_bootstrap": 200, "n_permutations": 199}


def draw_articles(
    rng: np.random.Generator,
    outlet: str,
    mix: np.ndarray,
    n_articles: int,
    *,
    concentration: float = 10.0,
    mean_sentences: int = 15,
    lang: str = "en",
    stratum: str = "(none)",
) -> list[Article]:
    articles = []
    for i in range(n_articles):
        p = rng.dirichlet(concentration * mix)
        n = 3 + rng.poisson(mean_sentences - 3)
        counts = rng.multinomial(n, p)
        articles.append(Article(key=f"{outlet}-{stratum}-{i}", outlet=outlet, lang=lang, counts=counts, stratum=stratum))
    return articles


def by_outlet(section: dict) -> dict[str, dict]:
    return {r["outlet"]: r for r in section["outlets"]}


def pair(section: dict, a: str, b: str) -> dict:
    return next(p for p in section["pairwise"] if {p["a"], p["b"]} == {a, b})


# ---------------------------------------------------------------------------------------------
# Differences


def test_planted_difference_is_found_and_only_there():
    rng = np.random.default_rng(1)
    articles = [a for name in "ABC" for a in draw_articles(rng, name, BASE, 20)]
    articles += draw_articles(rng, "D", UNSOURCED_HEAVY, 20)
    section = analyse(articles, OutletsSettings(**FAST))["languages"]["en"]
    outlets_ = by_outlet(section)

    assert outlets_["D"]["vs_rest"]["significant"]
    assert outlets_["D"]["rank"] == 4 and outlets_["D"]["index"] < min(outlets_[x]["index"] for x in "ABC")
    for other in "ABC":
        assert pair(section, "D", other)["significant"], other
    for a, b in (("A", "B"), ("A", "C"), ("B", "C")):
        assert not pair(section, a, b)["significant"], (a, b)
    # The effect size is reported, not just the verdict: D's TVD from the rest is large.
    assert outlets_["D"]["vs_rest"]["statistic"] > 0.1


def test_outlets_from_one_distribution_are_not_called_different_too_often():
    """200 draws of three outlets from the same distribution: the tests must reject at about the
    nominal rate. The same data tested sentence by sentence (as if sentences were independent)
    rejects far more often, which shows these draws would catch a test that ignored articles."""
    rng = np.random.default_rng(7)
    settings = OutletsSettings(n_bootstrap=100, n_permutations=99, min_articles=5, min_sentences=20)
    draws = 200
    raw_rejections = family_rejections = naive_rejections = 0
    p_values = []
    for _ in range(draws):
        articles = [a for name in "ABC" for a in draw_articles(rng, name, BASE, 8, concentration=5.0)]
        section = analyse(articles, settings)["languages"]["en"]
        tests = [r["vs_rest"] for r in section["outlets"]]
        p_values += [t["p"] for t in tests]
        # Outlet A by name: the first row is the most extreme outlet, whose p-value is not uniform.
        raw_rejections += by_outlet(section)["A"]["vs_rest"]["p"] <= settings.alpha
        family_rejections += any(t["significant"] for t in tests)

        # The naive version: each sentence its own unit.
        counts = np.concatenate([np.repeat(np.eye(len(LABELS)), a.counts, axis=0) for a in articles])
        is_a = np.concatenate([np.full(int(a.counts.sum()), a.outlet == "A") for a in articles])
        naive = permutation_test(counts, is_a, ["all"] * len(counts), 99, rng)
        naive_rejections += naive.p <= settings.alpha

    # Binomial(200, 0.05) has mean 10 and sd 3.1: 19 or more would be a 3-sd excess.
    assert raw_rejections < 19, raw_rejections
    assert family_rejections < 19, family_rejections
    # A test that never rejects would pass the lines above; p-values under the null must spread out.
    assert 0.4 < float(np.mean(p_values)) < 0.6
    assert naive_rejections > 2 * 19, naive_rejections


def test_stratified_mode_compares_outlets_within_topics():
    """X writes mostly about war, Y mostly about sport; within a topic they source alike. Crude
    shares make X look far better sourced; within topics, they do not differ. Z sources worse than
    both within each topic, and that difference must survive stratification."""
    rng = np.random.default_rng(3)
    war, sport = np.array([0.55, 0.15, 0.15, 0.15]), np.array([0.15, 0.05, 0.65, 0.15])
    articles = (
        draw_articles(rng, "X", war, 27, stratum="war")
        + draw_articles(rng, "X", sport, 3, stratum="sport")
        + draw_articles(rng, "Y", war, 3, stratum="war")
        + draw_articles(rng, "Y", sport, 27, stratum="sport")
        + draw_articles(rng, "Z", war * [0.5, 1, 1, 1] + [0, 0, 0.275, 0], 15, stratum="war")
        + draw_articles(rng, "Z", sport * [0.2, 1, 1, 1] + [0, 0, 0.12, 0], 15, stratum="sport")
    )
    crude = analyse(articles, OutletsSettings(**FAST))["languages"]["en"]
    assert pair(crude, "X", "Y")["significant"]

    section = analyse(articles, OutletsSettings(**FAST, stratify="topic"))["languages"]["en"]
    outlets_ = by_outlet(section)
    assert not pair(section, "X", "Y")["significant"]
    assert pair(section, "X", "Y")["shared_strata"] == 2
    crude_gap = abs(by_outlet(crude)["X"]["index"] - by_outlet(crude)["Y"]["index"])
    standardised_gap = abs(outlets_["X"]["std_index"] - outlets_["Y"]["std_index"])
    assert crude_gap > 0.4 and standardised_gap < crude_gap / 3
    assert pair(section, "X", "Z")["significant"] and pair(section, "Y", "Z")["significant"]
    assert outlets_["Z"]["rank"] == 3
    assert section["strata"] == pytest.approx({"sport": 0.5, "war": 0.5}, abs=0.1)
    assert outlets_["X"]["std_coverage"] == pytest.approx(1.0)


def test_an_outlet_alone_in_its_strata_is_not_tested():
    rng = np.random.default_rng(5)
    articles = draw_articles(rng, "A", BASE, 10, stratum="war") + draw_articles(rng, "B", BASE, 10, stratum="war")
    articles += draw_articles(rng, "Solo", BASE, 10, stratum="sport")
    section = analyse(articles, OutletsSettings(**FAST, stratify="topic"))["languages"]["en"]
    solo = by_outlet(section)["Solo"]
    assert solo["vs_rest"] is None and "no stratum shared" in solo["vs_rest_note"]
    assert pair(section, "A", "Solo").get("p") is None and pair(section, "A", "Solo")["note"] == "no shared stratum"
    assert solo["std_coverage"] == pytest.approx(1 / 3, abs=0.1)


def test_permutations_are_raised_so_holm_can_reach_significance():
    settings = OutletsSettings(n_permutations=2000)
    assert permutations_needed(3, settings) == 2000
    needed = permutations_needed(120, settings)  # 16 outlets, all pairs
    assert 1 / (needed + 1) <= settings.alpha / 120 / 5 + 1e-12


# ---------------------------------------------------------------------------------------------
# Small outlets


def test_small_outlets_are_flagged_not_ranked_or_tested():
    rng = np.random.default_rng(2)
    articles = [a for name in ("A", "B") for a in draw_articles(rng, name, BASE, 10)]
    articles += draw_articles(rng, "FewArticles", BASE, 3, mean_sentences=30)
    articles += draw_articles(rng, "ShortArticles", BASE, 8, mean_sentences=4)
    section = analyse(articles, OutletsSettings(**FAST, min_articles=5, min_sentences=50))["languages"]["en"]
    outlets_ = by_outlet(section)
    for name, reason in (("FewArticles", "3 article(s) < 5"), ("ShortArticles", "sentence(s) < 50")):
        entry = outlets_[name]
        assert not entry["eligible"] and reason in entry["flag"]
        assert entry["rank"] is None and entry["vs_rest"] is None
        assert all(name not in (p["a"], p["b"]) for p in section["pairwise"])
        assert entry["share_ci"] is not None  # shown, with its (wide) interval
    assert [outlets_[n]["rank"] for n in ("A", "B")] in ([1, 2], [2, 1])
    assert [r["outlet"] for r in section["outlets"]][2:] == ["FewArticles", "ShortArticles"]  # after the ranked ones
    assert section["n_eligible"] == 2 and len(section["pairwise"]) == 1

    # The thresholds are parameters.
    lenient = analyse(articles, OutletsSettings(**FAST, min_articles=3, min_sentences=10))["languages"]["en"]
    assert by_outlet(lenient)["FewArticles"]["eligible"] and by_outlet(lenient)["FewArticles"]["rank"] is not None


def test_a_single_article_gets_no_interval():
    rng = np.random.default_rng(0)
    articles = draw_articles(rng, "A", BASE, 10) + draw_articles(rng, "One", BASE, 1)
    entry = by_outlet(analyse(articles, OutletsSettings(**FAST))["languages"]["en"])["One"]
    assert entry["share_ci"] is None and entry["index_ci"] is None and not entry["eligible"]


# ---------------------------------------------------------------------------------------------
# Intervals


def test_intervals_cover_the_truth_at_about_the_nominal_rate():
    """200 outlets of 25 articles: the 95% intervals must contain the true shares and index about
    95% of the time (percentile bootstrap intervals run a little short with few clusters)."""
    rng = np.random.default_rng(11)
    truth_index = float(sourcing_index(BASE))
    settings = OutletsSettings(n_bootstrap=400, n_permutations=19, min_articles=2, min_sentences=1)
    covered = np.zeros(len(LABELS))
    index_covered = 0
    widths = []
    runs = 200
    for _ in range(runs):
        entry = analyse(draw_articles(rng, "A", BASE, 25), settings)["languages"]["en"]["outlets"][0]
        for i, label in enumerate(LABELS):
            lo, hi = entry["share_ci"][label]
            covered[i] += lo <= BASE[i] <= hi
        lo, hi = entry["index_ci"]
        index_covered += lo <= truth_index <= hi
        widths.append(hi - lo)
    assert np.all(covered / runs >= 0.88), covered / runs
    assert np.all(covered / runs <= 0.995), covered / runs  # intervals that always cover are too wide
    assert 0.88 <= index_covered / runs <= 0.995, index_covered / runs
    assert 0.05 < float(np.mean(widths)) < 0.5


def test_standardised_intervals_cover_the_truth_with_one_or_two_articles_per_topic():
    """Outlets with 15 articles spread over 10 topics, each topic with its own label mix: the
    standardised shares' intervals must still cover the truth (the topic mixes averaged with the
    report's stratum weights over the topics the outlet covers), although most topics hold a
    single article of the outlet, whose share alone cannot show how much it varies."""
    rng = np.random.default_rng(21)
    topics = [f"t{i}" for i in range(10)]
    mixes = {topic: rng.dirichlet(20 * BASE) for topic in topics}
    settings = OutletsSettings(n_bootstrap=400, n_permutations=19, min_articles=2, min_sentences=1, stratify="topic")
    covered = np.zeros(len(LABELS))
    index_covered = 0
    runs = 300
    for _ in range(runs):
        articles = []
        for outlet in "ABC":
            for i in range(15):
                topic = topics[rng.integers(len(topics))]
                article = draw_articles(rng, outlet, mixes[topic], 1, stratum=topic)[0]
                article.key = f"{outlet}-{i}"
                articles.append(article)
        section = analyse(articles, settings)["languages"]["en"]
        entry = by_outlet(section)["A"]
        present = {a.stratum for a in articles if a.outlet == "A"}
        weights = section["strata"]
        truth = sum(weights[t] * mixes[t] for t in present) / sum(weights[t] for t in present)
        for i, label in enumerate(LABELS):
            lo, hi = entry["std_share_ci"][label]
            covered[i] += lo <= truth[i] <= hi
        lo, hi = entry["std_index_ci"]
        index_covered += lo <= float(sourcing_index(truth)) <= hi
    # Measured over 600 runs: 0.91-0.93. Weights recomputed for each replicate gave 0.83-0.91.
    assert np.all(covered / runs >= 0.87), covered / runs
    assert 0.87 <= index_covered / runs <= 0.995, index_covered / runs


def test_same_seed_same_report_and_outlets_do_not_shift_each_other():
    rng = np.random.default_rng(4)
    articles = [a for name in "ABC" for a in draw_articles(rng, name, BASE, 8)]
    first = analyse(articles, OutletsSettings(**FAST))
    assert json.dumps(first, sort_keys=True) == json.dumps(analyse(articles, OutletsSettings(**FAST)), sort_keys=True)
    # An outlet's interval depends on the seed and its own articles, not on which outlets come before it.
    without_a = analyse([a for a in articles if a.outlet != "A"], OutletsSettings(**FAST))
    assert by_outlet(first["languages"]["en"])["B"]["share_ci"] == by_outlet(without_a["languages"]["en"])["B"]["share_ci"]
    other_seed = analyse(articles, OutletsSettings(**FAST, seed=1))
    assert by_outlet(other_seed["languages"]["en"])["B"]["share_ci"] != by_outlet(first["languages"]["en"])["B"]["share_ci"]


# ---------------------------------------------------------------------------------------------
# Reading files, languages, gold


def write_jsonl(path, rows) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def sentence_rows(outlet: str, n_articles: int, labels: list[str], **extra) -> list[dict]:
    return [
        {"id": f"{outlet}-{a}-{i}", "outlet": outlet, "article": f"{outlet}-{a}", "label": label, **extra}
        for a in range(n_articles)
        for i, label in enumerate(labels)
    ]


def test_languages_are_analysed_apart_and_an_article_keeps_its_majority_language(tmp_path):
    rows = sentence_rows("وكالة الأطلس", 6, ["attributed_fact"] * 8 + ["other"] * 2, lang="ar")
    rows += sentence_rows("Atlas Wire", 6, ["unattributed_assertion"] * 9 + ["analyst_claim"], lang="en")
    rows[0]["lang"] = "fr"  # a stray detection inside an Arabic article
    path = tmp_path / "classified.jsonl"
    write_jsonl(path, rows)
    report = analyse(load_articles([path]), OutletsSettings(**FAST))
    assert set(report["languages"]) == {"ar", "en"}
    ar = report["languages"]["ar"]
    assert ar["n_sentences"] == 60 and ar["outlets"][0]["outlet"] == "وكالة الأطلس"
    assert ar["outlets"][0]["index"] == pytest.approx(1.0) and ar["outlets"][0]["shares"]["other"] == pytest.approx(0.2)
    assert "1 sentence(s)" in ar["notes"][0]
    assert report["languages"]["en"]["outlets"][0]["index"] == pytest.approx(-0.8)
    assert "only one outlet" in ar["notes"][-1] and ar["pairwise"] == []


def test_month_strata_come_from_dates(tmp_path):
    rows = sentence_rows("A", 2, ["attributed_fact", "other"], date="2025-03-12")
    rows += sentence_rows("B", 2, ["attributed_fact", "other"], date="2025-04")
    rows[-1]["date"] = None  # missing on one sentence: its article's majority still says April
    path = tmp_path / "c.jsonl"
    write_jsonl(path, rows)
    articles = load_articles([path], stratify="month")
    assert {a.stratum for a in articles} == {"2025-03", "2025-04"}


def test_gold_and_predicted_are_compared(tmp_path):
    gold = ["attributed_fact"] * 6 + ["unattributed_assertion"] * 2 + ["other"] * 2
    predicted = ["attributed_fact"] * 4 + ["unattributed_assertion"] * 4 + ["other"] * 2  # two sourced read as unsourced
    rows = []
    for outlet, pred in (("Good", gold), ("Misread", predicted)):
        for r in sentence_rows(outlet, 6, pred, lang="en"):
            r["gold_label"] = gold[int(r["id"].rsplit("-", 1)[1])]
            rows.append(r)
    path = tmp_path / "classified.jsonl"
    write_jsonl(path, rows)
    report = analyse(load_articles([path]), OutletsSettings(**FAST, min_sentences=10))
    assert report["has_gold"]
    section = report["languages"]["en"]
    good, misread = by_outlet(section)["Good"]["gold"], by_outlet(section)["Misread"]["gold"]
    assert good["max_abs_diff"] == 0 and good["index_diff"] == 0
    assert misread["abs_diff"]["attributed_fact"] == pytest.approx(0.2)
    assert misread["abs_diff"]["unattributed_assertion"] == pytest.approx(0.2)
    assert misread["gold_index"] == pytest.approx(0.5) and misread["predicted_index"] == pytest.approx(0.0)
    assert misread["index_diff"] == pytest.approx(-0.5)
    summary = section["gold_summary"]
    assert summary["max_abs_share_diff_outlet"] == "Misread"
    assert "20.0 percentage points" in summary["statement"] and "same order" in summary["statement"]

    # The same gold, given as a corpus file joined by id, gives the same comparison.
    corpus = tmp_path / "gold.jsonl"
    write_jsonl(corpus, [{"id": r["id"], "label": r["gold_label"]} for r in rows])
    for r in rows:
        del r["gold_label"]
    bare = tmp_path / "bare.jsonl"
    write_jsonl(bare, rows)
    joined = analyse(load_articles([bare], gold_path=corpus), OutletsSettings(**FAST, min_sentences=10))
    assert by_outlet(joined["languages"]["en"])["Misread"]["gold"] == misread


GOOD = {"id": "x1", "outlet": "A", "article": "a1", "label": "other", "lang": "en"}


@pytest.mark.parametrize(
    ("rows", "line", "problem"),
    [
        ([GOOD, "{not json"], 2, "malformed JSON"),
        ([GOOD, [1, 2]], 2, "expected a JSON object"),
        ([{**GOOD, "outlet": ""}], 1, "field 'outlet' is missing or empty"),
        ([GOOD, {k: v for k, v in GOOD.items() if k != "article"}], 2, "field 'article' is missing or empty"),
        ([{**GOOD, "label": "opinion"}], 1, "label 'opinion' is not one of attributed_fact"),
        ([{**GOOD, "gold_label": "fact"}], 1, "gold_label 'fact' is not one of"),
        ([{**GOOD, "gold_label": "other"}, GOOD], 2, "no gold_label, but"),
        ([GOOD, {**GOOD, "outlet": "B"}], 2, "article 'a1' is under outlet 'B' here but 'A'"),
        ([{**GOOD, "source_type": "rumour"}], 1, "source_type 'rumour' is not one of"),
        ([{**GOOD, "lang": 5}], 1, "field 'lang' must be a language code"),
        ([{**GOOD, "date": "12/03/2025"}], 1, "does not start with YYYY-MM"),
    ],
)
def test_bad_input_is_one_line_naming_file_line_and_problem(tmp_path, rows, line, problem):
    path = tmp_path / "bad.jsonl"
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    with pytest.raises(OutletsInputError) as caught:
        load_articles([path], stratify="month")
    message = str(caught.value)
    assert message.startswith(f"{path}:{line}: ") and problem in message and "\n" not in message
    assert isinstance(caught.value, ValueError)


def test_gold_file_problems_name_the_file_and_line(tmp_path):
    classified = tmp_path / "c.jsonl"
    write_jsonl(classified, [GOOD, {**GOOD, "id": "x2"}])
    gold = tmp_path / "gold.jsonl"
    write_jsonl(gold, [{"id": "x1", "label": "other"}])
    with pytest.raises(OutletsInputError, match=rf"^{classified}:2: id 'x2' is not in the gold file"):
        read_sentences([classified], gold)
    write_jsonl(gold, [{"id": "x1", "label": "other"}, {"id": "x1", "label": "other"}])
    with pytest.raises(OutletsInputError, match=rf"^{gold}:2: duplicate id 'x1' \(first at line 1\)"):
        read_sentences([classified], gold)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n", encoding="utf-8")
    with pytest.raises(OutletsInputError, match="no rows"):
        read_sentences([empty])
    with pytest.raises(OutletsInputError, match="file not found"):
        read_sentences([tmp_path / "missing.jsonl"])


def test_settings_are_checked():
    with pytest.raises(OutletsInputError, match="minimum number of articles per outlet must be at least 2"):
        OutletsSettings(min_articles=1)
    with pytest.raises(OutletsInputError, match="at least 19 permutations"):
        OutletsSettings(n_permutations=5)


# ---------------------------------------------------------------------------------------------
# The command


@pytest.fixture()
def cli():
    app = typer.Typer()
    app.command()(outlets)
    runner = CliRunner()
    return lambda *args: runner.invoke(app, [str(a) for a in args])


def realistic_rows(rng: np.random.Generator) -> list[dict]:
    """Sentence rows as `framing classify` writes them, with gold labels, topics and source types."""
    rows = []
    plans = [("وكالة الأطلس للأنباء", "ar", BASE, 8), ("صحيفة صدى السودان", "ar", UNSOURCED_HEAVY, 7)]
    plans += [("مدونة صغيرة", "ar", BASE, 2)]
    plans += [("Atlas Wire Service", "en", BASE, 8), ("Metro Buzz", "en", UNSOURCED_HEAVY, 8)]
    for outlet, lang, mix, n_articles in plans:
        for article in draw_articles(rng, outlet, mix, n_articles, lang=lang):
            labels = [label for label, n in zip(LABELS, article.counts, strict=True) for _ in range(n)]
            for i, label in enumerate(labels):
                predicted = label if rng.random() > 0.15 else LABELS[rng.integers(len(LABELS))]
                row = {"id": f"{article.key}-{i}", "article": article.key, "outlet": outlet, "lang": lang}
                row |= {"topic": ["war", "economy"][i % 2], "date": "2025-03-01", "label": predicted, "gold_label": label}
                if label in ("attributed_fact", "analyst_claim"):
                    row["source_type"] = "expert_analyst" if label == "analyst_claim" else "official"
                rows.append(row | {"scores": {x: 0.25 for x in LABELS}})
    return rows


def test_command_writes_html_csv_and_json(cli, tmp_path):
    path = tmp_path / "classified.jsonl"
    write_jsonl(path, realistic_rows(np.random.default_rng(8)))
    out = tmp_path / "report"
    result = cli(path, "-o", out, "--bootstrap", 200, "--permutations", 199, "--stratify", "topic")
    assert result.exit_code == 0, result.output
    assert "Atlas Wire Service" in result.output and "too little" in result.output and "report written to" in result.output

    page = (out / "report.html").read_text(encoding="utf-8")
    assert page.count("<svg") == 4 and "صحيفة صدى السودان" in page
    for external in ("<script", "<link", "src=", "@import", "url("):
        assert external not in page, external
    assert "https://" not in page and page.count("http://") == page.count('xmlns="http://www.w3.org/2000/svg"')

    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["settings"]["stratify"] == "topic" and report["inputs"] == [str(path)]
    with (out / "outlets.csv").open(encoding="utf-8") as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == 5 and {r["lang"] for r in table} == {"ar", "en"}
    small = next(r for r in table if r["outlet"] == "مدونة صغيرة")
    assert small["eligible"] == "False" and small["rank"] == "" and small["vs_rest_p"] == ""
    with (out / "comparisons.csv").open(encoding="utf-8") as fh:
        kinds = [r["kind"] for r in csv.DictReader(fh)]
    assert kinds.count("vs_rest") == 4 and kinds.count("pair") == 2
    with (out / "gold_vs_predicted.csv").open(encoding="utf-8") as fh:
        assert len(list(csv.DictReader(fh))) == 5
    with (out / "source_types.csv").open(encoding="utf-8") as fh:
        assert {r["source_type"] for r in csv.DictReader(fh)} == {"official", "expert_analyst"}


def test_command_reports_bad_input_in_one_line(cli, tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(GOOD) + "\n" + json.dumps({**GOOD, "label": "opinion"}) + "\n", encoding="utf-8")
    result = cli(path, "-o", tmp_path / "out")
    assert result.exit_code == 2
    assert f"{path}:2: label 'opinion' is not one of" in " ".join(result.output.split())
    assert not (tmp_path / "out").exists()
    result = cli(path, "--bootstrap", 3)
    assert result.exit_code == 2 and "at least 100 resamples" in result.output
