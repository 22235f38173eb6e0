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
