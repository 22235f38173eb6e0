"""From coalition values to attributions.

* ``exact_shapley``: the Shapley formula over every coalition; no estimate involved.
* ``paired_regression``: Kernel SHAP's efficiency-constrained weighted least squares, run on the odd
  part of complementary pairs, optionally with odd third-order interaction terms, and with
  standard errors from linearising the fit (a sandwich estimator) over the sampled pairs, stratum
  by stratum, with the finite-population correction of sampling without replacement.

The fit's functions number the players as the rows of the design's fit inputs, which for a design renamed from a
template are not the players' own numbers (``CoalitionDesign.fit_rows``); the explainer reads the results back.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from itertools import combinations

import numpy as np
from scipy.linalg import lapack

from openclarify.kernelshap.coalitions import CoalitionDesign, FitInputs


def exact_shapley(values: np.ndarray, n_players: int) -> np.ndarray:
    """Shapley values from the values of all 2^M coalitions, indexed by integer code.

    ``values[code]`` is v(S) for the coalition whose player j is in S iff bit j of ``code`` is set;
    shape (2^M, D). Returns (M, D).
    """
    m = n_players
    phi = np.empty((m, values.shape[1]))
    if m <= _TABLED_PLAYERS:
        # Every player's marginal gains at once, through positions remembered per M: two gathers, a product and a
        # sum per output, where a loop over players made about five small array operations per player (0.017
        # against 0.116 ms warm at M = 10, the largest M Clarify's default budget enumerates, for one output).
        without, with_, weights = _exact_tables(m)
        for d in range(values.shape[1]):
            column = values[:, d]
            gains = column[with_]  # (M, 2^(M-1)): v(S ∪ {i}) - v(S) below
            gains -= column[without]
            gains *= weights
            phi[:, d] = np.add.reduce(gains, axis=1)
        return phi
    codes = np.arange(1 << (m - 1), dtype=np.int64)
    popcount = _popcount(np.arange(1 << m, dtype=np.int64))
    size_weights = _size_weights(m)
    for i in range(m):
        without_i = _without(codes, i)
        phi[i] = size_weights[popcount[without_i]] @ (values[without_i | (1 << i)] - values[without_i])
    return phi


# Up to this many players the exact path's positions are remembered: 3 x 8 bytes x M 2^(M-1), 0.6 MB at M = 12.
_TABLED_PLAYERS = 12


@lru_cache(maxsize=_TABLED_PLAYERS + 1)
def _exact_tables(m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each player i and each coalition S without i (in code order): the codes of S and S ∪ {i}, and the Shapley
    weight of S, (M, 2^(M-1)) each. Read-only."""
    codes = np.arange(1 << (m - 1), dtype=np.int64)
    without = np.stack([_without(codes, i) for i in range(m)])
    with_ = without | (np.int64(1) << np.arange(m, dtype=np.int64))[:, None]
    weights = _size_weights(m)[_popcount(without)]
    for table in (without, with_, weights):
        table.setflags(write=False)
    return without, with_, weights


def _without(codes: np.ndarray, i: int) -> np.ndarray:
    """The codes of the coalitions without player i, in order: bit i made room for in each of ``codes``."""
    low = codes & ((1 << i) - 1)
    return ((codes >> i) << (i + 1)) | low


def _size_weights(m: int) -> np.ndarray:
    """The Shapley weight of a coalition of each size s < M not holding a given player: s! (M-s-1)! / M!, which is
    1 / (M C(M-1, s)), computed in log space."""
    return np.exp(-np.log(m) - _log_comb(m - 1, np.arange(m)))


def _popcount(codes: np.ndarray) -> np.ndarray:
    if hasattr(np, "bitwise_count"):  # numpy >= 2.0
        return np.bitwise_count(codes).astype(np.int64)
    counts = np.zeros(codes.shape, dtype=np.int64)
    c = codes.copy()
    while np.any(c):
        counts += c & 1
        c >>= 1
    return counts


