"""The source heads and the article windows (issue 13), on the tiny model: encoding, the numpy
heads against torch, the outputs in every interface, and losses masked where gold is missing."""

from __future__ import annotations

import json

import numpy as np
import pytest

from framing.model.classifier import SOURCE_FIELDS, FramingClassifier, best_span
from framing.model.features import (
    InputSettings,
    clean_for_model,
    clean_with_offsets,
    encode_documents,
    source_char_span,
    source_token_span,
)
from framing.model.labels import SOURCE_TYPES, SOURCED_LABELS

from .conftest import TINY_CORPUS

ARTICLE = "Middle East\nThe ministry said 40 tankers arrived. He added more would come.\nقال المرصد إن خمسة قتلوا.\n"


def corpus_rows() -> list[dict]:
    return [json.loads(line) for line in TINY_CORPUS.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def tokenizer(tiny_run):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_run)


@pytest.mark.parametrize(
    "text",
    [
        "The&#32;ministry  said\r\nit.",
        "\ufeffقال\u200f المرصد &amp; الجيش",
        "e\u0301t\u00e9 \u00a0 ﻻ",
        "  plain  text ",
        "",
        "&ampx &#x41;",
    ],
)
def test_cleaning_with_offsets_matches_the_model_text(text):
    cleaned, spans = clean_with_offsets(text)
    assert cleaned == clean_for_model(text)
    assert len(spans) == len(cleaned)
    assert all(0 <= a < b <= len(text) for a, b in spans)
    assert [a for a, _ in spans] == sorted(a for a, _ in spans)


def test_windows_keep_every_sentence_whole_and_in_order(tokenizer):
    rows = corpus_rows()
    settings = InputSettings(max_length=32, context_max_tokens=12, mode="window", window_tokens=48)
    documents = [[r["text"] for r in rows if r["article"] == a] for a in dict.fromkeys(r["article"] for r in rows)]
    encoded = encode_documents(tokenizer, documents, settings)
    assert [(t.document, t.index) for t in encoded.targets] == [
        (d, i) for d, doc in enumerate(documents) for i in range(len(doc))
    ]
    assert len(encoded.windows) < len(encoded.targets)  # windows hold several sentences
    for target in encoded.targets:
        window = encoded.windows[target.window]
        assert len(window["input_ids"]) <= 48
        assert target.pool == target.tokens and target.tokens[1] - target.tokens[0] == len(target.offsets)
        own = tokenizer(target.cleaned, add_special_tokens=False)["input_ids"]
        ids = window["input_ids"][target.tokens[0] : target.tokens[1]]
        assert ids == own or len(own) > 32 - 2 - 3  # whole, or head+tail of a long sentence
    # Targets in one window do not overlap.
    spans = sorted((t.window, t.tokens) for t in encoded.targets)
    for (w1, (_, end)), (w2, (start, _)) in zip(spans, spans[1:], strict=False):
        assert w1 != w2 or end <= start


def test_a_long_sentence_keeps_head_and_tail_and_a_lone_sentence_works(tokenizer):
    settings = InputSettings(max_length=24, context_max_tokens=8, mode="window", window_tokens=40)
    long_sentence = " ".join(["convoy"] * 200) + " the ministry announced"
    encoded = encode_documents(tokenizer, [["The ministry said", long_sentence], ["He said"]], settings)
    assert len(encoded.targets) == 3
    target = encoded.targets[1]
    tokens = tokenizer.convert_ids_to_tokens(encoded.windows[target.window]["input_ids"][target.tokens[0] : target.tokens[1]])
    assert tokens[-2:] == ["ministry", "announced"] and len(tokens) <= 24
    # Context-only sentences are read, not classified.
    only_last = encode_documents(tokenizer, [["The ministry said", "He added more."]], settings, first_targets=[1])
    assert [t.index for t in only_last.targets] == [1]
    assert len(only_last.windows[0]["input_ids"]) > only_last.targets[0].tokens[1] - only_last.targets[0].tokens[0] + 4


