"""Shares corrected for the classifier's own errors: the corrections on exact matrices, and on
synthetic outlets read by a simulated classifier with known, uneven errors.

The simulated classifier sees a 4-d feature per sentence, drawn around its gold label's mean, and
returns the exact posterior under a fixed training prior: so its probabilities are calibrated (as
EM assumes) and its errors are uneven (about one analyst claim in six called an attributed fact,
the confusion we see on real news), and the same for every outlet (as every correction assumes).
"""

from __future__ import annotations

import numpy as np
import pytest
from framing.model.labels import LABELS

from framing.outlets import quantify
from framing.outlets.analysis import Article, OutletsSettings, analyse

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
                gold_counts=np.bincount(gold, minlength=K),
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


def _coverage(method: str, runs: int, seed: int) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Per label: how often the corrected and the raw 95% intervals contain the outlet's true
    shares; and the mean absolute error of the corrected and raw point estimates."""
    rng = np.random.default_rng(seed)
    settings = OutletsSettings(n_bootstrap=300, n_permutations=19, min_articles=2, min_sentences=1, correction=method)
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
    """100 draws of a calibration sample (60 articles) and an analyst-heavy outlet (80 articles),
    read by the simulated classifier: the corrected shares' 95% intervals contain the true shares
    at about the nominal rate for every label; the raw shares' miss the labels the classifier
    confuses most of the time."""
    corrected, raw, corrected_err, raw_err = _coverage(method, runs=100, seed={"pacc": 21, "acc": 22, "em": 23}[method])
    print(method, "coverage corrected", corrected, "raw", raw, "MAE", corrected_err, raw_err)
    assert np.all(corrected >= 0.85) and np.all(corrected <= 1.0), corrected
    assert raw.min() <= 0.5, raw  # far below nominal for the label whose errors do not cancel
    assert corrected_err < raw_err
