"""Label shares corrected for the classifier's own errors (quantification).

Counting predicted labels ("classify and count") gives biased shares whenever the classifier errs
unevenly: if it calls one analyst claim in six an attributed fact, an outlet that quotes many
analysts looks more officially sourced than it is. Given how the classifier errs on labelled data
(the calibration sample), three corrections are implemented:

- ACC, adjusted classify-and-count (Forman 2008): the predicted shares q satisfy q = Cᵀπ, where
  C[y, ŷ] is the rate at which gold label y is predicted as ŷ and π the true shares; solve for π.
- PACC, probabilistic ACC (Bella et al. 2010): the same with the mean predicted probabilities in
  place of hard counts, q = Pᵀπ with P[y] the mean probability vector of gold-y sentences. It uses
  every sentence's full probability vector rather than its argmax, so its estimates vary less.
- EM (Saerens, Latinne and Decaestecker 2002): re-estimate the priors by expectation-maximisation,
  rescaling each sentence's probabilities by the ratio of the new to the calibration priors.

Corrected shares can leave the simplex (a negative share when an outlet has fewer sentences of a
label than the classifier's errors alone would produce); they are clipped at zero and renormalised.
A correction inverts a matrix, so it is only as good as that matrix: near-singular matrices or
labels with few calibration rows make it unstable, and `stability` says so.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from framing.errors import FramingError
from framing.limits import iter_json_objects
from framing.model.labels import LABELS

K = len(LABELS)
_I = {label: i for i, label in enumerate(LABELS)}

METHODS: tuple[str, ...] = ("pacc", "acc", "em")
METHOD_NAMES = {
    "acc": "adjusted classify-and-count (ACC)",
    "pacc": "probabilistic adjusted classify-and-count (PACC)",
    "em": "EM re-estimation of priors (Saerens et al. 2002)",
}
#: Above this condition number the confusion matrix amplifies noise in the observed shares more
#: than tenfold; a correction through it is reported as unstable and not used.
MAX_CONDITION = 10.0
#: Fewer calibration rows of some gold label than this, and that label's error rates are guesses.
MIN_PER_LABEL = 20
#: Scores of a row must sum to 1 within this (classify writes them rounded to 4 significant digits).
SCORE_SUM_TOLERANCE = 0.02
CONFUSION_FORMAT = "framing-confusion/1"
CONFUSION_FILE = "confusion.json"
#: Cap on the floats held by one batch of EM replicates (replicates × sentences).
_BATCH_CELLS = 2_000_000


class CalibrationError(FramingError):
    """An unusable calibration sample or confusion file; one line naming file, line and problem."""


# ---------------------------------------------------------------------------------------------
# The calibration sample


@dataclass
class CalibrationSet:
    """Labelled rows of one language: gold and predicted label indices, predicted probabilities
    (None when the source had none) and the cluster (article) of each row, numbered from 0."""

    gold: np.ndarray
    pred: np.ndarray
    scores: np.ndarray | None
    clusters: np.ndarray

    def __post_init__(self) -> None:
        self.gold = np.asarray(self.gold, dtype=np.int64)
        self.pred = np.asarray(self.pred, dtype=np.int64)
        if self.scores is not None:
            self.scores = np.asarray(self.scores, dtype=float)
        _, self.clusters = np.unique(np.asarray(self.clusters), return_inverse=True)

    @property
    def n(self) -> int:
        return len(self.gold)

    def per_label(self) -> np.ndarray:
        return np.bincount(self.gold, minlength=K)


@dataclass
class Calibration:
    """Where the confusion rates come from, per language."""

    source: str
    languages: dict[str, CalibrationSet] = field(default_factory=dict)


def _onehot(index: np.ndarray) -> np.ndarray:
    return np.eye(K)[index]


def rates(cal: CalibrationSet, row_weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """(C, P, prior): hard confusion rates C[y, ŷ] = P(predicted ŷ | gold y), mean predicted
    probabilities P[y] of gold-y rows (None without scores), and the gold label shares.

    With `row_weights` (replicates × rows, how often each row is drawn), one of each per replicate;
    a label drawn zero times gives NaN rows, which the corrections turn into undefined replicates."""
    single = row_weights is None
    w = np.ones((1, cal.n)) if single else np.asarray(row_weights, dtype=float)
    g = _onehot(cal.gold)
    per_label = w @ g  # replicates × K
    with np.errstate(invalid="ignore", divide="ignore"):
        denominator = np.where(per_label > 0, per_label, np.nan)[:, :, None]
        pairs = (g[:, :, None] * _onehot(cal.pred)[:, None, :]).reshape(cal.n, K * K)
        hard = (w @ pairs).reshape(-1, K, K) / denominator
        soft = None
        if cal.scores is not None:
            soft = (w @ (g[:, :, None] * cal.scores[:, None, :]).reshape(cal.n, K * K)).reshape(-1, K, K) / denominator
        prior = per_label / per_label.sum(axis=1, keepdims=True)
    if single:
        return hard[0], None if soft is None else soft[0], prior[0]
    return hard, soft, prior


def resample_rows(cal: CalibrationSet, n: int, rng: np.random.Generator) -> np.ndarray:
    """Row weights for n bootstrap replicates of the calibration sample, drawing whole clusters
    (articles) with replacement: rows of one article err together, like the outlets' sentences."""
    k = int(cal.clusters.max()) + 1 if cal.n else 0
    drawn = rng.multinomial(k, np.full(k, 1.0 / k), size=n).astype(float)
    return drawn[:, cal.clusters]


