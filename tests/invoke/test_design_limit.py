"""The server bounds the coalition design one explanation samples (``--max-design-cells``).

Clarify's NumberOfSamples has no maximum, and an explanation takes about 20-40 bytes per design cell (players ×
coalitions): at 250 features a budget of 10^6 grew a server past 20 GB until the kernel killed it, with every endpoint
on it. Where the players are known at deployment (the baseline's columns) a budget past the bound fails the endpoint
with a FailureReason; text records, whose units are counted per record, are refused at the invocation (tests/text).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import LiveServer
from tests.invoke.conftest import csv_body, deploy, failure_reason, shap_config

XGB = "openclarify/xgboost"
LIMIT = 100  # cells: the tests' models have 5 features, so a sampled budget of 20 coalitions is the most it allows


@pytest.fixture(scope="module")
def bounded_server(tmp_path_factory: pytest.TempPathFactory, model_root: Path) -> Iterator[LiveServer]:
    live = LiveServer(
        tmp_path_factory.mktemp("design-limit"), [model_root], env={"OPENCLARIFY_MAX_DESIGN_CELLS": str(LIMIT)}
    ).start()
    yield live
    live.stop()


@pytest.mark.parametrize("where", ["in process", "remote"])
def test_a_budget_past_the_bound_fails_the_deployment_and_one_within_it_explains(
    bounded_server, trained, container, baseline, records, where
):
    sagemaker = bounded_server.client("sagemaker")
    runtime = bounded_server.client("sagemaker-runtime")
    model = (
        {"Image": XGB, "ModelDataUrl": str(trained[XGB].path)} if where == "in process" else {"Image": container.url}
    )
    name = deploy(sagemaker, model, shap_config(baseline, NumberOfSamples=26), wait=False)
    reason = failure_reason(sagemaker, name)
    assert reason.startswith("ShapConfig.NumberOfSamples 26 needs a larger coalition design than this server samples")
    assert "5 players and 26 coalitions make a design of 130 cells, more than the 100 allowed" in reason
    assert "--max-design-cells" in reason

    name = deploy(sagemaker, model, shap_config(baseline, NumberOfSamples=20, Seed=1))
    body = json.loads(
        runtime.invoke_endpoint(EndpointName=name, Body=csv_body(records[:1]), ContentType="text/csv")["Body"].read()
    )
    assert len(body["explanations"]["kernel_shap"][0]) == 5
    # Clarify's default budget at 5 features lists all 30 coalitions: an exact design stores no masks and counts 30.
    deploy(sagemaker, model, shap_config(baseline))
