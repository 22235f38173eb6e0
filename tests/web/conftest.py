"""A live in-process server with an explained endpoint, and headless Chromium (Debian's, via chromedriver)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from tests.conftest import REGION, free_port

from openclarify.app import BackgroundServer, build_app
from openclarify.settings import Settings

N_FEATURES = 8
NAMES = [f"x{j}" for j in range(N_FEATURES)]
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
CANNED_PRECHECK = {
    "ok": False,
    "findings": [
        {"level": "ok", "message": "GET /ping answered 200 in 3 ms."},
        {"level": "warn", "message": "The answer has no ProbabilityIndex column named; the whole line is the score."},
        {"level": "error", "message": "POST /invocations with 3 records answered 2 lines."},
    ],
    "explainer_config": {"ClarifyExplainerConfig": {"ShapConfig": {"NumberOfSamples": 100}}},
    "estimates": {"model_rows_per_record": 2100, "seconds_per_record": 0.8},
}


def canned_precheck(components: Any) -> list[Route]:
    """A real route answering the pre-check contract with a fixed report, for servers without the real API."""

    async def endpoint(request: Request) -> JSONResponse:
        payload = await request.json()
        assert set(payload) == {"container_url", "records", "content_type", "accept", "features_attribute"}
        return JSONResponse({**CANNED_PRECHECK, "echo": payload})

    return [Route("/-/precheck", endpoint, methods=["POST"])]


class Console:
    def __init__(self, server: BackgroundServer, data_dir: Path, model_root: Path) -> None:
        self.server, self.data_dir, self.model_root = server, data_dir, model_root
        self.url = server.url
        self.canned_precheck: bool = server.server.config.app.state.canned_precheck

    def client(self, service: str) -> Any:
        import boto3

        return boto3.session.Session().client(
            service, endpoint_url=self.url, region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x"
        )


@pytest.fixture(scope="session")
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    data_dir = tmp_path_factory.mktemp("console")
    root = data_dir / "models"
    root.mkdir()
    settings = Settings(host="127.0.0.1", port=free_port(), data_dir=data_dir, model_roots=(root,))
    app = build_app(settings, route_factories=(canned_precheck,))
    prechecks = [r for r in app.routes if getattr(r, "path", None) == "/-/precheck"]
    if len(prechecks) > 1:  # the real pre-check API exists: test the page against it, not the canned one
        app.routes.remove(next(r for r in prechecks if r.endpoint.__qualname__.startswith("canned_precheck")))
    app.state.canned_precheck = len(prechecks) == 1
    server = BackgroundServer(app, settings.host, settings.port).start()
    yield Console(server, data_dir, root)
    server.stop()


@pytest.fixture(scope="session")
def explained_endpoint(console_server: Console) -> str:
    """An sklearn model on 8 features behind an explainer endpoint with a sampled budget (so error bars show)."""
    import skops.io
    from sklearn.ensemble import GradientBoostingClassifier

    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, N_FEATURES))
    y = (X[:, 0] + 0.8 * X[:, 1] - 0.6 * X[:, 2] + 0.4 * X[:, 3] * X[:, 4] > 0).astype(int)
    model = GradientBoostingClassifier(n_estimators=20, max_depth=2, random_state=0).fit(X, y)
    path = console_server.model_root / "gbc.skops"
    skops.io.dump(model, path)
    sm = console_server.client("sagemaker")
    sm.create_model(ModelName="web-model", PrimaryContainer={"Image": "openclarify/sklearn", "ModelDataUrl": str(path)})
    baseline = "\n".join(",".join(f"{v:.3f}" for v in row) for row in X[:4])
    sm.create_endpoint_config(
        EndpointConfigName="web-config",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "web-model",
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 1,
            }
        ],
        ExplainerConfig={
            "ClarifyExplainerConfig": {
                "InferenceConfig": {"FeatureHeaders": NAMES},
                "ShapConfig": {
                    "ShapBaselineConfig": {"MimeType": "text/csv", "ShapBaseline": baseline},
                    "NumberOfSamples": 60,
                    "Seed": 5,
                },
            }
        },
    )
    sm.create_endpoint(EndpointName="web-endpoint", EndpointConfigName="web-config")
    sm.get_waiter("endpoint_in_service").wait(
        EndpointName="web-endpoint", WaiterConfig={"Delay": 0.2, "MaxAttempts": 100}
    )
    return "web-endpoint"


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
        message = "headless Chromium is missing: run tests/web/ensure_chromium.sh (make test does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1200,1600",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()
    shutil.rmtree(options.arguments[-1].partition("=")[2], ignore_errors=True)