def test_source_offsets_round_trip(tokenizer):
    settings = InputSettings(max_length=64, mode="window")
    for row in corpus_rows():
        if row["label"] not in SOURCED_LABELS:
            continue
        target = encode_documents(tokenizer, [[row["text"]]], settings).targets[0]
        first, last = source_token_span(target, row["text"], row["source"])
        start, end = source_char_span(target, row["text"], first, last)
        assert row["text"][start:end] == row["source"].strip()


def test_best_span_respects_order_and_length():
    start = np.array([0.0, 5.0, 0.0, 0.0])
    end = np.array([3.0, 1.0, 2.0, 4.0])
    assert best_span(start, end) == (1, 3)
    assert best_span(start, end, max_tokens=2) == (1, 2)


def test_fp32_onnx_source_heads_match_torch(tiny_source_run, tmp_path):
    """Every head's output from the numpy path equals torch's within 1e-4."""
    torch_classifier = FramingClassifier.from_pretrained(tiny_source_run, backend="torch")
    onnx_classifier = FramingClassifier.from_pretrained(tiny_source_run, backend="onnx-fp32")
    assert torch_classifier.source_heads and onnx_classifier.source_heads
    rows = corpus_rows()
    documents = [[r["text"] for r in rows if r["article"] == a] for a in dict.fromkeys(r["article"] for r in rows)]
    encoded = torch_classifier._encode(documents, None)
    expected = torch_classifier._outputs(encoded, batch_size=3)
    got = onnx_classifier._outputs(encoded, batch_size=5)
    for key in ("logits", "source_type_logits", "flag_logits"):
        np.testing.assert_allclose(got[key], expected[key], atol=1e-4, rtol=0)
    for a, b in zip(got["span"], expected["span"], strict=True):
        np.testing.assert_allclose(a, b, atol=1e-4, rtol=0)
    int8 = FramingClassifier.from_pretrained(tiny_source_run)
    assert int8.backend == "onnx-int8"
    together = int8._outputs(encoded, batch_size=8)["logits"]
    alone = int8._outputs(encoded, batch_size=1)["logits"]
    np.testing.assert_allclose(together, alone, atol=1e-6)  # row by row: no batch dependence


@pytest.mark.parametrize("backend", ["torch", "auto"])
def test_predictions_carry_consistent_source_fields(tiny_source_run, backend):
    classifier = FramingClassifier.from_pretrained(tiny_source_run, backend=backend)
    sentences = classifier.classify_article(ARTICLE)
    assert sentences
    for s in sentences:
        row = s.to_dict()
        assert isinstance(row["vague_attribution"], bool)
        if s.label in SOURCED_LABELS:
            assert s.source_type in SOURCE_TYPES and 0 < s.source_type_p <= 1
            assert (s.source_type == "expert_analyst") == (s.label == "analyst_claim")
            assert isinstance(s.source_named, bool)
            if s.source is not None:
                assert s.text[s.source_start : s.source_end] == s.source
                assert ARTICLE[row["source_article_start"] : row["source_article_end"]] == s.source
        else:
            assert s.source is None and s.source_type is None and s.source_named is None
    predictions = classifier.predict(["The ministry said 40 tankers arrived.", "He added more."], ["Middle East", None])
    assert [set(p.source_fields()) for p in predictions] == [set(SOURCE_FIELDS)] * 2


def test_a_model_without_source_heads_gives_none(tiny_run):
    classifier = FramingClassifier.from_pretrained(tiny_run)
    assert not classifier.source_heads
    assert all(v is None for v in classifier.predict(["The ministry said it."])[0].source_fields().values())


