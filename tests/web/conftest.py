"""A live in-process server with an explained endpoint, and headless Chromium (Debian's, via chromedriver)."""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from tests.conftest import REGION, free_port

from openclarify.app import BackgroundServer, build_app
from openclarify.services.endpoints import LiveEndpoint
from openclarify.settings import Settings

N_FEATURES = 8
NAMES = [f"x{j}" for j in range(N_FEATURES)]
# Opens an HTML comment, then a script, inside a <script> block: the HTML parser then reads the rest of the page as
# script, unless "<" is escaped in the embedded JSON.
HOSTILE = "<!--<script>"
HOSTILE_TEXT = "O'Brien's <script>alert(1)</script> x&amp;y"
HOSTILE_NAMES = [HOSTILE, "</script><b>bold</b>", "O'Brien", "x&amp;y", "x4", "x5", "x6", "x7"]
# SageMaker names are at most 63 characters, with no spaces to break at.
LONG_NAME = "plain-endpoint-whose-name-is-as-long-as-sagemaker-allows-000063"
LONG_CONFIG_NAME = "plain-config-whose-name-is-as-long-as-sagemaker-allows-00000063"
LONG_MODEL_NAME = "plain-model-whose-name-is-as-long-as-sagemaker-allows-000000063"
CREATING_PREFIX = "web-creating-"
GATED_PREFIX = "web-gated-"
HELD_CONFIG_PREFIX = "web-held-config-"
# A hostname Chromium resolves to the test server (--host-resolver-rules): plain http on a name that is not loopback
# is not a secure context, so pages opened there have no navigator.clipboard, as over serve --insecure.
INSECURE_HOST = "console.test"
# A website whose name resolves to this machine, as a DNS rebinding attack makes it: never trusted.
REBOUND_HOST = "rebound.test"
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


# Endpoints whose deployment waits for a test to open their gate: Creating until the test says go.
GATES: dict[str, threading.Event] = {}


async def hold_creating(live: LiveEndpoint) -> None:
    """A preparer that never finishes for endpoints named ``web-creating-*``, so they stay Creating, and for
    deployments of configs named ``web-held-config-*``, so an update to one stays Updating; the server cancels the
    deployment when it stops. An endpoint named in ``GATES`` waits until its gate is set."""
    if live.name.startswith(CREATING_PREFIX) or live.config_name.startswith(HELD_CONFIG_PREFIX):
        await asyncio.Event().wait()
    gate = GATES.get(live.name)
    while gate is not None and not gate.is_set():
        await asyncio.sleep(0.05)


class Console:
    def __init__(self, server: BackgroundServer, data_dir: Path, model_root: Path) -> None:
        self.server, self.data_dir, self.model_root = server, data_dir, model_root
        # The gates hold_creating reads, reached through the fixture: a test module importing this file may get a
        # second copy of it, with a dict of its own.
        self.gates = GATES
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
    # The name the insecure-context tests browse under: a name of this machine the operator trusts.
    settings = Settings(
        host="127.0.0.1", port=free_port(), data_dir=data_dir, model_roots=(root,), trusted_hosts=(INSECURE_HOST,)
    )
    app = build_app(settings, route_factories=(canned_precheck,), preparers=(hold_creating,))
    prechecks = [r for r in app.routes if getattr(r, "path", None) == "/-/precheck"]
    if len(prechecks) > 1:  # the real pre-check API exists: test the page against it, not the canned one
        app.routes.remove(next(r for r in prechecks if r.endpoint.__qualname__.startswith("canned_precheck")))
    app.state.canned_precheck = len(prechecks) == 1
    server = BackgroundServer(app, settings.host, settings.port).start()
    yield Console(server, data_dir, root)
    server.stop()


@dataclass(frozen=True)
class WebModel:
    name: str
    container: dict[str, Any]
    baseline: str
    """Four CSV rows of 8 features, the model's training data."""


@pytest.fixture(scope="session")
def web_model(console_server: Console) -> WebModel:
    """An sklearn classifier on 8 features. Its Environment holds characters HTML and JSON escape differently."""
    import skops.io
    from sklearn.ensemble import GradientBoostingClassifier

    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, N_FEATURES))
    y = (X[:, 0] + 0.8 * X[:, 1] - 0.6 * X[:, 2] + 0.4 * X[:, 3] * X[:, 4] > 0).astype(int)
    model = GradientBoostingClassifier(n_estimators=20, max_depth=2, random_state=0).fit(X, y)
    path = console_server.model_root / "gbc.skops"
    skops.io.dump(model, path)
    container = {"Image": "openclarify/sklearn", "ModelDataUrl": str(path), "Environment": {"OWNER": HOSTILE_TEXT}}
    console_server.client("sagemaker").create_model(ModelName="web-model", PrimaryContainer=container)
    return WebModel("web-model", container, "\n".join(",".join(f"{v:.3f}" for v in row) for row in X[:4]))


