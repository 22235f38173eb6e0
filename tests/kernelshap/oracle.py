"""Exact interventional Shapley values by brute force: the definition, written independently of the engine.

v(S) = g(mean_b f(x_S, b_rest)) and φ_i = Σ_{S ⊆ N∖{i}} |S|! (M-|S|-1)! / M! · (v(S ∪ {i}) - v(S)).
"""

from __future__ import annotations

from itertools import combinations
from math import factorial

import numpy as np


def coalition_value(predict, x, baseline, coalition, link="identity"):
    rows = np.array(baseline, dtype=float, copy=True)
    rows[:, list(coalition)] = x[list(coalition)]
    out = np.asarray(predict(rows), dtype=float)
    mean = out.reshape(rows.shape[0], -1).mean(axis=0)
    return np.log(mean / (1 - mean)) if link == "logit" else mean


def shapley_values(predict, x, baseline, link="identity"):
    x = np.asarray(x, dtype=float)
    baseline = np.atleast_2d(np.asarray(baseline, dtype=float))
    m = x.shape[0]
    values = {}
    for size in range(m + 1):
        for coalition in combinations(range(m), size):
            values[coalition] = coalition_value(predict, x, baseline, coalition, link)
    phi = np.zeros((m, np.size(values[()])))
    for i in range(m):
        others = [j for j in range(m) if j != i]
        for size in range(m):
            weight = factorial(size) * factorial(m - size - 1) / factorial(m)
            for coalition in combinations(others, size):
                with_i = tuple(sorted((*coalition, i)))
                phi[i] += weight * (values[with_i] - values[coalition])
    return phi
