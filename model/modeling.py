"""The classifier network: e5's encoder, mean pooling, a linear head.

e5 was trained to be read by mean pooling, so the head mean-pools the encoder's output over
the sentence being classified (first segment) only; the preceding sentence of the same article
rides along as a second segment (`model.features.encode_sentence`) without diluting the pooled
sentence vector.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import BertConfig, BertModel, BertPreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput

from framing.model.features import InputSettings, pad_batch_numpy
from framing.model.labels import ID2LABEL, LABEL2ID, LABELS
from framing.model.settings import ModelSettings


def pad_batch(features: list[dict[str, list[int]]], pad_id: int) -> dict[str, torch.Tensor]:
    """Dynamic padding to the longest row of the batch: `pad_batch_numpy` as torch tensors, plus
    the labels when training."""
    batch = {key: torch.from_numpy(values) for key, values in pad_batch_numpy(features, pad_id).items()}
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
    ModelSettings(input=settings).write_to(config)
    return config