def deploy(
    console: Console,
    name: str,
    model: str,
    explainer: dict[str, Any] | None = None,
    *,
    config: str | None = None,
    variants: list[dict[str, Any]] | None = None,
    wait: bool = True,
) -> str:
    """CreateEndpointConfig (named ``config``, else after the endpoint) and CreateEndpoint; waits for InService
    unless told not to (Failed and Creating endpoints)."""
    sm = console.client("sagemaker")
    config = config or name + "-config"
    variant = {
        "VariantName": "AllTraffic",
        "ModelName": model,
        "InstanceType": "ml.m5.large",
        "InitialInstanceCount": 1,
    }
    extra = {"ExplainerConfig": {"ClarifyExplainerConfig": explainer}} if explainer is not None else {}
    sm.create_endpoint_config(EndpointConfigName=config, ProductionVariants=variants or [variant], **extra)
    sm.create_endpoint(EndpointName=name, EndpointConfigName=config)
    if wait:
        sm.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
    return name


@pytest.fixture(scope="session")
def explained_endpoint(console_server: Console, web_model: WebModel) -> str:
    """The sklearn model behind an explainer endpoint with a sampled budget (so error bars show)."""
    explainer = {
        "InferenceConfig": {"FeatureHeaders": NAMES},
        "ShapConfig": {
            "ShapBaselineConfig": {"MimeType": "text/csv", "ShapBaseline": web_model.baseline},
            "NumberOfSamples": 60,
            "Seed": 5,
        },
    }
    return deploy(console_server, "web-endpoint", web_model.name, explainer, config="web-config")


def hostile_explainer(baseline: str) -> dict[str, Any]:
    """Feature and label names a careless page turns into markup, keys in no sorted order (as a user writes them)."""
    return {
        "ShapConfig": {
            "Seed": 5,
            "NumberOfSamples": 60,
            "ShapBaselineConfig": {"ShapBaseline": baseline, "MimeType": "text/csv"},
        },
        "InferenceConfig": {"LabelHeaders": [HOSTILE], "FeatureHeaders": HOSTILE_NAMES},
    }


@pytest.fixture(scope="session")
def hostile_endpoint(console_server: Console, web_model: WebModel) -> str:
    return deploy(console_server, "web-hostile", web_model.name, hostile_explainer(web_model.baseline))


@pytest.fixture(scope="session")
def text_endpoint(console_server: Console) -> str:
    """A text model (tf-idf, logistic regression) whose SHAP baseline, the text a masked unit becomes, is markup."""
    import skops.io
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from tests.text.conftest import LABELS, TEXTS

    path = console_server.model_root / "words.skops"
    skops.io.dump(make_pipeline(TfidfVectorizer(), LogisticRegression(C=20.0)).fit(TEXTS, LABELS), path)
    sm = console_server.client("sagemaker")
    sm.create_model(
        ModelName="web-text-model", PrimaryContainer={"Image": "openclarify/sklearn", "ModelDataUrl": str(path)}
    )
    explainer = {
        "InferenceConfig": {"FeatureTypes": ["text"], "FeatureHeaders": ["review"]},
        "ShapConfig": {
            "ShapBaselineConfig": {"ShapBaseline": HOSTILE},
            "TextConfig": {"Language": "en", "Granularity": "token"},
            "Seed": 1,
        },
    }
    return deploy(console_server, "web-text", "web-text-model", explainer)


@pytest.fixture(scope="session")
def plain_endpoint(console_server: Console, web_model: WebModel) -> str:
    """No ExplainerConfig: the model's own answer comes back. Names as long as SageMaker allows (63 characters),
    and a variant weighted 0.0 next to one with the default weight."""
    console_server.client("sagemaker").create_model(ModelName=LONG_MODEL_NAME, PrimaryContainer=web_model.container)
    variants = [
        {
            "VariantName": "Shadow",
            "ModelName": LONG_MODEL_NAME,
            "InstanceType": "ml.m5.large",
            "InitialInstanceCount": 1,
            "InitialVariantWeight": 0.0,
        },
        {"VariantName": "Main", "ModelName": LONG_MODEL_NAME, "InstanceType": "ml.m5.large", "InitialInstanceCount": 1},
    ]
    return deploy(console_server, LONG_NAME, LONG_MODEL_NAME, config=LONG_CONFIG_NAME, variants=variants)


