"""The synthetic rows the model sees: for coalition S and baseline row b, x on S and b elsewhere, exactly."""

import numpy as np
import pytest

from openclarify.kernelshap import clarify_n_samples, explain, plan_design


@pytest.mark.parametrize(("m", "b", "groups"), [(12, 1, 1), (12, 3, 1), (12, 3, 2), (12, 6, 3), (40, 6, 2)])
def test_model_sees_exactly_the_masked_rows(m, b, groups):
    rng = np.random.default_rng(m * 10 + b)
    x = rng.normal(size=m)
    baseline = rng.normal(size=(b, m))
    baseline[:, [2, 5]] = x[[2, 5]]  # null players: equal to x in every baseline row
    baseline[0, 7] = x[7]  # equal to x in one baseline row only
    seen: list[np.ndarray] = []

    def model(rows: np.ndarray) -> np.ndarray:
        seen.append(rows.copy())
        return rows @ np.linspace(-1.0, 1.0, m) + rows[:, 0] * rows[:, 1]

    fx = model(x[None, :])
    base_out = model(baseline)
    seen.clear()
    players = np.flatnonzero(np.any(baseline != x, axis=0))  # with one baseline row, column 7 drops out too
    budget = clarify_n_samples(players.shape[0], 300)
    design = plan_design(players.shape[0], budget, seed=3, n_groups=groups)
    explain(
        model, x, baseline, number_of_samples=300, seed=3, fx=fx, baseline_outputs=base_out, design=design,
        baseline_groups=groups,
    )  # fmt: skip

    masks = np.ones((design.n_coalitions, m), dtype=bool)
    masks[:, players] = design.masks
    # Each group's coalitions, in design order, on that group's baseline rows only.
    group_of = design.row_groups(0, design.n_coalitions)
    expected = np.concatenate(
        [
            np.where(masks[group_of == g][:, None, :], x, baseline[rows][None, :, :]).reshape(-1, m)
            for g, rows in enumerate(np.array_split(np.arange(b), groups))
        ]
    )
    assert expected.shape[0] == b * budget  # Clarify's count: every baseline row with its n_samples coalitions
    got = np.concatenate(seen)
    assert got.shape == expected.shape
    assert got.tobytes() == expected.tobytes()


def test_single_precision_rows_change_nothing_for_a_single_precision_model():
    rng = np.random.default_rng(11)
    m, b = 12, 4
    x, baseline = rng.normal(size=m), rng.normal(size=(b, m))
    weights = rng.normal(size=m).astype(np.float32)
    dtypes: set[np.dtype] = set()

    def model(rows: np.ndarray) -> np.ndarray:
        # Computes in single precision, as XGBoost and most ONNX models do.
        dtypes.add(rows.dtype)
        single = rows.astype(np.float32)
        return (np.tanh(single @ weights) + single[:, 0] * single[:, 1]).astype(np.float64)

    double = explain(model, x, baseline, number_of_samples=300, seed=5)
    single = explain(model, x, baseline, number_of_samples=300, seed=5, dtype=np.float32)
    assert np.dtype(np.float32) in dtypes
    assert single.attributions.tobytes() == double.attributions.tobytes()
    with pytest.raises(ValueError, match="float64 or float32"):
        explain(model, x, baseline, dtype=np.int32)


@pytest.mark.parametrize("read_only", [True, False])
def test_the_models_own_output_array_is_never_written_to(read_only):
    # A baseline cell equal to x's makes some synthetic rows x itself, whose value is known: it used to be written
    # into the model's returned array, which failed on a read-only one (a decoded payload) and changed the caller's.
    returned = []

    def predict(rows):
        out = rows[:, 0] * rows[:, 1] + rows[:, 2]
        out.setflags(write=not read_only)
        returned.append((out, out.copy()))
        return out

    rng = np.random.default_rng(0)
    x, baseline = np.arange(6.0), rng.normal(size=(3, 6))
    baseline[0, 0] = x[0]
    result = explain(predict, x, baseline, seed=0)
    reference = explain(lambda rows: rows[:, 0] * rows[:, 1] + rows[:, 2], x, baseline, seed=0)
    np.testing.assert_array_equal(result.attributions, reference.attributions)
    for out, before in returned:
        np.testing.assert_array_equal(out, before)
