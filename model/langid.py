"""Language identification for news lines: Arabic, English, or a clear flag for anything else.

The Unicode script decides Arabic against Latin; within Latin script a small lingua detector
restricted to likely neighbours tells English from French, Spanish and the like, so a French
Maghreb article is flagged rather than classified as if it were English. Lines too short to
tell (a lone "BEIRUT", a byline) take the article's language when the caller knows it, and are
otherwise reported as undetermined ("und"), never guessed.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

SUPPORTED_LANGUAGES: tuple[str, ...] = ("ar", "en")
UNDETERMINED = "und"
#: Letters used by Persian, Urdu, Kurdish and Pashto but not by Arabic.
_NON_ARABIC_LETTERS = set("پچژگکیۀےںٹڈڑھۆێڕ")
_MIN_CONFIDENCE = 0.6


def _script(ch: str) -> str | None:
    if not ch.isalpha():
        return None
    code = ord(ch)
    if (
        0x0600 <= code <= 0x06FF
        or 0x0750 <= code <= 0x077F
        or 0x08A0 <= code <= 0x08FF
        or 0xFB50 <= code <= 0xFDFF
        or 0xFE70 <= code <= 0xFEFF
    ):
        return "arabic"
    if code < 0x0250 or 0x1E00 <= code <= 0x1EFF:
        return "latin"
    name = unicodedata.name(ch, "")
    return name.split(" ")[0].lower() or "other"


@lru_cache(maxsize=1)
def _latin_detector():
    # Preloading all n-gram models at once takes about 1 s, where loading them on demand took
    # 1.6 s before the first answer. lingua holds the GIL while it loads, so building it in a
    # background thread during model loading gained nothing (measured: docs/performance.md).
    from lingua import Language, LanguageDetectorBuilder

    return (
        LanguageDetectorBuilder.from_languages(
            Language.ENGLISH,
            Language.FRENCH,
            Language.SPANISH,
            Language.GERMAN,
            Language.ITALIAN,
            Language.PORTUGUESE,
            Language.TURKISH,
            Language.DUTCH,
            Language.INDONESIAN,
        )
        .with_preloaded_language_models()
        .build()
    )


def detect_language(text: str, fallback: str | None = None) -> str:
    """ISO 639-1 code of `text`: "ar", "en", another code for a language we flag, or "und".

    `fallback` is the surrounding article's language, used only when the line itself is too
    short or too ambiguous to tell.
    """
    if len(text) > 20_000:
        # Both ends say which language a huge line is in; scanning all of it letter by letter
        # (and handing it to lingua) would take seconds per megabyte.
        text = text[:10_000] + " " + text[-10_000:]
    counts: dict[str, int] = {}
    non_arabic_letters = 0
    for ch in text:
        script = _script(ch)
        if script:
            counts[script] = counts.get(script, 0) + 1
            non_arabic_letters += ch in _NON_ARABIC_LETTERS
    letters = sum(counts.values())
    if letters == 0:
        return fallback or UNDETERMINED
    script, n = max(counts.items(), key=lambda kv: kv[1])
    if n / letters < 0.5:
        return fallback or UNDETERMINED
    if script == "arabic":
        # Persian/Urdu share the script; their own letters give them away.
        return "ar" if non_arabic_letters <= max(1, counts["arabic"] // 50) else "fa"
    if script != "latin":
        return {"hebrew": "he", "cyrillic": "ru", "greek": "el", "devanagari": "hi"}.get(script, script)
    confidence = _latin_detector().compute_language_confidence_values(text)
    best = confidence[0]
    code = best.language.iso_code_639_1.name.lower()
    if best.value >= _MIN_CONFIDENCE:
        return code
    return fallback or UNDETERMINED


def is_supported(lang: str) -> bool:
    return lang in SUPPORTED_LANGUAGES
