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


def test_a_first_block_leaves_no_stratum_out_and_claims_no_precision_it_lacks():
    # 40 baseline rows in two groups: the first block holds every enumerated pair and little more. It used to keep
    # one sampled stratum per group, drop the others' kernel mass, and report error bars that 27 % of the
    # attributions fell within (1.96 of them). Now it holds one pair of every stratum, too few to measure a spread:
    # no error bars; and from the second block on they cover the exact values.
    rng = np.random.default_rng(0)
    m = 12

    def model(rows):
        return (
            np.tanh(rows[:, 0] * rows[:, 1])
            + np.sin(rows[:, 2] + rows[:, 3] * rows[:, 4])
            + rows[:, 5]
            + rows[:, 6] * rows[:, 7] * rows[:, 8]
            + rows[:, 9] ** 2
            + rows[:, 10] * rows[:, 11]
        )

    x, baseline = rng.normal(size=m), rng.normal(size=(40, m))
    truth = shapley_values(model, x, baseline)[:, 0]

    def stopping_after(blocks):
        asked = []

        def stop():
            asked.append(1)
            return len(asked) > blocks

        return stop

    covered = []
    for seed in range(8):
        first = explain(model, x, baseline, number_of_samples=2000, seed=seed, should_stop=stopping_after(1))
        assert not first.complete and np.isnan(first.standard_errors).all()
        delta = first.fx - first.expected_value
        assert abs(first.attributions.sum() - delta[0]) < 1e-9 * max(1, abs(delta[0]))
        second = explain(model, x, baseline, number_of_samples=2000, seed=seed, should_stop=stopping_after(2))
        assert not second.complete and np.isfinite(second.standard_errors).all()
        covered.extend(np.abs(second.attributions[:, 0] - truth) <= 1.96 * second.standard_errors[:, 0])
    assert np.mean(covered) >= 0.85  # 0.92 measured over 20 seeds


@pytest.mark.parametrize("rows", [41, 43])
def test_a_cut_design_reports_the_coalitions_of_its_largest_group(rows):
    # Groups of 21 and 20 rows (or 22 and 21) whose shares of a prefix differ: n_samples is what the rows of the
    # largest share were evaluated with, so no baseline row saw more coalitions than reported.
    model, x, baseline = problem(m=12, b=rows, seed=2)
    counting = CountingModel(model)
    asked = []

    def stop():
        asked.append(1)
        return len(asked) > 2

    fx, outputs = model(x[None, :]), model(baseline)
    part = explain(
        counting, x, baseline, number_of_samples=2000, seed=2, should_stop=stop, fx=fx, baseline_outputs=outputs
    )
    assert not part.complete
    assert part.model_rows == sum(counting.calls)
    assert part.model_rows <= rows * part.n_samples
