"""The engine's ``map_predict`` hook: batches evaluated concurrently and out of order, yielded in order, give
bitwise the result of the serial path (what ``serve --ray`` relies on), whatever the model's arithmetic."""

from __future__ import annotations

import concurrent.futures
import random
import time
from collections.abc import Callable, Iterable, Iterator

import numpy as np

from openclarify.kernelshap import explain


def threaded_map(predict: Callable[[np.ndarray], np.ndarray], batches: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
    rng = random.Random(0)

    def slow(batch: np.ndarray) -> np.ndarray:
        time.sleep(rng.random() * 0.005)  # finish out of order
        return predict(batch)

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(slow, b) for b in batches]
        for f in futures:
            yield f.result()


def test_fanned_out_batches_give_bitwise_the_serial_result() -> None:
    rng = np.random.default_rng(3)
    W = rng.normal(size=(9, 3))
    calls: list[int] = []

    def model(X: np.ndarray) -> np.ndarray:  # BLAS arithmetic: sensitive to how rows are batched
        calls.append(X.shape[0])
        Z = np.tanh(X @ W)
        return np.exp(Z) / np.exp(Z).sum(axis=1, keepdims=True)

    x, baseline = rng.normal(size=9), rng.normal(size=(50, 9))
    serial = explain(model, x, baseline, number_of_samples=300, seed=11, max_rows=1000)
    serial_calls = list(calls)
    calls.clear()
    fanned = explain(model, x, baseline, number_of_samples=300, seed=11, max_rows=1000, map_predict=threaded_map)
    assert len(serial_calls) > 5  # several batches, so the fan-out had something to spread
    assert sorted(calls) == sorted(serial_calls)
    assert np.array_equal(serial.attributions, fanned.attributions)
    assert np.array_equal(serial.standard_errors, fanned.standard_errors, equal_nan=True)
    assert serial.model_rows == fanned.model_rows
