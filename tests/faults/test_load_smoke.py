"""A short run of bench/load.py (8 clients × 10 s): real boto3 clients, both endpoints, explained and plain.

The 2-minute, 32-client run is the benchmark itself (docs/reliability.md has its figures).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent.parent / "bench" / "load.py"


def test_load_smoke_has_no_errors(tmp_path):
    out = tmp_path / "load.json"
    cmd = [sys.executable, str(BENCH), "--clients", "8", "--duration", "10", "--json", str(out)]
    completed = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert out.exists(), completed.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["errors"] == {}, result
    assert result["server_log_errors"] == [], result
    assert set(result["by_kind"]) == {"in-process/explained", "in-process/plain", "remote/explained", "remote/plain"}
    assert all(kind["count"] >= 5 for kind in result["by_kind"].values()), result
    assert result["rss_kib"]["half"] > 0 and result["rss_kib"]["end"] > 0
    # Ten seconds is too short to judge memory growth strictly; the benchmark checks <= 10 % over two minutes.
    assert result["rss_growth"] < 0.5, result