def _log_comb(n: int, k: np.ndarray) -> np.ndarray:
    from scipy.special import gammaln

    return gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1)


@dataclass(frozen=True)
class PairedFit:
    attributions: np.ndarray  # (M, D)
    standard_errors: np.ndarray | None  # (M, D); None when not asked for


def odd_part(targets: np.ndarray) -> np.ndarray:
    """o = (y(S) - y(complement)) / 2 of each pair, (P, D)."""
    return 0.5 * (targets[0::2] - targets[1::2])


@dataclass(frozen=True)
class PairedGame:
    """A game's values on a design's complementary pairs, in the forms the fit's steps read: made once per fit.

    ``targets`` (2P, D) are the coalitions' values in link space, less the empty coalition's.
    """

    design: CoalitionDesign
    inputs: FitInputs
    targets: np.ndarray
    weighted_odd: np.ndarray  # (P, D) each pair's weight times its odd part (``odd_part``)
    correlation: np.ndarray  # (M, D) signs times ``weighted_odd``: twice the linear regressors' scores

    @classmethod
    def of(cls, design: CoalitionDesign, targets: np.ndarray) -> PairedGame:
        design = design.with_fit_inputs()
        inputs = design.fit_inputs
        # W o = W (y(S) - y(complement)) / 2, with the halved weights kept by the design.
        weighted_odd = (targets[0::2] - targets[1::2]) * inputs.odd_weights
        return cls(design, inputs, targets, weighted_odd, inputs.signs @ weighted_odd)


def leading_players(game: PairedGame, k: int, interactions: np.ndarray | None = None) -> np.ndarray:
    """The k players whose odd three-way terms the fit may take, sorted.

    Players are ranked by the weighted correlation of their ±1 indicator with the game's odd part, summed over
    outputs: on a design of complementary pairs this ranks them as the additive fit would, for a fraction of its
    cost. Given the game's pairwise ``interactions`` (``pairwise_interactions``), a player's share of that score is
    added to its share of the interactions it takes part in.

    Why: a three-way term χ_T pays off where the game's odd part has weight on T. A conjunction of features (a
    path of a tree, a rule) spreads its Fourier weight equally over every subset of them, so its even pairwise
    terms point at its odd triples, and they do so even for players whose additive effect is small. On the
    benchmark's single-row games (M = 20, against exact spectra) the six players leading by pairwise strength
    held 0.90-0.98 of the three-way weight on three records where the additive ranking held 0.0-0.67.
    """
    # The correlations are the linear part of the fit's scores, computed once for both.
    score = np.abs(game.correlation).sum(axis=1)
    if interactions is not None:
        score = _shares(score) + _shares(interactions.sum(axis=1))
    return np.sort(np.argsort(-score, kind="stable")[:k])


def pairwise_interactions(game: PairedGame) -> np.ndarray:
    """|weighted correlation| of each χ_{ij} = s_i s_j with the game's even part, summed over outputs, (M, M).

    The even part of a design's pairs comes with the odd part at no model cost. It is centred within each size
    class first: the mean of s_i s_j over coalitions of one size is not zero, so an uncentred even part would show
    the size classes' means, not interactions. The diagonal is zero.
    """
    inputs = game.inputs
    weights = game.design.pair_weights
    m = inputs.signs.shape[0]
    signs = inputs.signs32  # a ranking: single precision is plenty
    strengths = []
    # Twice the even part: a ranking reads it up to scale, and a power of two scales every product exactly.
    targets = game.targets
    for column in (targets[0::2] + targets[1::2]).T:
        means = np.bincount(inputs.size_class, weights=column, minlength=inputs.size_count.shape[0]) / inputs.size_count
        centred = column - means[inputs.size_class]
        strengths.append(np.abs((signs * (weights * centred).astype(np.float32)) @ signs.T))
    found = strengths[0] if len(strengths) == 1 else np.sum(strengths, axis=0)
    found.flat[:: m + 1] = 0.0  # s_i s_i = 1: no interaction
    return found


