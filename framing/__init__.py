"""framing: label each sentence of Arabic and English news by how it is sourced.

    from framing import FramingClassifier
    FramingClassifier.from_pretrained("model/default").predict(["The ministry said ..."])

Rooms: `framing.model` (inference, the label schema), `framing.training`, `framing.batch`
(classifying files), `framing.outlets` (comparing outlets), `framing.web` and `framing.cli`.
The classifier is imported on first use, so `framing --help` and the label schema stay fast.
"""

from __future__ import annotations

import os
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

from framing.errors import FramingError

if TYPE_CHECKING:
    from framing.model.classifier import FramingClassifier, Prediction

# Nothing leaves the machine and nothing is kept: onnxruntime, when imported without this, writes
# a device id and a telemetry queue under ~/.cache/Microsoft and leaves $TMPDIR/.ses behind. It
# reads the variable when it is first imported, and every framing module is imported after this.
os.environ["ORT_DISABLE_TELEMETRY"] = "1"

try:
    __version__ = version("framing")
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["FramingClassifier", "FramingError", "Prediction", "__version__"]


def __getattr__(name: str):
    if name in ("FramingClassifier", "Prediction"):
        from framing.model import classifier

        return getattr(classifier, name)
    raise AttributeError(f"module 'framing' has no attribute {name!r}")
