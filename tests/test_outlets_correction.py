"""Shares corrected for the classifier's own errors: the corrections on exact matrices, and on
synthetic outlets read by a simulated classifier with known, uneven errors.

The simulated classifier sees a 4-d feature per sentence, drawn around its gold label's mean, and
returns the exact posterior under a fixed training prior: so its probabilities are calibrated (as
EM assumes) and its errors are uneven (about one analyst claim in six called an attributed fact,
the confusion we see on real news), and the same for every outlet (as every correction assumes).
"""

from __future__ import annotations

import csv
import hashlib
import json

import numpy as np
import pytest

from framing.model.labels import LABELS
from framing.outlets import quantify
from framing.outlets.analysis import Article, OutletsInputError, OutletsSettings, analyse, load_articles
from framing.outlets.confusion import confusion_from_predictions, write_confusion

K = len(LABELS)
MEANS = np.array([[2.6, 0, 0, 0], [1.8, 2.6, 0, 0], [0, 0, 2.6, 0.4], [0, 0.5, 0.5, 2.6]])
TRAIN_PRIOR = np.array([0.35, 0.15, 0.35, 0.15])
#: An outlet that quotes analysts a lot: the outlets the raw shares misread most.
ANALYST_HEAVY = np.array([0.25, 0.35, 0.25, 0.15])