def strongest_triples(players: np.ndarray, interactions: np.ndarray, n: int) -> np.ndarray:
    """The n triples of ``players`` (sorted, as ``leading_players`` gives them) with the strongest pairwise
    interactions among their three pairs, (n, 3).

    A conjunction's odd triple carries the same Fourier weight as each of its pairs (``leading_players``), so the
    triples whose pairs interact most are the ones worth a regressor. On the benchmark's single-row games at M = 20
    (24 records x 4 seeds against exact values), the ten strongest triples of the ten leading players gave errors of
    0.0213 (XGBoost) and 0.0061 (gradient boosting), against 0.0218 and 0.0060 for all twenty triples of the six
    leading players: as good for half the regressors. Eight triples gave 0.0230 and 0.0064; twelve are used
    (``explainer._PAIRWISE_TRIPLES``).
    """
    k = players.shape[0]
    table = _triple_table(k)
    if table.shape[0] <= n:
        return players[table]
    # The pairs' interactions among the players, read for every triple at once through flat positions.
    among = interactions[players][:, players].ravel()
    positions = _PAIR_POSITIONS[k] if k < len(_PAIR_POSITIONS) else _pair_positions(table, k)
    strength = np.add.reduce(among[positions], axis=1)
    return players[table[np.sort(np.argsort(-strength, kind="stable")[:n])]]


def _shares(score: np.ndarray) -> np.ndarray:
    total = score.sum()
    return score / total if total > 0 else score


def odd_interaction_terms(leading_players: np.ndarray) -> np.ndarray:
    """Every triple of the leading players, whose third-order odd interactions the fit may model, (T, 3)."""
    k = leading_players.shape[0]
    if k < 3:
        return np.empty((0, 3), dtype=np.int64)
    table = _triple_table(k)
    return np.sort(leading_players)[table]


def _triple_table(k: int) -> np.ndarray:
    """Positions of every triple among k sorted players: the table built at import, or a new one past it."""
    return _TRIPLES[k] if k < len(_TRIPLES) else _triples_of(k)


def _triples_of(k: int) -> np.ndarray:
    """Positions of every triple among k sorted players, in lexicographic order."""
    return np.array(list(combinations(range(k), 3)), dtype=np.int64).reshape(-1, 3)


def _constant(table: np.ndarray) -> np.ndarray:
    table.setflags(write=False)
    return table


def _pair_positions(table: np.ndarray, k: int) -> np.ndarray:
    """Flat positions, in a k x k matrix, of each triple's three pairs (ab, ac, bc), (T, 3)."""
    a, b, c = table[:, 0], table[:, 1], table[:, 2]
    return np.stack([a * k + b, a * k + c, b * k + c], axis=1)


# The tables for the usual numbers of leading players, built once at import: read-only constants, not state.
_TRIPLES = tuple(_constant(_triples_of(k)) for k in range(13))
_PAIR_POSITIONS = tuple(_constant(_pair_positions(_TRIPLES[k], k)) for k in range(13))


