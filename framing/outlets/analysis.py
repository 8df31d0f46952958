"""Framing across outlets: label shares with article-level uncertainty, and tests of difference.

The unit of resampling everywhere is the article: the sentences of one article share a writer,
a story and a style, so treating them as independent draws would make every interval too narrow
and every test too eager. See docs/outlets.md for how to read the results.

Input rows are sentences (the output of `framing classify`, or a labelled corpus) with at least
`outlet`, `article` and `label`; `lang`, `gold_label`, `source_type`, `topic` and `date` are used
when present. With a `gold_label` on every row, `label` is taken as the prediction and the two are
compared; a gold file can also be joined by `id` (see `read_sentences`).
"""

from __future__ import annotations

import gc
import math
import re
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from framing.errors import FramingError
from framing.limits import iter_json_objects
from framing.model.labels import LABELS, SOURCE_TYPES, SOURCED_LABELS
from framing.model.langid import UNDETERMINED
from framing.outlets import quantify

#: Labels whose sentences name a source; the sourcing index counts them against UNSOURCED.
SOURCED: tuple[str, ...] = tuple(label for label in LABELS if label in SOURCED_LABELS)
UNSOURCED = "unattributed_assertion"
SOURCING_INDEX_DEFINITION = (
    "sourcing index = (attributed_fact + analyst_claim − unattributed_assertion) / "
    "(attributed_fact + analyst_claim + unattributed_assertion), i.e. the sourced share minus the "
    "unsourced share among claim sentences (sentences labelled `other` are left out); "
    "+1 means every claim names a source, −1 means none does"
)
#: The correction used when none is named and the rows carry predicted probabilities.
DEFAULT_METHOD = "pacc"
#: Stratum given to articles that lack the stratifying field.
MISSING_STRATUM = "(none)"
#: Article language when no row of the article says.
UNKNOWN_LANG = UNDETERMINED
#: Cap on the floats held at once by a resampling batch (a replicate × article matrix), ~16 MB.
_BATCH_CELLS = 2_000_000

_I = {label: i for i, label in enumerate(LABELS)}
_MONTH = re.compile(r"^(\d{4})-(\d{2})")


class OutletsInputError(FramingError):
    """Unusable input or settings; the message is one line naming the file, line and problem."""


@dataclass(frozen=True)
class OutletsSettings:
    min_articles: int = 5
    min_sentences: int = 50
    n_bootstrap: int = 2000
    n_permutations: int = 2000
    seed: int = 0
    alpha: float = 0.05
    confidence: float = 0.95
    stratify: str | None = None
    #: Correction for the classifier's errors: "auto" (PACC when the rows carry `scores`: of the
    #: corrections, the closest to gold on outlets outside our test split, see docs/outlets.md), a
    #: method of quantify.METHODS, or "none".
    correction: str = "auto"
    #: What the tests and the ranking use when a correction is applied: "raw" or "corrected". Raw by
    #: default: on our held-out outlets no correction was clearly closer to gold than raw shares.
    shares: str = "raw"

    def __post_init__(self) -> None:
        if self.correction not in ("auto", "none", *quantify.METHODS):
            raise OutletsInputError(
                f"correction must be auto, none or one of {', '.join(quantify.METHODS)} (got {self.correction!r})"
            )
        if self.shares not in ("corrected", "raw"):
            raise OutletsInputError(f"shares must be 'corrected' or 'raw' (got {self.shares!r})")
        if self.min_articles < 2:
            # One article gives a bootstrap interval of width zero: it must never count as enough.
            raise OutletsInputError(f"the minimum number of articles per outlet must be at least 2 (got {self.min_articles})")
        if self.min_sentences < 1:
            raise OutletsInputError(f"the minimum number of sentences per outlet must be at least 1 (got {self.min_sentences})")
        if self.n_bootstrap < 100:
            raise OutletsInputError(f"the bootstrap needs at least 100 resamples (got {self.n_bootstrap})")
        if self.n_permutations < 19:
            # Below 19 permutations the smallest possible p-value, 1/(n+1), cannot reach 0.05.
            raise OutletsInputError(f"a permutation test needs at least 19 permutations (got {self.n_permutations})")
        if not 0 < self.alpha < 1:
            raise OutletsInputError(f"the family-wise error rate alpha must be between 0 and 1 (got {self.alpha})")
        if not 0.5 <= self.confidence < 1:
            raise OutletsInputError(f"confidence must be in [0.5, 1) (got {self.confidence})")


@dataclass
class Sentence:
    where: str  # "file:line", for error messages
    outlet: str
    article: str
    label: str
    lang: str | None = None
    gold: str | None = None
    source_type: str | None = None
    stratum: str | None = None
    scores: list[float] | None = None  # predicted probability per label, in LABELS order
    model_sha256: str | None = None  # the model that labelled the row, when the row says
    source_named: bool | None = None
    vague_attribution: bool | None = None


@dataclass
class Article:
    """One article: the unit that is resampled and permuted."""

    key: str
    outlet: str
    lang: str
    counts: np.ndarray  # sentences per label, in LABELS order (the analysed labels)
    stratum: str = MISSING_STRATUM
    gold_counts: np.ndarray | None = None  # gold labels of the same sentences, when known
    source_types: Counter = field(default_factory=Counter)
    off_language: int = 0  # sentences whose own `lang` differs from the article's
    scores: np.ndarray | None = None  # sentences × labels: predicted probabilities, when known
    score_sums: np.ndarray | None = None  # the same summed over the article's sentences
    model_sha256: str | None = None  # the model that labelled the article's rows, when they say
    #: [named, with a known source_named, vague, with a known vague_attribution]
    flags: tuple[int, int, int, int] = (0, 0, 0, 0)


