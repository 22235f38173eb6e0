"""Which players get odd three-way terms: with one baseline row, the even part's pairwise interactions point at them."""

import numpy as np

from openclarify.kernelshap import clarify_n_samples, explain, plan_design
from openclarify.kernelshap.solver import PairedGame, leading_players, pairwise_interactions

from .oracle import shapley_values

M = 12
ADDITIVE = np.array([1.0, -0.9, 0.8, 0.85, -0.75, 0.7, 0.0, 0.0, 0.0, 0.0, 0.05, 0.0])


def rule_and_main_effects(rows: np.ndarray) -> np.ndarray:
    """Six strong additive players, and a rule (a conjunction, as a tree path is) on three players whose additive
    share is small: 0.8 when features 7, 8 and 9 all exceed 0.5."""
    rows = np.asarray(rows, dtype=float)
    rule = (rows[:, 7] > 0.5) & (rows[:, 8] > 0.5) & (rows[:, 9] > 0.5)
    return rows @ ADDITIVE + 0.8 * rule


def game_values(design, x, baseline):
    rows = np.where(design.masks, x, baseline)
    return rule_and_main_effects(rows)[:, None] - rule_and_main_effects(baseline[None, :])[0]


def test_the_rules_players_lead_by_their_pairwise_interactions_not_by_their_additive_effect():
    x, baseline = np.ones(M), np.zeros(M)
    design = plan_design(M, clarify_n_samples(M), seed=3)
    targets = game_values(design, x, baseline)
    game = PairedGame.of(design, targets)
    by_additive_effect = leading_players(game, 5)
    with_pairs = leading_players(game, 5, pairwise_interactions(game))
    # The ranking numbers the players as the rows of the design's fit inputs, which the seed's renaming shuffled.
    rule = {int(design.fit_rows[j]) for j in (7, 8, 9)}
    assert not rule <= set(by_additive_effect.tolist())
    assert rule <= set(with_pairs.tolist())


def test_with_the_rules_triple_modelled_a_single_row_game_of_order_three_is_exact_from_a_sample():
    """Odd part = additive terms + the rule's triple: a fit with that triple has no residual, so the sampled estimate
    is the exact Shapley value, for every seed, with standard errors of round-off size."""
    x, baseline = np.ones(M), np.zeros((1, M))
    truth = shapley_values(rule_and_main_effects, x, baseline)[:, 0]
    for seed in range(3):
        out = explain(rule_and_main_effects, x, baseline, seed=seed)
        assert not out.exact
        np.testing.assert_allclose(out.attributions[:, 0], truth, atol=1e-10)
        assert out.standard_errors.max() < 1e-8
