"""Kernel SHAP engine vs shap.KernelExplainer vs the floor (the bare model on the synthetic rows).

Run: ``make bench`` or ``.venv/bin/python bench/kernelshap_bench.py [--records N] [--write]``.

Everything runs side by side in one process, interleaved record by record, so the noise of a
shared 2-core machine hits every contender alike; ratios are what to read. BLAS is held to one
thread for all of them (a server explains concurrent requests on its cores instead), and the process runs
with the allocator setting of ``openclarify serve`` (``openclarify.process``), for every contender alike.
"""

from __future__ import annotations

import argparse
import platform
import re
import sys
import time
import warnings
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import shap
import sklearn
import xgboost
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.ensemble import GradientBoostingRegressor
from threadpoolctl import threadpool_limits

from _blas import add_forced_option, blas_kernel, run_with_own_kernel
from openclarify.kernelshap import clarify_n_samples, explain
from openclarify.process import tune_allocator

REPEATS = 3
# The errors are averaged over these seeds per record (record i uses seeds i + offset), for shap as for openclarify:
# one seed per record leaves the average a few per cent to chance (one design, one draw of shap's samples).
ACCURACY_SEED_OFFSETS = (0, 1000, 2000)
# Both models compute in single precision (XGBoost stores feature values as float32; scikit-learn's trees convert
# their input to float32), so the engine writes its synthetic rows in float32, as the built-in runtimes have it do
# (``input_dtype``). The scores are bitwise the same as from float64 rows; the floor is timed on the same rows.
ROW_DTYPE = np.float32
DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
BEGIN, END = "<!-- kernelshap-bench:begin -->", "<!-- kernelshap-bench:end -->"


@dataclass
class Row:
    setting: str
    floor_ms: float
    ours_ms: float
    planned_ms: float
    served_ms: float  # planned design, no error bars: how InvokeEndpoint explains unless asked for error bars
    shap_ms: float
    ours_err: float
    shap_err: float
    shap_default_err: float
    coverage: float  # share of attributions within 1.96 standard errors of the exact value
    rows_ours: float
    rows_clarify: int
    exact: bool


def data(m: int) -> tuple[np.ndarray, np.ndarray]:
    if m == 10:
        return load_diabetes(return_X_y=True)
    x, y = load_breast_cancer(return_X_y=True)
    return x[:, :m], y


def models(x: np.ndarray, y: np.ndarray):
    xgb = xgboost.XGBRegressor(n_estimators=100, max_depth=6, n_jobs=1, random_state=0).fit(x, y)
    gbm = GradientBoostingRegressor(n_estimators=100, max_depth=3, random_state=0).fit(x, y)
    return {"xgboost": xgb, "sklearn-gbm": gbm}


def model_predict(model):
    """The model's predict as openclarify's runtime for it calls it, for every contender: XGBoost through
    ``Booster.inplace_predict`` (runtimes/xgboost.py), scikit-learn through the estimator's ``predict``
    (runtimes/sklearn.py). XGBRegressor.predict reaches the same inplace_predict through Python-level checks that
    openclarify never runs: 0.01-0.02 ms of the floor (0.13 in one run), and after them the engine's next steps ran
    0.02-0.04 ms slower (three paired runs at M = 20, B = 1; docs/benchmarks.md)."""
    if isinstance(model, xgboost.XGBModel):
        return model.get_booster().inplace_predict
    return model.predict


def best_of(fn, repeats: int = REPEATS) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best * 1e3, out


def captured_rows(predict, x, baseline, seed, fx, baseline_out, designs) -> np.ndarray:
    """The synthetic rows an explanation hands to the model, recorded from one untimed run."""
    seen: list[np.ndarray] = []

    def recording(rows: np.ndarray) -> np.ndarray:
        seen.append(rows.copy())
        return predict(rows)

    explain(recording, x, baseline, seed=seed, fx=fx, baseline_outputs=baseline_out, designs=designs, dtype=ROW_DTYPE)
    return np.concatenate(seen)


def shap_run(explainer, x, n_samples, seed, l1_reg):
    np.random.seed(seed)  # shap draws from numpy's global generator
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.ravel(explainer.shap_values(x[None, :], nsamples=n_samples, l1_reg=l1_reg, silent=True))