# ---------------------------------------------------------------------------------------------
# Reading


def _iter_json_objects(path: Path) -> Iterator[tuple[int, dict]]:
    return iter_json_objects(path, OutletsInputError)


def _text_field(row: dict, name: str, where: str) -> str:
    value = row.get(name)
    if isinstance(value, bool) or not isinstance(value, str | int) or not str(value).strip():
        raise OutletsInputError(f"{where}: field '{name}' is missing or empty")
    return str(value).strip()


def _label(value: object, name: str, where: str) -> str:
    if not isinstance(value, str) or value not in _I:  # a list or an object is not hashable
        raise OutletsInputError(f"{where}: {name} {value!r} is not one of {', '.join(LABELS)}")
    return str(value)


def _stratum(row: dict, stratify: str, where: str) -> str:
    if stratify == "month":
        date = row.get("date")
        if date is None or date == "":
            return MISSING_STRATUM
        match = _MONTH.match(str(date)) if isinstance(date, str) else None
        if match is None or not 1 <= int(match.group(2)) <= 12:
            raise OutletsInputError(f"{where}: date {date!r} does not start with YYYY-MM (needed to stratify by month)")
        return f"{match.group(1)}-{match.group(2)}"
    value = row.get(stratify)
    if value is None or value == "":
        return MISSING_STRATUM
    if isinstance(value, dict | list):
        raise OutletsInputError(f"{where}: field '{stratify}' must be a single value to stratify by it")
    return str(value)


def read_gold(path: Path) -> dict[str, str]:
    """id → gold label, from a labelled corpus file."""
    gold: dict[str, str] = {}
    first_seen: dict[str, int] = {}
    for number, row in _iter_json_objects(path):
        where = f"{path}:{number}"
        key = _text_field(row, "id", where)
        if key in gold:
            raise OutletsInputError(f"{where}: duplicate id '{key}' (first at line {first_seen[key]})")
        gold[key] = _label(row.get("label"), "label", where)
        first_seen[key] = number
    if not gold:
        raise OutletsInputError(f"{path}: no rows")
    return gold


def read_sentences(paths: Sequence[Path], gold_path: Path | None = None, stratify: str | None = None) -> list[Sentence]:
    """Sentence rows of the input files, checked.

    Gold labels come from `gold_label` in the rows, or, with `gold_path`, from the `label` of the
    row with the same `id` in that file; `label` in the input is then the prediction. Gold must be
    known for every row or for none, so that predicted and gold shares describe the same sentences.
    """
    gold_by_id = read_gold(gold_path) if gold_path is not None else None
    sentences: list[Sentence] = []
    first_without_gold: str | None = None
    first_with_gold: str | None = None
    first_without_scores: str | None = None
    first_with_scores: str | None = None
    for path in paths:
        for number, row in _iter_json_objects(path):
            where = f"{path}:{number}"
            label = _label(row.get("label"), "label", where)
            gold = row.get("gold_label")
            if gold is not None:
                gold = _label(gold, "gold_label", where)
            if gold_by_id is not None:
                key = _text_field(row, "id", where)
                if key not in gold_by_id:
                    raise OutletsInputError(f"{where}: id '{key}' is not in the gold file {gold_path}")
                if gold is not None and gold != gold_by_id[key]:
                    raise OutletsInputError(
                        f"{where}: gold_label '{gold}' disagrees with the gold file {gold_path} ('{gold_by_id[key]}')"
                    )
                gold = gold_by_id[key]
            lang = row.get("lang")
            if lang is not None and (not isinstance(lang, str) or not lang.strip()):
                raise OutletsInputError(f"{where}: field 'lang' must be a language code such as 'ar' or 'en'")
            source_type = row.get("source_type")
            if source_type is not None and source_type not in SOURCE_TYPES:
                raise OutletsInputError(f"{where}: source_type {source_type!r} is not one of {', '.join(SOURCE_TYPES)}")
            scores = quantify.row_scores(row)
            if scores is not None:
                scores = quantify.parse_scores(scores, where, OutletsInputError)
                first_with_scores = first_with_scores or where
            else:
                first_without_scores = first_without_scores or where
            if gold is None and first_without_gold is None:
                first_without_gold = where
            if gold is not None and first_with_gold is None:
                first_with_gold = where
            sentences.append(
                Sentence(
                    where=where,
                    outlet=_text_field(row, "outlet", where),
                    article=_text_field(row, "article", where),
                    label=label,
                    lang=lang.strip() if isinstance(lang, str) else None,
                    gold=gold,
                    source_type=source_type,
                    stratum=_stratum(row, stratify, where) if stratify else None,
                    scores=scores,
                    model_sha256=row.get("model_sha256") if isinstance(row.get("model_sha256"), str) else None,
                    source_named=row.get("source_named") if isinstance(row.get("source_named"), bool) else None,
                    vague_attribution=row.get("vague_attribution") if isinstance(row.get("vague_attribution"), bool) else None,
                )
            )
    if not sentences:
        raise OutletsInputError(f"{', '.join(map(str, paths))}: no rows")
    if first_with_gold and first_without_gold:
        raise OutletsInputError(
            f"{first_without_gold}: no gold_label, but {first_with_gold} has one (give gold labels for every row or for none)"
        )
    if first_with_scores and first_without_scores:
        # Corrected shares from the probabilities of some sentences and not others would describe neither.
        raise OutletsInputError(
            f"{first_without_scores}: no scores, but {first_with_scores} has them (give scores for every row or for none)"
        )
    return sentences


