from __future__ import annotations

import pytest

from framing.training.baselines import cue_word_label, tfidf_logreg
from framing.training.data import load_corpus

from .conftest import TINY_CORPUS


@pytest.mark.parametrize(
    ("sentence", "label"),
    [
        ("Read more: Port strike ends", "other"),
        ("هل أعجبك هذا المقال؟", "other"),
        ("Analysts at the Beirut Policy Forum said the shipment would ease prices.", "analyst_claim"),
        ("ويرى محللون اقتصاديون أن الأسعار ستواصل الارتفاع.", "analyst_claim"),
        ("The convoy carried 40 tankers, the transport ministry said in a statement.", "attributed_fact"),
        ("وأفاد المرصد السوري لحقوق الإنسان بأن بين القتلى طفلين.", "attributed_fact"),
        ("A fuel convoy reached the town on Monday after a week of delays.", "unattributed_assertion"),
    ],
)
def test_cue_word_rules_follow_the_guideline_order(sentence, label):
    assert cue_word_label(sentence) == label


def test_tfidf_baseline_learns_the_training_data():
    rows = load_corpus(TINY_CORPUS)
    texts, labels = [r["text"] for r in rows], [r["label"] for r in rows]
    model = tfidf_logreg(seed=0).fit(texts, labels)
    accuracy = sum(p == g for p, g in zip(model.predict(texts), labels, strict=True)) / len(rows)
    assert accuracy > 0.8
