"""The serving process's switch interval: a thread waiting for the GIL gets it within about 1 ms, not CPython's 5."""

from __future__ import annotations

import subprocess
import sys

# A thread runs pure Python (as a text explanation's masking and vectoriser do) while the main thread sleeps 2 ms at a
# time, as an event loop waits for its sockets; waking, it must get the GIL back. Prints whether the interval was set,
# the interval, and the median time the main thread woke late, in ms.
PROBE = """
import statistics, sys, threading, time
from openclarify.process import tune_switch_interval
if sys.argv[1] == "preset":
    sys.setswitchinterval(0.002)
applied = tune_switch_interval() if sys.argv[1] != "default" else False
busy = True
def spin():
    n = 0
    while busy:
        n += 1
threading.Thread(target=spin, daemon=True).start()
late = []
for _ in range(150):
    start = time.perf_counter()
    time.sleep(0.002)
    late.append(time.perf_counter() - start - 0.002)
busy = False
print(applied, sys.getswitchinterval(), statistics.median(late) * 1e3)
"""


def probe(mode: str) -> tuple[bool, float, float]:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True).stdout.split()
    return out[0] == "True", float(out[1]), float(out[2])


def test_a_waiting_thread_gets_the_gil_within_the_short_interval():
    applied, interval, tuned_late = probe("tuned")
    _, default_interval, default_late = probe("default")
    assert applied and interval == 0.001 and default_interval == 0.005
    # Measured here: about 1.1 ms late with the setting, 5.1 ms without (the busy thread keeps the GIL for the whole
    # interval each time the sleeper wakes).
    assert tuned_late < 2.5
    assert default_late > 2 * tuned_late


def test_an_interval_set_by_other_code_is_kept():
    applied, interval, _ = probe("preset")
    assert not applied and interval == 0.002
