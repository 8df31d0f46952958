"""Inference: the label schema, segmentation, language id and the framing classifier."""

from __future__ import annotations

from model.classifier import ClassifiedSentence, FramingClassifier, ModelFolderError, Prediction
from model.labels import DEFINITIONS, LABELS

__all__ = ["DEFINITIONS", "LABELS", "ClassifiedSentence", "FramingClassifier", "ModelFolderError", "Prediction"]
