"""``explain``: Kernel SHAP attributions for one record, with Clarify's budget and semantics."""

from __future__ import annotations

import functools
import inspect
import secrets
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from functools import lru_cache
from math import comb
from typing import Any

import numpy as np

from openclarify.kernelshap.budget import all_coalitions, check_design_size, clarify_n_samples, is_count
from openclarify.kernelshap.coalitions import Allocation, CoalitionDesign, plan_design
from openclarify.kernelshap.links import Link, apply_link, check_in_domain, check_link
from openclarify.kernelshap.masking import DEFAULT_MAX_ROWS, MapPredictFn, PredictFn, as_outputs, tabular_values
from openclarify.kernelshap.solver import (
    PairedGame,
    exact_shapley,
    leading_players,
    odd_interaction_terms,
    paired_regression,
    pairwise_interactions,
    strongest_triples,
)

# The estimator's name and version travel with every result, so an audit can tell which one ran.
ESTIMATOR = "stratified-paired-kernelshap/6"

# Work the fit may spend per unit of model work (see interaction_players): measured on tree ensembles,
# where a model row costs the least and the fit's share is therefore the largest. With one baseline row at M = 20
# it allows six leading players. Five would save 0.055 ms per record (a quarter of the fit) but cost accuracy where
# the game has strong high-order interactions: on ten breast-cancer records against one baseline row (XGBoost), five
# gave an error of 0.047 against exact values and six 0.039 (shap: 0.061); seven and eight gave 0.040 and 0.039.
_FIT_SHARE = 40.0

# Past six leading players the three-way terms cost more than the latency targets allow, their cost growing with the
# square of the regressors. On the benchmark's models at M = 20, B = 10 (two baseline groups, 24 records x 3 seeds
# against exact values) 6 / 7 players gave errors of 0.0224 / 0.0205 (XGBoost) and 0.0072 / 0.0067 (gradient
# boosting), for an engine time of 1.07 / 1.43 ms per record (both groups, with error bars, a model that costs
# nothing); but seven took InvokeEndpoint with explanations from about 1.46x to 1.52-1.55x the bare model on the
# same rows (bench/invoke_bench.py), past the 1.5x it must stay under. With one baseline row the cost rule above
# stops at six.
_MAX_INTERACTION_PLAYERS = 6

# With one baseline row: the triples are the strongest of the leading players' (see _fit), at most this many, among
# this many leading players. Twelve rather than ten: on the benchmark's single-row games at M = 20 (24 records x 8
# seeds against exact values) 0.0225 -> 0.0215 (XGBoost, lower for every seed) and 0.0061 -> 0.0060 (gradient
# boosting), for about 4 us with the model (interleaved A/B); fifteen gave 0.0207 for about 45 us.
_PAIRWISE_TRIPLES = 12
_PAIRWISE_CANDIDATES = 10

# Value function of a game: boolean masks (n, M) in, coalition values (n, D) in model-output space out,
# plus the number of model rows that cost.
ValueFn = Callable[[CoalitionDesign], tuple[np.ndarray, int]]


@dataclass(frozen=True)
class Explanation:
    """Attributions of one record. Arrays are (M, D): one column per model output."""

    attributions: np.ndarray
    standard_errors: np.ndarray | None  # 0 where exact; NaN where too few pairs were sampled; None if not asked for
    expected_value: np.ndarray  # g(mean_b f(b)), (D,)
    fx: np.ndarray  # g(f(x)), (D,)
    n_samples: int  # coalitions each baseline row was evaluated with (excluding the empty and the full one)
    model_rows: int  # rows the model was asked to predict for this explanation
    seed: int
    exact: bool
    link: Link
    estimator: str = ESTIMATOR
    complete: bool = True  # False when should_stop ended the sampling early: a smaller-budget estimate


class Interrupted(Exception):
    """``should_stop`` asked to stop before anything worth an estimate was evaluated."""


# With a should_stop callback, the synthetic rows go to the model in blocks of about this many rows,
# checking between blocks: small enough to stop in time, large enough to keep batches efficient.
STOP_CHECK_ROWS = 16_384


