"""The classifier network: e5's encoder, mean pooling, linear heads.

e5 was trained to be read by mean pooling, so each sentence's vector is the mean of the
encoder's output over that sentence's tokens: the first segment of a pair, or the sentence's
own tokens in a window of the article (`model.features.encode_documents`, whose `Target.pool`
ranges arrive here as `targets`). Every head is a plain linear layer, so the numpy inference
path (`onnx_graph.ClassifierHead`) applies them exactly as torch does:

- `classifier`: the label, on the sentence vector;
- with `source_heads` (ModelSettings): `span_head`, start and end logits of the source on each
  token; `source_type_head`, the source's type, and `flags_head`, [source_named,
  vague_attribution] logits, on the sentence vector.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from transformers import BertConfig, BertModel, BertPreTrainedModel
from transformers.utils import ModelOutput

from framing.model.features import InputSettings, pad_batch_numpy
from framing.model.labels import ID2LABEL, LABEL2ID, LABELS, SOURCE_TYPES
from framing.model.settings import ModelSettings

#: The heads' module names, in the order heads.safetensors and the optimiser list them.
HEAD_MODULES: tuple[str, ...] = ("classifier", "span_head", "source_type_head", "flags_head")


def pad_batch(features: list[dict[str, list[int]]], pad_id: int) -> dict[str, torch.Tensor]:
    """Dynamic padding to the longest row of the batch: `pad_batch_numpy` as torch tensors, plus
    the labels when training."""
    batch = {key: torch.from_numpy(values) for key, values in pad_batch_numpy(features, pad_id).items()}
    if "labels" in features[0]:
        batch["labels"] = torch.tensor([f["labels"] for f in features], dtype=torch.long)
    return batch


@dataclass
class FramingOutput(ModelOutput):
    """Per sentence: `logits` (labels), `source_type_logits`, `flag_logits`; per window token:
    `span_logits` (start, end). The source heads' fields are None without `source_heads`."""

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    source_type_logits: torch.Tensor | None = None
    flag_logits: torch.Tensor | None = None
    span_logits: torch.Tensor | None = None


def pool_targets(hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean of `hidden[row, start:end]` for each target row (row, start, end)."""
    rows, starts, ends = targets.unbind(-1)
    positions = torch.arange(hidden.shape[1], device=hidden.device)
    mask = ((positions >= starts[:, None]) & (positions < ends[:, None])).unsqueeze(-1).to(hidden.dtype)
    return (hidden[rows] * mask).sum(1) / mask.sum(1).clamp(min=1.0)


class E5ForFramingClassification(BertPreTrainedModel):
    """BERT encoder, mean pooling over each classified sentence's tokens, linear heads."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__(config)
        self.num_labels = config.num_labels
        self.bert = BertModel(config, add_pooling_layer=False)
        self.dropout = nn.Dropout(getattr(config, "classifier_dropout", None) or config.hidden_dropout_prob)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.source_heads = ModelSettings.from_config(config).source_heads
        if self.source_heads:
            self.span_head = nn.Linear(config.hidden_size, 2)
            self.source_type_head = nn.Linear(config.hidden_size, len(SOURCE_TYPES))
            self.flags_head = nn.Linear(config.hidden_size, 2)
        self.post_init()

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        targets: torch.Tensor | None = None,
        **_: object,
    ) -> FramingOutput:
        """Without `targets` (a transformers pipeline, a pair batch): one sentence per row,
        pooled over segment 0. With `targets` (N x 3: row, start, end): one output per target."""
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state
        if targets is None:
            mask = (attention_mask * (token_type_ids == 0)).unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        else:
            pooled = pool_targets(hidden, targets)
        pooled = self.dropout(pooled)
        logits = self.classifier(pooled)
        loss = nn.functional.cross_entropy(logits, labels) if labels is not None else None
        if not self.source_heads:
            return FramingOutput(loss=loss, logits=logits)
        return FramingOutput(
            loss=loss,
            logits=logits,
            source_type_logits=self.source_type_head(pooled),
            flag_logits=self.flags_head(pooled),
            span_logits=self.span_head(self.dropout(hidden)),
        )


def classification_config(
    base_config: BertConfig, settings: InputSettings, dropout: float = 0.1, source_heads: bool = False
) -> BertConfig:
    """The base encoder's config with our label schema and input settings added."""
    config = BertConfig.from_dict(base_config.to_dict())
    config.num_labels = len(LABELS)
    config.id2label = dict(ID2LABEL)
    config.label2id = dict(LABEL2ID)
    config.classifier_dropout = dropout
    config.architectures = ["E5ForFramingClassification"]
    ModelSettings(input=settings, source_heads=source_heads).write_to(config)
    return config