def run_setting(name: str, model, x_all: np.ndarray, b: int, n_records: int, rng) -> Row:
    m = x_all.shape[1]
    predict = model_predict(model)
    baseline = x_all[rng.choice(len(x_all), b, replace=False)]
    records = x_all[rng.choice(len(x_all), n_records, replace=False)]
    n_samples = clarify_n_samples(m)
    baseline_out = predict(baseline)
    kernel = shap.KernelExplainer(predict, baseline)
    t = {k: [] for k in ("floor", "ours", "planned", "served", "shap")}
    err = {k: [] for k in ("ours", "shap", "shap_default")}
    rows, exact, covered = [], True, []
    # Exact Shapley values by enumerating all 2^M coalitions: the engine's exact mode, which the tests check against a
    # brute-force oracle and against shap. (TreeExplainer is not exact for scikit-learn's trees, which split on
    # float32 thresholds.) All of them first, before anything is timed: a sweep of a million rows just before a
    # record's timings left every contender slower, and the engine most (three paired runs at M = 20, B = 1: a fresh
    # design 0.55-0.61 ms over the floor with the sweep between records, 0.46-0.51 without it, the floor itself
    # 0.01-0.06 ms slower; docs/benchmarks.md). A server explains one request after another, with no such sweep.
    truths = [
        explain(predict, x, baseline, number_of_samples=2**m, seed=0, dtype=ROW_DTYPE).attributions[:, 0]
        for x in records
    ]
    for i, x in enumerate(records):
        fx = predict(x[None, :])
        # The floor: the model on the very synthetic rows the explanation needs, as the engine hands them to the
        # model (identical rows would flatter a tree model with perfect branch prediction). The same call plans
        # the design that the "planned" runs take from the cache, as an endpoint with a fixed Seed does.
        designs: dict = {}
        synthetic = captured_rows(predict, x, baseline, i, fx, baseline_out, designs)
        truth = truths[i]
        scale = np.linalg.norm(truth)
        # openclarify on this record, as every contender below calls it but for the seed and the options.
        explained = partial(explain, predict, x, baseline, fx=fx, baseline_outputs=baseline_out, dtype=ROW_DTYPE)
        contenders = {
            "floor": partial(predict, synthetic),
            "ours": partial(explained, seed=i),
            "planned": partial(explained, seed=i, designs=designs),
            # As an endpoint explains a record: a design planned ahead (a fixed Seed, or planned in the background
            # when there is none) and no error bars, which it computes only for the extended response.
            "served": partial(explained, seed=i, designs=designs, errors=False),
        }
        # Each record takes them in another order, so that none always runs first or always after one of the others.
        order = list(contenders)
        results = {}
        for contender in order[i % len(order) :] + order[: i % len(order)]:
            ms, results[contender] = best_of(contenders[contender])
            t[contender].append(ms)
        ours = results["ours"]
        ms, theirs_default = best_of(lambda x=x, i=i: shap_run(kernel, x, n_samples, i, "num_features(10)"))
        t["shap"].append(ms)
        rows.append(ours.model_rows)
        exact &= ours.exact
        for offset in ACCURACY_SEED_OFFSETS:
            seed = i + offset
            if offset:
                ours = explained(seed=seed)
                theirs_default = shap_run(kernel, x, n_samples, seed, "num_features(10)")
            miss = ours.attributions[:, 0] - truth
            err["ours"].append(np.linalg.norm(miss) / scale)
            err["shap"].append(np.linalg.norm(shap_run(kernel, x, n_samples, seed, False) - truth) / scale)
            err["shap_default"].append(np.linalg.norm(theirs_default - truth) / scale)
            # Round-off sized misses of an exact or exactly fitted result count as covered.
            covered.extend(np.abs(miss) <= 1.96 * ours.standard_errors[:, 0] + 1e-12 * scale)
    med = {k: float(np.median(v)) for k, v in t.items()}
    return Row(
        setting=f"{name}, M={m}, B={b}",
        floor_ms=med["floor"],
        ours_ms=med["ours"],
        planned_ms=med["planned"],
        served_ms=med["served"],
        shap_ms=med["shap"],
        ours_err=float(np.mean(err["ours"])),
        shap_err=float(np.mean(err["shap"])),
        shap_default_err=float(np.mean(err["shap_default"])),
        coverage=float(np.mean(covered)),
        rows_ours=float(np.mean(rows)),
        rows_clarify=b * n_samples,
        exact=exact,
    )