def explain(
    predict: PredictFn,
    x: np.ndarray,
    baseline: np.ndarray,
    *,
    number_of_samples: int | None = None,
    seed: int | None = None,
    link: str = "identity",
    fx: np.ndarray | None = None,
    baseline_outputs: np.ndarray | None = None,
    max_rows: int = DEFAULT_MAX_ROWS,
    allocation: Allocation = "sqrt",
    interactions: int | None = None,
    design: CoalitionDesign | None = None,
    should_stop: Callable[[], bool] | None = None,
    designs: MutableMapping[tuple, CoalitionDesign] | None = None,
    map_predict: MapPredictFn | None = None,
    errors: bool = True,
    baseline_groups: int | None = None,
    dtype: type | None = None,
    ahead: Callable[[tuple], tuple[int, CoalitionDesign] | None] | None = None,
    max_design_cells: int | None = None,
) -> Explanation:
    """Explain ``predict`` at ``x`` against ``baseline`` rows.

    ``predict`` takes an (n, M) array and returns n or (n, D) outputs. ``number_of_samples`` is
    Clarify's NumberOfSamples (None for its default, 2M + 2^11); the budget is capped at 2^M − 2,
    and a budget that reaches it enumerates every coalition and returns exact Shapley values.
    ``fx`` and ``baseline_outputs``, when the caller already has them (a server caches the
    baseline's predictions), save those model rows. ``design``, from ``plan_design`` with the same
    players, budget and seed, skips the sampling; one that does not fit this record (or was planned for another
    seed or allocation) is not used.
    ``designs``, a mapping the caller owns (an endpoint with a fixed Seed), keeps the designs planned for
    each player count, so records after the first skip the sampling.
    ``should_stop``, checked between blocks of synthetic rows, ends the sampling early: the result is
    then the estimate from the coalitions evaluated so far, with ``complete=False`` and error bars to
    match (see ``explain_game``).
    ``map_predict(predict, batches)`` evaluates the batches of at most ``max_rows`` synthetic rows and yields
    their outputs in order (default: one after the other); a distributed caller fans them out across model
    replicas. The batches are the same either way, so the result is bitwise the same for the same seed.
    ``errors=False`` skips the standard errors (``standard_errors`` is then None): a caller that does not report
    them saves their cost, and the attributions are bitwise the same either way.
    ``baseline_groups`` splits the baseline rows into that many groups with coalitions of their own (same model
    rows, see ``sampled_design``); None picks the default rule (``group_baseline``).
    ``dtype=np.float32`` hands the synthetic rows to ``predict`` in single precision, for a model that computes in
    it anyway (XGBoost, ONNX float models): the values it sees are the same, the rows take half the memory.
    ``ahead``, for a call without a seed, is asked for a design planned ahead of time: it gets the design's key
    (players, budget, allocation, baseline groups) and answers (seed, design) with a design from ``plan_design``
    for exactly that key and seed, used once, or None to plan now. The seed reported is the design's, so the
    result is reproduced by passing it.
    ``max_design_cells`` bounds the design, hence the memory (about 20-40 bytes per cell): DesignTooLarge, a
    ValueError, when the players and budget need more cells (``design_cells``). None, the default: no bound.
    """
    link = check_link(link)
    row_dtype = _check_dtype(dtype)
    x, baseline = _check_inputs(x, baseline, row_dtype)
    _check_interactions(interactions)
    m = x.shape[0]
    n_samples = clarify_n_samples(m, number_of_samples)
    if not is_count(max_rows) or max_rows < 1:
        raise ValueError(f"max_rows must be an integer of at least 1, got {max_rows!r}")
    _check_design_arguments(design, designs)
    drawn_here = seed is None
    seed = _resolve_seed(seed)
    # A feature equal to x in every baseline row cannot change any synthetic row: a null player,
    # exactly 0, and leaving it out makes the same budget go further.
    differs = baseline[0] != x if baseline.shape[0] == 1 else (baseline != x).any(axis=0)
    players = differs.nonzero()[0]
    n_players = players.shape[0]
    # Before the model is asked anything: a design too large for the caller is refused as it is.
    check_design_size(n_players, min(n_samples, all_coalitions(n_players)), max_design_cells)

    model_rows = 0
    if fx is None:
        # A copy: a model may hand back a buffer of its own that its next call overwrites (a preallocated output),
        # and f(x) is read again after the synthetic rows were predicted.
        fx_out = as_outputs(predict(x[None, :]), 1, None, "the record")[0].copy()
        model_rows += 1
    else:
        fx_out = as_outputs(np.asarray(fx, dtype=float).reshape(1, -1), 1, None, "the record")[0]
    d = fx_out.shape[0]
    if baseline_outputs is None:
        base_out = as_outputs(predict(baseline), baseline.shape[0], d, "the baseline")
        model_rows += baseline.shape[0]
    else:
        base_out = as_outputs(baseline_outputs, baseline.shape[0], d, "the baseline")
    check_in_domain(fx_out, link, "the record")
    v_empty = base_out.sum(axis=0) / base_out.shape[0]
    # The expected value is the logit of the baseline rows' mean: a row may score 0 or 1, their mean may not.
    check_in_domain(v_empty, link, "the baseline (the mean of its rows' scores)")

    groups = group_baseline(baseline.shape[0], n_players, n_samples, link, baseline_groups)
    n_groups = len(groups)
    if drawn_here and ahead is not None and design is None and n_players >= 2 and n_samples < all_coalitions(n_players):
        picked = ahead((n_players, n_samples, allocation, n_groups))
        if picked is not None:
            seed, design = picked

    def values(design: CoalitionDesign) -> tuple[np.ndarray, int]:
        return tabular_values(
            predict,
            x,
            baseline,
            players,
            design,
            fx_out,
            max_rows,
            map_predict,
            groups if n_groups > 1 else None,
            row_dtype,
        )

    result = _game(
        values,
        n_players=players.shape[0],
        v_full=fx_out,
        v_empty=v_empty,
        budget=n_samples,
        seed=seed,
        link=link,
        allocation=allocation,
        interactions=interactions,
        rows_per_coalition=max(rows.shape[0] for rows in groups),
        design=design,
        should_stop=should_stop,
        designs=designs,
        errors=errors,
        **group_arguments(groups, base_out),
    )
    attributions, standard_errors = result.attributions, result.standard_errors
    if players.shape[0] < m:  # null players get exactly 0
        attributions = np.zeros((m, d))
        attributions[players] = result.attributions
        if result.standard_errors is not None:
            standard_errors = np.zeros((m, d))
            standard_errors[players] = result.standard_errors
    return Explanation(
        attributions=attributions,
        standard_errors=standard_errors,
        expected_value=result.expected_value,
        fx=result.fx,
        n_samples=result.n_samples,
        model_rows=model_rows + result.model_rows,
        seed=seed,
        exact=result.exact,
        link=link,
        complete=result.complete,
    )


