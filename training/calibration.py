"""Temperature scaling of the classifier's probabilities, fitted on dev, without torch."""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar


def _nll(log_t: float, logits: np.ndarray, gold_ids: np.ndarray) -> float:
    scaled = logits / np.exp(log_t)
    scaled = scaled - scaled.max(axis=1, keepdims=True)
    log_probs = scaled - np.log(np.exp(scaled).sum(axis=1, keepdims=True))
    return float(-log_probs[np.arange(len(gold_ids)), gold_ids].mean())


def fit_temperature(logits: np.ndarray, gold_ids: np.ndarray) -> float:
    """Temperature scaling: one scalar T in [0.05, 20] minimising the negative log-likelihood."""
    logits = np.asarray(logits, dtype=np.float64)
    gold_ids = np.asarray(gold_ids, dtype=np.int64)
    result = minimize_scalar(_nll, bounds=(np.log(0.05), np.log(20.0)), args=(logits, gold_ids), method="bounded")
    return float(np.exp(result.x))
