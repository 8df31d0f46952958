"""Mechanics of training, saving, loading and predicting, on a tiny random model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from framing.model import FramingClassifier, ModelFolderError
from framing.model.features import InputSettings, encode_sentence
from framing.model.labels import LABELS


def test_run_folder_is_a_plain_hugging_face_model(tiny_run):
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    names = {p.name for p in tiny_run.iterdir()}
    assert {
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "config.yaml",
        "metrics.json",
        "versions.json",
        "README.md",
    } <= names
    assert not any(n.endswith((".bin", ".pt", ".pkl")) for n in names)
    config = AutoConfig.from_pretrained(tiny_run)
    assert [config.id2label[i] for i in range(len(LABELS))] == list(LABELS)
    AutoModel.from_pretrained(tiny_run)  # the encoder loads with plain transformers
    assert len(AutoTokenizer.from_pretrained(tiny_run)) == config.vocab_size
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    assert set(metrics["dev"]["per_language"]) <= {"ar", "en"} and metrics["seed"] == 7
    assert "seed: 7" in (tiny_run / "config.yaml").read_text()


def test_predict_returns_a_label_and_a_distribution_per_sentence(tiny_run):
    classifier = FramingClassifier.from_pretrained(tiny_run)
    sentences = ["The ministry said 40 tankers arrived.", "قال المرصد إن خمسة قتلوا.", "Share this article"]
    predictions = classifier.predict(sentences)
    assert len(predictions) == 3
    for p in predictions:
        assert set(p.scores) == set(LABELS)
        assert abs(sum(p.scores.values()) - 1) < 1e-4
        assert p.label == max(p.scores, key=p.scores.get)


def test_batching_and_length_sorting_do_not_change_results(tiny_run):
    classifier = FramingClassifier.from_pretrained(tiny_run)
    sentences = ["Short.", "A much longer sentence about the convoy that the ministry said arrived late.", "Mid size one."]
    one = classifier.predict_proba(sentences, batch_size=1)
    many = classifier.predict_proba(sentences, batch_size=8)
    np.testing.assert_allclose(one, many, atol=1e-5)
    alone = classifier.predict_proba(sentences[1:2])
    np.testing.assert_allclose(alone[0], many[1], atol=1e-5)


def test_context_changes_the_input(tiny_run):
    classifier = FramingClassifier.from_pretrained(tiny_run)
    plain = classifier.predict_proba(["He added that storage remained the main bottleneck."])
    with_context = classifier.predict_proba(
        ["He added that storage remained the main bottleneck."],
        ["Analysts at the Beirut Policy Forum said the shipment would ease prices."],
    )
    assert not np.allclose(plain, with_context)


def test_classify_article_offsets_map_back_to_the_text(tiny_run):
    classifier = FramingClassifier.from_pretrained(tiny_run)
    text = "Middle East\nBEIRUT: The ministry said 40 tankers arrived. He added more would come.\nقال المرصد إن خمسة قتلوا."
    result = classifier.classify_article(text)
    assert [s.text for s in result][:2] == ["Middle East", "BEIRUT: The ministry said 40 tankers arrived."]
    for s in result:
        assert text[s.start : s.end] == s.text and s.label in LABELS
    assert [s.lang for s in result] == ["en", "en", "en", "ar"]
    assert classifier.classify_article("  \n ") == []


def test_over_long_sentences_keep_their_end(tiny_run):
    classifier = FramingClassifier.from_pretrained(tiny_run)
    settings = InputSettings(max_length=24, context_max_tokens=8)
    long_sentence = " ".join(["convoy"] * 200) + " the ministry announced"
    ids = encode_sentence(classifier.tokenizer, long_sentence, "The ministry said", settings)["input_ids"]
    assert len(ids) <= 24
    tokens = classifier.tokenizer.convert_ids_to_tokens(ids)
    assert tokens[tokens.index("</s>") - 2 : tokens.index("</s>")] == ["ministry", "announced"]


def test_context_segment_has_type_one_and_is_optional(tiny_run):
    tokenizer = FramingClassifier.from_pretrained(tiny_run).tokenizer
    both = encode_sentence(tokenizer, "He added more.", "The ministry said.", InputSettings(max_length=64))
    assert both["token_type_ids"].count(1) > 0 and both["token_type_ids"][0] == 0
    off = encode_sentence(tokenizer, "He added more.", "The ministry said.", InputSettings(max_length=64, use_context=False))
    assert set(off["token_type_ids"]) == {0}


@pytest.mark.parametrize("problem", ["missing", "pickle", "labels"])
def test_model_folders_are_checked_before_use(tiny_run, tmp_path, problem):
    import shutil

    folder = tmp_path / "m"
    if problem != "missing":
        shutil.copytree(tiny_run, folder)
    if problem == "pickle":
        (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
    if problem == "labels":
        config = json.loads((folder / "config.json").read_text())
        config["id2label"] = {"0": "a", "1": "b", "2": "c", "3": "d"}
        (folder / "config.json").write_text(json.dumps(config))
    message = {"missing": "model folder not found", "pickle": "pickled weights are never loaded", "labels": "labels"}
    with pytest.raises(ModelFolderError, match=message[problem]):
        FramingClassifier.from_pretrained(folder)


def test_lora_run_ships_a_small_adapter_that_reloads_to_the_same_predictions(tiny_base, tmp_path):
    from framing.training.config import parse_config
    from framing.training.trainer import train

    from .conftest import tiny_config_dict

    config = tiny_config_dict(tiny_base, lora={"r": 4, "alpha": 8, "target_modules": ["query", "value"]})
    train(parse_config(config), tmp_path / "run", progress=False, log=lambda _: None)
    adapter = tmp_path / "run" / "adapter"
    assert (adapter / "adapter_model.safetensors").is_file() and not (adapter / "model.safetensors").exists()
    peft_base = json.loads((adapter / "adapter_config.json").read_text(encoding="utf-8"))["base_model_name_or_path"]
    assert peft_base == json.loads((adapter / "config.json").read_text(encoding="utf-8"))["framing"]["base_model"]
    sentences = ["The ministry said 40 tankers arrived.", "قال المرصد إن خمسة قتلوا."]
    merged = FramingClassifier.from_pretrained(tmp_path / "run").predict_proba(sentences)
    from_adapter = FramingClassifier.from_pretrained(adapter).predict_proba(sentences)
    np.testing.assert_allclose(merged, from_adapter, atol=1e-5)

    config_path = adapter / "config.json"
    (adapter / "checksums.json").unlink()  # as if edited by hand: the base check must still catch it
    broken = json.loads(config_path.read_text())
    broken["hidden_size"] = 64
    config_path.write_text(json.dumps(broken))
    with pytest.raises(ModelFolderError, match="does not match the base model"):
        FramingClassifier.from_pretrained(adapter, trust=True)


def test_the_model_reads_scraped_text_cleaned(tiny_run):
    tokenizer = FramingClassifier.from_pretrained(tiny_run).tokenizer
    settings = InputSettings(max_length=64)
    clean = encode_sentence(tokenizer, "The ministry said it.", None, settings)
    for messy in ["\ufeffThe\u200b ministry\u200f said it.", "The&#32;ministry  said\r\nit.", "The\x07 ministry said it."]:
        assert encode_sentence(tokenizer, messy, None, settings) == clean


def test_a_tampered_or_version_mismatched_model_folder_is_refused(tiny_run, tmp_path):
    import shutil

    folder = tmp_path / "m"
    shutil.copytree(tiny_run, folder)
    assert (folder / "checksums.json").is_file()
    FramingClassifier.from_pretrained(folder)
    with open(folder / "model.safetensors", "r+b") as fh:
        fh.seek(-4, 2)
        fh.write(b"\0\0\0\1")
    with pytest.raises(ModelFolderError, match="checksum differs"):
        FramingClassifier.from_pretrained(folder)

    shutil.rmtree(folder)
    shutil.copytree(tiny_run, folder)
    (folder / "checksums.json").unlink()  # versions are checked even without checksums
    versions = json.loads((folder / "versions.json").read_text())
    (folder / "versions.json").write_text(json.dumps({**versions, "transformers": "4.57.0"}))
    with pytest.raises(ModelFolderError, match="saved with transformers 4.57.0"):
        FramingClassifier.from_pretrained(folder, trust=True)
