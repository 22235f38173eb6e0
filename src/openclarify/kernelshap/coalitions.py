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

import random
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from itertools import combinations
from math import comb, log

import numpy as np
from scipy.special import gammaln

from openclarify.kernelshap.budget import all_coalitions

# How the sampled pair strata share the budget: "kernel" in proportion to the Shapley kernel's mass,
# "uniform" equally per subset size (the leverage-score allocation of Musco & Witter), "sqrt" in
# proportion to the square root of the mass. On tree ensembles at M = 20, "sqrt" gave the lowest
# error of the three (docs/kernelshap.md), so it is the default.
Allocation = str
ALLOCATIONS = ("kernel", "uniform", "sqrt")

# A stratum is listed in full before drawing from it when the draw would take more than this share
# of it; below that, rejecting the odd duplicate is cheaper than listing.
_LIST_WHEN_DRAWING_OVER = 0.25


@dataclass(frozen=True)
class FitInputs:
    """What the fit and its error bars need that depends on the design alone, not on the model: computed once
    when a design is planned, so a planned design does not rebuild it for every record.

    The regressors are stored one row per player and one column per pair: the fit gathers whole players' rows
    (the three-way terms are products of three of them), which is a contiguous copy in this layout. Only the
    signs are kept, not their weighted copies: the weights go on the vectors they multiply, which keeps what a
    fit reads small enough to stay in cache while the model runs between two fits.
    """

    signs: np.ndarray  # (M, P) 2z - 1 of each pair's coalition: +1 for a player in it, -1 for one out
    # The same in single precision (exact: ±1), for what needs no more: ranking players and the error bars' spread.
    signs32: np.ndarray
    # And in bytes, an eighth of the doubles, for building the three-way characters: products of ±1 are exact in any
    # type, and what a fit gathers stays small next to the model's own data in the caches.
    signs8: np.ndarray
    gram: np.ndarray  # (M, M) the weighted Gram matrix of the centred indicators z - 1/2 (half the signs)
    first_sampled: int  # pairs from here on were sampled (enumerated pairs come first); P when none was
    stratum_means: np.ndarray  # (S, H) float32: averages each sampled stratum's pairs; zero for strata of one pair
    pair_variance: np.ndarray  # (S,) float32: each sampled pair's variance factor, fpc n / (n - 1) of its stratum
    stratum_variance: np.ndarray  # (H,) the factor times n, taken off with each stratum's mean; 0 for one pair
    size_class: np.ndarray  # (P,) min(s, M - s) for a pair of coalitions of sizes s and M - s
    size_count: np.ndarray  # (M // 2 + 1,) pairs of each size class (at least 1, so it can divide)
    # Every pair stratum (subset sizes s and M - s) has a pair in the design. Where one has none, the fit never sees
    # that part of the kernel's mass: the estimate leans on the others, by an amount no spread of the pairs shows.
    covers_strata: bool
    odd_weights: np.ndarray  # (P, 1) half of each pair's weight: W times the pair's difference is W o

    @classmethod
    def of(cls, design: CoalitionDesign) -> FitInputs:
        signs = np.ascontiguousarray(design.masks[0::2].T, dtype=float)
        signs *= 2.0
        signs -= 1.0
        sampled = design.pair_stratum >= 0
        # Enumerated pairs come first in a design, so the sampled ones are a contiguous tail.
        first = int(np.argmax(sampled)) if sampled.any() else sampled.shape[0]
        stratum = design.pair_stratum[first:]
        drawn = design.stratum_sampled
        # Sampling without replacement: (1 - n/N) n/(n-1) per stratum. A stratum of one pair has no spread to
        # measure; its uncentred square stands in (no mean is taken out), which can only overstate the error.
        fpc = np.clip(1.0 - drawn / design.stratum_population, 0.0, 1.0)
        factor = np.where(drawn > 1, fpc * drawn / np.maximum(drawn - 1, 1), fpc)
        means = np.zeros((stratum.shape[0], drawn.shape[0]), dtype=np.float32)
        means[np.arange(stratum.shape[0]), stratum] = np.where(drawn > 1, 1.0 / np.maximum(drawn, 1), 0.0)[stratum]
        m = design.n_players
        size = np.count_nonzero(design.masks[0::2], axis=1)
        size_class = np.minimum(size, m - size)
        per_class = np.bincount(size_class, minlength=m // 2 + 1)
        return cls(
            signs=signs,
            signs32=signs.astype(np.float32),
            signs8=signs.astype(np.int8),
            # Σ w (z_j - 1/2)(z_k - 1/2); two distinct operands, so it runs as a plain matrix product (a product of
            # an array with its own transpose would run as BLAS's symmetric update, slower at these sizes).
            gram=0.25 * ((signs * design.pair_weights) @ signs.T),
            first_sampled=first,
            stratum_means=means,
            pair_variance=factor[stratum].astype(np.float32),
            stratum_variance=np.where(drawn > 1, factor * drawn, 0.0),
            size_class=size_class,
            size_count=np.maximum(per_class, 1).astype(float),
            covers_strata=bool(per_class[1:].all()),
            odd_weights=0.5 * design.pair_weights[:, None],
        )


@dataclass(frozen=True)
class CoalitionDesign:
    """Coalitions to evaluate and how the solver weighs them.

    A sampled design is made of complementary pairs: row 2p of ``masks`` is pair p's coalition and
    row 2p + 1 its complement, both with weight ``pair_weights[p]``. ``pair_stratum[p]`` is the sampled
    stratum pair p was drawn from, or -1 where its stratum was enumerated in full.

    A design may split the baseline rows into ``n_groups`` groups, each with coalitions of its own
    (``plan_design``'s ``n_groups``): pair p is then evaluated on the rows of group ``pair_group[p]``
    only, and a sampled stratum of each group counts as a stratum of its own.
    """

    n_players: int
    budget: int  # the budget the design was planned for (it may use fewer coalitions)
    exact: bool
    masks: np.ndarray  # (2P, M) bool; empty for exact designs, whose masks come from codes
    pair_weights: np.ndarray  # (P,) regression weight of each member of the pair
    pair_stratum: np.ndarray  # (P,) sampled stratum index, -1 for enumerated pairs
    stratum_population: np.ndarray  # (H,) pairs in each sampled stratum's population (float, may be huge)
    stratum_sampled: np.ndarray  # (H,) pairs drawn from each sampled stratum
    stratum_mass: np.ndarray  # (H,) each sampled stratum's kernel mass, on the scale of pair_weights
    pair_group: np.ndarray | None = None  # (P,) baseline group of each pair; None: one group
    n_groups: int = 1
    # Each group's own design, split off when the design is planned, so a planned design is reused whole.
    parts: tuple[CoalitionDesign, ...] = ()
    # Where each group's coalitions sit in ``masks``, in order, planned with the parts.
    group_positions: tuple[np.ndarray, ...] = ()
    planned_fit: FitInputs | None = None  # None: computed when asked for (``fit_inputs``)
    # Coalitions per baseline row where the groups' counts differ (a prefix cut by a deadline, ``truncated``): the
    # largest group's. None: every group has n_coalitions / n_groups.
    per_row: int | None = None
    # Player j's row in ``planned_fit`` (``fit_rows``); None: row j. Set by ``relabelled``; read only with the
    # planned fit inputs it refers to, so a design that drops them drops it too.
    fit_order: np.ndarray | None = None
    # The seed and allocation ``plan_design`` drew it for; None for a design made otherwise. ``explain`` uses a design
    # passed to it only for the seed it reports, so the reported seed always reproduces the result.
    seed: int | None = None
    allocation: Allocation | None = None

    @property
    def fit_inputs(self) -> FitInputs:
        """The fit's design-only inputs: planned with the design, or computed now."""
        return self.planned_fit or FitInputs.of(self)

    @property
    def fit_rows(self) -> np.ndarray | None:
        """Which row of ``fit_inputs`` holds each player, or None when player j's is row j.

        A design renamed from a template (``relabelled``) keeps the template's fit inputs, untouched, and says here
        where each player's rows went: the fit runs on those rows, and its attributions are read back in player
        order (``explainer._fit``). Renaming then gathers the masks alone.
        """
        return self.fit_order if self.planned_fit is not None else None

    def with_fit_inputs(self) -> CoalitionDesign:
        """This design carrying its fit inputs, so that every step of a fit reads the same ones."""
        if self.planned_fit is not None:
            return self
        return replace(self, planned_fit=FitInputs.of(self), fit_order=None)

    @property
    def n_enumerated_pairs(self) -> int:
        return int(np.count_nonzero(self.pair_stratum < 0))

    @property
    def coalitions_per_row(self) -> int:
        """Coalitions each baseline row is evaluated with: Clarify's n_samples (at most, where a deadline cut the
        groups' shares unevenly)."""
        return self.n_coalitions // self.n_groups if self.per_row is None else self.per_row

    def row_groups(self, start: int, stop: int) -> np.ndarray:
        """The baseline group of each coalition ``[start, stop)``."""
        if self.pair_group is None:
            return np.zeros(stop - start, dtype=np.int64)
        return np.repeat(self.pair_group, 2)[start:stop]

    def coalitions_of(self, g: int) -> np.ndarray:
        """Where group g's coalitions sit in the design, in order: those of ``group(g)``."""
        if self.group_positions:
            return self.group_positions[g]
        return np.flatnonzero(self.row_groups(0, self.n_coalitions) == g)

    def group(self, g: int) -> CoalitionDesign:
        """Group g's own design: its pairs, with their strata numbered from 0."""
        if self.pair_group is None:
            return self
        if self.parts:
            return self.parts[g]
        own = self.pair_group == g
        stratum = self.pair_stratum[own]
        kept, renumbered = np.unique(stratum[stratum >= 0], return_inverse=True)
        numbers = np.full(stratum.shape[0], -1, dtype=np.int64)
        numbers[stratum >= 0] = renumbered
        return replace(
            self,
            masks=self.masks.reshape(-1, 2, self.n_players)[own].reshape(-1, self.n_players),
            pair_weights=self.pair_weights[own],
            pair_stratum=numbers,
            stratum_population=self.stratum_population[kept],
            stratum_sampled=self.stratum_sampled[kept],
            stratum_mass=self.stratum_mass[kept],
            pair_group=None,
            n_groups=1,
            parts=(),
            group_positions=(),
            planned_fit=None,
            per_row=None,
        )

    def chunk_by_group(self, start: int, masks: np.ndarray) -> list[tuple[int, slice | np.ndarray, np.ndarray]]:
        """A chunk of ``mask_chunks`` split by baseline group: (group, the coalitions' positions, their masks)."""
        if self.pair_group is None:
            return [(0, slice(start, start + masks.shape[0]), masks)]
        if self.group_positions and start == 0 and masks.shape[0] == self.n_coalitions:
            # The whole design in one chunk: every group's coalitions as they were planned, no search.
            return [(g, self.group_positions[g], self.parts[g].masks) for g in range(self.n_groups)]
        groups = self.row_groups(start, start + masks.shape[0])
        parts = []
        for g in range(self.n_groups):
            chosen = groups == g
            if chosen.any():
                parts.append((g, start + np.flatnonzero(chosen), masks[chosen]))
        return parts

    def rows(self, start: int, stop: int) -> CoalitionDesign:
        """The coalitions ``[start, stop)`` alone, for evaluating a design block by block."""
        pairs = slice(start // 2, stop // 2)
        return replace(
            self,
            masks=self.masks[start:stop],
            pair_weights=self.pair_weights[pairs],
            pair_group=None if self.pair_group is None else self.pair_group[pairs],
            parts=(),
            group_positions=(),
            planned_fit=None,
        )

    def truncated(self, n_pairs: int) -> CoalitionDesign:
        """The design made of its first ``n_pairs`` pairs, reweighted as if it had been planned that size.

        Sampled pairs are shuffled across strata, so any prefix is a stratified sample of its own: each
        stratum's mass is shared by the pairs of it that the prefix holds. Needs every enumerated pair.
        """
        if n_pairs < self.n_enumerated_pairs:
            raise ValueError("a prefix of a design must hold all of its enumerated pairs")
        stratum = self.pair_stratum[:n_pairs]
        drawn = np.bincount(stratum[stratum >= 0], minlength=self.stratum_sampled.shape[0]).astype(float)
        kept = np.flatnonzero(drawn > 0)
        renumber = np.full(drawn.shape[0], -1, dtype=np.int64)
        renumber[kept] = np.arange(kept.shape[0])
        weights = self.pair_weights[:n_pairs].copy()
        sampled = stratum >= 0
        weights[sampled] = self.stratum_mass[stratum[sampled]] / (2.0 * drawn[stratum[sampled]])
        groups = None if self.pair_group is None else self.pair_group[:n_pairs]
        return replace(
            self,
            masks=self.masks[: 2 * n_pairs],
            pair_weights=weights,
            pair_group=groups,
            per_row=None if groups is None else 2 * int(np.bincount(groups, minlength=self.n_groups).max()),
            parts=(),
            group_positions=(),
            planned_fit=None,
            pair_stratum=np.where(sampled, renumber[np.maximum(stratum, 0)], -1),
            stratum_population=self.stratum_population[kept],
            stratum_sampled=drawn[kept],
            stratum_mass=self.stratum_mass[kept],
        )

    def relabelled(
        self, orders: Sequence[np.ndarray], seed: int | None = None, allocation: Allocation | None = None
    ) -> CoalitionDesign:
        """The same design with its players renamed, by ``orders[g]`` for group g (a permutation of the players each).

        Player j of the result plays the part of player ``order[j]`` of this design: its column of the masks. The fit
        inputs are shared, read through ``fit_rows``. Weights, strata and the order of the pairs stay. ``seed`` and
        ``allocation`` record what the result was planned for (``plan_design``).
        """
        if len(orders) != self.n_groups:
            raise ValueError(f"the design has {self.n_groups} baseline groups but {len(orders)} orders were given")
        if self.exact:
            return self
        if self.n_groups == 1:
            return self._renamed(orders[0], seed, allocation)
        parts = tuple(part._renamed(order) for part, order in zip(self.parts, orders, strict=True))
        masks = np.empty(self.masks.shape, dtype=bool)
        for positions, part in zip(self.group_positions, parts, strict=True):
            masks[positions] = part.masks
        return replace(self, masks=masks, parts=parts, seed=seed, allocation=allocation)

    def _renamed(
        self, order: np.ndarray, seed: int | None = None, allocation: Allocation | None = None
    ) -> CoalitionDesign:
        planned = self.with_fit_inputs()
        rows = planned.fit_rows
        # The synthetic rows read the masks coalition by coalition, as long runs of several coalitions
        # (``masking._synthetic_rows``): on masks laid out by player they would first pay a copy and then a strided
        # product (29 against 13 us warm at M = 20, 2 088 coalitions). A template's are kept player by player
        # (``design_template``), so renaming gathers whole rows of their transpose (2 us) and one copy lays the result
        # out coalition by coalition: 17 us, where a gather of columns took 15 and laying it out another 15.
        masks = np.ascontiguousarray(self.masks.T[order].T)
        fit_order = order if rows is None else rows[order]
        return _changed(planned, masks=masks, fit_order=fit_order, seed=seed, allocation=allocation)

    def freeze(self) -> None:
        """Make every array read-only: a template is shared by every design relabelled from it."""
        for array in self._arrays():
            array.setflags(write=False)

    @property
    def nbytes(self) -> int:
        """Bytes its arrays hold, its groups' included."""
        return sum(array.nbytes for part in (self, *self.parts) for array in part._arrays())

    def _arrays(self) -> list[np.ndarray]:
        fit = self.planned_fit
        arrays = [value for value in vars(self).values() if isinstance(value, np.ndarray)]
        arrays += [value for value in vars(fit).values() if isinstance(value, np.ndarray)] if fit else []
        return arrays + list(self.group_positions)

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


def _changed(design: CoalitionDesign, **changes: object) -> CoalitionDesign:
    """``dataclasses.replace`` for a design renamed for one explanation: its fields, with ``changes``.

    Replace goes through the class's fields and its ``__init__`` (about 3 of the 24 us of planning a design warm, 7
    right after a model has run); a renamed design's fields are the template's, checked when it was planned, with
    new arrays of the same shapes in their places."""
    copy = object.__new__(CoalitionDesign)
    fields = vars(copy)
    fields.update(vars(design))
    fields.update(changes)
    return copy


def plan_design(
    n_players: int, budget: int, seed: int, allocation: Allocation = "sqrt", n_groups: int = 1
) -> CoalitionDesign:
    """The design ``explain`` uses for this many players, budget, seed and baseline groups.

    A sampled design is one of the templates for (players, budget, allocation, groups) (``design_template``),
    picked by ``seed``, with its players renamed by a permutation drawn from the same seed, one per group
    (``CoalitionDesign.relabelled``): one gather of the masks instead of a whole draw. Made ahead, it can be passed to
    every explanation that shares them (an endpoint with a fixed Seed). With ``n_groups`` > 1 each group of
    baseline rows gets coalitions of its own (``sampled_design``); an exact design needs no groups.
    """
    budget = min(budget, all_coalitions(n_players))
    if budget >= all_coalitions(n_players):
        return exact_design(n_players)
    # Python's generator, not numpy's: right after a model has run, seeding numpy's costs about 0.1 ms (its seed
    # sequence's code has left the caches), a sixth of what an explanation with one baseline row may add to its model,
    # and this about 0.025 ms. Only its random() is used, whose stream Python keeps the same across versions for a seed.
    draw = random.Random(seed)
    template = design_template(n_players, budget, allocation, n_groups, int(draw.random() * N_TEMPLATES))
    return template.relabelled([_permutation(draw, n_players) for _ in range(n_groups)], seed, allocation)


def _permutation(draw: random.Random, n: int) -> np.ndarray:
    """A uniformly random permutation of range(n): the order that sorts n uniform keys."""
    keys = [draw.random() for _ in range(n)]
    return np.array(sorted(range(n), key=keys.__getitem__), dtype=np.intp)


# How many templates each key has. One template's error on the benchmark's records sits about 5 % from the average
# over templates (XGBoost, M = 20, B = 1: 16 templates, sd of their mean errors); a seed picks one of eight, so the
# error of many explanations is within about 2 % of a fresh draw's.
N_TEMPLATES = 8
# The templates' own seed: a constant, so that a seed names the same design in every process.
_TEMPLATE_SEED = 20_260_101


# Each template holds about 15 bytes per pair and player (masks, signs in three precisions) and its strata's averaging
# matrix, twice with two groups: at M = 20 and the default budget about 0.37 MB, at M = 200 about 4.4 MB. They are
# remembered up to this many bytes in all, the least recently used forgotten first: a count alone would let a few
# large budgets (Clarify's NumberOfSamples has no maximum) hold gigabytes for the life of the process.
TEMPLATE_BYTES = 128 * 1024 * 1024


class DesignCache:
    """Designs by key, within ``max_bytes`` (``CoalitionDesign.nbytes``), the least recently used forgotten first;
    safe to use from many threads at once. A design is a pure function of its key, so remembering one changes no
    result: one forgotten is planned again, the same to the bit. It is read and written as ``explain``'s ``designs``
    mapping is (``get``, item assignment), so a caller can hand it there: a count of keys alone would let designs of
    many player counts (text features) hold any amount of memory. A design larger than ``max_bytes`` is not kept."""

    def __init__(self, max_bytes: int) -> None:
        self._max_bytes = max_bytes
        self._items: OrderedDict[tuple, CoalitionDesign] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: tuple) -> CoalitionDesign | None:
        with self._lock:
            design = self._items.get(key)
            if design is not None:
                self._items.move_to_end(key)
            return design

    def put(self, key: tuple, design: CoalitionDesign) -> None:
        size = design.nbytes
        if size > self._max_bytes:
            return
        with self._lock:
            if key in self._items:
                return
            self._items[key] = design
            self._bytes += size
            while self._bytes > self._max_bytes:
                _, forgotten = self._items.popitem(last=False)
                self._bytes -= forgotten.nbytes

    __setitem__ = put

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    @property
    def nbytes(self) -> int:
        """Bytes the designs kept hold, by ``CoalitionDesign.nbytes``: at most ``max_bytes``."""
        with self._lock:
            return self._bytes


_TEMPLATES = DesignCache(TEMPLATE_BYTES)


def design_template(
    n_players: int, budget: int, allocation: Allocation = "sqrt", n_groups: int = 1, index: int = 0
) -> CoalitionDesign:
    """Template ``index`` of the sampled designs seeds relabel, drawn once (``sampled_design``), remembered
    (``TEMPLATE_BYTES``), read-only.

    Why relabelling is sound: renaming the players by a uniform random permutation maps each sampled coalition to
    a uniform draw from its stratum, keeps the coalitions of a stratum distinct and paired with their complements,
    and keeps the strata, counts and weights. What it keeps fixed is how the template's coalitions overlap one
    another, which for a template drawn without replacement is what a fresh draw's would be like: averaged over
    templates, the two are the same distribution. Measured at M = 20 on the benchmark's 24 records against exact
    values, 16 templates against 16 fresh draws (docs/kernelshap.md): 0.0219 vs 0.0223 (XGBoost, B = 1), 0.0060 vs
    0.0062 (gradient boosting); coverage of the error bars unchanged. It costs about 0.03 ms against 0.7 ms (one
    group) and 0.14 against 1.9 ms (two) for a fresh draw.
    """
    key = (n_players, budget, allocation, n_groups, index)
    remembered = _TEMPLATES.get(key)
    if remembered is not None:
        return remembered
    rng = np.random.default_rng([_TEMPLATE_SEED, index])
    design = sampled_design(n_players, budget, rng, allocation, n_groups)
    # Player by player: renaming then gathers rows of the transpose (``relabelled``).
    design = replace(
        design,
        masks=_by_player(design.masks),
        parts=tuple(replace(part, masks=_by_player(part.masks)) for part in design.parts),
    )
    for part in (design, *design.parts):
        part.freeze()
    _TEMPLATES.put(key, design)
    return design


def _by_player(masks: np.ndarray) -> np.ndarray:
    """The same masks, (C, M), stored player by player: their transpose is contiguous."""
    return np.ascontiguousarray(masks.T).T


def codes_to_masks(codes: np.ndarray, n_players: int) -> np.ndarray:
    return ((codes[:, None] >> np.arange(n_players, dtype=np.int64)) & 1).astype(bool)


def exact_design(n_players: int) -> CoalitionDesign:
    empty = np.empty(0)
    return CoalitionDesign(
        n_players=n_players,
        budget=all_coalitions(n_players),
        exact=True,
        masks=np.empty((0, n_players), dtype=bool),
        pair_weights=empty,
        pair_stratum=np.empty(0, dtype=np.int64),
        stratum_population=empty,
        stratum_sampled=empty,
        stratum_mass=empty,
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
    sizes = np.arange(1, m // 2 + 1)
    self_paired = 2 * sizes == m
    # Kernel mass of all coalitions of one size: (M - 1) / (s (M - s)); a pair stratum holds two sizes
    # unless it is self-paired.
    n_sizes = np.where(self_paired, 1.0, 2.0)
    log_mass = np.log(m - 1) - np.log(sizes) - np.log(m - sizes) + np.log(n_sizes)
    log_comb = gammaln(m + 1) - gammaln(sizes + 1) - gammaln(m - sizes + 1)
    log_pairs = np.where(self_paired, log_comb - np.log(2.0), log_comb)
    claims = {
        "kernel": np.exp(log_mass),
        "uniform": n_sizes,
        "sqrt": np.exp(0.5 * log_mass) * np.sqrt(n_sizes),
    }[allocation]
    return [
        _Stratum(int(s), bool(sp), float(lm), float(lp), float(c))
        for s, sp, lm, lp, c in zip(sizes, self_paired, log_mass, log_pairs, claims, strict=True)
    ]


def sampled_design(
    n_players: int, budget: int, rng: np.random.Generator, allocation: Allocation = "sqrt", n_groups: int = 1
) -> CoalitionDesign:
    """A design of at most ``budget`` coalitions per group for a budget below 2^M - 2.

    With several groups of baseline rows, every group gets the same strata, counts and weights, and
    coalitions drawn independently of the other groups'. The game is the mean over baseline rows, so its
    Shapley values are the groups' own weighed by their shares of the rows, each fitted on its group's
    coalitions (``CoalitionDesign.group``): for the same number of model rows, independent coalitions per
    group pin the mean down better than one shared set evaluated on every row. Each group's sampled strata
    are strata of their own. Enumerated pairs come first (every group's), then the sampled ones shuffled
    across groups and strata, led by one pair of each stratum of each group, so that any prefix that holds the
    leaders is a stratified sample of every group's game.
    """
    if allocation not in ALLOCATIONS:
        raise ValueError(f"allocation must be one of {ALLOCATIONS}, got {allocation!r}")
    m = n_players
    if budget >= all_coalitions(m):
        raise ValueError("a budget that covers every coalition calls for the exact design")
    enumerated, sampled = _share_budget(m, budget, allocation)
    enum_reps, enum_logw = [], []
    for st in enumerated:
        pairs = _canonical(_all_subsets_of_size(m, st.size), st)
        if st.self_paired:
            pairs = np.unique(pairs, axis=0)
        # Each coalition of size s carries the kernel weight (M-1) / (C(M,s) s (M-s)).
        enum_reps.append(pairs)
        enum_logw.append(np.full(pairs.shape[0], st.log_mass - log(2 * pairs.shape[0])))
    h = len(sampled)
    # Every group's draws in one pass; entry g * h + i is group g's draw from sampled stratum i.
    draws = _draw_pairs(m, sampled * n_groups, rng)
    sizes = np.array([k for _, k in sampled] * n_groups, dtype=np.int64)
    sampled_logw = np.repeat([st.log_mass - log(2 * k) for st, k in sampled] * n_groups, sizes)
    sampled_stratum = np.repeat(np.arange(h * n_groups), sizes)

    enum_rep = np.concatenate(enum_reps) if enum_reps else np.empty((0, m), dtype=bool)
    logw_enum = np.concatenate(enum_logw) if enum_reps else np.empty(0)
    n_enum = enum_rep.shape[0]
    # Shuffle the sampled pairs across strata (and groups), so that any prefix of the design is a stratified
    # sample too: a deadline can stop after any block and still have an estimate.
    order = rng.permutation(sampled_stratum.shape[0])
    if order.shape[0]:
        # ... led by one pair of every sampled stratum of every group, so that a prefix holding the leaders leaves no
        # stratum's kernel mass out of the fit. Led by one pair per group only, a first block kept one stratum per
        # group: the estimate lost the others' mass, and 27 % of its attributions were within 1.96 error bars.
        _, leaders = np.unique(sampled_stratum[order], return_index=True)
        leaders.sort()
        order = np.concatenate([order[leaders], np.delete(order, leaders)])
    tail = np.concatenate(draws)[order] if draws else np.empty((0, m), dtype=bool)
    rep = np.concatenate([np.tile(enum_rep, (n_groups, 1)), tail])
    logw = np.concatenate([np.tile(logw_enum, n_groups), sampled_logw[order]])
    stratum = np.concatenate([np.full(n_enum * n_groups, -1, dtype=np.int64), sampled_stratum[order]])
    masks = np.empty((2 * rep.shape[0], m), dtype=bool)
    masks[0::2], masks[1::2] = rep, ~rep
    scale = logw.max() if logw.size else 0.0
    pair_group = None
    if n_groups > 1:
        sampled_group = sampled_stratum[order] // h if h else np.empty(0, dtype=np.int64)
        pair_group = np.concatenate([np.repeat(np.arange(n_groups), n_enum), sampled_group])
    design = CoalitionDesign(
        n_players=m,
        budget=budget,
        exact=False,
        masks=masks,
        pair_weights=np.exp(logw - scale),
        pair_stratum=stratum,
        stratum_population=np.tile(_population([st.log_pairs for st, _ in sampled]), n_groups),
        stratum_sampled=sizes.astype(float),
        stratum_mass=np.exp(np.tile([st.log_mass for st, _ in sampled], n_groups) - scale),
        pair_group=pair_group,
        n_groups=n_groups,
    )
    if n_groups > 1:
        return replace(
            design,
            parts=tuple(design.group(g).with_fit_inputs() for g in range(n_groups)),
            group_positions=tuple(design.coalitions_of(g) for g in range(n_groups)),
        )
    return design.with_fit_inputs()


def _population(log_pairs: Sequence[float]) -> np.ndarray:
    """Each stratum's number of pairs from its logarithm. Past a double's range (a stratum of C(M, s) / 2 pairs
    with M beyond about 1 030) it is infinite, without numpy's overflow warning: the sampling fraction is then 0, as
    it is to every digit anyway."""
    with np.errstate(over="ignore"):
        return np.exp(np.asarray(log_pairs, dtype=float))


# A pure function of three numbers, asked again for every design an endpoint plans: remembered, as a constant
# table would be (its results are immutable tuples of frozen records).
@lru_cache(maxsize=256)
def _share_budget(
    m: int, budget: int, allocation: Allocation
) -> tuple[tuple[_Stratum, ...], tuple[tuple[_Stratum, int], ...]]:
    """The strata enumerated in full, and how many pairs to draw from each of the others."""
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
    return tuple(enumerated), tuple((st, k) for st, k in zip(open_strata, counts, strict=True) if k > 0)


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
        first, second = np.triu_indices(m, 1)
        masks = np.zeros((first.shape[0], m), dtype=bool)
        rows = np.arange(first.shape[0])
        masks[rows, first] = True
        masks[rows, second] = True
        return masks
    if s == 3:
        # i < j < k in lexicographic order, as itertools.combinations lists them, without a Python loop.
        players = np.arange(m)
        first, second, third = np.nonzero(
            (players[:, None, None] < players[None, :, None]) & (players[None, :, None] < players[None, None, :])
        )
        masks = np.zeros((first.shape[0], m), dtype=bool)
        rows = np.arange(first.shape[0])
        masks[rows, first] = True
        masks[rows, second] = True
        masks[rows, third] = True
        return masks
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


def _draw_pairs(m: int, sampled: Sequence[tuple[_Stratum, int]], rng: np.random.Generator) -> list[np.ndarray]:
    """For each (stratum, k): k distinct pair representatives, uniformly without replacement.

    All strata are drawn in one vectorised pass: a row of uniform keys picks the subset of its
    ``size`` smallest keys. Duplicates are dropped by their packed key and redrawn, which is rare
    unless a stratum is small next to its draw; such a stratum is listed in full and subsampled.
    """
    out: list[np.ndarray | None] = [None] * len(sampled)
    pending = []
    listed: dict[int, np.ndarray] = {}  # stratum size -> its population (several groups draw from one stratum)
    for i, (st, k) in enumerate(sampled):
        if log(k) >= st.log_pairs + log(_LIST_WHEN_DRAWING_OVER):
            population = listed.get(st.size)
            if population is None:
                population = _canonical(_all_subsets_of_size(m, st.size), st)
                if st.self_paired:
                    population = np.unique(population, axis=0)
                listed[st.size] = population
            out[i] = population[np.sort(rng.choice(population.shape[0], size=k, replace=False))]
        else:
            pending.append(i)
    n = len(pending)
    want = np.array([sampled[i][1] for i in pending], dtype=np.int64)
    size = np.array([sampled[i][0].size for i in pending], dtype=np.int64)
    self_paired = np.array([sampled[i][0].self_paired for i in pending], dtype=bool)
    # Accepted rows so far, grouped by owner (the index into ``pending``) in the order they were drawn.
    kept, kept_owner = np.empty((0, m), dtype=bool), np.empty(0, dtype=np.int64)
    while n:
        short = want - np.bincount(kept_owner, minlength=n)
        if not short.any():
            break
        owner = np.repeat(np.arange(n), np.where(short > 0, short + short // 8 + 2, 0))
        sizes = size[owner]
        keys = rng.random((owner.shape[0], m))
        kth = np.take_along_axis(np.sort(keys, axis=1), (sizes - 1)[:, None], axis=1)
        fresh = keys <= kth
        if np.count_nonzero(fresh) != sizes.sum():
            # Keys that tie at the cut pick too many players (about once in 10^13 rows): drop such rows, which
            # leaves the accepted subsets uniform; the loop draws again.
            untied = np.count_nonzero(fresh, axis=1) == sizes
            fresh, owner = fresh[untied], owner[untied]
        # A self-paired stratum's pair {S, complement} is named by the member that holds player 0.
        flip = self_paired[owner] & ~fresh[:, 0]
        fresh[flip] = ~fresh[flip]
        # Earlier picks first, then the fresh draws, grouped by owner; a coalition is a duplicate only
        # within its owner (two groups may draw the same one from the same stratum).
        if kept_owner.shape[0]:
            pool, pool_owner = np.concatenate([kept, fresh]), np.concatenate([kept_owner, owner])
            order = np.argsort(pool_owner, kind="stable")
            pool, pool_owner = pool[order], pool_owner[order]
        else:
            pool, pool_owner = fresh, owner  # np.repeat made it grouped by owner already
        _, first = np.unique(_row_keys(pool, pool_owner), return_index=True)
        first.sort()
        first_owner = pool_owner[first]
        starts = np.concatenate([[0], np.cumsum(np.bincount(first_owner, minlength=n))[:-1]])
        keep = first[np.arange(first.shape[0]) - starts[first_owner] < want[first_owner]]
        kept, kept_owner = pool[keep], pool_owner[keep]
    if n:
        for i, rows in zip(pending, np.split(kept, np.cumsum(want)[:-1]), strict=True):
            out[i] = rows
    return out  # type: ignore[return-value]


def _row_keys(masks: np.ndarray, owner: np.ndarray) -> np.ndarray:
    """One hashable key per (owner, mask row): an integer code when both fit in 63 bits, else packed bytes."""
    m = masks.shape[1]
    owner_bits = int(owner.max()).bit_length() if owner.size else 0
    if m + owner_bits <= 62:
        return masks @ (np.int64(1) << np.arange(m, dtype=np.int64)) | (owner.astype(np.int64) << m)
    packed = np.concatenate([owner.astype(">u4").view(np.uint8).reshape(-1, 4), np.packbits(masks, axis=1)], axis=1)
    packed = np.ascontiguousarray(packed)
    return packed.view(np.dtype((np.void, packed.shape[1]))).ravel()


def n_pairs_in(m: int, s: int) -> int:
    """Population of a pair stratum, exactly (for tests and small M)."""
    return comb(m, s) // 2 if 2 * s == m else comb(m, s)