def test_sentence_rows_of_one_article_are_read_together(tiny_source_run):
    """Sentence mode reads runs of one article as the article path does, across chunk boundaries."""
    from framing.batch.classify import classify_chunk
    from framing.batch.inputs import InputRow

    classifier = FramingClassifier.from_pretrained(tiny_source_run)
    rows = [r for r in corpus_rows() if r["article"] == "t-en-1"]
    inputs = [
        InputRow("in.jsonl", i + 1, {"article": r["article"], "text": r["text"], "id": r["id"]}) for i, r in enumerate(rows)
    ]
    whole, _, _ = classify_chunk(classifier, inputs, True, None, 32, None)
    expected = classifier.predict_documents([[r["text"] for r in rows]])[0]
    assert [o["label"] for o in whole] == [p.label for p in expected]
    assert [o["scores"] for o in whole] == [{k: round(v, 5) for k, v in p.scores.items()} for p in expected]
    for out in whole:
        assert set(SOURCE_FIELDS) <= set(out)
        if out["source"] is not None:
            assert out["text"][out["source_start"] : out["source_end"]] == out["source"]
    articles, _, _ = classify_chunk(classifier, [InputRow("in.jsonl", 1, {"id": "a1", "text": ARTICLE})], False, None, 32, None)
    for out in articles:
        assert {"source_article_start", "source_article_end", *SOURCE_FIELDS} <= set(out)


def test_joint_loss_masks_heads_without_gold():
    import torch

    from framing.model.modeling import FramingOutput
    from framing.training.config import LossWeights
    from framing.training.trainer import joint_loss

    torch.manual_seed(0)
    outputs = FramingOutput(
        logits=torch.randn(3, 4, requires_grad=True),
        source_type_logits=torch.randn(3, len(SOURCE_TYPES), requires_grad=True),
        flag_logits=torch.randn(3, 2, requires_grad=True),
        span_logits=torch.randn(2, 10, 2, requires_grad=True),
    )
    batch = {
        "labels": torch.tensor([0, 2, 3]),
        "targets": torch.tensor([[0, 1, 5], [0, 5, 9], [1, 1, 4]]),
        "token_ranges": torch.tensor([[1, 5], [5, 9], [1, 4]]),
        "span": torch.tensor([[1, 2], [-100, -100], [-100, -100]]),
        "source_type": torch.tensor([0, -100, -100]),
        "named": torch.tensor([-1.0, -1.0, -1.0]),
        "vague": torch.tensor([-1.0, 1.0, 0.0]),
    }
    loss, parts = joint_loss(outputs, batch, LossWeights())
    assert set(parts) == {"label", "span", "source_type", "vague"}  # no named gold: no named loss
    assert torch.isfinite(loss)
    loss.backward()
    # The span loss reads only the sourced sentence's own tokens.
    assert outputs.span_logits.grad[0, 5:].abs().sum() == 0 and outputs.span_logits.grad[0, 1:5].abs().sum() > 0


def test_web_api_gives_the_predicted_source(tiny_source_run):
    from fastapi.testclient import TestClient

    from framing.web.app import create_app

    with TestClient(create_app(FramingClassifier.from_pretrained(tiny_source_run))) as client:
        body = client.post("/api/classify", data={"text": ARTICLE}).json()
    for s in body["articles"][0]["sentences"]:
        assert {
            "source",
            "source_start",
            "source_end",
            "source_type",
            "source_type_p",
            "source_named",
            "vague_attribution",
        } <= set(s)
        if s["source"] is not None:
            assert [s["text"][sp["start"] : sp["end"]] for sp in s["source_spans"]] == [s["source"]]
        else:
            assert s["source_spans"] == []


def test_config_refuses_unknown_modes_and_oversized_sentences(tiny_base):
    from framing.training.config import ConfigError, parse_config

    from .conftest import tiny_config_dict

    config = tiny_config_dict(tiny_base)
    config["model"]["input_mode"] = "article"
    with pytest.raises(ConfigError, match="input_mode"):
        parse_config(config)
    config["model"].update(input_mode="window", window_tokens=48, max_length=64)
    with pytest.raises(ConfigError, match="window_tokens"):
        parse_config(config)
    config["training"]["loss_weights"] = {"spam": 1.0}
    with pytest.raises(ConfigError, match="spam"):
        parse_config(config)