def table(rows: list[Row]) -> str:
    head = (
        "| setting | floor ms | openclarify ms | ÷ floor | with planned design ms | ÷ floor "
        "| as served (planned, no error bars) ms | ÷ floor | shap ms | shap ÷ floor "
        "| error openclarify | error shap (l1_reg=False) | error shap (default) | shap ÷ ours (l1_reg=False) "
        "| ±1.96 SE coverage | model rows (Clarify's B×n) |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for r in rows:
        gain = r.shap_err / r.ours_err if r.ours_err > 1e-12 else float("inf")
        ours_err = "exact" if r.exact else f"{r.ours_err:.4f}"
        lines.append(
            f"| {r.setting} | {r.floor_ms:.2f} | {r.ours_ms:.2f} | {r.ours_ms / r.floor_ms:.2f} | {r.planned_ms:.2f} "
            f"| {r.planned_ms / r.floor_ms:.2f} | {r.served_ms:.2f} | {r.served_ms / r.floor_ms:.2f} "
            f"| {r.shap_ms:.2f} | {r.shap_ms / r.floor_ms:.1f} | {ours_err} "
            f"| {r.shap_err:.4f} | {r.shap_default_err:.4f} | {'∞' if r.exact else f'{gain:.1f}'} "
            f"| {r.coverage:.2f} | {r.rows_ours:.0f} ({r.rows_clarify}) |"
        )
    return head + "\n".join(lines) + "\n"


def machine() -> str:
    return (
        f"{platform.machine()}, {__import__('os').cpu_count()} cores, Python {platform.python_version()}, "
        f"numpy {np.__version__}, shap {shap.__version__}, xgboost {xgboost.__version__}, "
        f"scikit-learn {sklearn.__version__}, {blas_kernel()}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=24, help="records explained per setting (default 24)")
    parser.add_argument("--write", action="store_true", help="write the results into docs/benchmarks.md")
    parser.add_argument(
        "--only",
        default="",
        help="run only the settings whose name matches this regular expression, e.g. 'M=20, B=1$' (not with --write)",
    )
    add_forced_option(parser)
    args = parser.parse_args(argv)
    if args.only and args.write:
        parser.error("--write needs every setting: drop --only")
    run_with_own_kernel(args.forced_blas, argv)
    rng = np.random.default_rng(0)
    rows = []
    tuned = tune_allocator()
    with threadpool_limits(1):
        for m in (10, 20):
            x, y = data(m)
            for name, model in models(x, y).items():
                for b in (1, 10):
                    if not re.search(args.only, f"{name}, M={m}, B={b}"):
                        # Draw what the setting would, so every other setting sees the same baseline and records.
                        rng.choice(len(x), b, replace=False), rng.choice(len(x), args.records, replace=False)
                        continue
                    rows.append(run_setting(name, model, x, b, args.records, rng))
                    print(table(rows[-1:]).splitlines()[-1], file=sys.stderr, flush=True)
    report = (
        f"Machine: {machine()}. Records per setting: {args.records}; times are per record, the best of "
        f"{REPEATS} runs, median over records; allocator setting of `openclarify serve` "
        f"{'on' if tuned else 'off'} for every contender. Errors are relative L2 distances ‖φ̂ − φ‖/‖φ‖ to the exact "
        f"Shapley values (all 2^M coalitions), averaged over records and {len(ACCURACY_SEED_OFFSETS)} seeds per "
        f"record, for shap as for openclarify; coverage is the share of openclarify's attributions within 1.96 of "
        f"its standard errors of the exact values.\n\n" + table(rows)
    )
    print(report)
    if args.write:
        text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
        block = f"{BEGIN}\n{report}{END}"
        if BEGIN in text:
            text = text[: text.index(BEGIN)] + block + text[text.index(END) + len(END) :]
        else:
            text = text.rstrip() + "\n\n" + block + "\n"
        DOC.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