def paired_regression(game: PairedGame, delta: np.ndarray, triples: np.ndarray, with_errors: bool = True) -> PairedFit:
    """Kernel SHAP's efficiency-constrained weighted least squares, on complementary pairs.

    The Shapley value depends only on the game's odd part, and a pair (S, complement) isolates it:
    o = (y(S) - y(complement)) / 2. With the linear model the even part is fixed by the constraint,
    so the fit runs on half the rows. ``triples`` adds odd third-order Fourier characters
    χ_T(S) = Π_{j∈T} (2 z_j - 1) as regressors (the idea behind OddSHAP, Fumagalli et al. 2026):
    what they explain no longer shows up as sampling noise, and each passes 2/3 of its coefficient to
    each of its three players. Over every coalition this is still exactly the Shapley value, since
    the residual stays orthogonal to the linear part.

    The constraint aᵀθ = Δ is met with a Lagrange multiplier on one Cholesky factor of FᵀWF, so
    efficiency holds by construction; a design too thin to pin every direction down (tiny budgets)
    falls back to the pseudo-inverse instead of blowing up.
    """
    design, inputs = game.design, game.inputs
    m = design.n_players
    n_terms = triples.shape[0]
    k = m + n_terms
    weights = design.pair_weights
    signs = inputs.signs
    gram = np.empty((k, k))
    gram[:m, :m] = inputs.gram
    # The regressors in two blocks of rows, never copied into one array: the linear block (the centred indicators,
    # half the signs) comes with the design; only the three-way block is built for this record.
    terms = terms8 = None
    if n_terms:
        # Π (2z - 1) over three players: the product of their signs, taken in bytes (exact) and widened once. At
        # M = 20 with twelve triples: 7 against 13 us warm, and 37 kB gathered instead of 300.
        first, second, third = inputs.signs8[triples.T]
        terms8 = first * second
        terms8 *= third
        terms = terms8.astype(float)
        weighted_terms = terms * weights
        # The factorisation reads the lower triangle only: the block above it is filled where it is read (below).
        gram[m:, :m] = 0.5 * (weighted_terms @ signs.T)
        gram[m:, m:] = weighted_terms @ terms.T
    constraint = _constraint(m, n_terms)
    # The attributions are E θ: each three-way term passes 2/3 of its coefficient to each of its players.
    to_players = _linear_to_players(m, n_terms)
    if n_terms:
        to_players[triples, _term_columns(m, n_terms)] = 2.0 / 3.0
    linear = 0.5 * game.correlation
    scores = linear if terms is None else np.concatenate([linear, terms @ game.weighted_odd])
    factor = _spd_factor(gram)
    if factor is not None:
        # θ = C s + G⁻¹a Δ / (aᵀG⁻¹a), with C = G⁻¹ - G⁻¹a aᵀG⁻¹ / (aᵀG⁻¹a) the constrained inverse. One solve
        # with the factor gives G⁻¹ times [a, s] (and times Eᵀ for the errors): no explicit inverse.
        rhs = [constraint[:, None], scores] + ([to_players.T] if with_errors else [])
        solved, _ = lapack.dpotrs(factor, np.concatenate(rhs, axis=1), lower=1)
        d = scores.shape[1]
        g_inv_a, g_inv_s = solved[:, :1], solved[:, 1 : 1 + d]
        # G⁻¹a / (aᵀG⁻¹a), which both the coefficients and the influence take off.
        g_inv_a_scaled = g_inv_a / (constraint @ g_inv_a)
        theta = g_inv_s - g_inv_a_scaled * (constraint @ g_inv_s - delta)
        phi = to_players @ theta
        if not with_errors:
            return PairedFit(phi, None)
        # E C, the influence of each pair's score on the attributions.
        influence = solved[:, 1 + d :].T - (to_players @ g_inv_a) * g_inv_a_scaled.T
    else:
        # Too few pairs to pin every direction down: solve in the plane aᵀθ = Δ and leave the
        # directions the data cannot see at the equal split (the minimum-norm solution).
        gram[:m, m:] = gram[m:, :m].T
        anchor = constraint / (constraint @ constraint)
        q = _orthogonal_complement(constraint)
        constrained = q @ np.linalg.pinv(q.T @ gram @ q, rcond=1e-10, hermitian=True) @ q.T
        theta = np.outer(anchor, delta)
        odd = odd_part(game.targets)
        theta += constrained @ _scores(
            inputs, terms, (odd - np.outer(_fitted(inputs, terms, anchor), delta)) * weights[:, None]
        )
        phi = to_players @ theta
        # A fit that cannot pin every direction down has no residuals to measure its spread by (it interpolates, or
        # nearly): no error bar, rather than one of zero.
        return PairedFit(phi, np.full(phi.shape, np.nan) if with_errors else None)
    # The weighted residuals: W (o - F θ) = W o - W F θ.
    residual = game.weighted_odd - _fitted(inputs, terms, theta) * weights[:, None]
    errors = _sandwich_errors(inputs, terms8, residual, influence)
    return PairedFit(phi, errors)