def _checking_arguments(game: Callable[..., Explanation]) -> Callable[..., Explanation]:
    """The public ``explain_game``: ``game``, with its signature and documentation, behind a check of the arguments
    a caller can get wrong. ``explain`` checks its own and calls ``game`` directly, so its path pays no check twice."""

    signature = inspect.signature(game)

    @functools.wraps(game)
    def explain_game(values: ValueFn, **options: Any) -> Explanation:
        bound = signature.bind(values, **options)  # a TypeError for a missing or unknown argument, as a call gives
        bound.apply_defaults()
        given = bound.arguments
        link = given["link"] = check_link(given["link"])
        n_players, budget = given["n_players"], given["budget"]
        if not is_count(n_players) or n_players < 0:
            raise ValueError(f"n_players must be a non-negative integer, got {n_players!r}")
        # One player or none needs no coalition: their budget may be 0 (Clarify's rule gives 2^1 - 2 for one).
        if not is_count(budget) or (budget < 1 and n_players >= 2):
            raise ValueError(f"the sample budget must be an integer of at least 1, got {budget!r}")
        given["n_players"], given["budget"] = int(n_players), int(budget)
        _check_interactions(given["interactions"])
        v_full = given["v_full"] = _known_value(given["v_full"], "v_full")
        v_empty = given["v_empty"] = _known_value(given["v_empty"], "v_empty")
        if v_full.shape != v_empty.shape:
            raise ValueError(f"v_full has {v_full.shape[0]} outputs but v_empty has {v_empty.shape[0]}")
        check_in_domain(v_full, link, "the full coalition (v_full)")
        check_in_domain(v_empty, link, "the empty coalition (v_empty)")
        _check_design_arguments(given["design"], given["designs"])
        given["values"] = _checked_values(values, v_full.shape[0])
        return game(*bound.args, **bound.kwargs)

    explain_game.__name__ = explain_game.__qualname__ = "explain_game"
    return explain_game


