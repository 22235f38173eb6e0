"""With the extended opt-in, a request about to run out of time answers its best estimates so far."""

import json
import time

import pytest
from tests.conftest import LiveServer

from .conftest import csv_body, deploy, shap_config


@pytest.fixture(scope="module")
def three_second_server(tmp_path_factory, model_root):
    live = LiveServer(
        tmp_path_factory.mktemp("three-second-server"),
        [model_root],
        env={"OPENCLARIFY_INVOKE_DEADLINE_SECONDS": "3"},
    ).start()
    yield live
    live.stop()


def test_a_slow_container_gets_a_flagged_partial_estimate_instead_of_an_error(
    three_second_server, container, baseline, records
):
    sagemaker = three_second_server.client("sagemaker")
    runtime = three_second_server.client("sagemaker-runtime")
    # 28 of the 30 coalitions over 5 features for each of the 2 baseline rows, one synthetic row per container call,
    # 60 ms each: about 3.4 s of work against a 3 s deadline. The first block (24 rows) takes about 1.5 s.
    explainer = {"InferenceConfig": {"MaxRecordCount": 1}, **shap_config(baseline, NumberOfSamples=28, Seed=1)}
    name = deploy(sagemaker, {"Image": container.url}, explainer)
    started = time.monotonic()
    response = runtime.invoke_endpoint(
        EndpointName=name,
        Body=csv_body(records[:2]),
        ContentType="text/csv",
        CustomAttributes="delay=0.06;openclarify-extended=true",
    )
    elapsed = time.monotonic() - started
    body = json.loads(response["Body"].read())
    assert elapsed < 3.5
    first, second = body["explanations"]["kernel_shap"]
    details = body["openclarify"]["kernel_shap"][0]
    assert details["deadline_reached"] is True
    # Each of the 2 baseline rows is a group with 28 coalitions of its own (one row per coalition). The first block
    # holds both groups' singleton pairs and a sampled pair of each stratum (one here): 24 rows; the whole design
    # would be 56.
    assert 24 <= details["model_rows"] < 2 * 28
    total = sum(feature["attributions"][0]["attribution"][0] for feature in first)
    assert total == pytest.approx(details["f_x"][0] - details["expected_value"][0], abs=1e-9)
    # Error bars only where the pairs sampled so far can measure a spread: with as few as the first blocks hold (two
    # to eight per group, against five regressors) they may be null, never a number claiming a precision the
    # estimate lacks. Either way the whole record's are one or the other.
    errors = [se for row in details["standard_errors"] for se in row]
    assert all(se is None for se in errors) or all(se >= 0 for se in errors)
    # The second record never got its turn: unexplained, as Clarify marks a record it does not explain.
    assert second is None

    # Without the opt-in the same request is an error, as Clarify's would be.
    error = None
    try:
        runtime.invoke_endpoint(
            EndpointName=name, Body=csv_body(records[:2]), ContentType="text/csv", CustomAttributes="delay=0.06"
        )
    except runtime.exceptions.ModelError as exc:
        error = exc.response["Error"]
    assert error is not None and "timed out" in error["Message"]