def _linear_to_players(m: int, n_terms: int) -> np.ndarray:
    """E's part that does not depend on the triples, to be written into: the identity on the linear block,
    (M, M + T)."""
    if m <= _REMEMBERED_PLAYERS:
        return _remembered_linear_to_players(m, n_terms).copy()
    return _identity_block(m, n_terms)


# E is M x (M + T) doubles: remembered up to this many players (at most 64 of them, about 3 MB in all). Past it one
# takes tens of MB (32 MB at the 2 000 text units a server allows), so 64 of them could hold gigabytes for the life of
# the process, and making one costs little next to an explanation over that many players.
_REMEMBERED_PLAYERS = 64


@lru_cache(maxsize=64)
def _remembered_linear_to_players(m: int, n_terms: int) -> np.ndarray:
    base = _identity_block(m, n_terms)
    base.setflags(write=False)
    return base


def _identity_block(m: int, n_terms: int) -> np.ndarray:
    base = np.zeros((m, m + n_terms))
    base[:, :m] = np.eye(m)
    return base


@lru_cache(maxsize=64)
def _term_columns(m: int, n_terms: int) -> np.ndarray:
    """The columns of E that hold the three-way terms, one row each, (T, 1). Read-only."""
    columns = (m + np.arange(n_terms))[:, None]
    columns.setflags(write=False)
    return columns


@lru_cache(maxsize=64)
def _constraint(m: int, n_terms: int) -> np.ndarray:
    """a in aᵀθ = Δ: each linear coefficient is one player's, a three-way term's counts 2/3 for each of three. Asked
    at every fit; a read-only constant."""
    constraint = np.ones(m + n_terms)
    constraint[m:] = 2.0
    constraint.setflags(write=False)
    return constraint


def _scores(inputs: FitInputs, terms: np.ndarray | None, weighted: np.ndarray) -> np.ndarray:
    """Fᵀ v for v already weighted (W times the values), (K, D): the linear rows are half the signs."""
    linear = 0.5 * (inputs.signs @ weighted)
    return linear if terms is None else np.concatenate([linear, terms @ weighted])


def _fitted(inputs: FitInputs, terms: np.ndarray | None, coefficients: np.ndarray) -> np.ndarray:
    """F θ: the fitted odd part of each pair, from the linear rows (the centred indicators, half the signs) and the
    three-way rows."""
    m = inputs.signs.shape[0]
    out = inputs.signs.T @ (0.5 * coefficients[:m])
    if terms is not None:
        out += terms.T @ coefficients[m:]
    return out


def _spd_factor(h: np.ndarray) -> np.ndarray | None:
    """The lower Cholesky factor of a well-conditioned symmetric positive definite matrix, else None.

    LAPACK's potrf is called directly: the matrices are small and the wrappers' checks would cost more
    than the factorisation.
    """
    factor, info = lapack.dpotrf(h, lower=1, clean=0)
    if info != 0:
        return None
    diag = factor.diagonal().tolist()  # positive: potrf succeeded. A list: two reductions of K numbers in Python
    if min(diag) <= 1e-7 * max(diag):  # cost less than numpy's calls
        return None
    return factor


def _orthogonal_complement(a: np.ndarray) -> np.ndarray:
    """An orthonormal basis (k × k-1) of the vectors orthogonal to ``a``: the Householder reflection
    that maps e_k onto a/|a|, without its last column."""
    k = a.shape[0]
    v = a / np.linalg.norm(a)
    v[-1] -= 1.0
    vv = v @ v
    if vv < 1e-30:
        return np.eye(k)[:, : k - 1]
    return (np.eye(k) - (2.0 / vv) * np.outer(v, v))[:, : k - 1]


