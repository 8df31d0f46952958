"""The one place where a sentence becomes model input, without torch or transformers.

Training (torch) and inference (ONNX or torch) both call `encode_documents`, so they cannot drift.
The preceding sentence of the same article rides along as a second segment, so "he added" can
see who "he" is. Nothing here imports torch or transformers: the ONNX inference path starts in
about a second because it never loads them (docs/performance.md).
"""

from __future__ import annotations

import dataclasses
import html
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from framing.model.packaged_e5 import E5_PREFIX, E5_SPECIAL_TOKENS


def config_value(config: Mapping[str, Any] | object, key: str, default: Any = None) -> Any:
    """`key` of a model config, given as config.json's dict or as a transformers config object."""
    if isinstance(config, Mapping):
        return config.get(key, default)
    return getattr(config, key, default)


#: How sentences become model input (InputSettings.mode).
INPUT_MODES: tuple[str, ...] = ("pair", "window")


@dataclass(frozen=True)
class InputSettings:
    """How sentences and their context are turned into tokens; saved in config.json.

    mode "pair": each sentence is segment 0 (`prefix` + the sentence, at most `max_length` tokens
    with the context), the preceding sentence of its article segment 1 (at most
    `context_max_tokens`). mode "window": consecutive sentences of an article share a window of
    at most `window_tokens` (`[CLS] prefix s1 s2 ... [SEP]`), each sentence wholly inside one
    window and pooled over its own tokens, each window opening with up to `context_max_tokens`
    of the sentences before it; a sentence longer than `max_length` keeps its head and tail."""

    max_length: int = 160
    context_max_tokens: int = 48
    use_context: bool = True
    prefix: str = E5_PREFIX
    mode: str = "pair"
    window_tokens: int = 256

    def __post_init__(self) -> None:
        if self.mode not in INPUT_MODES:
            raise ValueError(f"input mode must be one of {', '.join(INPUT_MODES)}, not {self.mode!r}")


class FastTokenizer:
    """A tokenizer.json read by the `tokenizers` library alone.

    Gives the same ids as transformers' `PreTrainedTokenizerFast` over the same file (both run
    the same Rust tokenizer; tests/test_features.py compares them), with the small part of its
    interface that `encode_sentence` and the classifier use, and without importing transformers.
    """

    def __init__(self, tokenizer_file: str | Path, special_tokens: Mapping[str, str] = E5_SPECIAL_TOKENS) -> None:
        from tokenizers import Tokenizer

        self.backend = Tokenizer.from_file(str(tokenizer_file))
        # A tokenizer.json may carry padding or truncation settings; encode_sentence does its own.
        self.backend.no_padding()
        self.backend.no_truncation()
        ids = {}
        for role in ("cls_token", "sep_token", "pad_token", "unk_token"):
            token_id = self.backend.token_to_id(special_tokens[role])
            if token_id is None:
                raise ValueError(f"{tokenizer_file}: no {special_tokens[role]!r} token ({role})")
            ids[role] = token_id
        self.cls_token_id, self.sep_token_id = ids["cls_token"], ids["sep_token"]
        self.pad_token_id, self.unk_token_id = ids["pad_token"], ids["unk_token"]

    def __call__(
        self, text: str, add_special_tokens: bool = True, verbose: bool = True, return_offsets_mapping: bool = False
    ) -> dict[str, list]:
        encoding = self.backend.encode(text, add_special_tokens=add_special_tokens)
        if return_offsets_mapping:
            return {"input_ids": encoding.ids, "offset_mapping": encoding.offsets}
        return {"input_ids": encoding.ids}

    def convert_ids_to_tokens(self, ids: list[int]) -> list[str]:
        return [self.backend.id_to_token(i) for i in ids]

    def __len__(self) -> int:
        return self.backend.get_vocab_size(with_added_tokens=True)


def _head_and_tail(ids: list[int], budget: int) -> list[int]:
    """Keep both ends of an over-long token list: news puts the source first or last
    ("..., officials said"), rarely in the middle."""
    if len(ids) <= budget:
        return ids
    if budget <= 0:
        return []
    head = budget // 2
    return ids[:head] + ids[len(ids) - (budget - head) :]


_INVISIBLE = re.compile(r"[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u00ad\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")
_ENTITY = re.compile(r"&(?:#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[A-Za-z][A-Za-z0-9]*;?)")


def _already_clean(text: str) -> bool:
    """True when cleaning changes nothing (most news text): no entity, NFKC-normal, no invisible
    marks, single spaces and no space at the ends."""
    return (
        "&" not in text
        and unicodedata.is_normalized("NFKC", text)
        and not _INVISIBLE.search(text)
        and text == " ".join(text.split())
    )