def _game(
    values: ValueFn,
    *,
    n_players: int,
    v_full: np.ndarray,
    v_empty: np.ndarray,
    budget: int,
    seed: int | None,
    link: Link = "identity",
    allocation: Allocation = "sqrt",
    interactions: int | None = None,
    rows_per_coalition: int = 1,
    design: CoalitionDesign | None = None,
    should_stop: Callable[[], bool] | None = None,
    designs: MutableMapping[tuple, CoalitionDesign] | None = None,
    stop_check_rows: int = STOP_CHECK_ROWS,
    errors: bool = True,
    group_shares: tuple[float, ...] = (1.0,),
    group_v_empty: np.ndarray | None = None,
    max_design_cells: int | None = None,
) -> Explanation:
    """Kernel SHAP on any game given by its value function (tabular masking, text units, ...).

    ``v_full`` and ``v_empty`` are the known values of the full and empty coalitions in model-output
    space; the link is applied here. Uses at most ``budget`` coalitions.

    With ``should_stop``, a sampled design is evaluated in blocks and the callback is asked before each;
    once it says stop, the estimate is made from the pairs evaluated so far (every prefix of a design is
    a stratified sample of its own), flagged ``complete=False``. Raises ``Interrupted`` when it says stop
    before the enumerated part and a first block of sampled pairs are in. An exact design is never cut
    short: a part of it is no estimate of anything.

    ``group_shares`` (for a sampled design, identity link) gives each group of baseline rows coalitions of its
    own; ``values`` then receives a design whose ``pair_group`` says which group evaluates each pair
    (``sampled_design``), and ``group_v_empty`` (G, D) holds each group's empty-coalition value. The attributions
    are the groups' own, weighed by their shares; the groups' coalitions are independent, so their variances add.

    ``max_design_cells`` bounds the design as ``explain``'s does (DesignTooLarge).

    ``seed`` None draws one, reported in the result. Bad arguments raise a ValueError naming the problem.
    """
    seed = _resolve_seed(seed)
    g_full = apply_link(np.asarray(v_full, dtype=float), link)
    g_empty = apply_link(np.asarray(v_empty, dtype=float), link)
    delta = g_full - g_empty
    d = delta.shape[0]
    m = n_players
    budget = min(budget, all_coalitions(m)) if m >= 1 else 0
    check_design_size(m, budget, max_design_cells)
    if m <= 1:
        # Nothing to apportion: a single player gets the whole difference, exactly.
        phi = delta[None, :] if m == 1 else np.zeros((0, d))
        return _result(phi, np.zeros_like(phi) if errors else None, g_empty, g_full, 0, 0, seed, True, link)

    if budget >= all_coalitions(m) or group_v_empty is None:
        group_shares = (1.0,)  # every coalition on every row: nothing left to spread
    n_groups = len(group_shares)
    if n_groups > 1 and link != "identity":
        raise ValueError("baseline groups need the identity link: a logit is taken of the mean over every row")
    if (
        design is None
        or design.n_players != m
        or design.budget != budget
        or design.n_groups != n_groups
        # Planned for another seed or allocation: not this call's design, whose seed the result reports.
        or (design.seed is not None and (design.seed != seed or design.allocation != allocation))
    ):
        key = (m, budget, seed, allocation, n_groups)
        design = designs.get(key) if designs is not None else None
        if design is None:
            design = plan_design(m, budget, seed, allocation, n_groups)
            if designs is not None:
                designs[key] = design
    if should_stop is None or design.exact:
        raw, rows = values(design)
        complete = True
    else:
        raw, rows, design, complete = _evaluate_until_stopped(
            values, design, should_stop, max(1, stop_check_rows // max(rows_per_coalition, 1))
        )
    if link == "logit":
        check_in_domain(raw, link, "the synthetic rows")
    targets = apply_link(raw, link) - g_empty

    if design.exact:
        full = np.empty((1 << m, d))
        full[0] = 0.0
        full[1:-1] = targets
        full[-1] = delta
        phi = exact_shapley(full, m)
        standard_errors = np.zeros_like(phi) if errors else None
    elif n_groups == 1:
        phi, standard_errors = _fit(design, targets, delta, m, rows_per_coalition, interactions, errors)
    else:
        # Each group's game on its own coalitions; the mean game's values are the groups' weighed by their shares.
        assert group_v_empty is not None
        phi = np.zeros((m, d))
        # The groups' variances add; their roots are summed as hypotenuses, whose squares never leave the range of
        # doubles whatever the model's scale.
        spread = np.zeros((m, d)) if errors else None
        for g, share in enumerate(group_shares):
            group_delta = g_full - apply_link(np.asarray(group_v_empty[g], dtype=float), link)
            phi_g, errors_g = _fit(
                design.group(g),
                targets[design.coalitions_of(g)],
                group_delta,
                m,
                rows_per_coalition,
                interactions,
                errors,
            )
            phi += share * phi_g
            if spread is not None and errors_g is not None:
                np.hypot(spread, share * errors_g, out=spread)
        standard_errors = spread
    # Efficiency to the last bit: spread the rounding residue evenly.
    phi += (delta - phi.sum(axis=0))[None, :] / m
    return _result(
        phi, standard_errors, g_empty, g_full, design.coalitions_per_row, rows, seed, design.exact, link, complete
    )


explain_game = _checking_arguments(_game)


def _fit(
    design: CoalitionDesign,
    targets: np.ndarray,
    delta: np.ndarray,
    m: int,
    rows_per_coalition: int,
    interactions: int | None,
    errors: bool,
) -> tuple[np.ndarray, np.ndarray | None]:
    # A design cut short by a deadline has no planned fit inputs: made once here (``PairedGame``), for every step
    # below. The steps number the players as the inputs' rows (``CoalitionDesign.fit_rows``).
    game = PairedGame.of(design, targets)
    design = game.design
    # The players most tied to the game's odd part get odd three-way terms, as many as the
    # design can afford (a deterministic rule, so a seed still fixes the result).
    n_pairs = design.n_coalitions // 2
    k = interaction_players(m, n_pairs, rows_per_coalition) if interactions is None else interactions
    k = min(k, m)
    # Asked for, no more three-way terms than the pairs can pin down next to the linear ones: past that the fit
    # would leave directions to the minimum-norm fallback, which breaks even the linear closed form.
    while interactions is not None and k >= 3 and m + comb(k, 3) > n_pairs:
        k -= 1
    if k < 3:
        triples = np.empty((0, 3), dtype=np.int64)
    elif rows_per_coalition == 1 and interactions is None:
        # One baseline row: the even part's pairwise interactions pick the players and their triples
        # (``leading_players``, ``strongest_triples``): the strongest triples of the ten leading players, as
        # accurate as all twenty of six for half the regressors. On the benchmark's 24 records x 3 seeds at M = 20
        # the error against exact values fell from 0.0264 (the additive ranking, all triples of six) to 0.0210
        # (XGBoost) and from 0.0083 to 0.0062 (gradient boosting). A mean over several rows blurs the pairs: at
        # B = 10 ranking by them gave 0.0232 against 0.0220 (XGBoost), so there the additive ranking stays.
        found = pairwise_interactions(game)
        lead = leading_players(game, min(m, _PAIRWISE_CANDIDATES), found)
        triples = strongest_triples(lead, found, min(_PAIRWISE_TRIPLES, comb(k, 3)))
    else:
        triples = odd_interaction_terms(leading_players(game, k))
    fit = paired_regression(game, delta, triples, with_errors=errors)
    rows = design.fit_rows
    if rows is None:
        return fit.attributions, fit.standard_errors
    # The fit ran on the rows of the template's inputs: each player's results are read from its row.
    return fit.attributions[rows], None if fit.standard_errors is None else fit.standard_errors[rows]


def _evaluate_until_stopped(
    values: ValueFn, design: CoalitionDesign, should_stop: Callable[[], bool], coalitions_per_block: int
) -> tuple[np.ndarray, int, CoalitionDesign, bool]:
    total = design.n_coalitions
    if total == 0:  # a budget of 1: no pair to evaluate, nothing to stop
        raw, rows = values(design)
        return raw, rows, design, True
    # Blocks hold whole pairs; the first one also holds every enumerated pair.
    block = max(2, coalitions_per_block // 2 * 2)
    # ... and the leading pair of every sampled stratum of every group (``sampled_design``), so that no stratum's
    # kernel mass is left out of the estimate.
    leading = min(total, 2 * design.n_enumerated_pairs + 2 * design.stratum_sampled.shape[0])
    first = max(block, leading)
    parts, rows, done = [], 0, 0
    while done < total:
        if should_stop():
            break
        stop = min(total, first if done == 0 else done + block)
        part, part_rows = values(design.rows(done, stop))
        # A copy: the values may be a view of the model's own output buffer, which the next block's call overwrites.
        parts.append(np.array(part, dtype=float))
        rows += part_rows
        done = stop
    if done < leading:
        raise Interrupted("stopped before the first block of coalitions was evaluated")
    raw = np.concatenate(parts)
    if done < total:
        design = design.truncated(done // 2)
    return raw, rows, design, done == total


def group_baseline(
    n_rows: int, n_players: int, budget: int, link: Link, requested: int | None = None
) -> list[np.ndarray]:
    """The baseline rows of each group that gets coalitions of its own (``sampled_design``): two groups whenever
    the coalitions are sampled, the link is the identity and there are two rows to split; else one.

    Measured at M = 20, B = 10, on the benchmark's models (docs/kernelshap.md): the error against exact values
    drops from 0.0269 to 0.0226 (XGBoost) and 0.0076 to 0.0061 (gradient boosting) with two groups, and further
    with more (about 0.018 and 0.0048 with five), but every group adds a design to draw and a fit to solve.
    Under the logit link a coalition's value is the logit of the mean over every row, which groups cannot split.
    ``requested`` overrides the rule (1 to n_rows groups; more than one needs the identity link).
    """
    sampled = n_players >= 2 and budget < all_coalitions(n_players)
    if requested is None:
        n_groups = 2 if sampled and link == "identity" and n_rows >= 2 else 1
    else:
        if isinstance(requested, bool) or not isinstance(requested, int | np.integer) or requested < 1:
            raise ValueError(f"baseline_groups must be a positive integer, got {requested!r}")
        if requested > n_rows:
            raise ValueError(f"baseline_groups is {requested} but the baseline has {n_rows} rows")
        if requested > 1 and link != "identity":
            raise ValueError("baseline groups need the identity link: a logit is taken of the mean over every row")
        n_groups = int(requested) if sampled else 1
    if n_groups == 1:
        return [np.arange(n_rows)]
    # As np.array_split would cut them (the first n_rows % n_groups groups one row longer), without its overhead.
    size, extra = divmod(n_rows, n_groups)
    bounds = [g * size + min(g, extra) for g in range(n_groups + 1)]
    return [np.arange(bounds[g], bounds[g + 1]) for g in range(n_groups)]


def group_arguments(groups: list[np.ndarray], baseline_values: np.ndarray) -> dict:
    """``explain_game``'s group arguments, from the groups' rows and the baseline rows' values (model-output
    space)."""
    if len(groups) == 1:
        return {}
    n_rows = sum(rows.shape[0] for rows in groups)
    return {
        "group_shares": tuple(rows.shape[0] / n_rows for rows in groups),
        "group_v_empty": np.stack([baseline_values[rows].sum(axis=0) / rows.shape[0] for rows in groups]),
    }


@lru_cache(maxsize=256)  # a pure function of three numbers, asked at every fit
def interaction_players(n_players: int, n_pairs: int, rows_per_coalition: int) -> int:
    """How many leading players get odd three-way terms.

    K players give C(K, 3) extra regressors. Their count is kept to a tenth of the pairs, so the fit
    stays well determined, and the fit's cost (pairs × regressors²) to a small share of the model's
    (2 × pairs × rows per coalition × M, in the same units of work), so the explanation stays close to
    the cost of its model rows. Deterministic, so a seed still fixes the result.
    """
    k = 2
    while k < min(n_players, _MAX_INTERACTION_PLAYERS):
        regressors = comb(k + 1, 3) + n_players
        if regressors > n_pairs // 10 or regressors**2 > _FIT_SHARE * 2 * rows_per_coalition * n_players:
            break
        k += 1
    return k


def _result(phi, errors, g_empty, g_full, n_samples, rows, seed, exact, link, complete=True) -> Explanation:
    return Explanation(
        attributions=phi,
        standard_errors=errors,
        expected_value=g_empty,
        fx=g_full,
        n_samples=n_samples,
        model_rows=rows,
        seed=seed,
        exact=exact,
        link=link,
        complete=complete,
    )


def _check_inputs(x: object, baseline: object, row_dtype: type = np.float64) -> tuple[np.ndarray, np.ndarray]:
    try:
        x = np.asarray(x, dtype=float)
        baseline = np.asarray(baseline, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"the record and the baseline must be numeric: {exc}") from None
    if x.ndim != 1:
        raise ValueError(f"the record must be one row of M features, got shape {x.shape}")
    if x.shape[0] < 1:
        raise ValueError("the record has no features (M must be at least 1)")
    if baseline.ndim == 1:
        baseline = baseline[None, :]
    if baseline.ndim != 2 or baseline.shape[0] == 0:
        raise ValueError(f"the baseline must hold at least one row, got shape {baseline.shape}")
    if baseline.shape[1] != x.shape[0]:
        raise ValueError(f"the baseline has {baseline.shape[1]} features but the record has {x.shape[0]}")
    # In the precision the model will see: a value past single precision's range would reach it as infinite.
    single = row_dtype is np.float32
    for values, what in ((x, "the record"), (baseline, "the baseline")):
        if not ((np.abs(values) <= _FLOAT32_MAX).all() if single else np.isfinite(values).all()):
            if np.isfinite(values).all():
                raise ValueError(
                    f"{what} has values beyond single precision's range (±3.4e38), which dtype float32 cannot hand"
                    " to the model; use float64"
                )
            raise ValueError(f"{what} contains NaN or infinite values")
    return x, baseline


_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _check_interactions(interactions: object) -> None:
    if interactions is not None and (not is_count(interactions) or interactions < 0):
        raise ValueError(f"interactions must be None or a non-negative integer, got {interactions!r}")


def _checked_values(values: ValueFn, d: int) -> ValueFn:
    """``values`` behind a check of what it returns: a caller's value function that returns too few rows, another
    number of outputs or NaN would otherwise surface as a broadcasting error deep in the fit, or as NaN attributions
    flagged exact."""

    def checked(design: CoalitionDesign) -> tuple[np.ndarray, int]:
        answer = values(design)
        if not isinstance(answer, tuple) or len(answer) != 2:
            raise TypeError("the value function must return (values, model rows), got " + type(answer).__name__)
        raw, rows = answer
        try:
            out = np.asarray(raw, dtype=float)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"the value function returned non-numeric values: {exc}") from None
        if out.ndim == 1 and d == 1:
            out = out[:, None]
        n = design.n_coalitions
        if out.shape != (n, d):
            raise ValueError(
                f"the value function returned shape {out.shape} for {n} coalitions; expected ({n}, {d}), one value"
                " per output of v_full"
            )
        if not np.isfinite(out).all():
            raise ValueError("the value function returned NaN or infinite values")
        if not is_count(rows) or rows < 0:
            raise ValueError(f"the value function's model row count must be a non-negative integer, got {rows!r}")
        return out, int(rows)

    return checked


def _check_design_arguments(design: object, designs: object) -> None:
    if design is not None and not isinstance(design, CoalitionDesign):
        raise TypeError(f"design must be a CoalitionDesign from plan_design, got {type(design).__name__}")
    # Duck-typed: a caller's bounded cache need not subclass MutableMapping, only be read and written like a dict.
    if designs is not None and not (hasattr(designs, "get") and hasattr(designs, "__setitem__")):
        raise TypeError(f"designs must be a mutable mapping (a dict the caller owns), got {type(designs).__name__}")


def _known_value(value: object, what: str) -> np.ndarray:
    """A coalition's known value as (D,) floats: a scalar is one output."""
    try:
        out = np.atleast_1d(np.asarray(value, dtype=float))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be numeric: {exc}") from None
    if out.ndim != 1 or out.shape[0] == 0:
        raise ValueError(f"{what} must be one value per model output, got shape {out.shape}")
    if not np.isfinite(out).all():
        raise ValueError(f"{what} contains NaN or infinite values")
    return out


def _check_dtype(dtype: object) -> type:
    if dtype is None:
        return np.float64
    if dtype is np.float32 or dtype is np.float64:  # as the runtimes pass it: no dtype to resolve
        return dtype
    try:
        resolved = np.dtype(dtype)  # type: ignore[call-overload]
    except TypeError:
        resolved = None
    if resolved not in (np.dtype(np.float64), np.dtype(np.float32)):
        raise ValueError(f"dtype must be float64 or float32, got {dtype!r}")
    return resolved.type


def draw_seed() -> int:
    """A fresh seed from the OS, in the range of Clarify's Seed (0 to 2^31 - 1)."""
    return secrets.randbits(31)


def _resolve_seed(seed: int | None) -> int:
    # Without a seed, draw one from the OS (never a global RNG) and report it, so any result can be
    # reproduced. 31 bits: a seed that fits Clarify's Seed (an Integer) can be set on an endpoint to reproduce it.
    if seed is None:
        return draw_seed()
    if not is_count(seed) or seed < 0:
        raise ValueError(f"the seed must be a non-negative integer, got {seed!r}")
    return int(seed)