# ---------------------------------------------------------------------------------------------
# The corrections


def clip_renormalise(shares: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shares clipped at zero and rescaled to sum to one, over the last axis; and whether each
    vector needed clipping. A vector with nothing left after clipping (or with NaN) becomes NaN."""
    shares = np.asarray(shares, dtype=float)
    clipped = np.any(shares < -1e-9, axis=-1)
    kept = np.clip(shares, 0.0, None)
    total = kept.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(total > 0, kept / np.where(total > 0, total, 1), np.nan)
    return out, clipped


def adjust(observed: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Solve observed = matrixᵀ·π for π, unclipped, broadcasting over leading axes. Rows of `matrix`
    are gold labels, columns predicted ones. Singular or undefined matrices give NaN."""
    observed = np.asarray(observed, dtype=float)
    matrix = np.asarray(matrix, dtype=float)
    a = np.swapaxes(matrix, -1, -2)
    a, b = np.broadcast_arrays(a, observed[..., None])
    bad = ~np.all(np.isfinite(a), axis=(-1, -2)) | ~np.all(np.isfinite(b), axis=(-1, -2))
    a = np.where(bad[..., None, None], np.eye(K), a)
    b = np.where(bad[..., None, None], 1.0, b)
    with np.errstate(invalid="ignore", divide="ignore"):
        det = np.abs(np.linalg.det(a))
    bad |= ~(det > 1e-12)
    a = np.where(bad[..., None, None], np.eye(K), a)
    solved = np.linalg.solve(a, b)[..., 0]
    return np.where(bad[..., None], np.nan, solved)


def acc(predicted_shares: np.ndarray, confusion_rates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Adjusted classify-and-count: (corrected shares, clipped?) from the shares of predicted labels
    and C[y, ŷ] = P(predicted ŷ | gold y)."""
    return clip_renormalise(adjust(predicted_shares, confusion_rates))


def pacc(mean_scores: np.ndarray, probability_rates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Probabilistic ACC: (corrected shares, clipped?) from the mean predicted probability vector
    and P[y] = the mean predicted probability vector of gold-y sentences."""
    return clip_renormalise(adjust(mean_scores, probability_rates))


def em(
    scores: np.ndarray,
    calibration_prior: np.ndarray,
    weights: np.ndarray | None = None,
    tol: float = 1e-7,
    max_iter: int = 1000,
    start: np.ndarray | None = None,
) -> np.ndarray:
    """Saerens et al. (2002): the label shares of sentences with predicted probabilities `scores`
    (sentences × K), assuming those probabilities are calibrated under `calibration_prior`.

    Each step rescales every sentence's probabilities by new prior / calibration prior,
    renormalises, and takes their (weighted) mean as the new prior. `weights` (replicates ×
    sentences) and a prior per replicate give one estimate per replicate; NaN where undefined.
    `start` (default: the calibration prior) only changes how many steps it takes: the likelihood
    has one maximum, so bootstrap replicates start from the full sample's estimate, close by."""
    scores = np.asarray(scores, dtype=float)
    single = weights is None
    w = np.ones((1, len(scores))) if single else np.asarray(weights, dtype=float)
    base = np.broadcast_to(np.asarray(calibration_prior, dtype=float), (len(w), K))
    undefined = ~np.all(np.isfinite(base) & (base > 0), axis=1)
    base = np.where(undefined[:, None], 1.0 / K, base)
    total = w.sum(axis=1)
    undefined |= total <= 0
    total = np.where(total > 0, total, 1.0)
    prior = base.copy() if start is None else np.broadcast_to(np.asarray(start, dtype=float), (len(w), K)).copy()
    prior = np.where(np.isfinite(prior) & (prior > 0), prior, base)
    for _ in range(max_iter):
        ratio = prior / base
        # einsum rather than `@`: with an inner dimension of 4, threaded BLAS only adds thread
        # hand-offs, which cost 3-5x when the cores are busy (measured under load on 2 cores).
        denominator = np.einsum("bk,ik->bi", ratio, scores)  # replicates × sentences
        denominator = np.maximum(denominator, np.finfo(float).tiny)
        new = ratio * np.einsum("bi,ik->bk", w / denominator, scores) / total[:, None]
        done = np.max(np.abs(new - prior)) < tol
        prior = new
        if done:
            break
    prior = np.where(undefined[:, None], np.nan, prior)
    return prior[0] if single else prior


# ---------------------------------------------------------------------------------------------
# Stability


def stability(cal: CalibrationSet, method: str) -> dict:
    """Is a correction through this calibration sample trustworthy? The condition number of the
    matrix that is inverted (hard rates for ACC, mean probabilities for PACC and EM) and the rows
    per gold label; `stable` is False, with the reasons, when either is out of bounds."""
    hard, soft, prior = rates(cal)
    per_label = cal.per_label()
    reasons: list[str] = []
    if method in ("pacc", "em") and soft is None:
        reasons.append(f"{METHOD_NAMES[method]} needs predicted probabilities (`scores`) in the calibration sample")
    matrix = hard if method == "acc" or soft is None else soft
    condition = float(np.linalg.cond(matrix)) if np.all(np.isfinite(matrix)) else math.inf
    few = [f"{LABELS[i]} ({int(n)})" for i, n in enumerate(per_label) if n < MIN_PER_LABEL]
    if few:
        reasons.append(f"fewer than {MIN_PER_LABEL} labelled sentences of {', '.join(few)} in the calibration sample")
    if condition > MAX_CONDITION:
        shown = "infinite" if math.isinf(condition) else f"{condition:.1f}"
        reasons.append(f"the confusion matrix is near-singular (condition number {shown} > {MAX_CONDITION:g})")
    return {
        "stable": not reasons,
        "reasons": reasons,
        "condition_number": None if math.isinf(condition) else condition,
        "calibration_rows": cal.n,
        "calibration_articles": int(cal.clusters.max()) + 1 if cal.n else 0,
        "per_label": {label: int(n) for label, n in zip(LABELS, per_label, strict=True)},
        "confusion_rates": np.round(hard, 6).tolist(),
        "probability_rates": None if soft is None else np.round(soft, 6).tolist(),
        "calibration_prior": np.round(prior, 6).tolist(),
    }


# ---------------------------------------------------------------------------------------------
# A correction of one language's groups of articles


@dataclass
class Group:
    """The articles of one outlet (or pooled): what each correction needs to see of them.
    `counts`: predicted labels per article; `score_sums`: summed predicted probabilities per article;
    `scores` and `sentence_article`: each sentence's probabilities and its article's row."""

    counts: np.ndarray
    score_sums: np.ndarray | None = None
    scores: np.ndarray | None = None
    sentence_article: np.ndarray | None = None


def _observed_totals(group: Group, method: str, article_weights: np.ndarray) -> np.ndarray:
    data = group.counts if method == "acc" else group.score_sums
    return np.asarray(data, dtype=float) * article_weights[:, None]


@dataclass
class LanguageCorrection:
    """One method applied with one language's calibration sample: point estimates with the
    calibration sample as it is, and bootstrap replicates that redraw the calibration sample
    (the same redraw for every group of the language in replicate b) along with the articles."""

    method: str
    cal: CalibrationSet
    n_boot: int
    rng: np.random.Generator
    _reps: tuple[np.ndarray, np.ndarray | None, np.ndarray] | None = None

    def __post_init__(self) -> None:
        hard, soft, prior = rates(self.cal)
        self.matrix = hard if self.method == "acc" else soft
        self.prior = prior

    def replicate_rates(self) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        if self._reps is None:
            # In batches: a replicates × rows weight matrix for a large calibration sample would not fit.
            batch = max(1, _BATCH_CELLS // max(self.cal.n, 1))
            parts = [
                rates(self.cal, resample_rows(self.cal, min(batch, self.n_boot - start), self.rng))
                for start in range(0, self.n_boot, batch)
            ]
            hard = np.concatenate([p[0] for p in parts])
            soft = None if parts[0][1] is None else np.concatenate([p[1] for p in parts])  # type: ignore[misc]
            self._reps = (hard, soft, np.concatenate([p[2] for p in parts]))
        return self._reps

    def point(self, group: Group, article_weights: np.ndarray | None = None) -> tuple[np.ndarray, bool]:
        """Corrected shares of the group (with fixed per-article weights when standardising) and
        whether they had to be clipped."""
        m = len(group.counts)
        aw = np.ones(m) if article_weights is None else np.asarray(article_weights, dtype=float)
        if self.method == "em":
            assert group.scores is not None and group.sentence_article is not None
            raw = em(group.scores, self.prior, aw[group.sentence_article][None, :])[0]
            return raw, False
        totals = _observed_totals(group, self.method, aw).sum(axis=0)
        observed = totals / totals.sum() if totals.sum() > 0 else np.full(K, np.nan)
        assert self.matrix is not None  # PACC without scores is refused by `stability`
        corrected, clipped = clip_renormalise(adjust(observed, self.matrix))
        return corrected, bool(clipped)

    def replicates(self, group: Group, rng: np.random.Generator, article_weights: np.ndarray | None = None) -> np.ndarray:
        """n_boot × K corrected shares: replicate b draws the group's articles with replacement and
        uses the b-th redraw of the calibration sample."""
        m = len(group.counts)
        aw = np.ones(m) if article_weights is None else np.asarray(article_weights, dtype=float)
        hard, soft, prior = self.replicate_rates()
        matrices = hard if self.method == "acc" else soft
        out = []
        start = 0
        n_cells = m if self.method != "em" else max(m, len(group.sentence_article))  # type: ignore[arg-type]
        near = self.point(group, aw)[0] if self.method == "em" else None
        for draws in _article_draws(m, self.n_boot, rng, n_cells):
            b = slice(start, start + len(draws))
            start += len(draws)
            if self.method == "em":
                w = (draws * aw[None, :])[:, group.sentence_article]
                out.append(em(group.scores, prior[b], w, tol=1e-5, max_iter=300, start=near))  # type: ignore[arg-type]
                continue
            totals = draws @ _observed_totals(group, self.method, aw)
            with np.errstate(invalid="ignore", divide="ignore"):
                observed = totals / totals.sum(axis=1, keepdims=True)
            out.append(clip_renormalise(adjust(observed, matrices[b]))[0])  # type: ignore[index]
        return np.concatenate(out)

    def transform(self, observed: np.ndarray) -> np.ndarray:
        """The point correction as a function of observed shares (ACC, PACC only): what the
        permutation tests apply to each arrangement's shares."""
        assert self.matrix is not None
        return clip_renormalise(adjust(observed, self.matrix))[0]


def _article_draws(m: int, n: int, rng: np.random.Generator, cells: int) -> Iterator[np.ndarray]:
    batch = max(1, _BATCH_CELLS // max(cells, 1))
    for start in range(0, n, batch):
        size = min(batch, n - start)
        yield rng.multinomial(m, np.full(m, 1.0 / m), size=size).astype(float)


# ---------------------------------------------------------------------------------------------
# Reading and writing calibration data


def _scores(value: object, where: str, error: type[FramingError]) -> list[float]:
    if not isinstance(value, dict) or set(value) != set(LABELS):
        raise error(f"{where}: scores must give a probability for each of {', '.join(LABELS)}")
    out = []
    for label in LABELS:
        p = value[label]
        if isinstance(p, bool) or not isinstance(p, int | float) or not 0 <= p <= 1:
            raise error(f"{where}: scores[{label!r}] must be a probability between 0 and 1, not {p!r}")
        out.append(float(p))
    if abs(sum(out) - 1) > SCORE_SUM_TOLERANCE:
        raise error(f"{where}: scores sum to {sum(out):.4f}, not 1")
    return out


def parse_scores(value: object, where: str, error: type[FramingError] = CalibrationError) -> list[float]:
    """A row's `scores` (label → probability) as a list in LABELS order, checked."""
    return _scores(value, where, error)


def row_scores(row: dict) -> object:
    """A row's predicted probabilities as written: `scores` (JSONL), or one `p_<label>` column per
    label (what `framing classify` writes to CSV and Parquet, and DataFrames carry); None if neither."""
    if row.get("scores") is not None:
        return row["scores"]
    if all(row.get(f"p_{label}") is not None for label in LABELS):
        return {label: row[f"p_{label}"] for label in LABELS}
    return None


def read_calibration(path: Path) -> Calibration:
    """A labelled sample with predictions, as `framing evaluate --predictions` writes it: JSONL with
    `gold_label` (gold), `label` (predicted) and, for PACC and EM, `scores`; `lang` and `article`
    when present (rows without `lang` count as `und`; without `article`, each row is its own)."""
    parsed: list[tuple[str, str, int, int, list[float] | None]] = []  # (cluster, lang, gold, pred, scores)
    with_scores = without_scores = None
    for where, row in _json_rows(path):
        for name in ("gold_label", "label"):
            if row.get(name) not in _I:
                raise CalibrationError(f"{where}: {name} {row.get(name)!r} is not one of {', '.join(LABELS)}")
        lang = row.get("lang") or "und"
        if not isinstance(lang, str):
            raise CalibrationError(f"{where}: field 'lang' must be a language code such as 'ar' or 'en'")
        scores = None
        if row_scores(row) is None:
            without_scores = without_scores or where
        else:
            with_scores = with_scores or where
            scores = _scores(row_scores(row), where, CalibrationError)
        article = row.get("article")
        cluster = f"a:{article}" if article not in (None, "") else f"row:{where}"
        parsed.append((cluster, lang, _I[row["gold_label"]], _I[row["label"]], scores))
    if not parsed:
        raise CalibrationError(f"{path}: no rows")
    if with_scores and without_scores:
        raise CalibrationError(f"{without_scores}: no scores, but {with_scores} has them (give scores for every row or none)")
    # A sentence belongs to its article's language, as in `framing outlets`: a stray sentence
    # detected as French in an English article is calibration for English.
    langs: dict[str, Counter] = {}
    for cluster, lang, *_ in parsed:
        langs.setdefault(cluster, Counter())[lang] += 1
    article_lang = {cluster: counts.most_common(1)[0][0] for cluster, counts in langs.items()}
    columns: dict[str, list[tuple]] = {}
    for entry in parsed:
        columns.setdefault(article_lang[entry[0]], []).append(entry)
    return Calibration(
        source=str(path),
        languages={
            lang: CalibrationSet(
                gold=np.array([r[2] for r in rows]),
                pred=np.array([r[3] for r in rows]),
                scores=np.array([r[4] for r in rows]) if with_scores else None,
                clusters=np.array([r[0] for r in rows]),
            )
            for lang, rows in sorted(columns.items())
        },
    )


def build_confusion(calibration: Calibration, description: str) -> dict:
    """The confusion file's content: per language, the hard-count confusion matrix, the mean
    predicted probabilities per gold label, and the rows themselves (gold, predicted, scores,
    article number) so that a bootstrap can redraw them."""
    languages = {}
    for lang, cal in calibration.languages.items():
        hard, soft, _ = rates(cal)
        counts = (_onehot(cal.gold)[:, :, None] * _onehot(cal.pred)[:, None, :]).sum(axis=0)
        languages[lang] = {
            "n": cal.n,
            "articles": int(cal.clusters.max()) + 1,
            "counts": counts.astype(int).tolist(),
            "confusion_rates": np.round(hard, 6).tolist(),
            "probability_rates": None if soft is None else np.round(soft, 6).tolist(),
            "rows": {
                "gold": cal.gold.tolist(),
                "pred": cal.pred.tolist(),
                "article": cal.clusters.tolist(),
                "scores": None if cal.scores is None else np.round(cal.scores, 5).tolist(),
            },
        }
    return {
        "format": CONFUSION_FORMAT,
        "labels": list(LABELS),
        "description": description,
        "matrices": "rows are gold labels, columns predicted labels",
        "languages": languages,
    }


def read_confusion(path: Path) -> Calibration:
    """A confusion file written by `build_confusion` (such as a model folder's confusion.json)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CalibrationError(f"{path}: not a readable confusion file ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != CONFUSION_FORMAT:
        raise CalibrationError(f"{path}: not a confusion file (format is not {CONFUSION_FORMAT})")
    if data.get("labels") != list(LABELS):
        raise CalibrationError(f"{path}: labels {data.get('labels')} differ from {list(LABELS)}")
    languages = {}
    try:
        for lang, entry in data["languages"].items():
            rows = entry["rows"]
            scores = rows.get("scores")
            languages[lang] = CalibrationSet(
                gold=np.array(rows["gold"], dtype=np.int64),
                pred=np.array(rows["pred"], dtype=np.int64),
                scores=None if scores is None else np.array(scores, dtype=float),
                clusters=np.array(rows["article"]),
            )
    except (KeyError, TypeError, ValueError) as exc:
        raise CalibrationError(f"{path}: malformed confusion file ({exc})") from None
    # The folder's name rather than this machine's path: the source is printed in reports that get published.
    where = f"{path.parent.name}/{path.name}"
    description = data.get("description")
    return Calibration(source=f"{description}; file {where}" if description else where, languages=languages)


def model_calibration(folder: Path | None) -> Calibration | None:
    """The confusion file that ships with a model folder, or None when it has none."""
    if folder is None or not (Path(folder) / CONFUSION_FILE).is_file():
        return None
    return read_confusion(Path(folder) / CONFUSION_FILE)


def rates_for_rows(folder: Path | None, row_models: set[str]) -> tuple[Calibration | None, str | None]:
    """The confusion file of the model folder, if the rows were labelled by that model (rows that
    do not say are taken to be); otherwise None and why. Another model's error rates would
    "correct" shares for mistakes the rows' model does not make."""
    if folder is None:
        return None, None
    calibration = model_calibration(folder)
    if calibration is None:
        return (
            None,
            f"the model {Path(folder).name} has no confusion file ({CONFUSION_FILE}): "
            "give a labelled sample to measure its errors",
        )
    if row_models:
        from framing.model.folder import model_checksum

        own = model_checksum(Path(folder))
        others = sorted(row_models - {own})
        if others:
            return None, (
                f"the rows were labelled by another model (sha256 {others[0][:12]}…) than {Path(folder).name} "
                f"(sha256 {own[:12]}…), whose error rates are the ones at hand: give the folder of the model that "
                "labelled them, or a labelled sample"
            )
    return calibration, None


def join_gold(classified: Path, corpus: Path) -> list[dict]:
    """Rows of a predictions file from `framing classify --sentences` output and the labelled corpus
    it was run on, joined by `id`: classify overwrites `label` with the prediction, so the gold label
    comes back from the corpus as `gold_label`."""
    gold: dict[str, str] = {}
    for where, row in _json_rows(corpus):
        if "id" not in row or row.get("label") not in _I:
            raise CalibrationError(f"{where}: needs an `id` and a `label` (one of {', '.join(LABELS)})")
        gold[str(row["id"])] = row["label"]
    out = []
    for where, row in _json_rows(classified):
        key = str(row.get("id"))
        if key not in gold:
            raise CalibrationError(f"{where}: id {key!r} is not in {corpus}")
        out.append({**row, "gold_label": gold[key]})
    return out


def _json_rows(path: Path) -> Iterator[tuple[str, dict]]:
    for number, row in iter_json_objects(path, CalibrationError):
        yield f"{path}:{number}", row
