"""The serving process's allocator setting: large temporary arrays reuse the process's memory."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt is Linux-only")

# Explains an M = 20 record against 10 baseline rows 50 times, with the design planned once as an endpoint with a Seed
# does (synthetic rows of 1.7 MB and arrays of 100 KiB to 1 MiB come and go); prints whether the setting was applied
# and how many page faults the loop took.
PROBE = """
import resource, sys
import numpy as np
from openclarify.kernelshap import explain
from openclarify.process import tune_allocator
applied = tune_allocator() if sys.argv[1] == "tuned" else False
rng = np.random.default_rng(0)
x, baseline, w = rng.normal(size=20), rng.normal(size=(10, 20)), rng.normal(size=20)
designs = {}
def model(rows):
    return np.tanh(rows @ w)
explain(model, x, baseline, seed=1, designs=designs)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(50):
    explain(model, x, baseline, seed=1, designs=designs)
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
    # With glibc's defaults the memory of the first explanation's large arrays went back to the kernel, and the second
    # faults it in again (about 750 faults) before glibc's own dynamic threshold catches up; with the setting it stays
    # (2 faults in 50). Both take about none per explanation after that.
    assert default_faults > 50 * 5
    assert tuned_faults < default_faults / 20


def test_a_malloc_variable_the_user_set_wins():
    applied, faults = probe("tuned", MALLOC_TRIM_THRESHOLD_="131072")
    assert not applied
    assert faults > 50 * 5