def _sandwich_errors(
    inputs: FitInputs, terms8: np.ndarray | None, residual: np.ndarray, influence: np.ndarray
) -> np.ndarray:
    """Per-feature standard errors, (M, D), by linearising the fit over the sampled pairs.

    Enumerated pairs are the same for every seed and add no variance. Within a sampled stratum the
    pairs are a simple random sample without replacement, so the variance of its score total is
    (n/(n-1)) Σ (u - ū)² times (1 - n/N) (``FitInputs``).
    """
    m, d = influence.shape[0], residual.shape[1]
    n_sampled = inputs.pair_variance.shape[0]
    n_regressors = influence.shape[1]
    if not inputs.covers_strata or n_sampled < n_regressors:
        # No spread to measure, or none worth reporting: a stratum without a pair leaves part of the kernel's mass
        # out of the fit, which no spread of the pairs shows; and with fewer sampled pairs than regressors the fit
        # takes up most of their spread (their residuals shrink towards 0), so the error bars would claim a
        # precision the estimate does not have. Measured on a nonlinear game at M = 10 against exact values, the
        # share of attributions within 1.96 error bars was 0.00-0.82 below that many sampled pairs (budgets 12-34)
        # and 0.92-0.97 from there on (docs/kernelshap.md).
        return np.full((m, d), np.nan)
    first = inputs.first_sampled
    # A pair's score is its regressors times its weighted residual (``residual`` comes weighted), and the
    # attributions move by the influence matrix times the score sum. Both steps are linear, so the scores are
    # projected onto the players first: u = lever × residual, M numbers per pair and output instead of one per
    # regressor. The projections and sums run in single precision, which halves what they read: a spread needs no
    # more than six digits. Each output's residuals are scaled to at most 1 first (divided in double precision), so
    # that no value or square leaves single precision's range whatever the model's scale, and one output's range
    # never drowns another's.
    sampled = residual[first:]  # (S, D)
    # At least the smallest normal double: an exactly fitted output (residuals 0) then divides to a spread of 0.
    scale = np.abs(sampled).max(axis=0, initial=_TINY)  # (D,)
    influence32 = influence.astype(np.float32)
    # Twice the lever: the linear rows are half the signs, so the signs go in whole and the three-way rows doubled
    # (through their influence, M x T numbers: a plain cast of the bytes costs half of a multiplying one); the factor
    # comes off with the degrees of freedom below. Powers of two: exact.
    lever = influence32[:, :m] @ inputs.signs32[:, first:]  # (M, S)
    if terms8 is not None:
        doubled = influence32[:, m:]
        doubled *= np.float32(2.0)
        lever += doubled @ terms8[:, first:].astype(np.float32)
    scaled = np.divide(sampled.T, scale[:, None], out=np.empty((d, n_sampled), dtype=np.float32))
    u = lever[:, None, :] * scaled  # (M, D, S)
    # Σ (u - ū)² = Σ u² - n ū² within each stratum: two products, no array of centred scores. The difference is
    # taken in double precision.
    means = (u.reshape(m * d, n_sampled) @ inputs.stratum_means).astype(float)  # (M·D, H)
    squares = np.square(u, out=u).reshape(m * d, n_sampled) @ inputs.pair_variance  # (M·D,)
    variance = (squares.astype(float) - np.square(means, out=means) @ inputs.stratum_variance).reshape(m, d)
    # The lever's factor of two squared, and the fitted parameters' use of the residuals' degrees of freedom (the
    # HC1 correction).
    variance *= 0.25 * n_sampled / max(n_sampled - n_regressors, 1)
    # Round-off can leave a hair below zero where the spread is nil (an exactly fitted game). The scale goes back on
    # after the root, so that its square cannot overflow or vanish.
    errors = np.sqrt(np.maximum(variance, 0.0, out=variance), out=variance)
    errors *= scale
    return errors


_TINY = float(np.finfo(float).tiny)
