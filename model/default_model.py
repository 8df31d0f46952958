"""Where the shipped default model lives."""

from __future__ import annotations

from pathlib import Path

DEFAULT_MODEL_DIR = Path(__file__).parent / "default"


def default_model_dir() -> Path | None:
    """The installed default model folder, or None when this install ships none."""
    return DEFAULT_MODEL_DIR if (DEFAULT_MODEL_DIR / "config.json").is_file() else None