def classify(rng: np.random.Generator, gold: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(scores, predicted label) of the simulated classifier for sentences with these gold labels."""
    x = MEANS[gold] + rng.normal(size=(len(gold), K))
    loglik = -0.5 * ((x[:, None, :] - MEANS[None]) ** 2).sum(-1) + np.log(TRAIN_PRIOR)
    scores = np.exp(loglik - loglik.max(axis=1, keepdims=True))
    scores /= scores.sum(axis=1, keepdims=True)
    return scores, scores.argmax(axis=1)


def draw_gold(rng: np.random.Generator, mix: np.ndarray, n_articles: int, mean_sentences: int = 15) -> list[np.ndarray]:
    """Gold labels of each article, each article with its own mix around the outlet's."""
    return [rng.choice(K, size=3 + rng.poisson(mean_sentences - 3), p=rng.dirichlet(10 * mix)) for _ in range(n_articles)]


def calibration_set(rng: np.random.Generator, n_articles: int = 60) -> quantify.CalibrationSet:
    gold = draw_gold(rng, TRAIN_PRIOR, n_articles, 13)
    scores, pred = classify(rng, np.concatenate(gold))
    clusters = np.repeat(np.arange(n_articles), [len(g) for g in gold])
    return quantify.CalibrationSet(gold=np.concatenate(gold), pred=pred, scores=scores, clusters=clusters)


def outlet_articles(rng: np.random.Generator, outlet: str, mix: np.ndarray, n_articles: int, lang: str = "en") -> list[Article]:
    articles = []
    for i, gold in enumerate(draw_gold(rng, mix, n_articles)):
        scores, pred = classify(rng, gold)
        articles.append(
            Article(
                key=f"{outlet}-{i}",
                outlet=outlet,
                lang=lang,
                counts=np.bincount(pred, minlength=K),
                gold_counts=None,  # the truth is the outlet's mix; gold comparisons would only cost time
                scores=scores,
                score_sums=scores.sum(axis=0),
            )
        )
    return articles


# ---------------------------------------------------------------------------------------------
# The corrections on exact matrices


CONFUSION = np.array(
    [
        [0.90, 0.04, 0.05, 0.01],
        [1 / 6, 0.80, 0.02, 1 / 30],
        [0.05, 0.01, 0.90, 0.04],
        [0.00, 0.05, 0.10, 0.85],
    ]
)


@pytest.mark.parametrize("true", [[0.4, 0.15, 0.3, 0.15], [0.1, 0.6, 0.2, 0.1], [0.25, 0.25, 0.25, 0.25]])
def test_acc_and_pacc_invert_an_exact_confusion(true):
    true = np.array(true)
    observed = CONFUSION.T @ true  # what the classifier would report on average
    assert not np.allclose(observed, true)  # the raw shares are biased ...
    for method in (quantify.acc, quantify.pacc):
        corrected, clipped = method(observed, CONFUSION)
        np.testing.assert_allclose(corrected, true, atol=1e-12)  # ... and the correction undoes it
        assert not clipped


def test_adjust_broadcasts_over_replicates_and_gives_nan_for_a_singular_matrix():
    trues = np.array([[0.4, 0.15, 0.3, 0.15], [0.1, 0.6, 0.2, 0.1]])
    matrices = np.stack([CONFUSION, np.full((K, K), 0.25)])
    out = quantify.adjust(np.einsum("bij,bi->bj", matrices, trues), matrices)
    np.testing.assert_allclose(out[0], trues[0])
    assert np.all(np.isnan(out[1]))
    nan_matrix = CONFUSION.copy()
    nan_matrix[1] = np.nan  # a label absent from a calibration redraw
    assert np.all(np.isnan(quantify.adjust(trues[0], nan_matrix)))


def test_clip_and_renormalise():
    shares, clipped = quantify.clip_renormalise(np.array([[0.5, -0.1, 0.4, 0.2], [0.3, 0.2, 0.4, 0.1], [-1, -1, 0, 0]]))
    np.testing.assert_allclose(shares[0], [0.5 / 1.1, 0, 0.4 / 1.1, 0.2 / 1.1])
    np.testing.assert_allclose(shares[1], [0.3, 0.2, 0.4, 0.1])
    assert np.all(np.isnan(shares[2]))
    assert clipped.tolist() == [True, False, True]
    # an observed share below what the errors alone produce: the corrected share would be negative
    corrected, was_clipped = quantify.acc(CONFUSION.T @ np.array([0.5, 0.0, 0.5, 0.0]) - [0, 0.03, 0, -0.03], CONFUSION)
    assert was_clipped and corrected[1] == 0 and abs(corrected.sum() - 1) < 1e-12


def test_em_recovers_shifted_priors_from_calibrated_posteriors():
    rng = np.random.default_rng(3)
    gold = rng.choice(K, size=40_000, p=ANALYST_HEAVY)
    scores, pred = classify(rng, gold)
    estimate = quantify.em(scores, TRAIN_PRIOR)
    np.testing.assert_allclose(estimate, ANALYST_HEAVY, atol=0.01)
    raw = np.bincount(pred, minlength=K) / len(pred)
    assert np.abs(raw - ANALYST_HEAVY).max() > 0.04  # the raw count is off by much more
    # weights per replicate: a replicate that weighs only analyst-claim sentences finds mostly analysts
    weights = np.stack([np.ones(len(gold)), (gold == 1).astype(float)])
    both = quantify.em(scores, np.stack([TRAIN_PRIOR, TRAIN_PRIOR]), weights)
    np.testing.assert_allclose(both[0], estimate, atol=1e-5)
    assert both[1][1] > 0.9


def test_rates_from_a_calibration_sample():
    cal = quantify.CalibrationSet(
        gold=np.array([0, 0, 0, 1, 1, 2, 3]),
        pred=np.array([0, 0, 1, 0, 1, 2, 3]),
        scores=np.eye(K)[[0, 0, 1, 0, 1, 2, 3]] * 0.6 + 0.1,
        clusters=np.array(["a", "a", "b", "b", "c", "c", "d"]),
    )
    hard, soft, prior = quantify.rates(cal)
    np.testing.assert_allclose(hard[0], [2 / 3, 1 / 3, 0, 0])
    np.testing.assert_allclose(hard[1], [0.5, 0.5, 0, 0])
    np.testing.assert_allclose(soft[0], [0.1 + 0.4, 0.1 + 0.2, 0.1, 0.1])
    np.testing.assert_allclose(prior, [3 / 7, 2 / 7, 1 / 7, 1 / 7])
    # redraws of whole articles: each replicate's rows come in article blocks
    w = quantify.resample_rows(cal, 50, np.random.default_rng(0))
    assert w.shape == (50, 7) and np.all(w[:, 0] == w[:, 1])
    assert np.all(w[:, 2] == w[:, 3]) and np.all(w[:, 4] == w[:, 5])
    assert np.all(w[:, [0, 2, 4, 6]].sum(axis=1) == 4)  # four articles drawn each time


def test_stability_flags_near_singular_matrices_and_small_samples():
    rng = np.random.default_rng(5)
    good = calibration_set(rng, 80)
    report = quantify.stability(good, "pacc")
    assert report["stable"], report["reasons"]
    assert 1 < report["condition_number"] < quantify.MAX_CONDITION

    # a classifier that cannot tell attributed facts from analyst claims
    confused = quantify.CalibrationSet(good.gold, np.where(good.gold == 1, 0, good.pred), None, good.clusters)
    report = quantify.stability(confused, "acc")
    assert not report["stable"] and "near-singular" in " ".join(report["reasons"])
    assert "needs predicted probabilities" in " ".join(quantify.stability(confused, "pacc")["reasons"])

    few = calibration_set(rng, 6)
    report = quantify.stability(few, "pacc")
    assert not report["stable"] and f"fewer than {quantify.MIN_PER_LABEL}" in report["reasons"][0]


# ---------------------------------------------------------------------------------------------
# Coverage over many draws


def _coverage(method: str, runs: int, seed: int, n_bootstrap: int = 300) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Per label: how often the corrected and the raw 95% intervals contain the outlet's true
    shares; and the mean absolute error of the corrected and raw point estimates."""
    rng = np.random.default_rng(seed)
    settings = OutletsSettings(n_bootstrap=n_bootstrap, n_permutations=19, min_articles=2, min_sentences=1, correction=method)
    corrected_hits, raw_hits = np.zeros(K), np.zeros(K)
    corrected_err, raw_err = [], []
    for _ in range(runs):
        calibration = quantify.Calibration("simulated", {"en": calibration_set(rng)})
        articles = outlet_articles(rng, "A", ANALYST_HEAVY, 80)
        entry = analyse(articles, settings, calibration)["languages"]["en"]["outlets"][0]
        for i, label in enumerate(LABELS):
            lo, hi = entry["corrected"]["share_ci"][label]
            corrected_hits[i] += lo <= ANALYST_HEAVY[i] <= hi
            lo, hi = entry["share_ci"][label]
            raw_hits[i] += lo <= ANALYST_HEAVY[i] <= hi
        corrected_err.append(
            np.mean([abs(entry["corrected"]["shares"][x] - t) for x, t in zip(LABELS, ANALYST_HEAVY, strict=True)])
        )
        raw_err.append(np.mean([abs(entry["shares"][x] - t) for x, t in zip(LABELS, ANALYST_HEAVY, strict=True)]))
    return corrected_hits / runs, raw_hits / runs, float(np.mean(corrected_err)), float(np.mean(raw_err))


@pytest.mark.parametrize("method", ["pacc", "acc", "em"])
def test_corrected_intervals_cover_the_truth_and_raw_ones_do_not(method):
    """100 (PACC, the default) or 60 draws of a calibration sample (60 articles) and an analyst-heavy outlet (80 articles),
    read by the simulated classifier: the corrected shares' 95% intervals contain the true shares
    at about the nominal rate for every label; the raw shares' miss the labels the classifier
    confuses most of the time."""
    # The default method gets the most draws; EM's replicates cost the most, so it gets fewer resamples.
    runs, n_bootstrap = {"pacc": (100, 300), "acc": (60, 300), "em": (60, 200)}[method]
    seed = {"pacc": 21, "acc": 22, "em": 23}[method]
    corrected, raw, corrected_err, raw_err = _coverage(method, runs, seed, n_bootstrap)
    print(method, "coverage corrected", corrected, "raw", raw, "MAE", corrected_err, raw_err)
    assert np.all(corrected >= 0.85) and np.all(corrected <= 1.0), corrected
    assert raw.min() <= 0.5, raw  # far below nominal for the label whose errors do not cancel
    assert corrected_err < raw_err


def _corrected_coverage(rng: np.random.Generator, runs: int, calibration_articles: int, articles: int) -> np.ndarray:
    settings = OutletsSettings(n_bootstrap=300, n_permutations=19, min_articles=2, min_sentences=1, correction="pacc")
    hits = np.zeros(K)
    for _ in range(runs):
        calibration = quantify.Calibration("simulated", {"en": calibration_set(rng, calibration_articles)})
        entry = analyse(outlet_articles(rng, "A", ANALYST_HEAVY, articles), settings, calibration)["languages"]["en"]["outlets"][
            0
        ]
        ci = entry["corrected"]["share_ci"]
        hits += [ci[label][0] <= ANALYST_HEAVY[i] <= ci[label][1] for i, label in enumerate(LABELS)]
    return hits / runs


def test_intervals_need_the_calibration_redraws(monkeypatch):
    """A small calibration sample (25 articles) and a large outlet (150 articles): most of the
    uncertainty is in the error rates. Redrawing the calibration rows in every replicate keeps the
    coverage near 95%; resampling the outlet's articles alone gives intervals that are too short."""
    both = _corrected_coverage(np.random.default_rng(5), 100, 25, 150)
    assert np.all(both >= 0.85), both
    monkeypatch.setattr(quantify, "resample_rows", lambda cal, n, rng: np.ones((n, cal.n)))
    articles_only = _corrected_coverage(np.random.default_rng(5), 100, 25, 150)
    assert articles_only.min() <= 0.8 and np.all(articles_only <= both), articles_only


# ---------------------------------------------------------------------------------------------
# In the analysis


def test_unstable_or_missing_calibration_falls_back_to_raw_and_says_why():
    rng = np.random.default_rng(9)
    articles = outlet_articles(rng, "A", ANALYST_HEAVY, 10) + outlet_articles(rng, "B", TRAIN_PRIOR, 10)
    settings = OutletsSettings(n_bootstrap=100, n_permutations=19, correction="pacc", shares="corrected")
    section = analyse(articles, settings, quantify.Calibration("tiny", {"en": calibration_set(rng, 4)}))["languages"]["en"]
    assert not section["correction"]["applied"] and "fewer than" in section["correction"]["reason"]
    assert all(r["corrected"] is None for r in section["outlets"]) and section["index_used"] == "index"

    section = analyse(articles, settings, quantify.Calibration("arabic only", {"ar": calibration_set(rng)}))["languages"]["en"]
    assert not section["correction"]["applied"] and "no 'en' sentences" in section["correction"]["reason"]
    section = analyse(articles, settings)["languages"]["en"]
    assert "no confusion rates" in section["correction"]["reason"]


def test_rows_without_scores_are_not_corrected_unless_acc_is_asked_for():
    rng = np.random.default_rng(10)
    articles = outlet_articles(rng, "A", ANALYST_HEAVY, 8)
    for a in articles:
        a.scores = a.score_sums = None
    calibration = quantify.Calibration("sim", {"en": calibration_set(rng)})
    settings = OutletsSettings(n_bootstrap=100, n_permutations=19)
    section = analyse(articles, settings, calibration)["languages"]["en"]
    assert not section["correction"]["applied"] and "no predicted probabilities" in section["correction"]["reason"]
    with pytest.raises(OutletsInputError, match="needs predicted probabilities"):
        analyse(articles, OutletsSettings(n_bootstrap=100, n_permutations=19, correction="em"), calibration)
    acc = analyse(articles, OutletsSettings(n_bootstrap=100, n_permutations=19, correction="acc"), calibration)["languages"]["en"]
    assert acc["correction"]["applied"] and acc["outlets"][0]["corrected"]["share_ci"] is not None


def test_tests_and_ranking_can_run_on_corrected_shares():
    rng = np.random.default_rng(12)
    articles = [
        a
        for name, mix in (("A", ANALYST_HEAVY), ("B", TRAIN_PRIOR), ("C", TRAIN_PRIOR))
        for a in outlet_articles(rng, name, mix, 12)
    ]
    calibration = quantify.Calibration("sim", {"en": calibration_set(rng)})
    fast = {"n_bootstrap": 200, "n_permutations": 199, "correction": "pacc"}
    raw = analyse(articles, OutletsSettings(**fast), calibration)["languages"]["en"]
    fixed = analyse(articles, OutletsSettings(**fast, shares="corrected"), calibration)["languages"]["en"]
    assert raw["correction"]["tests_on"] == "raw" and fixed["correction"]["tests_on"] == "corrected"
    assert fixed["index_used"] == "corrected.index"
    ranked = sorted((r for r in fixed["outlets"] if r["rank"]), key=lambda r: r["rank"])
    assert [r["corrected"]["index"] for r in ranked] == sorted((r["corrected"]["index"] for r in ranked), reverse=True)
    a_raw = next(r for r in raw["outlets"] if r["outlet"] == "A")
    a_fixed = next(r for r in fixed["outlets"] if r["outlet"] == "A")
    # the statistic is the TVD between A's and the others' shares as corrected, not as counted
    assert a_fixed["vs_rest"]["statistic"] != pytest.approx(a_raw["vs_rest"]["statistic"], abs=1e-6)
    # with EM the tests stay on raw shares, and the report says so
    em = analyse(articles, OutletsSettings(**{**fast, "correction": "em"}, shares="corrected"), calibration)["languages"]["en"]
    assert em["correction"]["tests_on"] == "raw" and em["correction"]["ranking_on"] == "corrected"
    assert any("EM" in note for note in em["notes"])


def test_stratified_corrected_shares_are_standardised():
    rng = np.random.default_rng(13)
    articles = outlet_articles(rng, "A", ANALYST_HEAVY, 12) + outlet_articles(rng, "B", TRAIN_PRIOR, 12)
    for i, a in enumerate(articles):
        a.stratum = ["war", "economy"][i % 2]
    calibration = quantify.Calibration("sim", {"en": calibration_set(rng)})
    section = analyse(articles, OutletsSettings(n_bootstrap=100, n_permutations=19, stratify="topic"), calibration)["languages"][
        "en"
    ]
    for r in section["outlets"]:
        fixed = r["corrected"]
        assert abs(sum(fixed["std_shares"].values()) - 1) < 1e-9 and fixed["std_share_ci"] is not None
        assert fixed["std_index"] is not None and fixed["std_index_ci"][0] <= fixed["std_index"] <= fixed["std_index_ci"][1]


# ---------------------------------------------------------------------------------------------
# Calibration files


def predictions_rows(rng: np.random.Generator, n_articles: int = 40, lang: str = "en") -> list[dict]:
    rows = []
    for i, gold in enumerate(draw_gold(rng, TRAIN_PRIOR, n_articles, 13)):
        scores, pred = classify(rng, gold)
        for j, (g, p, s) in enumerate(zip(gold, pred, scores, strict=True)):
            rows.append(
                {
                    "id": f"{lang}-{i}-{j}",
                    "article": f"{lang}-{i}",
                    "outlet": f"outlet {i % 3}",
                    "text": "…",
                    "lang": lang,
                    "gold_label": LABELS[g],
                    "label": LABELS[p],
                    "scores": {label: round(float(x), 5) for label, x in zip(LABELS, s, strict=True)},
                }
            )
    return rows


def write_jsonl(path, rows) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def test_calibration_file_and_confusion_file_round_trip(tmp_path):
    rng = np.random.default_rng(14)
    rows = predictions_rows(rng, 30, "en") + predictions_rows(rng, 30, "ar")
    rows[1]["lang"] = "fr"  # a stray sentence detected as French stays with its English article
    path = tmp_path / "predictions.jsonl"
    write_jsonl(path, rows)
    calibration = quantify.read_calibration(path)
    assert set(calibration.languages) == {"ar", "en"}
    en = calibration.languages["en"]
    assert en.n == sum(1 for r in rows if r["id"].startswith("en")) and int(en.clusters.max()) + 1 == 30
    expected = np.zeros((K, K), dtype=int)
    for r in rows:
        if r["id"].startswith("en"):
            expected[LABELS.index(r["gold_label"]), LABELS.index(r["label"])] += 1

    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "checksums.json").write_text('{"config.json": "abc"}', encoding="utf-8")
    content = confusion_from_predictions(path)
    assert content["languages"]["en"]["counts"] == expected.tolist()
    write_confusion(content, folder / quantify.CONFUSION_FILE)
    recorded = json.loads((folder / "checksums.json").read_text(encoding="utf-8"))
    assert recorded["config.json"] == "abc"
    assert recorded["confusion.json"] == hashlib.sha256((folder / "confusion.json").read_bytes()).hexdigest()
    again = quantify.model_calibration(folder)
    np.testing.assert_array_equal(again.languages["en"].gold, en.gold)
    np.testing.assert_allclose(again.languages["en"].scores, en.scores, atol=1e-5)
    np.testing.assert_allclose(quantify.rates(again.languages["en"])[1], quantify.rates(en)[1], atol=1e-5)
    assert quantify.model_calibration(tmp_path) is None


