"""The README's main command, run as a user runs it: a real server, boto3 calls, explanations printed."""

import re
import subprocess
import sys


def test_demo_deploys_through_the_api_explains_records_and_the_numbers_add_up(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "openclarify", "demo", "--records", "2", "--exit", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"COLUMNS": "160", "PATH": "", "HOME": str(tmp_path)},
        check=True,
    ).stdout
    assert "Started the server at http://127.0.0.1:" in out
    assert "create_endpoint" in out and "InService" in out
    assert out.count("Record ") == 2
    sums = re.findall(r"base value E\[f\] = ([-\d.]+)\s+\+\s+Σ attributions = ([-+\d.]+)\s+=\s+f\(x\) = ([-\d.]+)", out)
    assert len(sums) == 2
    predictions = re.findall(r"the model predicts P\(benign\) = ([\d.]+)", out)
    for (base, total, fx), predicted in zip(sums, predictions, strict=True):
        assert abs(float(base) + float(total) - float(fx)) <= 2e-4
        assert float(fx) == float(predicted)  # f(x) is the prediction the endpoint returned
    assert "± std. error" in out and "sampled" in out
    url = re.search(r"Web console: (http://127\.0\.0\.1:\d+/)", out)
    assert url and "/endpoints/demo-breast-cancer/playground" in out
    # The data dir now holds what the demo deployed, through the same API: a restart would redeploy it.
    assert (tmp_path / "openclarify.db").exists() and (tmp_path / "models" / "breast-cancer.skops").exists()
