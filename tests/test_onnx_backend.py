"""ONNX backend: fp32 export equals torch, int8 keeps the decisions, the cache is reused, pickles are refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from framing.model.features import encode_sentence, pad_batch_numpy
from framing.model.folder import ModelFolderError
from framing.model.modeling import E5ForFramingClassification, pad_batch
from framing.model.onnx_backend import INT8_NAME, OnnxLogits, convert, model_key
from framing.model.settings import ModelSettings
from framing.training.data import with_context

from .conftest import TINY_CORPUS


@pytest.fixture(scope="module")
def torch_model(tiny_run):
    return E5ForFramingClassification.from_pretrained(tiny_run, use_safetensors=True).eval()


@pytest.fixture(scope="module")
def batches(tiny_run, torch_model):
    """The tiny corpus with contexts, in two ragged batches of different sizes than the export example."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_run)
    settings = ModelSettings.from_config(torch_model.config).input
    rows = with_context([json.loads(line) for line in TINY_CORPUS.read_text(encoding="utf-8").splitlines()])
    features = [encode_sentence(tokenizer, r["text"], r["context"], settings) for r in rows]
    assert len({len(f["input_ids"]) for f in features}) > 3, "the batches must be ragged to test padding"
    assert any(1 in f["token_type_ids"] for f in features), "some rows must carry a context segment"
    return [pad_batch(features[:11], tokenizer.pad_token_id), pad_batch(features[11:], tokenizer.pad_token_id)]


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("onnx-cache")


def torch_logits(model, batch) -> np.ndarray:
    import torch

    with torch.inference_mode():
        return model(**batch).logits.numpy()


def test_fp32_onnx_logits_match_torch(tiny_run, torch_model, batches, cache):
    runner = OnnxLogits.from_folder(tiny_run, precision="fp32", cache_dir=cache)
    for batch in batches:
        expected = torch_logits(torch_model, batch)
        got = runner({k: v.numpy() for k, v in batch.items()})
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)


def test_int8_predictions_agree_with_torch(tiny_run, torch_model, batches, cache):
    runner = OnnxLogits.from_folder(tiny_run, cache_dir=cache)
    assert runner.path.name == INT8_NAME
    expected = np.concatenate([torch_logits(torch_model, b) for b in batches])
    got = np.concatenate([runner(b) for b in batches])  # torch tensors are accepted too
    assert np.mean(got.argmax(1) == expected.argmax(1)) >= 0.9
    # Near, not equal: equal logits would mean nothing was quantised.
    assert 0 < np.abs(got - expected).max() < 0.1 * np.abs(expected).max()
    import onnx

    ops = {node.op_type for node in onnx.load(runner.path, load_external_data=False).graph.node}
    assert ops & {"MatMulInteger", "DynamicQuantizeMatMul", "MatMulIntegerToFloat"}, ops


def test_int8_logits_do_not_depend_on_the_batch(tiny_run, batches, cache):
    """A sentence must get the same label however the input is chunked (resume, --chunk-sentences)."""
    runner = OnnxLogits.from_folder(tiny_run, cache_dir=cache)
    assert runner.row_by_row
    batch = {k: v.numpy() for k, v in batches[0].items()}
    together = runner(batch)
    for i in (0, 5):
        alone = {k: v[i : i + 1, : int(batch["attention_mask"][i].sum())] for k, v in batch.items()}
        np.testing.assert_allclose(runner(alone)[0], together[i], atol=1e-6)
    # The batch-wise mode is what row_by_row prevents: one activation scale for the whole batch.
    batched = OnnxLogits(runner.path, row_by_row=False)
    assert np.abs(batched(batch) - together).max() > 1e-6
    left_padded = {k: v[:, ::-1].copy() for k, v in batch.items()}
    with pytest.raises(ValueError, match="right padding"):
        runner(left_padded)


def test_cache_is_reused_without_reexport(tiny_run, cache, monkeypatch):
    first = OnnxLogits.from_folder(tiny_run, cache_dir=cache).path
    stamp = first.stat().st_mtime_ns

    def no_export(*_args, **_kwargs):
        raise AssertionError("the cached model was exported again")

    monkeypatch.setattr("framing.model.onnx_backend.export_onnx", no_export)
    second = OnnxLogits.from_folder(tiny_run, cache_dir=cache)
    assert second.path == first and first.stat().st_mtime_ns == stamp
    assert first.parent.name == model_key(tiny_run)[:32]


def test_changed_weights_or_temperature(tiny_run, tmp_path):
    """New weights get a new key; a re-calibrated temperature (applied outside the graph) does not."""
    copy = tmp_path / "run"
    shutil.copytree(tiny_run, copy)
    key = model_key(copy)
    config = json.loads((copy / "config.json").read_text())
    config["framing"]["temperature"] = 0.5
    (copy / "config.json").write_text(json.dumps(config))
    assert model_key(copy) == key
    with (copy / "model.safetensors").open("r+b") as handle:
        handle.seek(-4, 2)
        handle.write(b"\x00\x00\x80\x3f")
    assert model_key(copy) != key


