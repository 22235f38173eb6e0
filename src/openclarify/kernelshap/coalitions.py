"""Which coalitions to evaluate, and with what regression weight.

Two designs:

* **exact**: every coalition except the empty and the full one, in integer-code order, so the
  values can be indexed by code and turned into exact Shapley values.
* **sampled**: the Shapley kernel's mass is split into *pair strata*, one per subset size s < M/2
  (holding the sizes s and M − s) and, for even M, one for s = M/2. A stratum the budget can cover
  completely is enumerated with its exact kernel weights (the "border" trick of shap and shapiq).
  Every other stratum gets a share of the remaining budget and is sampled **in complementary pairs,
  without replacement**, uniformly inside the stratum, each coalition weighted by the stratum's mass
  over its sample count. Deterministic per-stratum weights remove the sampling-frequency noise of
  shap's scheme (Olsen & Jullum 2024), pairing cancels the even part of the game (Covert & Lee 2021),
  and the stratum structure gives the standard errors their degrees of freedom.

Weights are computed in log space, so neither C(M, s) nor the kernel overflow for wide inputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from math import comb, log

import numpy as np
from scipy.special import gammaln

from openclarify.kernelshap.budget import all_coalitions

# How many pair strata get a share of the budget. "kernel" follows the Shapley kernel's mass,
# "uniform" gives every subset size the same share (the leverage-score allocation of Musco & Witter).
Allocation = str
ALLOCATIONS = ("kernel", "uniform", "sqrt")

# A stratum is listed in full before drawing from it when the draw would take more than this share
# of it; below that, rejecting the odd duplicate is cheaper than listing.
_LIST_WHEN_DRAWING_OVER = 0.25


@dataclass(frozen=True)
class CoalitionDesign:
    """Coalitions to evaluate and how the solver weighs them.

    A sampled design is made of complementary pairs: row 2p of ``masks`` is pair p's coalition and
    row 2p + 1 its complement, both with weight ``pair_weights[p]``. ``pair_stratum[p]`` is the sampled
    stratum pair p was drawn from, or -1 where its stratum was enumerated in full.
    """

    n_players: int
    exact: bool
    masks: np.ndarray  # (2P, M) bool; empty for exact designs, whose masks come from codes
    pair_weights: np.ndarray  # (P,) regression weight of each member of the pair
    pair_stratum: np.ndarray  # (P,) sampled stratum index, -1 for enumerated pairs
    stratum_population: np.ndarray  # (H,) pairs in each sampled stratum's population (float, may be huge)
    stratum_sampled: np.ndarray  # (H,) pairs drawn from each sampled stratum

    @property
    def n_coalitions(self) -> int:
        return all_coalitions(self.n_players) if self.exact else int(self.masks.shape[0])

    def mask_chunks(self, rows_per_chunk: int):
        """Yield (start, masks) chunks so an exact design over many players never sits in memory whole."""
        n = self.n_coalitions
        for start in range(0, n, rows_per_chunk):
            stop = min(n, start + rows_per_chunk)
            if self.exact:
                yield start, codes_to_masks(np.arange(start + 1, stop + 1, dtype=np.int64), self.n_players)
            else:
                yield start, self.masks[start:stop]


def codes_to_masks(codes: np.ndarray, n_players: int) -> np.ndarray:
    return ((codes[:, None] >> np.arange(n_players, dtype=np.int64)) & 1).astype(bool)


def exact_design(n_players: int) -> CoalitionDesign:
    empty = np.empty(0)
    return CoalitionDesign(
        n_players=n_players,
        exact=True,
        masks=np.empty((0, n_players), dtype=bool),
        pair_weights=empty,
        pair_stratum=np.empty(0, dtype=np.int64),
        stratum_population=empty,
        stratum_sampled=empty,
    )


@dataclass(frozen=True)
class _Stratum:
    size: int  # the smaller subset size s (s <= M/2)
    self_paired: bool  # s == M/2: the complement has the same size
    log_mass: float  # log of the kernel mass of the whole stratum
    log_pairs: float  # log of its population, counted in pairs
    allocation: float  # its relative claim on the sampling budget


def _strata(n_players: int, allocation: Allocation) -> list[_Stratum]:
    m = n_players
    out = []
    for s in range(1, m // 2 + 1):
        self_paired = 2 * s == m
        # Kernel mass of all coalitions of one size: (M - 1) / (s (M - s)).
        log_size_mass = log(m - 1) - log(s) - log(m - s)
        log_comb = gammaln(m + 1) - gammaln(s + 1) - gammaln(m - s + 1)
        if self_paired:
            log_mass, log_pairs, sizes = log_size_mass, log_comb - log(2), 1
        else:
            log_mass, log_pairs, sizes = log_size_mass + log(2), log_comb, 2
        claim = {"kernel": np.exp(log_mass), "uniform": float(sizes), "sqrt": np.exp(0.5 * log_mass) * sizes**0.5}
        out.append(_Stratum(s, self_paired, float(log_mass), float(log_pairs), float(claim[allocation])))
    return out


def sampled_design(
    n_players: int, budget: int, rng: np.random.Generator, allocation: Allocation = "kernel"
) -> CoalitionDesign:
    """A design of at most ``budget`` coalitions for a budget below 2^M - 2."""
    if allocation not in ALLOCATIONS:
        raise ValueError(f"allocation must be one of {ALLOCATIONS}, got {allocation!r}")
    m = n_players
    if budget >= all_coalitions(m):
        raise ValueError("a budget that covers every coalition calls for the exact design")
    strata = _strata(m, allocation)
    pairs_left = budget // 2

    # Enumerate, outside in, every stratum whose share of the budget would cover it completely;
    # repeat, since removing one frees budget for the others.
    enumerated: list[_Stratum] = []
    open_strata = list(strata)
    # Singletons first whenever they fit: they carry the most kernel weight per coalition, and their
    # pairs alone tell every player apart, so the additive part is identified at any budget >= 2M.
    if m > 2 and pairs_left >= m:
        enumerated.append(open_strata.pop(0))
        pairs_left -= m
    while open_strata:
        total_claim = sum(st.allocation for st in open_strata)
        fits = [
            st
            for st in open_strata
            if pairs_left > 0 and log(pairs_left * st.allocation / total_claim) >= st.log_pairs - 1e-12
        ]
        if not fits:
            break
        for st in fits:
            pairs_left -= n_pairs_in(m, st.size)
            enumerated.append(st)
            open_strata.remove(st)

    counts = _largest_remainder(pairs_left, [st.allocation for st in open_strata])
    reps, log_weights, stratum_of_pair, populations, drawn = [], [], [], [], []
    for st in enumerated:
        pairs = _canonical(_all_subsets_of_size(m, st.size), st)
        if st.self_paired:
            pairs = np.unique(pairs, axis=0)
        # Each coalition of size s carries the kernel weight (M-1) / (C(M,s) s (M-s)).
        reps.append(pairs)
        log_weights.append(np.full(pairs.shape[0], st.log_mass - log(2 * pairs.shape[0])))
        stratum_of_pair.append(np.full(pairs.shape[0], -1, dtype=np.int64))
    for h, (st, k) in enumerate((st, k) for st, k in zip(open_strata, counts, strict=True) if k > 0):
        reps.append(_draw_pairs(m, st, k, rng))
        # The stratum's kernel mass, shared evenly by the 2k coalitions drawn from it.
        log_weights.append(np.full(k, st.log_mass - log(2 * k)))
        stratum_of_pair.append(np.full(k, h, dtype=np.int64))
        populations.append(np.exp(st.log_pairs))
        drawn.append(float(k))

    rep = np.concatenate(reps) if reps else np.empty((0, m), dtype=bool)
    masks = np.empty((2 * rep.shape[0], m), dtype=bool)
    masks[0::2], masks[1::2] = rep, ~rep
    logw = np.concatenate(log_weights) if reps else np.empty(0)
    return CoalitionDesign(
        n_players=m,
        exact=False,
        masks=masks,
        pair_weights=np.exp(logw - logw.max()) if logw.size else logw,
        pair_stratum=np.concatenate(stratum_of_pair) if reps else np.empty(0, dtype=np.int64),
        stratum_population=np.asarray(populations, dtype=float),
        stratum_sampled=np.asarray(drawn, dtype=float),
    )


def _largest_remainder(total: int, claims: list[float]) -> list[int]:
    if not claims or total <= 0:
        return [0] * len(claims)
    share = np.asarray(claims) / sum(claims) * total
    counts = np.floor(share).astype(int)
    order = np.argsort(-(share - counts), kind="stable")
    counts[order[: total - counts.sum()]] += 1
    return counts.tolist()


def _all_subsets_of_size(m: int, s: int) -> np.ndarray:
    if s == 1:
        return np.eye(m, dtype=bool)
    if s == 2:
        idx = np.stack(np.triu_indices(m, 1), axis=1)
    else:
        idx = np.fromiter(combinations(range(m), s), dtype=np.dtype((np.int64, s)))
    masks = np.zeros((idx.shape[0], m), dtype=bool)
    np.put_along_axis(masks, idx, True, axis=1)
    return masks


def _canonical(masks: np.ndarray, st: _Stratum) -> np.ndarray:
    # A self-paired stratum's pair {S, complement} is named by the member that holds player 0.
    if st.self_paired:
        flip = ~masks[:, 0]
        masks[flip] = ~masks[flip]
    return masks


def _draw_pairs(m: int, st: _Stratum, k: int, rng: np.random.Generator) -> np.ndarray:
    """k distinct pair representatives of size ``st.size``, uniformly without replacement."""
    if log(k) >= st.log_pairs + log(_LIST_WHEN_DRAWING_OVER):
        population = _canonical(_all_subsets_of_size(m, st.size), st)
        if st.self_paired:
            population = np.unique(population, axis=0)
        return population[np.sort(rng.choice(population.shape[0], size=k, replace=False))]
    chosen = np.empty((0, m), dtype=bool)
    while chosen.shape[0] < k:
        need = k - chosen.shape[0]
        keys = rng.random((need + need // 8 + 4, m))
        kth = np.partition(keys, st.size - 1, axis=1)[:, st.size - 1 : st.size]
        candidates = _canonical(keys <= kth, st)
        pool = np.concatenate([chosen, candidates])
        packed = np.packbits(pool, axis=1)
        _, first = np.unique(packed, axis=0, return_index=True)
        chosen = pool[np.sort(first)][:k]
    return chosen


def n_pairs_in(m: int, s: int) -> int:
    """Population of a pair stratum, exactly (for tests and small M)."""
    return comb(m, s) // 2 if 2 * s == m else comb(m, s)