def clean_with_offsets(text: str) -> tuple[str, list[tuple[int, int]]]:
    """`clean_for_model(text)` and, for each of its characters, the span of `text` it came from.

    The text is read in units (an HTML entity, or a character with the combining marks after
    it), each unit unescaped, NFKC-folded and stripped of invisible marks on its own; runs of
    whitespace become one space, and the ends are stripped. Model offsets (the predicted source)
    are mapped back to the original sentence through these spans."""
    if _already_clean(text):
        return text, [(i, i + 1) for i in range(len(text))]
    chars: list[str] = []
    spans: list[tuple[int, int]] = []
    i, n = 0, len(text)
    while i < n:
        match = _ENTITY.match(text, i) if text[i] == "&" else None
        if match:
            j, piece = match.end(), html.unescape(match.group())
        else:
            j = i + 1
            while j < n and unicodedata.combining(text[j]):
                j += 1
            piece = text[i:j]
        for char in _INVISIBLE.sub("", unicodedata.normalize("NFKC", piece)):
            chars.append(char)
            spans.append((i, j))
        i = j
    out: list[str] = []
    out_spans: list[tuple[int, int]] = []
    pending: tuple[int, int] | None = None
    for char, span in zip(chars, spans, strict=True):
        if char.isspace():
            if out and pending is None:
                pending = span
            continue
        if pending is not None:
            out.append(" ")
            out_spans.append(pending)
            pending = None
        out.append(char)
        out_spans.append(span)
    return "".join(out), out_spans


def clean_for_model(text: str) -> str:
    """What the model reads: scraped text with entities decoded, Arabic presentation forms and
    other compatibility characters folded (NFKC), invisible marks (bidi controls, zero-width
    characters, control codes) removed and whitespace runs made one space. Offsets into the
    original come from `clean_with_offsets`, which computes the same text."""
    if "&" not in text and unicodedata.is_normalized("NFKC", text) and not _INVISIBLE.search(text):
        return " ".join(text.split())
    return clean_with_offsets(text)[0]


def _token_ids(tokenizer, text: str) -> tuple[list[int], list[tuple[int, int]]]:
    """Ids and character offsets of `text` without special tokens (a `FastTokenizer` or a
    transformers fast tokenizer)."""
    out = tokenizer(text, add_special_tokens=False, verbose=False, return_offsets_mapping=True)
    return list(out["input_ids"]), [tuple(o) for o in out["offset_mapping"]]


def _prefix_ids(tokenizer, settings: InputSettings) -> list[int]:
    # "query: " + a sentence tokenizes as "query:" then the sentence (checked on the whole test
    # split with the e5 tokenizer: Metaspace prepends a word marker to every piece).
    prefix = settings.prefix.strip()
    return tokenizer(prefix, add_special_tokens=False, verbose=False)["input_ids"] if prefix else []


@dataclass
class Target:
    """One sentence to classify, inside a window of an `Encoded` batch."""

    #: the sentence's document and its position in it
    document: int
    index: int
    #: which window, and the token range pooled into the sentence vector
    window: int
    pool: tuple[int, int]
    #: the token range of the sentence's own tokens (where a source span may start and end)
    tokens: tuple[int, int]
    #: character offsets of those tokens in `cleaned`, the sentence as the model read it
    offsets: list[tuple[int, int]]
    cleaned: str


@dataclass
class Encoded:
    """Model input for documents: windows (input_ids, token_type_ids, attention_mask) and the
    sentences to classify in them, in document order."""

    windows: list[dict[str, list[int]]]
    targets: list[Target]


def _keep(length: int, budget: int) -> list[int]:
    return _head_and_tail(list(range(length)), budget)


def encode_documents(
    tokenizer,
    documents: Sequence[Sequence[str]],
    settings: InputSettings,
    first_targets: Sequence[int] | None = None,
) -> Encoded:
    """The one encoder of training and inference: every sentence of each document from
    `first_targets[d]` on (default 0) becomes a target; sentences before it are context only.

    Pair mode gives one window per target (`encode_sentence`'s layout, the previous sentence as
    segment 1); window mode packs consecutive targets into windows (see `InputSettings`)."""
    prefix = _prefix_ids(tokenizer, settings)
    windows: list[dict[str, list[int]]] = []
    targets: list[Target] = []
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    for d, sentences in enumerate(documents):
        first = first_targets[d] if first_targets is not None else 0
        # A multi-megabyte "sentence" is cut to its two ends first (`_clip`): the model reads at most
        # head and tail anyway, and tokenizing it whole took gigabytes.
        cleaned = [clean_for_model(_clip(s)) for s in sentences]
        tokenized = [_token_ids(tokenizer, c) for c in cleaned]
        if settings.mode == "pair":
            for i in range(first, len(sentences)):
                ids, offsets = tokenized[i]
                context = cleaned[i - 1] if i > 0 and settings.use_context and cleaned[i - 1] else None
                specials = 3 if context else 2
                kept = _keep(len(prefix) + len(ids), settings.max_length - specials)
                own = [k - len(prefix) for k in kept if k >= len(prefix)]
                window = [cls, *[prefix[k] if k < len(prefix) else ids[k - len(prefix)] for k in kept], sep]
                types = [0] * len(window)
                begin = 1 + len(kept) - len(own)
                own_offsets = [offsets[k] for k in own]
                target = Target(d, i, len(windows), (0, len(window)), (begin, begin + len(own)), own_offsets, cleaned[i])
                if context:
                    room = min(settings.context_max_tokens, settings.max_length - len(window) - 1)
                    context_ids = _head_and_tail(tokenized[i - 1][0], room)
                    if context_ids:
                        window += [*context_ids, sep]
                        types += [1] * (len(context_ids) + 1)
                windows.append({"input_ids": window, "token_type_ids": types, "attention_mask": [1] * len(window)})
                targets.append(target)
            continue
        cap = max(1, settings.max_length - 2 - len(prefix))
        kept_tokens = []
        for ids, offsets in tokenized:
            kept = _keep(len(ids), cap)
            kept_tokens.append(([ids[k] for k in kept], [offsets[k] for k in kept]))
        budget = max(1, settings.window_tokens - 2 - len(prefix))
        i = first
        while i < len(sentences):
            context: list[int] = []
            if settings.use_context:
                room = min(settings.context_max_tokens, budget - len(kept_tokens[i][0]))
                j = i - 1
                while j >= 0 and room > 0:
                    piece = kept_tokens[j][0][-room:]
                    context = piece + context
                    room -= len(piece)
                    j -= 1
            window = [cls, *prefix, *context]
            placed: list[Target] = []
            while i < len(sentences) and (not placed or len(window) + len(kept_tokens[i][0]) <= budget + 1 + len(prefix)):
                ids, offsets = kept_tokens[i]
                span = (len(window), len(window) + len(ids))
                placed.append(Target(d, i, len(windows), span, span, offsets, cleaned[i]))
                window += ids
                i += 1
            window.append(sep)
            windows.append({"input_ids": window, "token_type_ids": [0] * len(window), "attention_mask": [1] * len(window)})
            targets += placed
    return Encoded(windows, targets)


