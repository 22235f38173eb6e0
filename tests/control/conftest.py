"""Real model files for the control-plane tests, trained once per session on a tiny synthetic dataset."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from tests.conftest import free_port

N_FEATURES = 4


def training_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, N_FEATURES))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
    return X, y


@pytest.fixture(scope="session")
def model_files(model_root: Path) -> dict[str, Path]:
    """One valid artifact per built-in runtime, keyed by the Image that serves it."""
    import lightgbm
    import skops.io
    import xgboost
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression

    X, y = training_data()
    files: dict[str, Path] = {}

    booster = xgboost.train({"objective": "binary:logistic", "max_depth": 2}, xgboost.DMatrix(X, label=y), 5)
    files["openclarify/xgboost"] = model_root / "xgb" / "model.json"
    files["openclarify/xgboost"].parent.mkdir()
    booster.save_model(str(files["openclarify/xgboost"]))

    lgb = lightgbm.train(
        {"objective": "binary", "verbose": -1, "num_leaves": 4, "min_data_in_leaf": 5},
        lightgbm.Dataset(X, label=y),
        num_boost_round=5,
    )
    files["openclarify/lightgbm"] = model_root / "lgb" / "model.txt"
    files["openclarify/lightgbm"].parent.mkdir()
    lgb.save_model(str(files["openclarify/lightgbm"]))

    clf = LogisticRegression().fit(X, y)
    files["openclarify/sklearn"] = model_root / "model.skops"
    skops.io.dump(clf, files["openclarify/sklearn"])

    onx = to_onnx(clf, X[:1].astype(np.float32), options={id(clf): {"zipmap": False}})
    files["openclarify/onnx"] = model_root / "model.onnx"
    files["openclarify/onnx"].write_bytes(onx.SerializeToString())
    return files


@pytest.fixture(scope="session")
def model_container(model_files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A running SageMaker-style model container (tests/containers/echo_container.py); yields its URL."""
    port = free_port()
    script = Path(__file__).parent.parent / "containers" / "echo_container.py"
    cmd = [sys.executable, str(script), "--port", str(port), "--model", str(model_files["openclarify/xgboost"])]
    process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/ping", timeout=0.5).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.05)
    else:
        process.kill()
        raise RuntimeError("the test model container did not start")
    yield url
    process.terminate()
    process.wait(10)