@pytest.mark.parametrize(
    ("edit", "line", "problem"),
    [
        ({"gold_label": "opinion"}, 2, "gold_label 'opinion' is not one of"),
        ({"label": None}, 2, "label None is not one of"),
        ({"scores": {"attributed_fact": 1.0}}, 2, "scores must give a probability for each of"),
        ({"scores": dict.fromkeys(LABELS, 0.5)}, 2, "scores sum to 2.0000, not 1"),
        ({"scores": None}, 2, "no scores, but"),
    ],
)
def test_calibration_problems_are_one_line_naming_file_and_line(tmp_path, edit, line, problem):
    rows = predictions_rows(np.random.default_rng(15), 2)
    rows[line - 1] = {**rows[line - 1], **edit}
    path = tmp_path / "calibration.jsonl"
    write_jsonl(path, rows)
    with pytest.raises(quantify.CalibrationError) as info:
        quantify.read_calibration(path)
    message = str(info.value)
    assert message.startswith(f"{path}:{line}: ") and problem in message and "\n" not in message


def test_the_shipped_confusion_file_is_checked_with_the_model_and_stable():
    from framing.model.classifier import check_model_folder
    from framing.model.default_model import default_model_dir

    folder = default_model_dir()
    check_model_folder(folder)  # refuses a confusion.json that checksums.json does not list as it is
    assert "confusion.json" in json.loads((folder / "checksums.json").read_text(encoding="utf-8"))
    calibration = quantify.model_calibration(folder)
    assert set(calibration.languages) == {"ar", "en"}
    for cal in calibration.languages.values():
        assert cal.scores is not None and cal.n > 700
        for method in quantify.METHODS:
            assert quantify.stability(cal, method)["stable"]


