"""The benchmarks run OpenBLAS with the kernel it picks for this processor, and say which.

Some machines force an older kernel on every process through ``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE``, where
old OpenBLAS builds computed wrong results or crashed on their processor. The OpenBLAS that numpy and scipy bundle
now runs correctly on its own choice, which is what a deployment gets, and the forced kernel slows it: on the
development machine (AMD EPYC, AVX-512) it forces Haswell's kernels instead of SkylakeX's, and the engine's part after
the model took 0.21 instead of 0.17 ms per record at M = 20 with one baseline row. A benchmark run under the forced
kernel would measure the machine's workaround, not openclarify. Tests and CI keep the machine's setting.

OpenBLAS reads both variables once, when it is loaded, so a benchmark that finds them set runs itself again without
them (``--forced-blas`` keeps them, to measure under the machine's setting).
"""

from __future__ import annotations

import argparse
import os
import sys

FORCING = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def add_forced_option(parser: argparse.ArgumentParser) -> None:
    """The benchmark's ``--forced-blas`` flag, read by ``run_with_own_kernel``."""
    parser.add_argument(
        "--forced-blas",
        action="store_true",
        help="keep OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE if the machine sets them (bench/_blas.py)",
    )


def run_with_own_kernel(keep_forced: bool, argv: list[str] | None = None) -> None:
    """Runs this benchmark again, in this process's place and with its arguments (``argv``, default the command
    line's), without the variables that force OpenBLAS's kernel, unless ``keep_forced``. Returns when there is nothing
    to unset."""
    forced = [name for name in FORCING if name in os.environ]
    if keep_forced or not forced:
        return
    print(
        f"bench: {' and '.join(forced)} unset for this run, so that OpenBLAS picks its own kernel "
        "(--forced-blas keeps them)",
        file=sys.stderr,
        flush=True,
    )
    env = {name: value for name, value in os.environ.items() if name not in FORCING}
    arguments = sys.argv[1:] if argv is None else argv
    os.execve(sys.executable, [sys.executable, sys.argv[0], *arguments], env)


def blas_kernel() -> str:
    """The kernel each loaded OpenBLAS runs and whether the environment forced it, for a benchmark's machine line."""
    from threadpoolctl import threadpool_info

    loaded = threadpool_info()
    kernels = sorted({info.get("architecture") or "?" for info in loaded if info["internal_api"] == "openblas"})
    forced = ", ".join(f"{name}={os.environ[name]}" for name in FORCING if name in os.environ)
    how = f"forced: {forced}" if forced else "its own choice"
    return f"OpenBLAS kernel {'/'.join(kernels) or 'none loaded'} ({how})"
