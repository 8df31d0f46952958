from __future__ import annotations

import pytest

from framing.model.labels import DEFINITIONS, ID2LABEL, LABEL2ID, LABELS
from framing.model.langid import detect_language
from framing.model.segment import segment


def test_label_schema_is_derived_from_one_tuple():
    assert LABELS == ("attributed_fact", "analyst_claim", "unattributed_assertion", "other")
    assert [ID2LABEL[i] for i in range(len(LABELS))] == list(LABELS)
    assert all(LABELS[LABEL2ID[label]] == label for label in LABELS)
    assert set(DEFINITIONS) == set(LABELS) and all(DEFINITIONS.values())


def texts(text: str) -> list[str]:
    sentences = segment(text)
    for s in sentences:
        assert text[s.start : s.end] == s.text
    return [s.text for s in sentences]


def test_english_abbreviations_quotes_and_datelines_stay_whole():
    text = 'TRIPOLI: Dr. Ali Hassan of the U.S. Institute said the talks failed. "We will not accept this," he said. Did it work?'
    assert texts(text) == [
        "TRIPOLI: Dr. Ali Hassan of the U.S. Institute said the talks failed.",
        '"We will not accept this," he said.',
        "Did it work?",
    ]


def test_headlines_without_full_stops_end_at_line_breaks():
    text = "Middle East\r\nFuel convoy reaches Deir Hafer\n\nBy Lina Saab\nThe convoy arrived. It was late."
    assert texts(text) == ["Middle East", "Fuel convoy reaches Deir Hafer", "By Lina Saab", "The convoy arrived.", "It was late."]


def test_arabic_title_abbreviation_question_mark_and_commas():
    text = "قال د. محمد العلي إن المحادثات فشلت، وإن الوفد غادر؛ ثم عاد. هل أعجبك هذا المقال؟ وأضاف: «لن نقبل»."
    assert texts(text) == [
        "قال د. محمد العلي إن المحادثات فشلت، وإن الوفد غادر؛ ثم عاد.",
        "هل أعجبك هذا المقال؟",
        "وأضاف: «لن نقبل».",
    ]


@pytest.mark.parametrize("text", ["", "   \n\t  ", "\u200f\u200e"])
def test_empty_text_has_no_sentences(text):
    assert [s for s in segment(text) if s.text.strip("\u200f\u200e")] == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The ministry said on Tuesday that twelve people were killed.", "en"),
        ("قالت وزارة الصحة إن 12 شخصا قتلوا في القصف.", "ar"),
        ("Le gouvernement a annoncé mardi une hausse des prix du carburant.", "fr"),
        ("این یک جمله فارسی است که وزارت گفته است.", "fa"),
        ("Министерство заявило во вторник", "ru"),
        ("12:30 — 45%", "und"),
    ],
)
def test_language_is_named_or_flagged_never_guessed(text, expected):
    assert detect_language(text) == expected


def test_short_lines_take_the_article_language_only_when_given():
    assert detect_language("BEIRUT") == "und"
    assert detect_language("BEIRUT", fallback="en") == "en"
