import warnings

import numpy as np
import pytest

from openclarify.kernelshap import explain

from .models import nonlinear, probability

RNG = np.random.default_rng(0)
X = RNG.normal(size=4)
BASELINE = RNG.normal(size=(2, 4))
MODEL = nonlinear(RNG.normal(size=4))


@pytest.mark.parametrize(
    ("x", "baseline", "message"),
    [
        (np.array([1.0, np.nan, 0.0, 1.0]), BASELINE, "record contains NaN or infinite"),
        (np.array([1.0, np.inf, 0.0, 1.0]), BASELINE, "record contains NaN or infinite"),
        (X, np.where(BASELINE > 0, np.inf, BASELINE), "baseline contains NaN or infinite"),
        (X, BASELINE[:, :3], "baseline has 3 features but the record has 4"),
        (X, np.empty((0, 4)), "at least one row"),
        (np.empty(0), np.empty((1, 0)), "M must be at least 1"),
        (np.ones((2, 4)), BASELINE, "one row of M features"),
        (["a", "b", "c", "d"], BASELINE, "must be numeric"),
    ],
)
def test_bad_inputs_name_the_problem(x, baseline, message):
    with pytest.raises(ValueError, match=message):
        explain(MODEL, x, baseline, seed=0)


def test_budget_below_one_is_rejected():
    with pytest.raises(ValueError, match="budget must be at least 1"):
        explain(MODEL, X, BASELINE, number_of_samples=0, seed=0)


def test_logit_needs_outputs_inside_the_unit_interval():
    with pytest.raises(ValueError, match=r"logit link needs model outputs strictly inside \(0, 1\)"):
        explain(MODEL, X, BASELINE, link="logit", seed=0)
    explain(probability(RNG.normal(size=4)), X, BASELINE, link="logit", seed=0)


def test_unknown_link_and_bad_seed():
    with pytest.raises(ValueError, match="link must be one of"):
        explain(MODEL, X, BASELINE, link="probit", seed=0)
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        explain(MODEL, X, BASELINE, seed=-1)


def test_model_output_of_the_wrong_shape_or_with_nan():
    with pytest.raises(ValueError, match="expected"):
        explain(lambda rows: np.zeros(rows.shape[0] + 1), X, BASELINE, seed=0)
    with pytest.raises(ValueError, match="NaN or infinite values for the baseline"):
        explain(lambda rows: np.full(rows.shape[0], np.nan), X, BASELINE, seed=0, fx=np.array([1.0]))


def test_one_non_finite_synthetic_output_is_caught():
    # The record and the baseline (three rows at most) score finite; one row of the synthetic batch does not.
    def predict(rows):
        return np.where(np.arange(rows.shape[0]) == rows.shape[0] - 1, np.inf if rows.shape[0] > 3 else 0.0, 0.0)

    with pytest.raises(ValueError, match="NaN or infinite values for synthetic rows"):
        explain(predict, X, BASELINE, seed=0)


def test_huge_finite_values_are_accepted_without_a_warning():
    # A finite check by a sum would overflow here (and warn, or raise under np.seterr(over="raise")).
    x = np.array([1e308, 1e308, 0.5, 1.0])
    weights = np.array([1e-308, 1e-308, 1.0, 1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = explain(lambda rows: np.tanh(rows @ weights), x, BASELINE, seed=0)
    assert np.isfinite(result.attributions).all()
    assert result.attributions.sum() == pytest.approx(result.fx[0] - result.expected_value[0], rel=1e-9)
