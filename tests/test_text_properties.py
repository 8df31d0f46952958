"""Property-based tests over random Unicode: segmentation and classification never crash,
offsets always map back to the input, and the sentences cover the text."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from framing.model.langid import detect_language
from framing.model.segment import segment

NEWSY = st.sampled_from(
    [
        "The ministry said.",
        "قال المرصد إن خمسة قتلوا.",
        "Dr.",
        "د.",
        "U.S.",
        "؟",
        "،",
        "؛",
        "\n",
        "\r\n",
        " ",
        "\u200f",
        "\u200b",
        "\ufeff",
        "&amp;",
        "«",
        "»",
        '"',
        "TRIPOLI:",
        "🙂",
        "\x00",
        "\x07",
        "...",
        "!",
        "?",
    ]
)
TEXT = st.lists(st.one_of(st.text(max_size=20), NEWSY), max_size=30).map("".join)


def covered(text: str) -> set[int]:
    return {i for s in segment(text) for i in range(s.start, s.end)}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(TEXT)
def test_offsets_map_back_and_sentences_cover_the_text(text):
    sentences = segment(text)
    previous_end = 0
    for s in sentences:
        assert text[s.start : s.end] == s.text
        assert s.text and s.text == s.text.strip()
        assert s.start >= previous_end  # in order, never overlapping
        previous_end = s.end
    spans = covered(text)
    for i, ch in enumerate(text):
        if not ch.isspace() and ch not in "\x1c\x1d\x1e\x1f\x85":
            assert i in spans, (i, ch, text)


@settings(max_examples=200, deadline=None)
@given(TEXT)
def test_language_id_always_answers_with_a_code(text):
    lang = detect_language(text)
    assert isinstance(lang, str) and lang and lang == lang.lower()


def test_a_long_article_without_full_stops_is_segmented_quickly():
    import time

    text = ("word " * 20_000) + "\n" + ("كلمة " * 20_000)
    start = time.perf_counter()
    sentences = segment(text)
    assert time.perf_counter() - start < 20
    assert sentences and all(text[s.start : s.end] == s.text for s in sentences)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(TEXT)
def test_classification_of_random_text_never_crashes(tiny_classifier, text):
    from framing.model.labels import LABELS

    for s in tiny_classifier.classify_article(text):
        assert s.label in LABELS and abs(sum(s.scores.values()) - 1) < 1e-4
        assert text[s.start : s.end] == s.text


@pytest.fixture(scope="module")
def real_tokenizers():
    from framing.model.features import FastTokenizer
    from framing.model.packaged_e5 import load_e5_encoder, verified_tokenizer_path

    return load_e5_encoder()[1], FastTokenizer(verified_tokenizer_path())


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(TEXT, st.one_of(st.none(), TEXT), st.sampled_from(["<s>", "</s>", "<pad>", "<mask>", "<unk>", "query: ", ""]))
def test_the_tokenizers_only_path_reads_any_text_as_transformers_does(real_tokenizers, text, context, special):
    """The ONNX path tokenizes without transformers; on any text, special-token look-alikes
    included, the model must get the ids training gave it."""
    from framing.model.features import InputSettings, encode_sentence

    reference, fast = real_tokenizers
    settings_ = InputSettings(max_length=64, context_max_tokens=16)
    sentence = special + text
    assert encode_sentence(fast, sentence, context, settings_) == encode_sentence(reference, sentence, context, settings_)