# ---------------------------------------------------------------------------------------------
# The command


def classified_rows(rng: np.random.Generator) -> list[dict]:
    rows = []
    for name, mix in (("Analyst Weekly", ANALYST_HEAVY), ("Wire", TRAIN_PRIOR), ("Daily", TRAIN_PRIOR)):
        for i, gold in enumerate(draw_gold(rng, mix, 8)):
            scores, pred = classify(rng, gold)
            for j, (p, s) in enumerate(zip(pred, scores, strict=True)):
                rows.append(
                    {
                        "id": f"{name}-{i}-{j}",
                        "article": f"{name}-{i}",
                        "outlet": name,
                        "lang": "en",
                        "label": LABELS[p],
                        "scores": {label: round(float(x), 5) for label, x in zip(LABELS, s, strict=True)},
                    }
                )
    return rows


def test_command_shows_raw_and_corrected_side_by_side(tmp_path):
    from typer.testing import CliRunner

    from framing.cli.app import app

    rng = np.random.default_rng(16)
    classified, calibration = tmp_path / "classified.jsonl", tmp_path / "calibration.jsonl"
    write_jsonl(classified, classified_rows(rng))
    write_jsonl(calibration, predictions_rows(rng, 50))
    out = tmp_path / "report"
    runner = CliRunner()
    args = ["outlets", str(classified), "-o", str(out), "--bootstrap", "200", "--permutations", "199"]
    result = runner.invoke(app, [*args, "--calibration", str(calibration)])
    assert result.exit_code == 0, result.output
    assert "Corrected for the model's errors (pacc)" in result.output

    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    correction = report["languages"]["en"]["correction"]
    assert correction["applied"] and correction["method"] == "pacc" and correction["source"] == str(calibration)
    assert report["inputs"] == [str(classified), f"calibration: {calibration}"]
    with (out / "outlets.csv").open(encoding="utf-8") as fh:
        table = list(csv.DictReader(fh))
    assert all(
        r["correction"] == "pacc" and r["corrected_analyst_claim_share"] and r["corrected_analyst_claim_lo"] for r in table
    )
    page = (out / "report.html").read_text(encoding="utf-8")
    assert 'id="corrected-en"' in page and "The model makes mistakes, and not evenly" in page
    assert "raw → corrected" in page

    result = runner.invoke(app, [*args, "--calibration", str(calibration), "--correction", "none"])
    assert result.exit_code == 0, result.output
    with (out / "outlets.csv").open(encoding="utf-8") as fh:
        assert all(r["correction"] == "" for r in csv.DictReader(fh))
    assert "Corrected shares: none (no correction was asked for)" in " ".join(result.output.split())

    result = runner.invoke(app, [*args, "--calibration", str(calibration), "--shares", "corrected"])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["languages"]["en"]["correction"]["tests_on"] == "corrected"

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"gold_label": "other", "label": "nonsense"}\n', encoding="utf-8")
    result = runner.invoke(app, [*args, "--calibration", str(bad)])
    assert result.exit_code == 2 and f"{bad}:1: label 'nonsense' is not one of" in " ".join(result.output.split())
    result = runner.invoke(app, [*args, "--shares", "both"])
    assert result.exit_code == 2 and "shares must be 'corrected' or 'raw'" in result.output


