"""The README's main command, run as a user runs it."""

import re
import subprocess
import sys


def test_demo_explains_records_and_the_numbers_add_up():
    out = subprocess.run(
        [sys.executable, "-m", "openclarify", "demo", "--records", "2"],
        capture_output=True,
        text=True,
        timeout=120,
        env={"COLUMNS": "160", "PATH": ""},
        check=True,
    ).stdout
    assert out.count("Record ") == 2
    sums = re.findall(r"base value E\[f\] = ([-\d.]+)\s+\+\s+Σ attributions = ([-+\d.]+)\s+=\s+f\(x\) = ([-\d.]+)", out)
    assert len(sums) == 2
    for base, total, fx in sums:
        assert abs(float(base) + float(total) - float(fx)) <= 2e-4
    assert "± std. error" in out and "coalitions sampled" in out
