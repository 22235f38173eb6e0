"""The serving process's allocator setting: large temporary arrays reuse the process's memory."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt is Linux-only")

# Runs the Kernel SHAP regression of an M = 20 record 50 times (arrays of 100 KiB to 1 MiB come and go); prints
# whether the setting was applied and how many page faults the loop took.
PROBE = """
import resource, sys
import numpy as np
from openclarify.kernelshap import clarify_n_samples, plan_design
from openclarify.kernelshap.solver import odd_interaction_terms, paired_regression
from openclarify.process import tune_allocator
applied = tune_allocator() if sys.argv[1] == "tuned" else False
design = plan_design(20, clarify_n_samples(20), seed=1)
targets = np.random.default_rng(0).normal(size=(design.n_coalitions, 1))
triples = odd_interaction_terms(np.arange(7))
paired_regression(design, targets, np.ones(1), triples)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(50):
    paired_regression(design, targets, np.ones(1), triples)
print(applied, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def probe(mode: str, **env: str) -> tuple[bool, int]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode], env={**clean, **env}, capture_output=True, text=True, check=True
    ).stdout.split()
    return out[0] == "True", int(out[1])


def test_tuned_process_reuses_memory_for_large_arrays():
    applied, tuned_faults = probe("tuned")
    _, default_faults = probe("default")
    assert applied
    # With glibc's defaults the larger arrays are mapped afresh on every call: hundreds of faults per fit.
    assert default_faults > 50 * 100
    assert tuned_faults < default_faults / 20


def test_a_malloc_variable_the_user_set_wins():
    applied, faults = probe("tuned", MALLOC_TRIM_THRESHOLD_="131072")
    assert not applied
    assert faults > 50 * 100