#: Characters kept from each end of an over-long sentence before tokenizing. The model sees at
#: most `max_length` tokens of it (head and tail) anyway; tokenizing a multi-megabyte line
#: without punctuation whole allocated gigabytes. 20,000 characters is far more than 160
#: tokens need, so ordinary long sentences tokenize exactly as before.
_CHARS_KEPT_PER_END = 20_000


def _clip(text: str) -> str:
    if len(text) <= 2 * _CHARS_KEPT_PER_END:
        return text
    return text[:_CHARS_KEPT_PER_END] + " " + text[-_CHARS_KEPT_PER_END:]


def encode_sentence(tokenizer, sentence: str, context: str | None, settings: InputSettings) -> dict[str, list[int]]:
    """Token ids for `[CLS] prefix+sentence [SEP] context [SEP]` (type ids 0 then 1): the pair
    layout of one sentence. `tokenizer` is a transformers tokenizer or a `FastTokenizer`."""
    pair = dataclasses.replace(settings, mode="pair")
    documents = [[context, sentence]] if context and clean_for_model(context) else [[sentence]]
    return encode_documents(tokenizer, documents, pair, [len(documents[0]) - 1]).windows[0]


def source_token_span(target: Target, sentence: str, source: str) -> tuple[int, int] | None:
    """The first and last window positions of `source` (a substring of `sentence`, the original
    text) among the target's tokens; None when it is not there (or cut by head+tail)."""
    begin = sentence.find(source)
    if begin < 0 or not source.strip():
        return None
    end = begin + len(source)
    cleaned, spans = clean_with_offsets(sentence)
    inside = [c for c, (a, b) in enumerate(spans) if a < end and b > begin and not cleaned[c].isspace()]
    if cleaned != target.cleaned or not inside:
        return None
    low, high = inside[0], inside[-1] + 1
    hits = [k for k, (a, b) in enumerate(target.offsets) if a < high and b > low]
    if not hits:
        return None
    return target.tokens[0] + hits[0], target.tokens[0] + hits[-1]


def source_char_span(target: Target, sentence: str, first: int, last: int) -> tuple[int, int]:
    """Character offsets in `sentence` (the original text) of the target's tokens first..last
    (window positions), whitespace trimmed."""
    a = target.offsets[first - target.tokens[0]][0]
    b = target.offsets[last - target.tokens[0]][1]
    while a < b and target.cleaned[a].isspace():
        a += 1
    while b > a and target.cleaned[b - 1].isspace():
        b -= 1
    cleaned, spans = clean_with_offsets(sentence)
    if cleaned == target.cleaned and a < b:
        return spans[a][0], spans[b - 1][1]
    found = sentence.find(target.cleaned[a:b])  # text the cleaner changed in another way: find the words
    return (found, found + b - a) if found >= 0 else (0, 0)


def pad_batch_numpy(features: list[dict[str, list[int]]], pad_id: int) -> dict[str, np.ndarray]:
    """Dynamic padding to the longest row, right-padded, as int64 numpy arrays (the ONNX inputs;
    `modeling.pad_batch` wraps them as torch tensors)."""
    width = max(len(f["input_ids"]) for f in features)
    batch = {}
    for key, fill in (("input_ids", pad_id), ("token_type_ids", 0), ("attention_mask", 0)):
        array = np.full((len(features), width), fill, dtype=np.int64)
        for row, feature in enumerate(features):
            array[row, : len(feature[key])] = feature[key]
        batch[key] = array
    return batch
