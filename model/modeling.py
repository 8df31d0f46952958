"""The classifier network and the one place where a sentence becomes model input.

e5 was trained to be read by mean pooling, so the head mean-pools the encoder's output over
the sentence being classified (first segment) only; the preceding sentence of the same article
rides along as a second segment, so "he added" can see who "he" is without diluting the pooled
sentence vector. Training and inference both call `encode_sentence`, so they cannot drift.
"""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass

import torch
from torch import nn
from transformers import BertConfig, BertModel, BertPreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput

from model.labels import ID2LABEL, LABEL2ID, LABELS
from model.packaged_e5 import E5_PREFIX


@dataclass(frozen=True)
class InputSettings:
    """How a sentence and its context are turned into tokens; saved in config.json."""

    max_length: int = 160
    context_max_tokens: int = 48
    use_context: bool = True
    prefix: str = E5_PREFIX

    @classmethod
    def from_config(cls, config: BertConfig) -> InputSettings:
        return cls(
            max_length=getattr(config, "framing_max_length", cls.max_length),
            context_max_tokens=getattr(config, "framing_context_max_tokens", cls.context_max_tokens),
            use_context=getattr(config, "framing_use_context", cls.use_context),
            prefix=getattr(config, "framing_prefix", cls.prefix),
        )

    def write_to(self, config: BertConfig) -> None:
        config.framing_max_length = self.max_length
        config.framing_context_max_tokens = self.context_max_tokens
        config.framing_use_context = self.use_context
        config.framing_prefix = self.prefix


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


def encode_sentence(tokenizer, sentence: str, context: str | None, settings: InputSettings) -> dict[str, list[int]]:
    """Token ids for `[CLS] prefix+sentence [SEP] context [SEP]` (type ids 0 then 1)."""
    sentence_ids = tokenizer(settings.prefix + clean_for_model(sentence), add_special_tokens=False, verbose=False)["input_ids"]
    context = clean_for_model(context) if context else None
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


def pad_batch(features: list[dict[str, list[int]]], pad_id: int) -> dict[str, torch.Tensor]:
    """Dynamic padding to the longest row of the batch."""
    width = max(len(f["input_ids"]) for f in features)
    batch: dict[str, torch.Tensor] = {}
    for key, fill in (("input_ids", pad_id), ("token_type_ids", 0), ("attention_mask", 0)):
        batch[key] = torch.tensor([f[key] + [fill] * (width - len(f[key])) for f in features], dtype=torch.long)
    if "labels" in features[0]:
        batch["labels"] = torch.tensor([f["labels"] for f in features], dtype=torch.long)
    return batch


class E5ForFramingClassification(BertPreTrainedModel):
    """BERT encoder, mean pooling over the classified sentence's tokens, linear head."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__(config)
        self.num_labels = config.num_labels
        self.bert = BertModel(config, add_pooling_layer=False)
        self.dropout = nn.Dropout(getattr(config, "classifier_dropout", None) or config.hidden_dropout_prob)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **_: object,
    ) -> SequenceClassifierOutput:
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state
        mask = (attention_mask * (token_type_ids == 0)).unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        logits = self.classifier(self.dropout(pooled))
        loss = nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)


def classification_config(base_config: BertConfig, settings: InputSettings, dropout: float = 0.1) -> BertConfig:
    """The base encoder's config with our label schema and input settings added."""
    config = BertConfig.from_dict(base_config.to_dict())
    config.num_labels = len(LABELS)
    config.id2label = dict(ID2LABEL)
    config.label2id = dict(LABEL2ID)
    config.classifier_dropout = dropout
    config.architectures = ["E5ForFramingClassification"]
    config.framing_temperature = 1.0
    settings.write_to(config)
    return config
