"""The public API used the way a library user would, including the ways they get it wrong."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openclarify.kernelshap import explain, explain_game, plan_design


def _model(rows: np.ndarray) -> np.ndarray:
    return np.tanh(rows).sum(axis=1) + rows[:, 0] * rows[:, 1]


def _reusing(model):
    """A model that hands back a view of one preallocated output buffer, overwritten by its next call (as runtimes
    with bound outputs do)."""
    buffer = np.empty(1 << 20)

    def predict(rows: np.ndarray) -> np.ndarray:
        out = buffer[: rows.shape[0]]
        out[:] = model(rows)
        return out

    return predict


@settings(max_examples=15, deadline=None)
@given(
    m=st.integers(2, 8),
    b=st.integers(1, 4),
    budget=st.sampled_from([None, 6, 20]),
    seed=st.integers(0, 2**31 - 1),
)
def test_a_model_reusing_its_output_buffer_gets_the_same_attributions(m, b, budget, seed):
    rng = np.random.default_rng(seed)
    x, baseline = rng.normal(size=m), rng.normal(size=(b, m))
    expected = explain(_model, x, baseline, number_of_samples=budget, seed=seed)
    result = explain(_reusing(_model), x, baseline, number_of_samples=budget, seed=seed)
    np.testing.assert_array_equal(result.fx, expected.fx)
    np.testing.assert_array_equal(result.attributions, expected.attributions)


def test_blocks_cut_for_should_stop_survive_a_model_reusing_its_output_buffer():
    # One baseline row: each block of synthetic rows is one model call whose outputs are kept until the fit.
    rng = np.random.default_rng(3)
    x, baseline = rng.normal(size=18), rng.normal(size=(1, 18))
    known = {"fx": _model(x[None, :]), "baseline_outputs": _model(baseline)}
    expected = explain(_model, x, baseline, number_of_samples=60_000, seed=1, errors=False, **known)
    result = explain(
        _reusing(_model),
        x,
        baseline,
        number_of_samples=60_000,
        seed=1,
        errors=False,
        should_stop=lambda: False,
        **known,
    )
    np.testing.assert_array_equal(result.attributions, expected.attributions)


def _linear_values(design):
    # An exact design streams its masks: read them in chunks, as a value function must.
    masks = np.concatenate([chunk for _, chunk in design.mask_chunks(1024)]).astype(float)
    return masks @ np.arange(1.0, masks.shape[1] + 1.0), masks.shape[0]


@pytest.mark.parametrize("budget", [10, 30])  # sampled, then exact (2^5 - 2)
@pytest.mark.parametrize(
    ("values", "message"),
    [
        (lambda d: (np.zeros((3, 1)), 3), r"returned shape \(3, 1\) for \d+ coalitions"),
        (lambda d: (np.zeros((d.n_coalitions, 2)), 1), r"expected \(\d+, 1\), one value per output of v_full"),
        (lambda d: (np.full((d.n_coalitions, 1), np.nan), 1), "NaN or infinite"),
        (lambda d: np.zeros((d.n_coalitions, 1)), r"must return \(values, model rows\)"),
        (lambda d: ([["a"]] * d.n_coalitions, 1), "non-numeric"),
    ],
)
def test_explain_game_names_a_bad_value_function(values, message, budget):
    with pytest.raises((ValueError, TypeError), match=message):
        explain_game(values, n_players=5, v_full=[15.0], v_empty=[0.0], budget=budget, seed=0)


def test_explain_game_accepts_one_value_per_coalition_for_one_output():
    def flat(design):
        values, rows = _linear_values(design)
        return values, rows

    def column(design):
        values, rows = _linear_values(design)
        return values[:, None], rows

    for budget in (10, 30):
        options = {"n_players": 5, "v_full": 15.0, "v_empty": 0.0, "budget": budget, "seed": 4}
        np.testing.assert_array_equal(
            explain_game(flat, **options).attributions, explain_game(column, **options).attributions
        )


@pytest.mark.parametrize("max_rows", [0, -1, 1.5, True, None, "7"])
def test_max_rows_must_be_a_positive_integer(max_rows):
    with pytest.raises(ValueError, match="max_rows must be an integer of at least 1"):
        explain(_model, np.ones(4), np.zeros((1, 4)), seed=0, max_rows=max_rows)


@pytest.mark.parametrize("cells", [-1, 1e9, "1", True])
def test_max_design_cells_must_be_a_count(cells):
    with pytest.raises(ValueError, match="max_design_cells must be None or a non-negative integer"):
        explain(_model, np.ones(4), np.zeros((1, 4)), seed=0, number_of_samples=6, max_design_cells=cells)


def test_design_arguments_of_the_wrong_type_are_named():
    x, baseline = np.ones(6), np.zeros((1, 6))
    with pytest.raises(TypeError, match="design must be a CoalitionDesign"):
        explain(_model, x, baseline, seed=0, number_of_samples=20, design="planned")
    with pytest.raises(TypeError, match="designs must be a mutable mapping"):
        explain(_model, x, baseline, seed=0, number_of_samples=20, designs=[])
    with pytest.raises(TypeError, match="design must be a CoalitionDesign"):
        explain_game(_linear_values, n_players=6, v_full=21.0, v_empty=0.0, budget=20, seed=0, design=object())
    planned = plan_design(6, 20, 0)
    assert np.array_equal(
        explain(_model, x, baseline, seed=0, number_of_samples=20, design=planned, designs={}).attributions,
        explain(_model, x, baseline, seed=0, number_of_samples=20).attributions,
    )
