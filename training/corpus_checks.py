"""Checks that keep the corpus honest: no sentence, or near-duplicate of one, in two splits."""

from __future__ import annotations

import re
import unicodedata

import numpy as np

_ARABIC_MARKS = re.compile(r"[\u0610-\u061A\u064B-\u065F\u0670\u06D6-\u06ED\u0640]")  # diacritics, tatweel
_NON_WORD = re.compile(r"[\W\d_]+")
_ALEF = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ى": "ي", "ة": "ه"})


def normalise(text: str) -> str:
    """A form in which trivial variants (case, digits, punctuation, Arabic spelling variants)
    of the same sentence compare equal."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = _ARABIC_MARKS.sub("", text).translate(_ALEF)
    return " ".join(_NON_WORD.sub(" ", text).split())


def near_duplicates(left: list[str], right: list[str], threshold: float = 0.9) -> list[tuple[int, int, float]]:
    """(i, j, similarity) for pairs whose character n-gram TF-IDF cosine is at least `threshold`."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    if not left or not right:
        return []
    vectoriser = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), preprocessor=normalise)
    vectoriser.fit(left + right)
    a, b = vectoriser.transform(left), vectoriser.transform(right)
    similarity = (a @ b.T).tocoo()
    keep = similarity.data >= threshold
    pairs = zip(similarity.row[keep], similarity.col[keep], similarity.data[keep], strict=True)
    return sorted(((int(i), int(j), float(s)) for i, j, s in pairs), key=lambda p: -p[2])


def cross_split_duplicates(splits: dict[str, list[dict]], threshold: float = 0.9) -> list[dict]:
    """Every pair of rows from different splits whose texts are the same or nearly so."""
    names = sorted(splits)
    found = []
    for x, first in enumerate(names):
        for second in names[x + 1 :]:
            left = [r["text"] for r in splits[first]]
            right = [r["text"] for r in splits[second]]
            for i, j, score in near_duplicates(left, right, threshold):
                if not normalise(left[i]) and not normalise(right[j]):
                    continue  # nothing but digits or punctuation on both sides
                found.append(
                    {
                        first: splits[first][i]["id"],
                        second: splits[second][j]["id"],
                        "similarity": round(score, 3),
                        "texts": [left[i], right[j]],
                    }
                )
    return found


def label_shares(rows: list[dict], labels: tuple[str, ...]) -> np.ndarray:
    counts = np.array([sum(r["label"] == label for r in rows) for label in labels], dtype=float)
    return counts / max(1.0, counts.sum())
