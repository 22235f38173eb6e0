"""Clarify's sample-budget rule.

SageMaker Clarify documents the synthetic dataset as ``baseline size × n_samples`` with
``n_samples = min(NumberOfSamples, 2^M − 2)``, defaulting to ``min(2M + 2^11, 2^M − 2)``:
the same numbers shap's KernelExplainer uses. Python integers keep ``2^M`` exact for any M.
"""

from __future__ import annotations

from numbers import Integral


def all_coalitions(n_players: int) -> int:
    """Coalitions other than the empty and the full one: the most Kernel SHAP ever needs."""
    return (1 << n_players) - 2


def clarify_n_samples(n_features: int, number_of_samples: int | None = None) -> int:
    """The number of coalitions Clarify evaluates for a record with ``n_features`` features."""
    if not is_count(n_features) or n_features < 1:
        raise ValueError(f"n_features must be an integer of at least 1, got {n_features!r}")
    if number_of_samples is None:
        number_of_samples = 2 * n_features + 2**11
    elif not is_count(number_of_samples):
        raise ValueError(f"the sample budget must be an integer, got {number_of_samples!r}")
    elif number_of_samples < 1:
        raise ValueError(f"the sample budget must be at least 1, got {number_of_samples}")
    return max(0, min(int(number_of_samples), all_coalitions(n_features)))


def is_count(value: object) -> bool:
    """An integer, Python's or numpy's; not a bool (True is not a budget of 1, nor a seed) nor a float."""
    # A plain int first: the check against the Integral ABC goes through Python-level code, and every explanation asks
    # several times.
    return type(value) is int or (isinstance(value, Integral) and not isinstance(value, bool))


def design_cells(n_players: int, budget: int) -> int:
    """What a design for ``n_players`` and a ``budget`` already capped at ``all_coalitions`` holds, the measure of an
    explanation's memory: coalitions × players for a sampled design (its masks and the fit's regressors have one cell
    per coalition and player), coalitions for an exact one (its masks are streamed, never stored)."""
    if n_players < 2 or budget >= all_coalitions(n_players):
        return max(budget, 0)
    return budget * n_players


class DesignTooLarge(ValueError):
    """The design an explanation needs holds more cells than the caller allows (``check_design_size``)."""


def check_design_size(n_players: int, budget: int, max_cells: int | None) -> None:
    """Raise DesignTooLarge when ``design_cells`` exceeds ``max_cells`` (None: no limit).

    A sampled explanation takes about 20-40 bytes per cell at its peak (measured at 10^7 cells: 19.5 bytes with one
    baseline row, 37 with ten in two groups), so a budget a caller may choose freely (Clarify's NumberOfSamples has
    no maximum) is what a server must bound: at M = 250 a budget of 10^6 would need several gigabytes.
    """
    if max_cells is None:
        return
    if not is_count(max_cells) or max_cells < 0:
        raise ValueError(f"max_design_cells must be None or a non-negative integer, got {max_cells!r}")
    cells = design_cells(n_players, budget)
    if cells > max_cells:
        raise DesignTooLarge(
            f"{n_players} players and {budget} coalitions make a design of {cells} cells, more than the {max_cells} "
            "allowed"
        )
