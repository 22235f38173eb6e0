import threading
import tracemalloc

import numpy as np
import pytest

from openclarify.kernelshap import DesignTooLarge, design_cells, explain, explain_game
from openclarify.kernelshap.coalitions import _TEMPLATES, DesignCache, design_template

from .models import CountingModel, nonlinear


def test_many_threads_get_the_same_bits_as_one():
    rng = np.random.default_rng(1)
    m = 16
    model = nonlinear(rng.normal(size=m))
    records = rng.normal(size=(6, m))
    baseline = rng.normal(size=(3, m))
    expected = [explain(model, x, baseline, seed=i).attributions for i, x in enumerate(records)]
    results: dict[tuple[int, int], np.ndarray] = {}

    def worker(t: int) -> None:
        for i, x in enumerate(records):
            results[t, i] = explain(model, x, baseline, seed=i).attributions

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for (_, i), got in results.items():
        assert got.tobytes() == expected[i].tobytes()


def test_synthetic_rows_are_built_in_bounded_chunks_with_identical_results():
    rng = np.random.default_rng(2)
    m, b = 14, 10
    x, baseline = rng.normal(size=m), rng.normal(size=(b, m))
    big = CountingModel(nonlinear(rng.normal(size=m)))
    small = CountingModel(big.predict)
    a = explain(big, x, baseline, seed=5)
    c = explain(small, x, baseline, seed=5, max_rows=97)
    assert max(small.calls) <= 97
    assert max(big.calls) > 97  # the default chunk takes the whole synthetic set here
    # The model's own matrix product rounds differently for other batch sizes; nothing else differs.
    np.testing.assert_allclose(a.attributions, c.attributions, rtol=1e-12, atol=1e-14)
    assert a.model_rows == c.model_rows


def test_a_row_by_row_model_gives_the_same_bits_whatever_the_chunks():
    """With a model whose every row's output is computed on its own, nothing in the engine may depend on how the
    synthetic rows were batched: a fanned-out explanation (serve --ray) must equal the embedded one bitwise, baseline
    groups and per-coalition means included."""
    rng = np.random.default_rng(4)
    # Fifty rows, two groups of 25: a BLAS matrix-vector product for the means rounded differently by batch here.
    m, b = 12, 50
    x, baseline = rng.normal(size=m), rng.normal(size=(b, m))

    def row_by_row(rows: np.ndarray) -> np.ndarray:
        return np.sin(rows[:, 0]) + rows[:, 1] * rows[:, 2] - np.cos(rows[:, 3] * rows[:, 4]) + rows[:, 5:].sum(axis=1)

    whole = explain(row_by_row, x, baseline, seed=7)
    for rows_per_call in (97, 1000, 4096):
        chunked = explain(row_by_row, x, baseline, seed=7, max_rows=rows_per_call)
        np.testing.assert_array_equal(chunked.attributions, whole.attributions)
        np.testing.assert_array_equal(chunked.standard_errors, whole.standard_errors)


def test_exact_design_over_many_players_streams_its_masks():
    rng = np.random.default_rng(3)
    m = 16
    x, baseline = rng.normal(size=m), rng.normal(size=(1, m))
    model = CountingModel(lambda rows: rows.sum(axis=1) + rows[:, 0] * rows[:, 1])
    result = explain(model, x, baseline, number_of_samples=2**m, seed=0, max_rows=4096)
    assert result.exact and result.n_samples == 2**m - 2
    assert max(model.calls) <= 4096
    expected = x - baseline[0]
    (x0, x1), (b0, b1) = x[:2], baseline[0, :2]
    # The product term's Shapley values: each player's gain averaged over the other being absent or present.
    expected[0] += ((x0 - b0) * b1 + (x0 - b0) * x1) / 2
    expected[1] += ((x1 - b1) * b0 + (x1 - b1) * x0) / 2
    np.testing.assert_allclose(result.attributions[:, 0], expected, atol=1e-9)


def test_a_planned_design_gives_the_same_bits_and_is_ignored_when_it_does_not_fit():
    from openclarify.kernelshap import clarify_n_samples, plan_design

    rng = np.random.default_rng(4)
    m = 15
    model = nonlinear(rng.normal(size=m))
    x, baseline = rng.normal(size=m), rng.normal(size=(2, m))
    design = plan_design(m, clarify_n_samples(m), seed=9)
    a = explain(model, x, baseline, seed=9)
    b = explain(model, x, baseline, seed=9, design=design)
    assert a.attributions.tobytes() == b.attributions.tobytes()
    # A record with a null player has fewer players than the design: a fresh one is planned.
    baseline[:, 0] = x[0]
    c = explain(model, x, baseline, seed=9, design=design)
    assert c.attributions[0, 0] == 0.0 and abs(c.attributions.sum() - (c.fx - c.expected_value)[0]) < 1e-9


