"""Fixtures for InvokeEndpoint tests: real models trained here, a logging model container, deploy helpers."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from tests.conftest import LiveServer, free_port

N_FEATURES = 5
FAST_WAIT = {"Delay": 0.2, "MaxAttempts": 150}
_names = itertools.count()


def unique(prefix: str) -> str:
    return f"{prefix}-{next(_names)}"


def training_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, N_FEATURES))
    y = (X[:, 0] + 0.7 * X[:, 1] - 0.5 * X[:, 2] * X[:, 3] + 0.3 * rng.normal(size=300) > 0).astype(int)
    return X, y


@dataclass(frozen=True)
class TrainedModel:
    image: str
    path: Path
    predict: Callable[[np.ndarray], np.ndarray]
    """The same model in the test process: positive-class probability per row, float64."""
    tolerance: float
    """How close the server's numbers must be to ``predict``'s (float32 models round differently)."""


@pytest.fixture(scope="session")
def trained(model_root: Path) -> dict[str, TrainedModel]:
    import lightgbm
    import onnxruntime
    import skops.io
    import xgboost
    from skl2onnx import to_onnx
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    X, y = training_data()
    out: dict[str, TrainedModel] = {}
    folder = model_root / "invoke"
    folder.mkdir()

    booster = xgboost.train({"objective": "binary:logistic", "max_depth": 3}, xgboost.DMatrix(X, label=y), 20)
    booster.save_model(str(folder / "xgb.json"))
    out["openclarify/xgboost"] = TrainedModel(
        "openclarify/xgboost",
        folder / "xgb.json",
        lambda A: booster.predict(xgboost.DMatrix(np.asarray(A, dtype=np.float64))).astype(np.float64),
        1e-9,
    )

    lgb = lightgbm.train(
        {"objective": "binary", "verbose": -1, "num_leaves": 7, "min_data_in_leaf": 5},
        lightgbm.Dataset(X, label=y),
        num_boost_round=15,
    )
    lgb.save_model(str(folder / "lgb.txt"))
    out["openclarify/lightgbm"] = TrainedModel(
        "openclarify/lightgbm", folder / "lgb.txt", lambda A: lgb.predict(np.asarray(A, dtype=np.float64)), 1e-9
    )

    gbc = GradientBoostingClassifier(n_estimators=15, max_depth=2, random_state=0).fit(X, y)
    skops.io.dump(gbc, folder / "model.skops")
    out["openclarify/sklearn"] = TrainedModel(
        "openclarify/sklearn", folder / "model.skops", lambda A: gbc.predict_proba(np.asarray(A))[:, 1], 1e-9
    )

    clf = LogisticRegression().fit(X, y)
    onx = to_onnx(clf, X[:1].astype(np.float32), options={id(clf): {"zipmap": False}})
    (folder / "model.onnx").write_bytes(onx.SerializeToString())
    session = onnxruntime.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    out["openclarify/onnx"] = TrainedModel(
        "openclarify/onnx",
        folder / "model.onnx",
        lambda A: session.run(["probabilities"], {"X": np.asarray(A, dtype=np.float32)})[0][:, 1].astype(np.float64),
        1e-6,
    )
    return out


# --------------------------------------------------------------------------------------------------------------
# The logging model container


class Container:
    """tests/containers/model_container.py as a subprocess; ``batches()`` reads what it received since ``mark()``."""

    def __init__(self, model: Path, log: Path, max_records: int | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        script = Path(__file__).parent.parent / "containers" / "model_container.py"
        cmd = [sys.executable, str(script), "--port", str(self.port), "--model", str(model), "--log", str(log)]
        if max_records is not None:
            cmd += ["--max-records", str(max_records)]
        self.process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/ping", timeout=0.5).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        else:
            self.stop()
            raise RuntimeError("the test model container did not start")
        self._offset = 0

    def mark(self) -> None:
        self._offset = self.log.stat().st_size if self.log.exists() else 0

    def batches(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        with self.log.open("rb") as f:
            f.seek(self._offset)
            return [json.loads(line) for line in f.read().decode().splitlines() if line.strip()]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


@pytest.fixture(scope="session")
def container(trained: dict[str, TrainedModel], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Container]:
    live = Container(trained["openclarify/xgboost"].path, tmp_path_factory.mktemp("container") / "requests.jsonl")
    yield live
    live.stop()


@pytest.fixture(scope="session")
def small_container(trained: dict[str, TrainedModel], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Container]:
    """Rejects requests of more than 7 records with 413, like a container with a small payload limit."""
    live = Container(
        trained["openclarify/xgboost"].path, tmp_path_factory.mktemp("small") / "requests.jsonl", max_records=7
    )
    yield live
    live.stop()


# --------------------------------------------------------------------------------------------------------------
# Deploying


def deploy(
    sagemaker: Any,
    container: dict[str, Any],
    explainer: dict[str, Any] | None = None,
    *,
    variants: list[dict[str, Any]] | None = None,
    wait: bool = True,
) -> str:
    model = unique("inv-model")
    sagemaker.create_model(ModelName=model, PrimaryContainer=container)
    config = unique("inv-config")
    pvs = variants or [{"VariantName": "AllTraffic", "InitialInstanceCount": 1}]
    kwargs: dict[str, Any] = {
        "EndpointConfigName": config,
        "ProductionVariants": [{"ModelName": model, "InstanceType": "ml.m5.large", **pv} for pv in pvs],
    }
    if explainer is not None:
        kwargs["ExplainerConfig"] = {"ClarifyExplainerConfig": explainer}
    sagemaker.create_endpoint_config(**kwargs)
    name = unique("inv-ep")
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=config)
    if wait:
        sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig=FAST_WAIT)
    return name


def failure_reason(sagemaker, name: str) -> str:
    """The FailureReason of an endpoint expected to fail while it is created (waited for, up to 15 s)."""
    for _ in range(150):
        described = sagemaker.describe_endpoint(EndpointName=name)
        if described["EndpointStatus"] != "Creating":
            break
        time.sleep(0.1)
    assert described["EndpointStatus"] == "Failed", described
    return described["FailureReason"]


def csv_body(rows: np.ndarray) -> str:
    return "\n".join(",".join(repr(float(v)) for v in row) for row in np.atleast_2d(rows))


def shap_config(baseline: np.ndarray | str, **extra: Any) -> dict[str, Any]:
    inline = baseline if isinstance(baseline, str) else csv_body(baseline)
    return {"ShapConfig": {"ShapBaselineConfig": {"ShapBaseline": inline}, **extra}}


@pytest.fixture(scope="session")
def records() -> np.ndarray:
    rng = np.random.default_rng(7)
    return rng.normal(size=(6, N_FEATURES)).round(3)


@pytest.fixture(scope="session")
def baseline() -> np.ndarray:
    """Two rows, every cell different from every test record's, so no feature is a null player."""
    return np.array([[0.11, -0.23, 0.05, 0.31, -0.07], [-0.4, 0.52, -0.61, -0.25, 0.44]])


@pytest.fixture(scope="session")
def deadline_server(tmp_path_factory: pytest.TempPathFactory, model_root: Path) -> Iterator[LiveServer]:
    """A server whose invocations must finish within 1.5 s."""
    live = LiveServer(
        tmp_path_factory.mktemp("deadline-server"),
        [model_root],
        env={"OPENCLARIFY_INVOKE_DEADLINE_SECONDS": "1.5"},
    ).start()
    yield live
    live.stop()
