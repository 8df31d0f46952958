"""The one place where a sentence becomes model input, without torch or transformers.

Training (torch) and inference (ONNX or torch) both call `encode_sentence`, so they cannot drift.
The preceding sentence of the same article rides along as a second segment, so "he added" can
see who "he" is. Nothing here imports torch or transformers: the ONNX inference path starts in
about a second because it never loads them (docs/performance.md).
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Mapping
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


@dataclass(frozen=True)
class InputSettings:
    """How a sentence and its context are turned into tokens; saved in config.json."""

    max_length: int = 160
    context_max_tokens: int = 48
    use_context: bool = True
    prefix: str = E5_PREFIX


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

    def __call__(self, text: str, add_special_tokens: bool = True, verbose: bool = True) -> dict[str, list[int]]:
        return {"input_ids": self.backend.encode(text, add_special_tokens=add_special_tokens).ids}

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


def clean_for_model(text: str) -> str:
    """What the model reads: scraped text with entities decoded, Arabic presentation forms and
    other compatibility characters folded (NFKC), and invisible marks (bidi controls,
    zero-width characters, control codes) removed. Offsets are never taken from this text."""
    return " ".join(_INVISIBLE.sub("", unicodedata.normalize("NFKC", html.unescape(text))).split())


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
    """Token ids for `[CLS] prefix+sentence [SEP] context [SEP]` (type ids 0 then 1).

    `tokenizer` is a transformers tokenizer or a `FastTokenizer`."""
    sentence_ids = tokenizer(settings.prefix + clean_for_model(_clip(sentence)), add_special_tokens=False, verbose=False)[
        "input_ids"
    ]
    context = clean_for_model(_clip(context)) if context else None
    has_context = bool(settings.use_context and context)
    specials = 3 if has_context else 2
    sentence_ids = _head_and_tail(sentence_ids, settings.max_length - specials)
    ids = [tokenizer.cls_token_id, *sentence_ids, tokenizer.sep_token_id]
    types = [0] * len(ids)
    if has_context:
        room = min(settings.context_max_tokens, settings.max_length - len(ids) - 1)
        context_ids = _head_and_tail(tokenizer(context, add_special_tokens=False, verbose=False)["input_ids"], room)
        if context_ids:
            ids += [*context_ids, tokenizer.sep_token_id]
            types += [1] * (len(context_ids) + 1)
    return {"input_ids": ids, "token_type_ids": types, "attention_mask": [1] * len(ids)}


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
