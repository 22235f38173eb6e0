"""Small deterministic models with interactions of several orders, as plain numpy functions."""

from __future__ import annotations

import numpy as np


def nonlinear(weights: np.ndarray):
    """Additive terms plus pairwise and three-way interactions and a non-smooth part."""

    def predict(rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=float)
        m = rows.shape[1]
        out = rows @ weights
        if m >= 2:
            out = out + 0.7 * rows[:, 0] * rows[:, 1]
        if m >= 3:
            out = out + 0.5 * np.tanh(rows[:, 0] * rows[:, 1] * rows[:, 2])
        if m >= 4:
            out = out + np.maximum(rows[:, 3] - 0.2, 0.0) * rows[:, m - 1]
        return out

    return predict


def two_outputs(weights: np.ndarray):
    base = nonlinear(weights)

    def predict(rows: np.ndarray) -> np.ndarray:
        a = base(rows)
        return np.stack([a, np.sin(a) + rows[:, 0]], axis=1)

    return predict


def probability(weights: np.ndarray):
    base = nonlinear(weights)

    def predict(rows: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-0.5 * base(rows)))

    return predict


class CountingModel:
    """Wraps a predict function and records every call's row count."""

    def __init__(self, predict):
        self.predict = predict
        self.calls: list[int] = []

    def __call__(self, rows: np.ndarray) -> np.ndarray:
        self.calls.append(rows.shape[0])
        return self.predict(rows)

    @property
    def rows(self) -> int:
        return sum(self.calls)