def test_a_design_past_max_design_cells_is_refused_before_anything_is_planned_or_evaluated():
    rng = np.random.default_rng(2)
    m = 30
    model = CountingModel(nonlinear(rng.normal(size=m)))
    x, baseline = rng.normal(size=m), rng.normal(size=(2, m))
    # 30 players x 5 000 coalitions = 150 000 cells.
    with pytest.raises(DesignTooLarge, match="30 players and 5000 coalitions make a design of 150000 cells"):
        explain(model, x, baseline, number_of_samples=5_000, seed=1, max_design_cells=149_999)
    assert model.rows == 0
    # At the bound it runs, and a design whose every coalition is listed counts coalitions, not cells: its masks are
    # streamed from integer codes, never stored.
    explain(model, x, baseline, number_of_samples=5_000, seed=1, max_design_cells=150_000)
    assert design_cells(m, 5_000) == 150_000 and design_cells(10, 1_022) == 1_022
    small = rng.normal(size=10)
    exact = explain(nonlinear(small), small, rng.normal(size=(1, 10)), number_of_samples=2_000, max_design_cells=1_022)
    assert exact.exact
    with pytest.raises(DesignTooLarge):
        explain_game(
            lambda design: (np.zeros((design.n_coalitions, 1)), 0),
            n_players=m,
            v_full=np.ones(1),
            v_empty=np.zeros(1),
            budget=5_000,
            seed=1,
            max_design_cells=1_000,
        )


def test_remembered_templates_stay_within_their_byte_budget():
    # Clarify's NumberOfSamples has no maximum: templates of large budgets must not pile up for the process's life.
    small = [design_template(12, 200, "sqrt", 1, index) for index in range(3)]
    large = design_template(60, 6_000, "sqrt", 1, 0)
    templates = DesignCache(max_bytes=2 * small[0].nbytes + 1)
    for index, design in enumerate(small):
        templates.put(("small", index), design)
    assert templates.get(("small", 0)) is None  # the least recently used went first
    assert templates.get(("small", 1)) is small[1] and templates.get(("small", 2)) is small[2]
    templates.put(("large",), large)  # larger than the whole budget: never kept
    assert templates.get(("large",)) is None and templates.get(("small", 2)) is small[2]
    assert large.nbytes > 15 * 60 * 3_000  # masks and the fit's signs: about 15 bytes per pair and player


def test_designs_kept_for_a_seed_across_many_player_counts_stay_within_the_cache_bytes():
    # A text feature makes a game of another size for nearly every record: a plain dict of designs kept one per
    # player count grew a server by gigabytes (a design is tens of MB at a few hundred units).
    rng = np.random.default_rng(0)
    budget = 400
    limit = 6 * design_template(60, budget).nbytes
    cache = DesignCache(max_bytes=limit)
    for m in range(40, 80):
        weights = rng.normal(size=m)

        def values(design, weights=weights):
            return (design.masks @ weights)[:, None], design.n_coalitions

        options = {"n_players": m, "v_full": np.array([weights.sum()]), "v_empty": np.zeros(1), "budget": budget}
        kept = explain_game(values, seed=5, designs=cache, **options)
        assert cache.nbytes <= limit
        again = explain_game(values, seed=5, designs=cache, **options)
        fresh = explain_game(values, seed=5, **options)
        assert np.array_equal(kept.attributions, fresh.attributions)
        assert np.array_equal(again.attributions, fresh.attributions)
    assert 1 <= len(cache) <= 6


def test_explanations_over_many_large_player_counts_keep_no_matrix_per_count():
    # The fit's M x (M + T) map from coefficients to players was remembered for the last 64 (M, T): 8 MB each at
    # M = 1 000, 32 MB at the 2 000 text units a server allows, so a stream of long texts held gigabytes for good.
    def explain_once(m: int) -> None:
        weights = np.linspace(-1.0, 1.0, m)
        explain_game(
            lambda design: ((design.masks @ weights)[:, None], design.n_coalitions),
            n_players=m,
            v_full=np.array([weights.sum()]),
            v_empty=np.zeros(1),
            budget=60,
            seed=1,
        )

    explain_once(1_000)  # whatever a first call builds once
    tracemalloc.start()
    try:
        before, templates_before = tracemalloc.get_traced_memory()[0], _TEMPLATES.nbytes
        for m in range(1_001, 1_011):
            explain_once(m)
        kept = tracemalloc.get_traced_memory()[0] - before - (_TEMPLATES.nbytes - templates_before)
    finally:
        tracemalloc.stop()
    # The templates drawn for the new player counts stay, within their own bound; nothing else should.
    assert kept < 10 * 2**20, f"{kept / 2**20:.0f} MB kept after ten explanations, besides the templates"
