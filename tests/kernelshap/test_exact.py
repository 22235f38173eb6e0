"""Exact mode: when the budget covers every coalition, the result is the Shapley value itself."""

import numpy as np
import pytest

from openclarify.kernelshap import explain, solver

from .models import CountingModel, nonlinear, probability, two_outputs
from .oracle import shapley_values


@pytest.mark.parametrize("m", [2, 3, 5, 8])
@pytest.mark.parametrize("b", [1, 4])
def test_exact_matches_brute_force(m, b):
    rng = np.random.default_rng(m * 10 + b)
    model = nonlinear(rng.normal(size=m))
    x, baseline = rng.normal(size=m), rng.normal(size=(b, m))
    result = explain(model, x, baseline, seed=3)
    assert result.exact
    assert result.n_samples == 2**m - 2
    np.testing.assert_allclose(result.attributions, shapley_values(model, x, baseline), rtol=1e-10, atol=1e-12)
    assert np.all(result.standard_errors == 0.0)
    np.testing.assert_allclose(result.expected_value, model(baseline).mean(keepdims=True))
    np.testing.assert_allclose(result.fx, model(x[None]))


def test_exact_multi_output_and_logit():
    rng = np.random.default_rng(5)
    m = 6
    x, baseline = rng.normal(size=m), rng.normal(size=(3, m))
    multi = two_outputs(rng.normal(size=m))
    result = explain(multi, x, baseline, seed=0)
    assert result.attributions.shape == (m, 2)
    np.testing.assert_allclose(result.attributions, shapley_values(multi, x, baseline), rtol=1e-10, atol=1e-12)

    prob = probability(rng.normal(size=m))
    logit = explain(prob, x, baseline, link="logit", seed=0)
    np.testing.assert_allclose(
        logit.attributions, shapley_values(prob, x, baseline, link="logit"), rtol=1e-10, atol=1e-12
    )
    p_base = prob(baseline).mean()
    assert logit.expected_value[0] == pytest.approx(np.log(p_base / (1 - p_base)))


def test_number_of_samples_reaching_all_coalitions_is_exact_for_any_seed():
    rng = np.random.default_rng(9)
    m = 7
    model = nonlinear(rng.normal(size=m))
    x, baseline = rng.normal(size=m), rng.normal(size=(2, m))
    a = explain(model, x, baseline, number_of_samples=126, seed=1)
    b = explain(model, x, baseline, number_of_samples=10_000, seed=2)
    assert a.exact and b.exact
    assert a.n_samples == b.n_samples == 126
    np.testing.assert_array_equal(a.attributions, b.attributions)


def test_known_rows_are_not_sent_to_the_model_when_that_saves_work():
    """The full coalition is f(x), the empty one the baseline mean, and a row equal to x is f(x)."""
    rng = np.random.default_rng(2)
    m, b = 6, 3
    x = rng.normal(size=m)
    baseline = rng.normal(size=(b, m))
    baseline[0, :5] = x[:5]  # row 0 differs from x only in feature 5
    model = CountingModel(nonlinear(rng.normal(size=m)))
    result = explain(model, x, baseline, seed=0, fx=model.predict(x[None]), baseline_outputs=model.predict(baseline))
    # Row 0 is x whenever feature 5 is present: 2^5 - 1 of the 62 coalitions (the full one excluded).
    assert model.rows == result.model_rows == b * 62 - (2**5 - 1)
    np.testing.assert_allclose(result.attributions, shapley_values(model.predict, x, baseline), atol=1e-12)


def test_a_few_known_rows_are_predicted_with_the_batch_but_valued_as_fx():
    rng = np.random.default_rng(2)
    m, b = 6, 3
    x = rng.normal(size=m)
    baseline = rng.normal(size=(b, m))
    baseline[0, :3] = x[:3]  # 7 of 186 rows are x: not worth a copy of the batch
    model = CountingModel(nonlinear(rng.normal(size=m)))
    result = explain(model, x, baseline, seed=0, fx=model.predict(x[None]), baseline_outputs=model.predict(baseline))
    assert model.rows == result.model_rows == b * 62
    np.testing.assert_allclose(result.attributions, shapley_values(model.predict, x, baseline), atol=1e-12)


def test_features_equal_to_x_in_every_baseline_row_are_null_players():
    rng = np.random.default_rng(4)
    m = 12
    x = rng.normal(size=m)
    baseline = rng.normal(size=(2, m))
    baseline[:, 4:] = x[4:]  # only 4 features can move: 14 coalitions are all there is
    model = CountingModel(nonlinear(rng.normal(size=m)))
    result = explain(model, x, baseline, seed=0)
    assert result.exact and result.n_samples == 14
    assert np.all(result.attributions[4:] == 0.0)
    np.testing.assert_allclose(result.attributions, shapley_values(model.predict, x, baseline), atol=1e-12)


@pytest.mark.parametrize("m", [4, 10, 13])
def test_the_remembered_positions_and_the_loop_over_players_give_the_same_values(m, monkeypatch):
    """Up to 12 players the exact formula reads every marginal gain through remembered positions; past that it loops
    over the players. Both are the Shapley formula: the same numbers, and exactly 0 for a player that changes
    nothing."""
    rng = np.random.default_rng(m)
    values = rng.normal(size=(1 << m, 2))
    codes = np.arange(1 << m)
    values[codes | 2] = values[codes & ~2]  # player 1 is a dummy: v(S ∪ {1}) = v(S) for every S
    default = solver.exact_shapley(values, m)
    monkeypatch.setattr(solver, "_TABLED_PLAYERS", 0 if m <= 12 else m)  # the other path
    other = solver.exact_shapley(values, m)
    np.testing.assert_allclose(default, other, rtol=1e-12, atol=1e-14)
    assert np.all(default[1] == 0.0) and np.all(other[1] == 0.0)
    np.testing.assert_allclose(default.sum(axis=0), values[-1] - values[0], rtol=1e-10)
