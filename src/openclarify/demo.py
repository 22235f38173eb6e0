"""``openclarify demo``: train a small model on data bundled with scikit-learn and explain a few records.

It shows, per record, what the server returns: each feature's attribution with its error bar, the
base value E[f] and f(x), which the attributions add up to exactly.
"""

from __future__ import annotations

import time

import numpy as np
from rich.console import Console
from rich.table import Table

from openclarify.kernelshap import explain

TOP = 8  # features shown per record; the rest are summed in one line


def run_demo(n_records: int = 3, seed: int = 0, console: Console | None = None) -> int:
    console = console or Console()
    try:
        from sklearn.datasets import load_breast_cancer
        from sklearn.ensemble import HistGradientBoostingClassifier
    except ImportError:
        console.print("[red]The demo needs scikit-learn:[/] pip install 'openclarify[sklearn]' (make demo does this).")
        return 1

    data = load_breast_cancer()
    x_all, y = data.data, data.target
    names = list(data.feature_names)
    rng = np.random.default_rng(seed)
    test = rng.choice(len(x_all), size=min(n_records, len(x_all)), replace=False)
    train = np.setdiff1d(np.arange(len(x_all)), test)
    model = HistGradientBoostingClassifier(max_iter=100, random_state=seed).fit(x_all[train], y[train])
    positive = list(model.classes_).index(1)

    def predict(rows: np.ndarray) -> np.ndarray:
        return model.predict_proba(rows)[:, positive]

    # A small baseline: ten training rows, as a Clarify endpoint's ShapBaseline would hold.
    baseline = x_all[rng.choice(train, size=10, replace=False)]
    console.print(
        f"[bold]openclarify demo[/]: a gradient-boosted classifier on scikit-learn's breast-cancer data "
        f"({len(names)} features), explained against a baseline of {len(baseline)} training rows.\n"
        "Kernel SHAP with SageMaker Clarify's default budget (2M + 2048 coalitions): each attribution is how much "
        "that feature moved the predicted probability of 'benign' away from the baseline's average.\n"
    )
    for i, row in enumerate(x_all[test]):
        started = time.perf_counter()
        result = explain(predict, row, baseline, seed=seed + i)
        elapsed = (time.perf_counter() - started) * 1e3
        _show(console, i + 1, names, row, result, elapsed, data.target_names[y[test[i]]])
    return 0


def _show(console: Console, n: int, names, row, result, elapsed_ms: float, actual: str) -> None:
    phi, se = result.attributions[:, 0], result.standard_errors[:, 0]
    order = np.argsort(-np.abs(phi))
    table = Table(title=f"Record {n} (actually {actual})", title_justify="left", show_edge=False)
    table.add_column("feature")
    table.add_column("value", justify="right")
    table.add_column("attribution", justify="right")
    table.add_column("± std. error", justify="right")
    for j in order[:TOP]:
        colour = "green" if phi[j] > 0 else "red"
        table.add_row(names[j], f"{row[j]:.4g}", f"[{colour}]{phi[j]:+.4f}[/]", f"{se[j]:.4f}")
    rest = order[TOP:]
    table.add_row(f"{len(rest)} other features", "", f"{phi[rest].sum():+.4f}", "")
    console.print(table)
    base, fx = result.expected_value[0], result.fx[0]
    console.print(
        f"  base value E\\[f] = {base:.4f}   +  Σ attributions = {phi.sum():+.4f}   =  f(x) = {fx:.4f}"
        f"   ({'exact' if result.exact else f'{result.n_samples} coalitions sampled'}, "
        f"{result.model_rows} model rows, {elapsed_ms:.0f} ms, seed {result.seed})\n"
    )
