"""Properties every result must have, whatever the model, record, baseline, budget and seed."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openclarify.kernelshap import explain

from .models import CountingModel, nonlinear
from .oracle import shapley_values

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def problems(draw, min_m=2, max_m=14):
    m = draw(st.integers(min_m, max_m))
    b = draw(st.integers(1, 4))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    budget = draw(st.one_of(st.none(), st.integers(1, 3000)))
    return rng.normal(size=m), rng.normal(size=(b, m)), rng.normal(size=m), budget, draw(st.integers(0, 2**63 - 1))


@SETTINGS
@given(problems())
def test_efficiency_holds_to_the_last_bits(problem):
    x, baseline, weights, budget, seed = problem
    model = nonlinear(weights)
    result = explain(model, x, baseline, number_of_samples=budget, seed=seed)
    delta = model(x[None])[0] - model(baseline).mean()
    total = result.attributions.sum()
    assert abs(total - delta) <= 1e-9 * max(1.0, abs(delta))
    assert np.all(np.isfinite(result.attributions))


@SETTINGS
@given(problems())
def test_budget_is_never_exceeded(problem):
    x, baseline, weights, budget, seed = problem
    model = CountingModel(nonlinear(weights))
    m, b = x.shape[0], baseline.shape[0]
    result = explain(model, x, baseline, number_of_samples=budget, seed=seed)
    allowed = min(2 * m + 2**11 if budget is None else budget, 2**m - 2)
    assert result.n_samples <= allowed
    # f(x) and the baseline once, then at most one row per coalition and baseline row.
    assert model.rows == result.model_rows <= 1 + b + b * result.n_samples
    assert result.exact == (allowed == 2**m - 2)


@SETTINGS
@given(problems())
def test_same_seed_same_bits(problem):
    x, baseline, weights, budget, seed = problem
    model = nonlinear(weights)
    a = explain(model, x, baseline, number_of_samples=budget, seed=seed)
    b = explain(model, x, baseline, number_of_samples=budget, seed=seed)
    assert a.attributions.tobytes() == b.attributions.tobytes()
    assert a.standard_errors.tobytes() == b.standard_errors.tobytes()
    assert a.seed == seed
    # Skipping the error bars (a caller that does not report them) leaves every attribution bit as it was.
    lean = explain(model, x, baseline, number_of_samples=budget, seed=seed, errors=False)
    assert lean.attributions.tobytes() == a.attributions.tobytes()
    assert lean.standard_errors is None


@SETTINGS
@given(problems(), st.data())
def test_linear_models_get_the_closed_form_at_any_budget(problem, data):
    x, baseline, weights, budget, seed = problem
    # A linear game is fitted without residual, so even a sampled design recovers it exactly,
    # provided the budget pins every direction down (M + 1 pairs at least).
    m = x.shape[0]
    budget = data.draw(st.integers(min(2 * m + 2, 2**m - 2), 3000))
    result = explain(lambda rows: rows @ weights, x, baseline, number_of_samples=budget, seed=seed)
    np.testing.assert_allclose(result.attributions[:, 0], (x - baseline.mean(axis=0)) * weights, atol=1e-9)


@SETTINGS
@given(problems(max_m=8))
def test_symmetric_features_share_equally_and_dummies_get_zero(problem):
    x, baseline, _weights, _, seed = problem
    m = x.shape[0]
    x[1] = x[0]
    baseline[:, 1] = baseline[:, 0]

    def model(rows):
        # Symmetric in features 0 and 1; feature m-1 is ignored unless it is one of them.
        return np.tanh(rows[:, 0] * rows[:, 1]) + rows[:, 0] + rows[:, 1] + rows[:, 2 % m] ** 2 * (m > 2)

    result = explain(model, x, baseline, seed=seed)  # M <= 8: the default budget is exact
    assert result.exact
    np.testing.assert_allclose(result.attributions[0], result.attributions[1], atol=1e-12)
    if m > 3:
        assert abs(result.attributions[m - 1, 0]) <= 1e-12


@SETTINGS
@given(problems(min_m=9, max_m=12))
def test_sampled_dummy_features_stay_within_their_error_bars(problem):
    x, baseline, weights, _, seed = problem
    inner = nonlinear(weights[:-1])

    def model(rows):
        return inner(rows[:, :-1])  # the last feature is a dummy: the model never reads it

    result = explain(model, x, baseline, number_of_samples=200, seed=seed)
    assert not result.exact
    assert abs(result.attributions[-1, 0]) <= 5 * result.standard_errors[-1, 0] + 1e-9


def test_sampled_regime_matches_oracle_within_error_bars():
    rng = np.random.default_rng(11)
    m, b = 12, 2
    model = nonlinear(rng.normal(size=m))
    x, baseline = rng.normal(size=m), rng.normal(size=(b, m))
    truth = shapley_values(model, x, baseline)
    z = []
    for seed in range(40):
        result = explain(model, x, baseline, number_of_samples=300, seed=seed)
        assert not result.exact
        z.append((result.attributions - truth) / result.standard_errors)
    z = np.concatenate(z).ravel()
    # Calibrated error bars: about 95 % of the errors fall within 1.96 standard errors.
    assert 0.85 <= np.mean(np.abs(z) < 1.96) <= 0.995, np.mean(np.abs(z) < 1.96)
