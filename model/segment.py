"""Sentence segmentation of Arabic and English news text, with character offsets.

Scraped news keeps its structure in line breaks: a headline, a kicker or a byline is a line of
its own with no full stop. So every line break ends a sentence, and within a line `sentencex`
finds the sentence ends (it knows "Dr.", "U.S.", quotes, "؟" and does not split at "،" or "؛").
It does split after Arabic title abbreviations such as "د." (Dr.), which we mend here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sentencex import get_sentence_boundaries

#: Arabic abbreviations that end in a full stop but never end a sentence ("د. محمد").
_ARABIC_TITLE_ABBREVIATIONS = ("أ.د.", "د.", "م.", "أ.", "ج.", "ق.", "ص.", "ب.", "ت.", "ش.")
_LINE = re.compile(r"[^\n\r\u2028\u2029\x0b\x0c\x1c\x1d\x1e\x85]+")
_ARABIC_LETTER = re.compile(r"[\u0600-\u06FF]")


@dataclass(frozen=True)
class Sentence:
    text: str
    start: int
    end: int


def _ends_with_arabic_title(piece: str) -> bool:
    words = piece.rstrip().split()
    return bool(words) and words[-1] in _ARABIC_TITLE_ABBREVIATIONS


def _line_spans(line: str) -> list[tuple[int, int]]:
    language = "ar" if _ARABIC_LETTER.search(line) else "en"
    spans: list[tuple[int, int]] = []
    position = 0
    for boundary in get_sentence_boundaries(language, line):
        piece = boundary["text"]
        # sentencex reports offsets, but find the piece ourselves so offsets are always
        # Python character indices into this line, whatever the library counts in.
        found = line.find(piece, position) if piece else -1
        start = found if found >= 0 else position
        end = start + len(piece) if found >= 0 else min(len(line), position + len(piece))
        if spans and _ends_with_arabic_title(line[spans[-1][0] : spans[-1][1]]):
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((start, end))
        position = end
    if position < len(line):  # anything the segmenter did not cover joins the last sentence
        if spans:
            spans[-1] = (spans[-1][0], len(line))
        else:
            spans.append((position, len(line)))
    return spans


def segment(text: str) -> list[Sentence]:
    """Split `text` into sentences; `text[s.start:s.end] == s.text` for every sentence."""
    sentences: list[Sentence] = []
    for line_match in _LINE.finditer(text):
        line, offset = line_match.group(), line_match.start()
        if not line.strip():
            continue
        for start, end in _line_spans(line):
            piece = line[start:end]
            stripped = piece.strip()
            if not stripped:
                continue
            lead = len(piece) - len(piece.lstrip())
            s = offset + start + lead
            sentences.append(Sentence(stripped, s, s + len(stripped)))
    return sentences