def test_the_web_report_corrects_with_the_served_models_confusion_file(tmp_path):
    from framing.web.app import outlet_report

    rng = np.random.default_rng(17)
    data = "".join(json.dumps(r) + "\n" for r in classified_rows(rng)).encode("utf-8")
    folder = tmp_path / "model"
    folder.mkdir()
    calibration = tmp_path / "predictions.jsonl"
    write_jsonl(calibration, predictions_rows(rng, 50))
    write_confusion(confusion_from_predictions(calibration), folder / quantify.CONFUSION_FILE)
    settings = {"n_bootstrap": 100, "n_permutations": 19}
    report = outlet_report(data, "classified.jsonl", settings, str(folder))
    correction = report["languages"]["en"]["correction"]
    assert correction["applied"] and correction["source"].endswith("model/confusion.json")
    assert str(tmp_path) not in json.dumps(report)  # no local path in a report meant to be shared
    bare = outlet_report(data, "classified.jsonl", settings, str(tmp_path))
    assert not bare["languages"]["en"]["correction"]["applied"]


def test_rows_labelled_by_another_model_are_not_corrected_with_this_ones_rates(tmp_path):
    from framing.model.folder import model_checksum
    from framing.web.app import outlet_report

    rng = np.random.default_rng(18)
    folder = tmp_path / "model"
    folder.mkdir()
    calibration = tmp_path / "predictions.jsonl"
    write_jsonl(calibration, predictions_rows(rng, 50))
    write_confusion(confusion_from_predictions(calibration), folder / quantify.CONFUSION_FILE)
    rows = classified_rows(rng)
    settings = {"n_bootstrap": 100, "n_permutations": 19}

    def report(sha: str) -> dict:
        data = "".join(json.dumps(r | {"model": "m", "model_sha256": sha}) + "\n" for r in rows).encode("utf-8")
        return outlet_report(data, "classified.jsonl", settings, str(folder))["languages"]["en"]["correction"]

    assert report(model_checksum(folder))["applied"]
    other = report("0" * 64)
    assert not other["applied"] and "labelled by another model (sha256 000000000000…)" in other["reason"]


def test_probabilities_as_p_label_columns_are_read_like_scores(tmp_path):
    rng = np.random.default_rng(19)
    rows = classified_rows(rng)
    flat = [{k: v for k, v in r.items() if k != "scores"} | {f"p_{x}": r["scores"][x] for x in LABELS} for r in rows]
    nested, columns = tmp_path / "nested.jsonl", tmp_path / "columns.jsonl"
    write_jsonl(nested, rows)
    write_jsonl(columns, flat)
    a, b = load_articles([nested]), load_articles([columns])
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.scores, y.scores)
    calibration = [r | {"gold_label": r["label"]} for r in flat]
    write_jsonl(columns, calibration)
    assert quantify.read_calibration(columns).languages["en"].scores is not None
