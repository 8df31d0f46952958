"""Shared fixtures: a tiny randomly initialised BERT and a tokenizer built here, no downloads."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

FIXTURES = Path(__file__).parent / "fixtures"
TINY_CORPUS = FIXTURES / "tiny_corpus.jsonl"
SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
#: Debian's Chromium, driven by Playwright in the browser tests (never `playwright install`).
CHROMIUM = Path("/usr/bin/chromium")
#: Without the background-networking flags Chromium keeps dialling out on a closed network.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def build_tiny_tokenizer(texts: list[str]):
    """A word-level tokenizer over the words of `texts` (plus the e5 prefix)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    from framing.model.packaged_e5 import E5_SPECIAL_TOKENS

    words = sorted({w for t in [*texts, "query:"] for w in re.findall(r"\w+|[^\w\s]", t)})
    vocab = {token: i for i, token in enumerate(SPECIALS + words)}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, **E5_SPECIAL_TOKENS, model_max_length=128)
    # Some constructors silently drop a vocabulary; a tokenizer that lost it would make every
    # test below meaningless, so check it here.
    assert len(tokenizer) == len(vocab), (len(tokenizer), len(vocab))
    return tokenizer


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory) -> Path:
    """A folder holding a tiny random BERT (hidden 32, 2 layers) and its tokenizer."""
    import torch
    from transformers import BertConfig, BertModel

    texts = [json.loads(line)["text"] for line in TINY_CORPUS.read_text(encoding="utf-8").splitlines()]
    tokenizer = build_tiny_tokenizer(texts + ["he said the ministry announced"])
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=256,
        type_vocab_size=2,
        pad_token_id=1,
    )
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny-base")
    BertModel(config, add_pooling_layer=False).save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


def tiny_config_dict(base: Path, **training) -> dict:
    return {
        "seed": 7,
        "data": {"train": str(TINY_CORPUS), "dev_fraction": 0.3},
        "model": {"base": str(base), "max_length": 64, "context_max_tokens": 16},
        "training": {"epochs": 2, "batch_size": 4, "learning_rate": 5e-3, "early_stopping_patience": 0, **training},
    }


@pytest.fixture(scope="session")
def tiny_run(tiny_base, tmp_path_factory) -> Path:
    """A run folder trained for a few steps on the tiny corpus."""
    from framing.training.config import parse_config
    from framing.training.trainer import train

    out = tmp_path_factory.mktemp("runs") / "tiny"
    train(parse_config(tiny_config_dict(tiny_base)), out, progress=False, log=lambda _: None)
    return out


@pytest.fixture(scope="session")
def tiny_source_run(tiny_base, tmp_path_factory) -> Path:
    """A run folder with the source heads, reading articles in windows (several sentences each)."""
    from framing.training.config import parse_config
    from framing.training.trainer import train

    config = tiny_config_dict(tiny_base)
    config["model"].update(input_mode="window", window_tokens=48, context_max_tokens=12, max_length=32, source_heads=True)
    out = tmp_path_factory.mktemp("runs") / "tiny-source"
    train(parse_config(config), out, progress=False, log=lambda _: None)
    return out


@pytest.fixture()
def tiny_config_file(tiny_base, tmp_path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_config_dict(tiny_base)), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def tiny_classifier(tiny_run):
    from framing.model import FramingClassifier

    return FramingClassifier.from_pretrained(tiny_run)


@pytest.fixture(scope="session", autouse=True)
def _onnx_cache_in_tmp(tmp_path_factory):
    """ONNX conversions of test models go to a temporary folder, never to the user's cache; an
    environment variable, so that CLI subprocesses inherit it."""
    patch = pytest.MonkeyPatch()
    patch.setenv("FRAMING_ONNX_CACHE", str(tmp_path_factory.mktemp("onnx-cache")))
    yield
    patch.undo()


def record_checksums(folder: Path) -> Path:
    """Write the folder's checksums.json, as training does: model folders load only when every
    file they contribute matches it (or with trust=True)."""
    from framing.model.folder import CHECKSUMS_FILE, folder_checksums

    (folder / CHECKSUMS_FILE).write_text(json.dumps(folder_checksums(folder), indent=2), encoding="utf-8")
    return folder


def copy_model(source: Path, target: Path, edit=None) -> Path:
    """A copy of a model folder, its config.json dict passed to `edit`, checksums recorded again:
    another, equally valid model."""
    import shutil

    shutil.copytree(source, target)
    if edit is not None:
        config_path = target / "config.json"
        config = json.loads(config_path.read_text(encoding="utf-8"))
        edit(config)
        config_path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    return record_checksums(target)