def _majority(values: Iterable[str]) -> str | None:
    counts = Counter(values)
    if not counts:
        return None
    top = max(counts.values())
    # Counter keeps first-seen order, so ties go to the value seen first in the article.
    return next(value for value, n in counts.items() if n == top)


def group_articles(sentences: Sequence[Sentence]) -> list[Article]:
    """Sentences grouped into articles, in first-seen order.

    An article's language is the most common `lang` of its sentences, so that a stray sentence
    detected as another language does not split an article. The stratum is likewise the most
    common value (a topic or month belongs to the article, not the sentence).
    """
    by_article: dict[str, list[Sentence]] = defaultdict(list)
    for s in sentences:
        rows = by_article[s.article]
        if rows and rows[0].outlet != s.outlet:
            raise OutletsInputError(
                f"{s.where}: article '{s.article}' is under outlet '{s.outlet}' here but '{rows[0].outlet}' at {rows[0].where}"
            )
        rows.append(s)
    articles: list[Article] = []
    for key, rows in by_article.items():
        counts = np.zeros(len(LABELS), dtype=np.int64)
        for s in rows:
            counts[_I[s.label]] += 1
        gold_counts = None
        if rows[0].gold is not None:
            gold_counts = np.zeros(len(LABELS), dtype=np.int64)
            for s in rows:
                gold_counts[_I[s.gold]] += 1  # type: ignore[index]
        scores = None
        if all(s.scores is not None for s in rows):
            scores = np.asarray([s.scores for s in rows], dtype=float)
        lang = _majority(s.lang for s in rows if s.lang) or UNKNOWN_LANG
        stratum = _majority(s.stratum for s in rows if s.stratum is not None) or MISSING_STRATUM
        articles.append(
            Article(
                key=key,
                outlet=rows[0].outlet,
                lang=lang,
                counts=counts,
                stratum=stratum,
                gold_counts=gold_counts,
                source_types=Counter(s.source_type for s in rows if s.source_type),
                off_language=sum(1 for s in rows if s.lang and s.lang != lang),
                scores=scores,
                score_sums=None if scores is None else scores.sum(axis=0),
                model_sha256=next((s.model_sha256 for s in rows if s.model_sha256), None),
                flags=(
                    sum(s.source_named is True for s in rows),
                    sum(s.source_named is not None for s in rows),
                    sum(s.vague_attribution is True for s in rows),
                    sum(s.vague_attribution is not None for s in rows),
                ),
            )
        )
    return articles


def load_articles(paths: Sequence[Path], gold_path: Path | None = None, stratify: str | None = None) -> list[Article]:
    return group_articles(read_sentences(paths, gold_path, stratify))


# ---------------------------------------------------------------------------------------------
# Statistics


def sourcing_index(counts: np.ndarray) -> np.ndarray:
    """Sourced minus unsourced share among claim sentences, over the last axis (counts or shares);
    NaN where there is no claim sentence."""
    counts = np.asarray(counts, dtype=float)
    sourced = sum(counts[..., _I[label]] for label in SOURCED)
    unsourced = counts[..., _I[UNSOURCED]]
    claims = sourced + unsourced
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(claims > 0, (sourced - unsourced) / np.where(claims > 0, claims, 1), np.nan)


def shares(counts: np.ndarray) -> np.ndarray:
    counts = np.asarray(counts, dtype=float)
    total = counts.sum(axis=-1, keepdims=True)
    return counts / np.where(total > 0, total, 1)


def rng_for(seed: int, *keys: str) -> np.random.Generator:
    """A generator that depends on the seed and on what is being computed, not on the order of the
    computations: adding an outlet leaves the other outlets' intervals as they were."""
    entropy = [seed & 0xFFFFFFFF] + [zlib.crc32(k.encode("utf-8")) for k in keys]
    return np.random.default_rng(entropy)


def _blocks(strata: Sequence[str]) -> list[np.ndarray]:
    index: dict[str, list[int]] = defaultdict(list)
    for i, s in enumerate(strata):
        index[s].append(i)
    return [np.asarray(v) for v in index.values()]


