"""The numerical core: Kernel SHAP with Clarify's budget rule. numpy and scipy only; no I/O, no globals.

Typical use::

    from openclarify.kernelshap import explain
    result = explain(model.predict, x, baseline, number_of_samples=None, seed=7)
    result.attributions  # (M, D)
"""

from openclarify.kernelshap.budget import (
    DesignTooLarge,
    all_coalitions,
    check_design_size,
    clarify_n_samples,
    design_cells,
)
from openclarify.kernelshap.coalitions import CoalitionDesign, DesignCache, plan_design
from openclarify.kernelshap.explainer import (
    ESTIMATOR,
    Explanation,
    Interrupted,
    draw_seed,
    explain,
    explain_game,
    group_arguments,
    group_baseline,
)
from openclarify.kernelshap.masking import store_group_means

__all__ = [
    "ESTIMATOR",
    "CoalitionDesign",
    "DesignCache",
    "DesignTooLarge",
    "Explanation",
    "Interrupted",
    "all_coalitions",
    "check_design_size",
    "clarify_n_samples",
    "design_cells",
    "draw_seed",
    "explain",
    "explain_game",
    "group_arguments",
    "group_baseline",
    "plan_design",
    "store_group_means",
]
