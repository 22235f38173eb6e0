"""Designs planned ahead (``explain(..., ahead=...)``): used only without a seed, and the seed reported is theirs."""

import numpy as np

from openclarify.kernelshap import explain, plan_design

from .models import nonlinear


def test_a_design_planned_ahead_gives_the_result_of_its_seed():
    rng = np.random.default_rng(4)
    m, b = 10, 4
    x, baseline = rng.normal(size=m), rng.normal(size=(b, m))
    model = nonlinear(rng.normal(size=m))
    asked: list[tuple] = []

    def ahead(key: tuple):
        asked.append(key)
        players, budget, allocation, groups = key
        return 1234, plan_design(players, budget, 1234, allocation, groups)

    planned = explain(model, x, baseline, number_of_samples=200, ahead=ahead)
    assert asked == [(10, 200, "sqrt", 2)]
    assert planned.seed == 1234
    direct = explain(model, x, baseline, number_of_samples=200, seed=1234)
    assert planned.attributions.tobytes() == direct.attributions.tobytes()

    # A given seed wins; an exact game needs no design; an empty answer means: plan now, with a seed of its own.
    explain(model, x, baseline, number_of_samples=200, seed=5, ahead=ahead)
    explain(model, x, baseline, ahead=ahead)  # 2^10 - 2 coalitions fit the default budget: exact
    assert len(asked) == 1
    fresh = explain(model, x, baseline, number_of_samples=200, ahead=lambda key: None)
    assert 0 <= fresh.seed < 2**31  # fits Clarify's Seed, so it can be set on an endpoint to reproduce the result