def _resample_weights(n_articles: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """n × articles: how often each article is drawn in each replicate when drawing as many
    articles as there are, with replacement (a cluster bootstrap)."""
    return rng.multinomial(n_articles, np.full(n_articles, 1.0 / n_articles), size=n).astype(float)


def _weight_batches(n_articles: int, n: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Cluster-bootstrap weights for n replicates, in batches small enough to keep memory bounded."""
    batch = max(1, _BATCH_CELLS // max(n_articles, 1))
    for start in range(0, n, batch):
        yield _resample_weights(n_articles, min(batch, n - start), rng)


def _interval(replicates: np.ndarray, confidence: float) -> np.ndarray | None:
    """Percentile interval over the first axis; None where too many replicates are undefined."""
    replicates = np.asarray(replicates, dtype=float)
    if np.isnan(replicates).mean() > 1 - confidence:
        return None
    tail = (1 - confidence) / 2
    return np.nanquantile(replicates, [tail, 1 - tail], axis=0)


def bootstrap(
    counts: np.ndarray,
    n_boot: int,
    rng: np.random.Generator,
    strata: Sequence[str] | None = None,
    stratum_weights: dict[str, float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Replicates of (label shares, sourcing index) for one group of articles, resampling articles.

    Without `stratum_weights`: crude shares. With them: directly standardised shares (see
    `standardised`), written as a weighted ratio over articles, each article weighted by its
    stratum's weight over the group's sentences in that stratum. The weights are computed once and
    kept fixed while articles are resampled across strata. Recomputing them per replicate, or
    resampling within strata, would be wrong here: an outlet has one or two articles in most topics
    or months, and a one-article stratum gives the same share however often its article is drawn,
    so its uncertainty would vanish from the interval.
    """
    counts = np.asarray(counts, dtype=float)
    m = len(counts)
    if stratum_weights is not None and strata is not None:
        counts = counts * article_weights(counts, strata, stratum_weights)[:, None]
    share_reps, index_reps = [], []
    for weights in _weight_batches(m, n_boot, rng):
        totals = weights @ counts
        share_reps.append(shares(totals))
        index_reps.append(sourcing_index(totals))
    return np.concatenate(share_reps), np.concatenate(index_reps)


def article_weights(counts: np.ndarray, strata: Sequence[str], stratum_weights: dict[str, float]) -> np.ndarray:
    """Each article's fixed weight in directly standardised shares: its stratum's common weight
    (renormalised over the strata the group covers) over the group's sentences in that stratum."""
    strata = list(strata)
    sentences = np.asarray(counts, dtype=float).sum(axis=1)
    in_stratum: Counter = Counter()
    for s, n in zip(strata, sentences, strict=True):
        in_stratum[s] += n
    coverage = sum(stratum_weights[s] for s in in_stratum)
    return np.array([stratum_weights[s] / coverage / in_stratum[s] for s in strata])


def standardised(counts: np.ndarray, strata: Sequence[str], stratum_weights: dict[str, float]) -> tuple[np.ndarray, float]:
    """Shares standardised to `stratum_weights` over the strata present, and the weight those
    strata carry (1.0 when the group covers every stratum)."""
    counts = np.asarray(counts, dtype=float)
    blocks = _blocks(strata)
    coverage = sum(stratum_weights[strata[b[0]]] for b in blocks)
    mixed = sum(stratum_weights[strata[b[0]]] / coverage * shares(counts[b].sum(axis=0)) for b in blocks)
    return np.asarray(mixed), float(coverage)


@dataclass
class Comparison:
    statistic: float  # total variation distance between the two groups' (within-stratum) label shares
    p: float
    shared_strata: int
    #: Distinct ways to assign the articles to the two groups within strata (capped at 1e12); the
    #: exact p-value cannot go below 1/arrangements, so a handful of arrangements means no power.
    arrangements: float
    p_holm: float | None = None
    significant: bool | None = None


def _tvd(
    counts: np.ndarray,
    in_a: np.ndarray,
    masks: list[np.ndarray],
    weights: np.ndarray,
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """TVD between group a and the rest for each row of `in_a` (replicates × articles, 0/1):
    per-label share differences within each stratum, averaged over strata with fixed weights.
    `transform` maps observed shares to the shares compared (a correction for the classifier's errors)."""
    view = transform or (lambda x: x)
    diff = np.zeros((in_a.shape[0], counts.shape[1]))
    for mask, w in zip(masks, weights, strict=True):
        c = counts[mask]
        a = in_a[:, mask] @ c
        b = c.sum(axis=0) - a
        diff += w * (view(shares(a)) - view(shares(b)))
    return 0.5 * np.abs(diff).sum(axis=1)


def permutation_test(
    counts: np.ndarray,
    in_a: np.ndarray,
    strata: Sequence[str],
    n_perm: int,
    rng: np.random.Generator,
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
) -> Comparison | None:
    """Do the articles of group a differ in label shares from the others?

    The statistic is the total variation distance between the two groups' label shares (half the
    sum of absolute share differences): within each stratum that both groups cover, averaged with
    weights proportional to the stratum's sentences. Group labels are permuted among articles
    within strata, so the null keeps each group's stratum mix and the clustering of sentences in
    articles. None when no stratum has articles of both groups.

    With `transform` (a correction for the classifier's errors, a fixed function of the shares),
    the statistic is the TVD of the transformed shares. The permutation null is the same, so the
    test stays exact: only what it measures changes.
    """
    counts = np.asarray(counts, dtype=float)
    in_a = np.asarray(in_a, dtype=bool)
    strata_arr = np.asarray(list(strata), dtype=object)
    shared = [s for s in dict.fromkeys(strata_arr) if in_a[strata_arr == s].any() and (~in_a[strata_arr == s]).any()]
    if not shared:
        return None
    keep = np.isin(strata_arr, shared)
    counts, in_a, strata_arr = counts[keep], in_a[keep], strata_arr[keep]
    # Sorting by stratum makes each stratum a contiguous run of positions, so one argsort of
    # (stratum code + uniform noise) per replicate shuffles every stratum independently.
    code_of = {s: i for i, s in enumerate(shared)}
    codes = np.array([code_of[s] for s in strata_arr])
    order = np.argsort(codes, kind="stable")
    counts, in_a, codes = counts[order], in_a[order], codes[order]
    masks = [codes == c for c in range(len(shared))]
    totals = np.array([counts[m].sum() for m in masks])
    weights = totals / totals.sum()
    observed = float(_tvd(counts, in_a[None, :].astype(float), masks, weights, transform)[0])
    k = len(counts)
    batch = max(1, _BATCH_CELLS // k)
    exceed = 0
    tolerance = 1e-12 + 1e-9 * observed  # equal statistics reached by another path must count as ties
    for start in range(0, n_perm, batch):
        n = min(batch, n_perm - start)
        positions = np.argsort(codes[None, :] + rng.random((n, k)), axis=1)
        permuted = np.empty((n, k))
        np.put_along_axis(permuted, positions, np.broadcast_to(in_a.astype(float), (n, k)), axis=1)
        exceed += int(np.sum(_tvd(counts, permuted, masks, weights, transform) >= observed - tolerance))
    arrangements = 1.0
    for m in masks:
        arrangements = min(1e12, arrangements * math.comb(int(m.sum()), int(in_a[m].sum())))
    return Comparison(statistic=observed, p=(1 + exceed) / (1 + n_perm), shared_strata=len(shared), arrangements=arrangements)


def permutations_needed(n_tests: int, settings: OutletsSettings) -> int:
    """Permutations per test for a family of n tests: at least the setting, and enough that the
    smallest Monte Carlo p-value, 1/(permutations+1), is a fifth of what Holm asks of the first test
    (alpha / n). With 16 outlets there are 120 pairs, and 2000 permutations could never give
    p < 0.05/120: every pair would come out "not different" whatever the data."""
    return max(settings.n_permutations, math.ceil(5 * max(n_tests, 1) / settings.alpha) - 1)


def holm(results: Sequence[Comparison], alpha: float) -> None:
    """Holm-adjusted p-values and decisions, in place, over one family of tests."""
    if not results:
        return
    from statsmodels.stats.multitest import multipletests

    # statsmodels' Holm branch ends with gc.collect(), a full heap scan: ~0.2 s with torch loaded,
    # paid on every family of tests. Frozen objects are skipped by that scan; unfreezing restores them.
    gc.freeze()
    try:
        reject, adjusted, _, _ = multipletests([r.p for r in results], alpha=alpha, method="holm")
    finally:
        gc.unfreeze()
    for r, rej, adj in zip(results, reject, adjusted, strict=True):
        r.p_holm = float(adj)
        r.significant = bool(rej)


# ---------------------------------------------------------------------------------------------
# The analysis


def _by_label(values: np.ndarray) -> dict[str, float]:
    return {label: float(v) for label, v in zip(LABELS, values, strict=True)}


def _ci_by_label(ci: np.ndarray | None) -> dict[str, list[float]] | None:
    if ci is None:
        return None
    return {label: [float(ci[0, i]), float(ci[1, i])] for i, label in enumerate(LABELS)}


def _num(value: float) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def _ci_pair(ci: np.ndarray | None) -> list[float] | None:
    if ci is None or not np.all(np.isfinite(ci)):
        return None
    return [float(ci[0]), float(ci[1])]


def _describe_group(
    counts: np.ndarray,
    strata: list[str],
    settings: OutletsSettings,
    rng: np.random.Generator,
    stratum_weights: dict[str, float] | None,
) -> dict:
    total = counts.sum(axis=0)
    out: dict = {
        "counts": {label: int(v) for label, v in zip(LABELS, total, strict=True)},
        "shares": _by_label(shares(total)),
        "index": _num(float(sourcing_index(total))),
        "share_ci": None,
        "index_ci": None,
    }
    if len(counts) >= 2:  # one article has nothing to resample: no interval rather than a zero-width one
        share_reps, index_reps = bootstrap(counts, settings.n_bootstrap, rng)
        out["share_ci"] = _ci_by_label(_interval(share_reps, settings.confidence))
        out["index_ci"] = _ci_pair(_interval(index_reps, settings.confidence))
    if stratum_weights is not None:
        std, coverage = standardised(counts, strata, stratum_weights)
        out.update(
            std_shares=_by_label(std),
            std_index=_num(float(sourcing_index(std))),
            std_coverage=coverage,
            std_share_ci=None,
            std_index_ci=None,
        )
        if len(counts) >= 2:
            share_reps, index_reps = bootstrap(counts, settings.n_bootstrap, rng, strata, stratum_weights)
            out["std_share_ci"] = _ci_by_label(_interval(share_reps, settings.confidence))
            out["std_index_ci"] = _ci_pair(_interval(index_reps, settings.confidence))
    return out


def _gold_comparison(
    pred: np.ndarray, gold: np.ndarray, settings: OutletsSettings, rng: np.random.Generator, corrected: dict | None = None
) -> dict:
    """How far the predicted shares and index are from the gold ones on the same sentences; the
    interval for the index difference resamples articles, applying the same draws to both."""
    p_total, g_total = pred.sum(axis=0), gold.sum(axis=0)
    p_shares, g_shares = shares(p_total), shares(g_total)
    diff = np.abs(p_shares - g_shares)
    out = {
        "gold_shares": _by_label(g_shares),
        "predicted_shares": _by_label(p_shares),
        "abs_diff": _by_label(diff),
        "max_abs_diff": float(diff.max()),
        "max_abs_diff_label": LABELS[int(diff.argmax())],
        "mean_abs_diff": float(diff.mean()),
        "gold_index": _num(float(sourcing_index(g_total))),
        "predicted_index": _num(float(sourcing_index(p_total))),
        "index_diff": None,
        "index_diff_ci": None,
        "agreement": None,
    }
    if out["gold_index"] is not None and out["predicted_index"] is not None:
        out["index_diff"] = out["predicted_index"] - out["gold_index"]
    if len(pred) >= 2:
        batches = _weight_batches(len(pred), settings.n_bootstrap, rng)
        reps = [sourcing_index(w @ pred) - sourcing_index(w @ gold) for w in batches]
        out["index_diff_ci"] = _ci_pair(_interval(np.concatenate(reps), settings.confidence))
    if corrected is not None:
        fixed = np.array([corrected["shares"][label] for label in LABELS])
        fixed_diff = np.abs(fixed - g_shares)
        out.update(
            corrected_shares=corrected["shares"],
            corrected_abs_diff=_by_label(fixed_diff),
            corrected_mean_abs_diff=float(fixed_diff.mean()),
            corrected_index=corrected["index"],
        )
    return out


def _kendall_discordant(a: Sequence[float], b: Sequence[float]) -> int:
    n = len(a)
    return sum(1 for i in range(n) for j in range(i + 1, n) if (a[i] - a[j]) * (b[i] - b[j]) < 0)


def _group(articles: Sequence[Article]) -> quantify.Group:
    counts = np.stack([a.counts for a in articles]).astype(float)
    if not articles or any(a.scores is None for a in articles):
        return quantify.Group(counts)
    return quantify.Group(
        counts,
        score_sums=np.stack([a.score_sums for a in articles]),  # type: ignore[misc]
        scores=np.concatenate([a.scores for a in articles]),  # type: ignore[misc]
        sentence_article=np.repeat(np.arange(len(articles)), [len(a.scores) for a in articles]),  # type: ignore[arg-type]
    )


def _describe_corrected(
    group: quantify.Group,
    strata: list[str],
    settings: OutletsSettings,
    rng: np.random.Generator,
    stratum_weights: dict[str, float] | None,
    correction: quantify.LanguageCorrection,
) -> dict:
    """Shares and index corrected for the classifier's errors; the intervals redraw the articles
    and, in the same replicates, the calibration sample the error rates come from."""
    point, clipped = correction.point(group)
    out: dict = {
        "shares": _by_label(point),
        "index": _num(float(sourcing_index(point))),
        "clipped": clipped,
        "share_ci": None,
        "index_ci": None,
    }
    if len(group.counts) >= 2:
        reps = correction.replicates(group, rng)
        out["share_ci"] = _ci_by_label(_interval(reps, settings.confidence))
        out["index_ci"] = _ci_pair(_interval(sourcing_index(reps), settings.confidence))
    if stratum_weights is not None:
        weights = article_weights(group.counts, strata, stratum_weights)
        std, std_clipped = correction.point(group, weights)
        out.update(std_shares=_by_label(std), std_index=_num(float(sourcing_index(std))), std_share_ci=None, std_index_ci=None)
        out["clipped"] = clipped or std_clipped
        if len(group.counts) >= 2:
            reps = correction.replicates(group, rng, weights)
            out["std_share_ci"] = _ci_by_label(_interval(reps, settings.confidence))
            out["std_index_ci"] = _ci_pair(_interval(sourcing_index(reps), settings.confidence))
    return out


def _language_correction(
    lang: str,
    articles: Sequence[Article],
    settings: OutletsSettings,
    calibration: quantify.Calibration | None,
    no_calibration: str | None = None,
) -> tuple[quantify.LanguageCorrection | None, dict]:
    """The correction to apply to one language, or None and why not."""
    info: dict = {"applied": False, "method": None, "method_name": None, "source": None, "reason": None, "stability": None}
    method = settings.correction
    has_scores = all(a.scores is not None for a in articles)
    if method == "none":
        info["reason"] = "no correction was asked for"
        return None, info
    if method == "auto":
        if not has_scores:
            info["reason"] = (
                "the rows carry no predicted probabilities (`scores`), so they are read as gold labels "
                "(or as predictions without probabilities) and not corrected"
            )
            return None, info
        method = DEFAULT_METHOD
    if method in ("pacc", "em") and not has_scores:
        raise OutletsInputError(
            f"the {method} correction needs predicted probabilities (`scores`) on every row; acc needs only the predicted label"
        )
    info.update(method=method, method_name=quantify.METHOD_NAMES[method])
    if calibration is None:
        info["reason"] = (
            no_calibration or "no confusion rates: the model has no confusion file and no calibration sample was given"
        )
        return None, info
    info["source"] = calibration.source
    cal = calibration.languages.get(lang)
    if cal is None:
        info["reason"] = f"the calibration sample has no '{lang}' sentences"
        return None, info
    info["stability"] = quantify.stability(cal, method)
    if not info["stability"]["stable"]:
        info["reason"] = "unstable, so not applied: " + "; ".join(info["stability"]["reasons"])
        return None, info
    info["applied"] = True
    return quantify.LanguageCorrection(method, cal, settings.n_bootstrap, rng_for(settings.seed, lang, "calibration")), info


def analyse(
    articles: Sequence[Article],
    settings: OutletsSettings | None = None,
    calibration: quantify.Calibration | None = None,
    no_calibration: str | None = None,
) -> dict:
    """The full analysis, as a JSON-ready dict: per language, per outlet shares and sourcing index
    with intervals, tests against the other outlets and between pairs, source types and, when
    gold labels are present, how far the predictions are from them.

    With `calibration` (labelled rows with predictions, per language), shares are also corrected
    for the classifier's errors (see quantify.py), beside the raw ones; `settings.shares` says which
    the tests and the ranking use. `no_calibration` says why there is none, when it is known."""
    settings = settings or OutletsSettings()
    has_gold = bool(articles) and all(a.gold_counts is not None for a in articles)
    report: dict = {
        "settings": asdict(settings),
        "labels": list(LABELS),
        "sourcing_index_definition": SOURCING_INDEX_DEFINITION,
        "has_gold": has_gold,
        "languages": {},
    }
    by_lang: dict[str, list[Article]] = defaultdict(list)
    for a in articles:
        by_lang[a.lang].append(a)
    for lang in sorted(by_lang):
        report["languages"][lang] = _analyse_language(lang, by_lang[lang], settings, has_gold, calibration, no_calibration)
    return report


def _analyse_language(
    lang: str,
    articles: list[Article],
    settings: OutletsSettings,
    has_gold: bool,
    calibration: quantify.Calibration | None = None,
    no_calibration: str | None = None,
) -> dict:
    counts = np.stack([a.counts for a in articles]).astype(float)
    correction, correction_info = _language_correction(lang, articles, settings, calibration, no_calibration)
    stratified = settings.stratify is not None
    strata = [a.stratum if stratified else MISSING_STRATUM for a in articles]
    outlets_of = np.asarray([a.outlet for a in articles], dtype=object)
    stratum_weights = None
    if stratified:
        sentence_totals: Counter = Counter()
        for a in articles:
            sentence_totals[a.stratum] += int(a.counts.sum())
        grand = sum(sentence_totals.values())
        stratum_weights = {s: n / grand for s, n in sorted(sentence_totals.items())}
    notes: list[str] = []
    off = sum(a.off_language for a in articles)
    if off:
        notes.append(
            f"{off} sentence(s) had their own language tag different from their article's; "
            f"they are counted with their article, under '{lang}'"
        )

    pooled = _describe_group(counts, strata, settings, rng_for(settings.seed, lang, "pooled"), stratum_weights)
    group = _group(articles)
    if correction is not None:
        pooled["corrected"] = _describe_corrected(
            group, strata, settings, rng_for(settings.seed, lang, "pooled", "corrected"), stratum_weights, correction
        )
    if has_gold:
        all_gold = np.stack([a.gold_counts for a in articles]).astype(float)  # type: ignore[misc]
        pooled["gold"] = _gold_comparison(
            counts, all_gold, settings, rng_for(settings.seed, lang, "pooled", "gold"), pooled.get("corrected")
        )
    results: list[dict] = []
    for outlet in sorted(set(outlets_of)):
        mask = outlets_of == outlet
        n_articles, n_sentences = int(mask.sum()), int(counts[mask].sum())
        reasons = []
        if n_articles < settings.min_articles:
            reasons.append(f"{n_articles} article(s) < {settings.min_articles}")
        if n_sentences < settings.min_sentences:
            reasons.append(f"{n_sentences} sentence(s) < {settings.min_sentences}")
        entry = {
            "outlet": outlet,
            "n_articles": n_articles,
            "n_sentences": n_sentences,
            "eligible": not reasons,
            "flag": "too little data: " + ", ".join(reasons) if reasons else None,
            **_describe_group(
                counts[mask],
                [s for s, m in zip(strata, mask, strict=True) if m],
                settings,
                rng_for(settings.seed, lang, outlet, "bootstrap"),
                stratum_weights,
            ),
            "vs_rest": None,
            "rank": None,
            "corrected": None,
        }
        if correction is not None:
            member = [art for art, m in zip(articles, mask, strict=True) if m]
            entry["corrected"] = _describe_corrected(
                _group(member),
                [s for s, m in zip(strata, mask, strict=True) if m],
                settings,
                rng_for(settings.seed, lang, outlet, "corrected"),
                stratum_weights,
                correction,
            )
        typed: Counter = Counter()
        for a, m in zip(articles, mask, strict=True):
            if m:
                typed.update(a.source_types)
        n_typed = sum(typed.values())
        entry["source_types"] = {
            "n": n_typed,
            "counts": {t: int(typed[t]) for t in SOURCE_TYPES if typed[t]},
            "shares": {t: typed[t] / n_typed for t in SOURCE_TYPES if typed[t]},
        }
        # From `framing classify` with a source-heads model (or a corpus that has the fields):
        # the share of sources that are named, and of sentences with a vague attribution.
        flags = np.array([a.flags for a, m in zip(articles, mask, strict=True) if m]).sum(axis=0)
        entry["source_named"] = {"n": int(flags[1]), "share": flags[0] / flags[1] if flags[1] else None}
        entry["vague_attribution"] = {"n": int(flags[3]), "share": flags[2] / flags[3] if flags[3] else None}
        if has_gold:
            gold = np.stack([a.gold_counts for a, m in zip(articles, mask, strict=True) if m]).astype(float)  # type: ignore[misc]
            entry["gold"] = _gold_comparison(
                counts[mask], gold, settings, rng_for(settings.seed, lang, outlet, "gold"), entry["corrected"]
            )
        results.append(entry)

    index_key = "std_index" if stratified else "index"
    eligible = [r for r in results if r["eligible"]]
    # Tests and ranking on corrected shares when asked and possible. The permutation tests apply the
    # point correction (a fixed function of the shares) to every arrangement; EM has no closed form
    # cheap enough to run thousands of times per test, so with EM the tests stay on raw shares.
    use_corrected = correction is not None and settings.shares == "corrected"
    test_counts, transform = counts, None
    if use_corrected and correction is not None and correction.method != "em":
        # PACC and EM are refused without scores, so score_sums is there when PACC gets here.
        test_counts = group.counts if correction.method == "acc" else np.asarray(group.score_sums)
        transform = correction.transform
    elif use_corrected:
        notes.append("the tests compare raw shares: EM-corrected shares are used for the ranking only")
    correction_info["tests_on"] = "corrected" if transform is not None else "raw"
    correction_info["ranking_on"] = "corrected" if use_corrected else "raw"
    vs_rest: list[Comparison] = []
    if len(results) < 2:
        notes.append("only one outlet: nothing to compare it with")
    n_vs_rest = len(eligible) if len(results) >= 2 else 0
    n_pairs = len(eligible) * (len(eligible) - 1) // 2
    perms_vs_rest = permutations_needed(n_vs_rest, settings)
    perms_pairwise = permutations_needed(n_pairs, settings)
    for r in eligible:
        if len(results) < 2:
            break
        rng = rng_for(settings.seed, lang, r["outlet"], "vs-rest")
        test = permutation_test(test_counts, outlets_of == r["outlet"], strata, perms_vs_rest, rng, transform)
        if test is None:
            r["vs_rest_note"] = "no stratum shared with the other outlets"
            continue
        r["vs_rest"] = test
        vs_rest.append(test)
    holm(vs_rest, settings.alpha)
    for r in eligible:
        if isinstance(r["vs_rest"], Comparison):
            r["vs_rest"] = asdict(r["vs_rest"])

    pairwise: list[dict] = []
    pair_tests: list[Comparison] = []
    for i, a in enumerate(eligible):
        for b in eligible[i + 1 :]:
            mask = (outlets_of == a["outlet"]) | (outlets_of == b["outlet"])
            test = permutation_test(
                test_counts[mask],
                outlets_of[mask] == a["outlet"],
                [s for s, m in zip(strata, mask, strict=True) if m],
                perms_pairwise,
                rng_for(settings.seed, lang, a["outlet"], b["outlet"], "pair"),
                transform,
            )
            if test is None:
                pairwise.append({"a": a["outlet"], "b": b["outlet"], "test": None, "note": "no shared stratum"})
                continue
            pair_tests.append(test)
            pairwise.append({"a": a["outlet"], "b": b["outlet"], "test": test})
    holm(pair_tests, settings.alpha)
    for p in pairwise:
        if p["test"] is not None:
            p.update(asdict(p.pop("test")))
        else:
            p.pop("test")

    def rank_value(r: dict) -> float | None:
        return r["corrected"][index_key] if use_corrected else r[index_key]

    ranked = sorted((r for r in eligible if rank_value(r) is not None), key=lambda r: -rank_value(r))  # type: ignore[operator]
    for rank, r in enumerate(ranked, start=1):
        r["rank"] = rank
    # Ranked outlets first (most sourced at the top), then the rest by name: flagged outlets are shown, not ranked.
    results.sort(key=lambda r: (r["rank"] is None, r["rank"] or 0, r["outlet"]))

    section: dict = {
        "n_articles": len(articles),
        "n_sentences": int(counts.sum()),
        "n_outlets": len(results),
        "n_eligible": len(eligible),
        "index_used": f"corrected.{index_key}" if use_corrected else index_key,
        "correction": correction_info,
        "pooled": pooled,
        "strata": stratum_weights,
        "outlets": results,
        "pairwise": pairwise,
        "permutations": {"vs_rest": perms_vs_rest, "pairwise": perms_pairwise},
        "notes": notes,
        "gold_summary": _gold_summary(results, index_key) if has_gold else None,
    }
    return section


def _gold_summary(results: list[dict], index_key: str) -> dict:
    worst = max(results, key=lambda r: r["gold"]["max_abs_diff"])
    index_diffs = [abs(r["gold"]["index_diff"]) for r in results if r["gold"]["index_diff"] is not None]
    ranked = [
        r for r in results if r["eligible"] and r["gold"]["gold_index"] is not None and r["gold"]["predicted_index"] is not None
    ]
    discordant = _kendall_discordant([r["gold"]["gold_index"] for r in ranked], [r["gold"]["predicted_index"] for r in ranked])
    n_pairs = len(ranked) * (len(ranked) - 1) // 2
    summary = {
        "max_abs_share_diff": worst["gold"]["max_abs_diff"],
        "max_abs_share_diff_outlet": worst["outlet"],
        "max_abs_share_diff_label": worst["gold"]["max_abs_diff_label"],
        "mean_abs_share_diff": float(np.mean([np.mean(list(r["gold"]["abs_diff"].values())) for r in results])),
        "max_abs_index_diff": max(index_diffs) if index_diffs else None,
        "ranked_pairs": n_pairs,
        "discordant_pairs": discordant,
    }
    parts = [
        f"On the same sentences, the predicted label shares are within {100 * summary['max_abs_share_diff']:.1f} "
        f"percentage points of the gold shares for every outlet (largest gap: {summary['max_abs_share_diff_label']} "
        f"at {summary['max_abs_share_diff_outlet']}; mean gap {100 * summary['mean_abs_share_diff']:.1f} points)."
    ]
    if summary["max_abs_index_diff"] is not None:
        parts.append(f"The predicted sourcing index is at most {summary['max_abs_index_diff']:.2f} away from the gold index.")
    if n_pairs:
        parts.append(
            "Ordering the outlets by sourcing index gives the same order with gold and predicted labels."
            if discordant == 0
            else f"Ordering the outlets by sourcing index, {discordant} of {n_pairs} pairs of outlets swap places "
            "between gold and predicted labels."
        )
    corrected = [r["gold"]["corrected_mean_abs_diff"] for r in results if "corrected_mean_abs_diff" in r["gold"]]
    summary["mean_abs_share_diff_corrected"] = float(np.mean(corrected)) if corrected else None
    if corrected:
        parts.append(
            f"Corrected for the model's errors, the mean gap is {100 * summary['mean_abs_share_diff_corrected']:.1f} points "
            "(if the confusion rates were measured on these same sentences, this flatters the correction)."
        )
    parts.append("Differences between outlets smaller than these gaps may come from the model rather than from the outlets.")
    if index_key == "std_index":
        parts.append("(This comparison uses unstandardised shares.)")
    summary["statement"] = " ".join(parts)
    return summary