def test_recorded_checksums_give_the_same_key(tiny_run):
    from framing.model.folder import folder_checksums

    assert model_key(tiny_run, folder_checksums(tiny_run)) == model_key(tiny_run)


def test_local_copy_next_to_model_is_used_only_when_current(tiny_run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(tiny_run, copy)
    local = convert(copy, copy / "onnx")
    home = tmp_path / "home-cache"
    assert OnnxLogits.from_folder(copy, cache_dir=home).path == local
    assert not home.exists()
    # A stale local copy (the weights changed after it was made) must be ignored, not served.
    manifest = json.loads((copy / "onnx" / "manifest.json").read_text())
    manifest["key"] = "0" * 64
    (copy / "onnx" / "manifest.json").write_text(json.dumps(manifest))
    assert OnnxLogits.from_folder(copy, cache_dir=home).path.is_relative_to(home)


def test_failed_conversion_leaves_no_cache_entry(tiny_run, tmp_path, monkeypatch):
    def broken(_path):
        raise RuntimeError("quantiser crashed")

    monkeypatch.setattr("framing.model.onnx_backend.quantize", broken)
    with pytest.raises(RuntimeError, match="quantiser crashed"):
        OnnxLogits.from_folder(tiny_run, cache_dir=tmp_path)
    assert [p.name for p in tmp_path.rglob("*")] == []
    monkeypatch.undo()
    assert OnnxLogits.from_folder(tiny_run, cache_dir=tmp_path).path.is_file()


def test_refuses_folder_without_safetensors(tiny_run, tmp_path):
    folder = tmp_path / "pickled"
    folder.mkdir()
    shutil.copy(tiny_run / "config.json", folder / "config.json")
    (folder / "pytorch_model.bin").write_bytes(b"not loaded")
    cache = tmp_path / "cache"
    with pytest.raises(ModelFolderError, match="safetensors"):
        OnnxLogits.from_folder(folder, cache_dir=cache)
    assert not cache.exists()
    with pytest.raises(ValueError, match="not an .onnx file"):
        OnnxLogits(folder / "pytorch_model.bin")


def test_numpy_padding_equals_torch_padding():
    import torch

    features = [
        {"input_ids": [0, 5, 2, 7, 2], "token_type_ids": [0, 0, 0, 1, 1], "attention_mask": [1] * 5},
        {"input_ids": [0, 2], "token_type_ids": [0, 0], "attention_mask": [1, 1]},
    ]
    expected = {
        "input_ids": [[0, 5, 2, 7, 2], [0, 2, 1, 1, 1]],
        "token_type_ids": [[0, 0, 0, 1, 1], [0, 0, 0, 0, 0]],
        "attention_mask": [[1, 1, 1, 1, 1], [1, 1, 0, 0, 0]],
    }
    got = pad_batch_numpy(features, 1)
    tensors = pad_batch([{**f, "labels": i} for i, f in enumerate(features)], 1)
    assert set(got) == set(expected) and set(tensors) == {*expected, "labels"}
    for key, value in expected.items():
        np.testing.assert_array_equal(got[key], np.array(value, dtype=np.int64))
        assert tensors[key].dtype == torch.long and tensors[key].tolist() == value
    assert tensors["labels"].tolist() == [0, 1]


def test_rows_run_concurrently_keep_their_order(tiny_run, batches, cache):
    """Row by row, sentences run on one thread per core; each row's logits must land in its own place."""
    path = OnnxLogits.from_folder(tiny_run, cache_dir=cache).path
    batch = {k: v.numpy() for k, v in batches[0].items()}
    one = OnnxLogits(path, threads=1, row_by_row=True)(batch)
    parallel = OnnxLogits(path, threads=3, row_by_row=True)
    assert parallel.session.get_session_options().intra_op_num_threads == 1
    np.testing.assert_array_equal(parallel(batch), one)
    reversed_rows = parallel({k: v[::-1].copy() for k, v in batch.items()})
    np.testing.assert_array_equal(reversed_rows, one[::-1])


def test_classification_needs_neither_torch_nor_transformers(tiny_run, tmp_path):
    """What a classification-only install (`pip install .`) runs: with torch and transformers made
    unimportable, a model folder converts to ONNX and classifies."""
    import os
    import subprocess
    import sys

    code = f"""
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "transformers", "peft"):
            raise ImportError("blocked: " + name)
sys.meta_path.insert(0, Block())
from framing import FramingClassifier
classifier = FramingClassifier.from_pretrained({str(tiny_run)!r}, backend="onnx")
print(classifier.backend, classifier.predict(["The ministry said 40 trucks crossed."])[0].label)
"""
    env = {**os.environ, "FRAMING_ONNX_CACHE": str(tmp_path / "onnx")}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    backend, label = result.stdout.split()
    assert backend == "onnx-int8" and label in ("attributed_fact", "analyst_claim", "unattributed_assertion", "other")
