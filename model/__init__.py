"""Inference: the label schema, segmentation, language id and the framing classifier.

The classifier (and with it torch) is imported on first use, so that tools which need only
the label schema start fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from framing.model.labels import DEFINITIONS, LABELS

if TYPE_CHECKING:
    from framing.model.classifier import ClassifiedSentence, FramingClassifier, ModelFolderError, Prediction

__all__ = ["DEFINITIONS", "LABELS", "ClassifiedSentence", "FramingClassifier", "ModelFolderError", "Prediction"]


def __getattr__(name: str):
    if name in ("ClassifiedSentence", "FramingClassifier", "ModelFolderError", "Prediction"):
        from framing.model import classifier

        return getattr(classifier, name)
    raise AttributeError(f"module 'model' has no attribute {name!r}")
