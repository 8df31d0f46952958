"""Training configuration: YAML validated strictly into typed objects.

Unknown keys are errors (a typo must not silently fall back to a default) and the seed is
required. The resolved config, with every default filled in, is saved beside the weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from framing.errors import FramingError


class ConfigError(FramingError):
    """A config file that cannot be used; the message names the file and the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataConfig(_Strict):
    train: str = Field(description="JSONL or CSV corpus file used for training")
    dev: str | None = Field(None, description="dev file; if absent, dev articles are drawn from train")
    test: str | None = None
    dev_fraction: float = Field(0.1, gt=0, lt=1)
    #: Use at most this many training sentences (whole articles, seeded); for quick runs.
    max_train_sentences: int | None = Field(None, gt=0)
    #: More training rows (e.g. corrections from `framing import labelstudio`): added to the
    #: training split only, never to dev or test, and never subsampled away.
    extra: list[str] = Field(default_factory=list)


class ModelConfig(_Strict):
    base: str = Field("packaged-e5", description="'packaged-e5' or a Hugging Face BERT folder")
    #: Fine-tune an existing framing model folder (a run folder, or `default`: the shipped
    #: model) instead of a new head on `base`.
    init_from: str | None = None
    max_length: int = Field(160, ge=16, le=512)
    use_context: bool = True
    context_max_tokens: int = Field(48, ge=0, le=256)
    dropout: float = Field(0.1, ge=0, lt=1)
    freeze_embeddings: bool = True
    #: "pair": the sentence plus the one before it; "window": consecutive sentences of the
    #: article in windows of `window_tokens`, each pooled over its own tokens (docs/model.md)
    input_mode: Literal["pair", "window"] = "pair"
    window_tokens: int = Field(256, ge=32, le=512)
    #: the source heads: span (start/end per token), source type, named and vague flags
    source_heads: bool = False


class LoraConfig(_Strict):
    r: int = Field(16, gt=0)
    alpha: int = Field(32, gt=0)
    dropout: float = Field(0.1, ge=0, lt=1)
    target_modules: list[str] = ["query", "key", "value", "dense"]


class LossWeights(_Strict):
    """Weights of the heads' losses in the joint loss (the source heads' need `source_heads`).
    A row without a gold value for a head (no `vague_attribution` field, say) adds nothing."""

    label: float = Field(1.0, ge=0)
    span: float = Field(1.0, ge=0)
    source_type: float = Field(0.5, ge=0)
    named: float = Field(0.5, ge=0)
    vague: float = Field(0.5, ge=0)


class TrainingConfig(_Strict):
    epochs: float = Field(5, gt=0)
    learning_rate: float = Field(1e-4, gt=0, lt=1)
    batch_size: int = Field(16, gt=0)
    weight_decay: float = Field(0.01, ge=0)
    warmup_ratio: float = Field(0.06, ge=0, lt=1)
    class_weighting: Literal["balanced", "none"] = "balanced"
    early_stopping_patience: int = Field(2, ge=0)
    evals_per_epoch: int = Field(1, ge=1)
    max_steps: int = Field(-1, description="stop after this many steps (-1: run all epochs)")
    calibrate: bool = True
    #: learning rate of the classification head relative to the encoder's
    head_lr_multiplier: float = Field(1.0, gt=0)
    lora: LoraConfig | None = None
    threads: int | None = Field(None, gt=0)
    loss_weights: LossWeights = LossWeights()
    #: stop (after a last dev evaluation) once training has run this long; the best weights so
    #: far are kept. For a shared machine with a deadline; the run's metrics record where it stopped.
    time_limit_minutes: float | None = Field(None, gt=0)


class Config(_Strict):
    seed: int
    data: DataConfig
    model: ModelConfig = ModelConfig()
    training: TrainingConfig = TrainingConfig()
    #: Set when the config was loaded from a file: relative data paths resolve against it.
    base_dir: str | None = Field(None, exclude=True)

    @model_validator(mode="after")
    def _init_from_alone(self) -> Config:
        if self.model.init_from is not None and "base" in self.model.model_fields_set:
            raise ValueError("model.init_from: give model.base or model.init_from, not both (the model names its base)")
        if self.model.init_from is not None and self.training.lora is not None:
            raise ValueError("model.init_from: fine-tuning a framing model is full fine-tuning; drop training.lora")
        return self

    @model_validator(mode="after")
    def _context_fits(self) -> Config:
        limit = self.model.window_tokens if self.model.input_mode == "window" else self.model.max_length
        if self.model.use_context and self.model.context_max_tokens >= limit - 8:
            raise ValueError("model.context_max_tokens must leave room for the sentence")
        if self.model.input_mode == "window" and self.model.max_length > self.model.window_tokens:
            raise ValueError("model.max_length (the longest sentence) must fit in model.window_tokens")
        return self

    def resolve_path(self, value: str | None) -> Path | None:
        if value is None:
            return None
        path = Path(value)
        if path.is_absolute() or path.exists() or not self.base_dir:
            return path
        # Relative paths: the working directory first, then beside the config file, then
        # its parent folder (configs/ sits at the project root).
        for root in (Path(self.base_dir), Path(self.base_dir).parent):
            if (root / path).exists():
                return root / path
        return path

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False, allow_unicode=True)


def _describe(error: dict) -> str:
    where = ".".join(str(part) for part in error["loc"]) or "(top level)"
    if error["type"] == "extra_forbidden":
        return f"{where}: unknown key"
    if error["type"] == "missing":
        return f"{where}: required key is missing"
    return f"{where}: {error['msg']}"


def parse_config(data: object, source: str = "<config>", base_dir: str | None = None) -> Config:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of keys at the top level")
    try:
        return Config(**data, base_dir=base_dir)
    except ValidationError as exc:
        problems = "; ".join(_describe(e) for e in exc.errors())
        raise ConfigError(f"{source}: {problems}") from None
    except TypeError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def load_config(path: str | Path) -> Config:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config ({exc})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}{line}: invalid YAML ({getattr(exc, 'problem', exc)})") from None
    return parse_config(data, str(path), str(path.parent))
