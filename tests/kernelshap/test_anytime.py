"""Stopping early: the estimate from the coalitions evaluated so far, honestly flagged."""

import numpy as np
import pytest

from openclarify.kernelshap import Interrupted, explain

from .models import CountingModel, nonlinear
from .oracle import shapley_values


def problem(m=12, b=4, seed=0):
    rng = np.random.default_rng(seed)
    return nonlinear(rng.normal(size=m)), rng.normal(size=m), rng.normal(size=(b, m))


def test_never_stopping_gives_the_same_bits_as_no_callback():
    model, x, baseline = problem()
    a = explain(model, x, baseline, seed=3)
    b = explain(model, x, baseline, seed=3, should_stop=lambda: False)
    assert b.complete and a.complete
    np.testing.assert_allclose(a.attributions, b.attributions, rtol=1e-12, atol=1e-14)


def test_stopping_after_some_blocks_gives_a_smaller_efficient_estimate_with_wider_error_bars():
    model, x, baseline = problem(m=14, b=40)
    counting = CountingModel(model)
    asked = []

    def stop_after_two_blocks():
        asked.append(1)
        return len(asked) > 2

    full = explain(model, x, baseline, seed=5)
    part = explain(counting, x, baseline, seed=5, should_stop=stop_after_two_blocks)
    assert not part.complete and full.complete
    assert part.n_samples < full.n_samples and part.model_rows < full.model_rows
    assert len(counting.calls) >= 2
    delta = part.fx - part.expected_value
    assert abs(part.attributions.sum() - delta[0]) < 1e-9 * max(1, abs(delta[0]))
    assert np.all(np.isfinite(part.standard_errors))
    assert part.standard_errors.mean() > full.standard_errors.mean()
    truth = shapley_values(model, x, baseline)
    # The partial estimate is still an estimate of the same thing, within its own error bars.
    assert np.mean(np.abs(part.attributions - truth) <= 4 * part.standard_errors + 1e-12) >= 0.9


def test_stopping_before_anything_is_evaluated_raises():
    model, x, baseline = problem()
    with pytest.raises(Interrupted):
        explain(model, x, baseline, seed=1, should_stop=lambda: True)


def test_exact_designs_are_never_cut_short():
    model, x, baseline = problem(m=8)
    result = explain(model, x, baseline, seed=1, should_stop=lambda: True)
    assert result.exact and result.complete
