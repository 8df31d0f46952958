"""The model folder's own settings: one schema, saved in config.json under one key, `framing`.

    "framing": {"input": {"max_length": 128, ...}, "temperature": 1.2,
                "base_model": "intfloat/multilingual-e5-small", "base_sha256": "..."}

Training writes it (`write_to`), and every reader (the classifier, the folder checks, the ONNX
cache key) reads it through `ModelSettings.from_config`, which refuses unknown keys, so a
misspelt or future setting is an error rather than silently ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from framing.model.features import InputSettings, config_value

SETTINGS_KEY = "framing"


@dataclass(frozen=True)
class ModelSettings:
    input: InputSettings = field(default_factory=InputSettings)
    #: softmax temperature fitted on dev after training (1.0: uncalibrated)
    temperature: float = 1.0
    #: the base an adapter was trained on: the packaged e5's public name, or a local folder
    base_model: str | None = None
    #: sha256 of the packaged base weights the adapter was trained on
    base_sha256: str | None = None
    #: the model also has the source heads (span, source type, named and vague flags)
    source_heads: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | object) -> ModelSettings:
        """Settings of config.json's dict or a transformers config; ValueError names a bad key."""
        raw = config_value(config, SETTINGS_KEY)
        if raw is None:
            return cls()
        _check_object(raw, SETTINGS_KEY, cls)
        raw_input = raw.get("input") or {}
        _check_object(raw_input, f"{SETTINGS_KEY}.input", InputSettings)
        temperature = raw.get("temperature", 1.0)
        if not isinstance(temperature, int | float) or isinstance(temperature, bool) or not temperature > 0:
            raise ValueError(f"'{SETTINGS_KEY}.temperature' must be a positive number")
        source_heads = raw.get("source_heads", False)
        if not isinstance(source_heads, bool):
            raise ValueError(f"'{SETTINGS_KEY}.source_heads' must be true or false")
        return cls(
            source_heads=source_heads,
            input=InputSettings(**raw_input),
            temperature=float(temperature),
            base_model=raw.get("base_model"),
            base_sha256=raw.get("base_sha256"),
        )

    def write_to(self, config: object) -> None:
        """Store on a transformers config object, which saves it into config.json."""
        setattr(config, SETTINGS_KEY, self.to_dict())


def _check_object(raw: object, where: str, schema: type) -> None:
    """`raw` must be a mapping whose keys are fields of the dataclass `schema`."""
    if not isinstance(raw, Mapping):
        raise ValueError(f"'{where}' must be an object, not {type(raw).__name__}")
    unknown = sorted(set(raw) - {f.name for f in fields(schema)})
    if unknown:
        raise ValueError(f"unknown setting(s) {', '.join(unknown)} under '{where}'")
