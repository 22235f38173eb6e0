"""Fixtures for the fuzzers: one in-process app (TestClient, lifespan included) with two endpoints to invoke.

``OPENCLARIFY_FUZZ_SCALE`` multiplies every test's example count (default 1: the fast slice of ``make test``);
``OPENCLARIFY_FUZZ_REPORT=path`` appends each app's request and status counts there as JSON lines.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from tests.fuzz.harness import FuzzApp, guarded

from openclarify.settings import Settings

SCALE = float(os.environ.get("OPENCLARIFY_FUZZ_SCALE", "1"))
N_FEATURES = 3


def examples(n: int) -> int:
    return max(1, int(n * SCALE))


@pytest.fixture(scope="session")
def fuzz_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import xgboost

    root = tmp_path_factory.mktemp("fuzz-models")
    rng = np.random.default_rng(3)
    X = rng.normal(size=(80, N_FEATURES))
    booster = xgboost.train({"objective": "binary:logistic", "max_depth": 2}, xgboost.DMatrix(X, label=X[:, 0] > 0), 5)
    booster.save_model(str(root / "model.json"))
    return root


def make_settings(tmp: Path, model_root: Path, **extra: object) -> Settings:
    return Settings(
        data_dir=tmp,
        model_roots=(model_root,),
        invoke_deadline_seconds=10.0,
        container_startup_timeout_seconds=2.0,
        create_grace_seconds=5.0,
        console=False,
        **extra,  # type: ignore[arg-type]
    )


def deploy(app: FuzzApp, name: str, model_root: Path, explainer: dict | None = None) -> None:
    url = str(model_root / "model.json")
    app.control(
        "CreateModel", {"ModelName": name, "PrimaryContainer": {"Image": "openclarify/xgboost", "ModelDataUrl": url}}
    )
    config: dict = {
        "EndpointConfigName": name,
        "ProductionVariants": [
            {"VariantName": "AllTraffic", "ModelName": name, "InstanceType": "ml.m5.large", "InitialInstanceCount": 2}
        ],
    }
    if explainer:
        config["ExplainerConfig"] = {"ClarifyExplainerConfig": explainer}
    assert app.control("CreateEndpointConfig", config).status_code == 200
    assert app.control("CreateEndpoint", {"EndpointName": name, "EndpointConfigName": name}).status_code == 200
    status = app.control("DescribeEndpoint", {"EndpointName": name}).json()
    assert status["EndpointStatus"] == "InService", status


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory: pytest.TempPathFactory, fuzz_model: Path) -> Iterator[FuzzApp]:
    data = tmp_path_factory.mktemp("fuzz-data")
    with FuzzApp(make_settings(data, fuzz_model), label="in-process api") as app:
        deploy(app, "plain", fuzz_model)
        deploy(
            app,
            "explained",
            fuzz_model,
            {
                "ShapConfig": {
                    "ShapBaselineConfig": {"ShapBaseline": "0,0,0\n1,-1,0.5"},
                    "NumberOfSamples": 6,
                    "Seed": 1,
                }
            },
        )
        deploy(
            app,
            "jsonl",
            fuzz_model,
            {
                "EnableExplanations": "`true`",
                "InferenceConfig": {"FeaturesAttribute": "features", "ContentTemplate": '{"features":$features}'},
                "ShapConfig": {
                    "ShapBaselineConfig": {"ShapBaseline": '{"features":[0,0,0]}', "MimeType": "application/jsonlines"},
                    "NumberOfSamples": 6,
                },
            },
        )
        with guarded([data, fuzz_model, Path(tmp_path_factory.getbasetemp())]) as violations:
            app.violations = violations  # type: ignore[attr-defined]
            yield app
        assert not violations, violations[:10]
