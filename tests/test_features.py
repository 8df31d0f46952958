"""The torch-free input path: tokenizer.json read by `tokenizers` alone gives the model exactly
what transformers' tokenizer gives it, and the ONNX classifier never imports torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from framing.model.features import FastTokenizer, InputSettings, encode_sentence

ROOT = Path(__file__).resolve().parent.parent
TINY_CORPUS = ROOT / "tests" / "fixtures" / "tiny_corpus.jsonl"


def _texts(path: Path) -> list[str]:
    return [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _same_features(reference, fast, texts: list[str], settings: InputSettings) -> None:
    assert (fast.cls_token_id, fast.sep_token_id, fast.pad_token_id) == (
        reference.cls_token_id,
        reference.sep_token_id,
        reference.pad_token_id,
    )
    for context, sentence in zip([None, *texts[:-1]], texts, strict=True):
        assert encode_sentence(fast, sentence, context, settings) == encode_sentence(reference, sentence, context, settings)


@pytest.mark.parametrize("settings", [InputSettings(max_length=64, context_max_tokens=16), InputSettings(max_length=12)])
def test_fast_tokenizer_gives_transformers_ids(tiny_run, settings):
    from transformers import AutoTokenizer

    texts = _texts(TINY_CORPUS) + ["  Unknown wörds, «quotes» &amp; 12,5% — he said.  ", ""]
    _same_features(AutoTokenizer.from_pretrained(tiny_run), FastTokenizer(tiny_run / "tokenizer.json"), texts, settings)


def test_fast_tokenizer_names_a_file_without_the_special_tokens(tmp_path):
    from tokenizers import Tokenizer, models

    path = tmp_path / "tokenizer.json"
    Tokenizer(models.WordLevel(vocab={"a": 0, "<unk>": 1}, unk_token="<unk>")).save(str(path))
    with pytest.raises(ValueError, match=r"tokenizer\.json: no '<s>' token"):
        FastTokenizer(path)


def test_probabilities_are_the_temperature_scaled_softmax(tiny_classifier):
    import torch

    sentences = ["The ministry said 40 trucks crossed.", "Analysts said the deal may fail.", "Share this article"]
    logits = tiny_classifier.predict_logits(sentences)
    expected = torch.softmax(torch.from_numpy(logits) / tiny_classifier.temperature, dim=-1).numpy()
    np.testing.assert_allclose(tiny_classifier.predict_proba(sentences), expected, rtol=1e-5, atol=1e-7)


_LOAD_AND_PREDICT = """
import sys
from framing.model import FramingClassifier
classifier = FramingClassifier.from_pretrained(sys.argv[1])
label = classifier.predict(["The ministry said 40 trucks crossed."])[0].label
article = classifier.classify_article("The ministry said 40 trucks crossed. He added more.")
heavy = sorted(m for m in ("torch", "transformers", "peft") if m in sys.modules)
print(classifier.backend, label, len(article), ",".join(heavy) or "-")
"""


def _load_in_fresh_process(model: Path) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", _LOAD_AND_PREDICT, str(model)], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_converted_onnx_model_loads_and_predicts_without_torch(tiny_run):
    from framing.model import FramingClassifier

    FramingClassifier.from_pretrained(tiny_run, backend="onnx")  # converts into the test cache
    backend, label, sentences, heavy = _load_in_fresh_process(tiny_run)
    assert backend == "onnx-int8" and sentences == "2"
    assert heavy == "-", f"the ONNX path imported {heavy}"


@pytest.mark.slow
def test_packaged_tokenizer_file_gives_the_training_tokenizer_ids():
    """Adapters over the packaged e5 tokenize from the package's tokenizer.json on the ONNX path;
    training used transformers over the rebuilt base folder's re-saved copy."""
    from framing.model.packaged_e5 import load_e5_encoder, verified_tokenizer_path

    texts = _texts(ROOT / "data" / "test.jsonl")
    _same_features(load_e5_encoder()[1], FastTokenizer(verified_tokenizer_path()), texts, InputSettings(128, 32))


@pytest.mark.slow
def test_article_windows_and_offsets_are_the_same_with_both_tokenizers():
    """encode_documents (windows, targets, token offsets) gives the same with the packaged
    tokenizer.json read by `tokenizers` as with transformers, article by article."""
    import dataclasses

    from framing.model.features import encode_documents
    from framing.model.packaged_e5 import load_e5_encoder, verified_tokenizer_path

    rows = [json.loads(line) for line in (ROOT / "data" / "test.jsonl").read_text(encoding="utf-8").splitlines()]
    documents: dict[str, list[str]] = {}
    for row in rows:
        documents.setdefault(row["article"], []).append(row["text"])
    reference, fast = load_e5_encoder()[1], FastTokenizer(verified_tokenizer_path())
    for mode in ("pair", "window"):
        settings = InputSettings(128, 64, mode=mode, window_tokens=256)
        a = encode_documents(reference, list(documents.values()), settings)
        b = encode_documents(fast, list(documents.values()), settings)
        assert a.windows == b.windows
        assert [dataclasses.astuple(t) for t in a.targets] == [dataclasses.astuple(t) for t in b.targets]


@pytest.mark.slow
def test_default_model_onnx_path_needs_neither_torch_nor_the_rebuilt_base(monkeypatch):
    from framing.model import FramingClassifier
    from framing.model import folder as folder_module
    from framing.model.default_model import DEFAULT_MODEL_DIR

    sentences = ["وقال المتحدث باسم الوزارة إن 40 شاحنة عبرت.", "Analysts said the deal may not hold."]
    torch_labels = FramingClassifier.from_pretrained(DEFAULT_MODEL_DIR, backend="torch").predict(sentences)
    FramingClassifier.from_pretrained(DEFAULT_MODEL_DIR)  # converts into the test cache

    def refuse() -> Path:
        raise AssertionError("the cached ONNX path must not rebuild or hash the base weights")

    monkeypatch.setattr(folder_module, "rebuilt_e5_dir", refuse)
    onnx = FramingClassifier.from_pretrained(DEFAULT_MODEL_DIR)
    assert onnx.backend == "onnx-int8"
    assert [
        p.label for p in onnx.predict(["وقال المتحدث باسم الوزارة إن 40 شاحنة عبرت.", "Analysts said the deal may not hold."])
    ] == [p.label for p in torch_labels]
    assert _load_in_fresh_process(DEFAULT_MODEL_DIR)[-1] == "-"