@pytest.fixture(scope="session")
def quiet_endpoint(console_server: Console, web_model: WebModel) -> str:
    """An explainer that explains no record (EnableExplanations false): answers carry predictions only."""
    explainer = {
        "EnableExplanations": "`false`",
        "ShapConfig": {"ShapBaselineConfig": {"ShapBaseline": web_model.baseline}},
    }
    return deploy(console_server, "web-quiet", web_model.name, explainer)


@pytest.fixture(scope="session")
def failed_endpoint(console_server: Console, web_model: WebModel) -> str:
    """Failed: the baseline has 3 columns, the model wants 8, so scoring it at deploy time fails."""
    explainer = {"ShapConfig": {"ShapBaselineConfig": {"ShapBaseline": "1,2,3"}}}
    name = deploy(console_server, "web-failed", web_model.name, explainer, wait=False)
    sm = console_server.client("sagemaker")
    for _ in range(100):
        if sm.describe_endpoint(EndpointName=name)["EndpointStatus"] == "Failed":
            return name
        time.sleep(0.2)
    raise AssertionError(f"{name} did not fail")


@pytest.fixture(scope="session")
def creating_endpoint(console_server: Console, web_model: WebModel) -> str:
    """Creating for the whole session: :func:`hold_creating` keeps its deployment from finishing."""
    explainer = {"ShapConfig": {"ShapBaselineConfig": {"ShapBaseline": web_model.baseline}}}
    return deploy(console_server, CREATING_PREFIX + "endpoint", web_model.name, explainer, wait=False)


@pytest.fixture(scope="session")
def updating_endpoint(console_server: Console, web_model: WebModel) -> str:
    """InService, then Updating for the whole session: its update's deployment is held by :func:`hold_creating`."""
    explainer = {"ShapConfig": {"ShapBaselineConfig": {"ShapBaseline": web_model.baseline}}}
    name = deploy(console_server, "web-updating-endpoint", web_model.name, explainer)
    sm = console_server.client("sagemaker")
    held = HELD_CONFIG_PREFIX + "update"
    variant = {"VariantName": "AllTraffic", "ModelName": web_model.name, "InstanceType": "ml.m5.large"}
    sm.create_endpoint_config(
        EndpointConfigName=held, ProductionVariants=[variant], ExplainerConfig={"ClarifyExplainerConfig": explainer}
    )
    sm.update_endpoint(EndpointName=name, EndpointConfigName=held)
    return name


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
        f"--host-resolver-rules=MAP {INSECURE_HOST} 127.0.0.1, MAP {REBOUND_HOST} 127.0.0.1",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()
    shutil.rmtree(options.arguments[-1].partition("=")[2], ignore_errors=True)


def wait_for(browser: Any, selector: str, timeout: float = 20) -> Any:
    return WebDriverWait(browser, timeout).until(EC.presence_of_element_located((By.CSS_SELECTOR, selector)))


def invoke_raw(browser: Any, records: str, content_type: str | None = None) -> None:
    """Send ``records`` from the playground's raw mode (as ``content_type``, else the form's default) and wait for
    the answer or the error."""
    browser.find_element(By.CSS_SELECTOR, "input[name=mode][value=raw]").click()
    if content_type is not None:
        Select(browser.find_element(By.ID, "content-type")).select_by_visible_text(content_type)
    raw = browser.find_element(By.ID, "raw")
    raw.clear()
    raw.send_keys(records)
    browser.find_element(By.ID, "invoke").click()
    state, error = browser.find_element(By.ID, "state"), browser.find_element(By.ID, "error")
    WebDriverWait(browser, 20).until(lambda b: state.text.startswith("answered") or error.is_displayed())


# The element's colour and the first opaque background behind it, as the browser computed them.
_COLOURS = """
const el = arguments[0];
const opaque = (c) => c !== "transparent" && !/^rgba\\(.*, 0\\)$/.test(c);
let e = el;
while (e && !opaque(getComputedStyle(e).backgroundColor)) e = e.parentElement;
return [getComputedStyle(el).color, e ? getComputedStyle(e).backgroundColor : "rgb(255, 255, 255)"];
"""


def contrast(browser: Any, element: Any) -> float:
    """WCAG 2 contrast ratio of an element's text on its background (opaque colours only)."""

    def luminance(css: str) -> float:
        parts = [float(v) for v in css[css.index("(") + 1 : -1].split(",")]
        assert len(parts) == 3 or parts[3] == 1, f"translucent colour {css}"
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in (v / 255 for v in parts[:3])]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    fg, bg = (luminance(c) for c in browser.execute_script(_COLOURS, element))
    return (max(fg, bg) + 0.05) / (min(fg, bg) + 0.05)
