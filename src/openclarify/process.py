"""Process-wide settings for a process that serves explanations: one BLAS thread, a malloc that keeps memory, a short
switch interval, and full garbage collections out of the way of requests (``HeapSettler``).

**One BLAS thread.** Concurrent requests are the server's parallelism. A multi-threaded BLAS inside each
explanation's small solves only makes those threads fight over the same cores (measured: several times slower).

**Keep the memory of large temporary arrays** in the process instead of handing it back to the kernel. An
explanation allocates and frees arrays of tens of kilobytes to megabytes many times per request (synthetic rows,
model outputs, the regression's matrices). With glibc's defaults, blocks over 128 KiB are mapped fresh from the
kernel and unmapped when freed, and a heap whose top is free past 128 KiB is trimmed, so every such array starts
with a page fault per 4 KiB page. On a virtual machine that costs a microsecond or more each: measured on the
benchmark machine (docs/benchmarks.md), the regression at M = 20 took 1.5 ms with the defaults and 0.65 ms with the
settings below, the same arithmetic.

``tune_allocator`` raises both thresholds for the whole process, the way a serving system picks its allocator. The
cost is that freed memory stays with the process (up to its peak use) instead of returning to the system. A variable
the user set (``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_``) wins; other C libraries are left alone.

**A short switch interval** (``tune_switch_interval``). The event loop shares the GIL with the threads that explain,
and much of a text explanation is pure Python (the synthetic texts, the vectoriser): each time the loop wakes for a
request, it waits for the thread holding the GIL to be asked to drop it, after CPython's switch interval of 5 ms, and
a request takes several such turns. At 1 ms, with four clients explaining 50-token reviews, ``/ping`` answered in
2.3-2.6 ms at the median and 4.6-5.7 ms at the 99th percentile, against 6.4-6.9 and 15-20 ms, for the same
explanations per second (bench/loop_bench.py, docs/benchmarks.md); tabular explanations, whose threads spend their
time in numpy with the GIL released, were unchanged either way. An interval some other code chose is left as it is.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import os
import sys

# mallopt parameters, from glibc's malloc.h.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

# glibc's largest mmap threshold on 64-bit systems (DEFAULT_MMAP_THRESHOLD_MAX): blocks up to it come from the heap.
MMAP_THRESHOLD = 32 * 1024 * 1024
# Free memory at the top of a heap kept for the next request rather than trimmed.
TRIM_THRESHOLD = 256 * 1024 * 1024

_USER_VARIABLES = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")

# Seconds a thread may hold the GIL while another waits for it: CPython's is 0.005.
SWITCH_INTERVAL = 0.001
_CPYTHON_SWITCH_INTERVAL = 0.005


def tune_for_serving() -> None:
    """The settings above; called once by every process that runs explanations or model replicas."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")
    tune_allocator()
    tune_switch_interval()


def tune_switch_interval() -> bool:
    """Set the interpreter's switch interval to ``SWITCH_INTERVAL``, unless something set another than CPython's.
    Answers whether it was set."""
    if sys.getswitchinterval() != _CPYTHON_SWITCH_INTERVAL:
        return False
    sys.setswitchinterval(SWITCH_INTERVAL)
    return True


def tune_allocator() -> bool:
    """Apply the thresholds above to this process's glibc malloc. Answers whether they were applied."""
    if not sys.platform.startswith("linux") or any(name in os.environ for name in _USER_VARIABLES):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and other C libraries have no mallopt
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))


class HeapSettler:
    """Keeps the cyclic garbage collector's full collections off the event loop's critical path.

    A serving process holds a few hundred thousand long-lived objects (the model libraries, spaCy, the app), and
    CPython's full collection walks all of them while holding the GIL: 150-390 ms at a time, measured under load,
    during which the event loop answers nothing (``/ping`` included), triggered by the objects every response builds.
    ``settle()`` collects once and freezes what survives (``gc.freeze``): later collections skip it, 0.02-0.04 ms
    instead of about 250. It is asked for ``soon()`` after the long-lived part of the heap changes (start-up, an
    endpoint deployed or removed) and runs once for any number of changes within ``delay`` seconds, on the event loop:
    one pause then instead of many under load. What was frozen is unfrozen first, so the objects of a removed
    endpoint are collected rather than kept for good.
    """

    def __init__(self, delay: float = 1.0) -> None:
        self._delay = delay
        self._pending: asyncio.TimerHandle | None = None

    def soon(self) -> None:
        if self._pending is None:
            self._pending = asyncio.get_running_loop().call_later(self._delay, self.settle)

    def settle(self) -> None:
        self._pending = None
        gc.unfreeze()
        gc.collect()
        gc.freeze()

    def cancel(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
