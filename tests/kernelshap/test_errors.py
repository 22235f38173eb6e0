import warnings

import numpy as np
import pytest

from openclarify.kernelshap import explain, explain_game

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


@pytest.mark.parametrize("budget", [True, 1.5, float("nan"), float("inf"), "100"])
def test_a_budget_that_is_not_an_integer_is_rejected(budget):
    # True used to count as a budget of 1, and the others raised TypeError or OverflowError.
    with pytest.raises(ValueError, match="sample budget must be an integer"):
        explain(MODEL, X, BASELINE, number_of_samples=budget, seed=0)


def test_a_budget_of_one_with_a_deadline_gives_the_equal_split_without_error_bars():
    # Coalitions come in complementary pairs: a budget of 1 evaluates none. Under a deadline this used to fail on
    # an empty list of blocks ("need at least one array to concatenate").
    x, baseline = np.ones(12), np.zeros((1, 12))
    result = explain(
        lambda rows: rows @ np.arange(12.0), x, baseline, number_of_samples=1, seed=1, should_stop=lambda: False
    )
    assert result.n_samples == 0 and result.model_rows == 2  # the record and the baseline row alone
    np.testing.assert_allclose(result.attributions[:, 0], np.full(12, 66.0 / 12))
    assert np.isnan(result.standard_errors).all()


def test_values_past_single_precision_are_refused_for_float32_rows():
    x = np.array([1e300, 1.0, 0.5, 1.0])
    with pytest.raises(ValueError, match="beyond single precision's range"):
        explain(MODEL, x, BASELINE, seed=0, dtype=np.float32)
    with pytest.raises(ValueError, match="baseline has values beyond single precision"):
        explain(MODEL, X, BASELINE * 1e39, seed=0, dtype=np.float32)
    explain(MODEL, x, BASELINE, seed=0)  # float64 rows carry them


def test_a_baseline_row_may_score_exactly_0_or_1_under_the_logit_link():
    # The expected value is the logit of the rows' mean, which is what must lie inside (0, 1).
    def predict(rows):
        return np.where(rows[:, 0] > 5, 1.0, 1.0 / (1.0 + np.exp(-rows.sum(axis=1) / 10)))

    baseline = np.vstack([BASELINE, np.full(4, 9.0)])  # this row scores 1.0
    result = explain(predict, X, baseline, link="logit", seed=0)
    assert np.isfinite(result.expected_value).all()
    with pytest.raises(ValueError, match="the baseline"):
        explain(predict, X, np.full((2, 4), 9.0), link="logit", seed=0)


def test_asked_for_three_way_terms_are_capped_to_what_the_pairs_pin_down():
    # Five leading players would add ten regressors to five linear ones, against ten pairs: the fit fell back to
    # its minimum-norm solution and even a linear model lost its closed form.
    x, baseline = np.arange(1.0, 6.0), np.zeros((1, 5))
    result = explain(lambda rows: rows @ np.ones(5), x, baseline, number_of_samples=20, seed=0, interactions=5)
    np.testing.assert_allclose(result.attributions[:, 0], x, atol=1e-9)
    for bad in (-1, 2.5, True):
        with pytest.raises(ValueError, match="interactions must be None or a non-negative integer"):
            explain(MODEL, X, BASELINE, seed=0, interactions=bad)


def _game(design):
    return np.zeros((design.n_coalitions, 1)), 0


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"budget": 0}, "sample budget must be an integer of at least 1"),
        ({"budget": -5}, "sample budget must be an integer of at least 1"),
        ({"n_players": -1}, "n_players must be a non-negative integer"),
        ({"link": "probit"}, "link must be one of"),
        ({"seed": -3}, "seed must be a non-negative integer"),
        ({"v_full": [1.0, 2.0]}, "v_full has 2 outputs but v_empty has 1"),
        ({"v_full": [np.nan]}, "v_full contains NaN"),
        ({"link": "logit", "v_full": [1.5], "v_empty": [0.5]}, r"full coalition \(v_full\) gave \[1.5\]"),
    ],
)
def test_explain_game_names_a_bad_argument(arguments, message):
    given = {"n_players": 4, "v_full": [1.0], "v_empty": [0.0], "budget": 10, "seed": 0, **arguments}
    with pytest.raises(ValueError, match=message):
        explain_game(_game, **given)


def test_explain_game_takes_a_scalar_value_and_draws_a_seed_it_reports():
    result = explain_game(_game, n_players=4, v_full=1.0, v_empty=0.0, budget=10, seed=None)
    assert isinstance(result.seed, int) and result.attributions.shape == (4, 1)
    assert result.attributions.sum() == pytest.approx(1.0)
