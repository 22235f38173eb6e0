"""A remote model container that dies, hangs, fails, or answers garbage, too few rows or too late.

Every case must end in a ModelError a person can act on, within the invocation deadline; the server stays
healthy, and the next request succeeds (once the container is back, for a killed one).
"""

from __future__ import annotations

import json
import time

import httpx
import pytest
from botocore.exceptions import ClientError
from tests.faults.conftest import DEADLINE, FaultContainer
from tests.invoke.conftest import deploy

BASELINE = "0.1,0.2,0.3\n-0.5,0.4,0.0"
RECORDS = "1.0,2.0,3.0\n0.5,-1.0,0.25"
EXPLAINER = {
    "InferenceConfig": {"MaxRecordCount": 20},
    "ShapConfig": {"ShapBaselineConfig": {"ShapBaseline": BASELINE}, "Seed": 1},
}
SLACK = 1.5  # seconds beyond the deadline for the answer to travel back


@pytest.fixture(scope="module")
def endpoints(fault_server, fault_container):
    sagemaker = fault_server.client("sagemaker")
    plain = deploy(sagemaker, {"Image": fault_container.url})
    explained = deploy(sagemaker, {"Image": fault_container.url}, EXPLAINER)
    return {"plain": plain, "explained": explained}


def invoke(server, endpoint: str, fault: str | None = None, **extra: str):
    runtime = server.client("sagemaker-runtime", read_timeout=60)
    attributes = ";".join(f"{k}={v}" for k, v in {"fault": fault, **extra}.items() if v)
    kwargs = {"CustomAttributes": attributes} if attributes else {}
    return runtime.invoke_endpoint(EndpointName=endpoint, Body=RECORDS, ContentType="text/csv", **kwargs)


def failed(server, endpoint: str, fault: str, **extra: str) -> tuple[dict, float]:
    started = time.monotonic()
    with pytest.raises(ClientError) as info:
        invoke(server, endpoint, fault, **extra)
    return info.value.response, time.monotonic() - started


def assert_healthy(server, endpoints) -> None:
    assert httpx.get(server.url + "/ping", timeout=5).status_code == 200
    plain = invoke(server, endpoints["plain"])
    assert len(plain["Body"].read().decode().split()) == 2
    explained = json.loads(invoke(server, endpoints["explained"])["Body"].read())
    assert len(explained["explanations"]["kernel_shap"]) == 2


@pytest.mark.parametrize("kind", ["plain", "explained"])
def test_a_500_is_a_model_error_with_the_containers_status_and_message(fault_server, endpoints, kind):
    response, elapsed = failed(fault_server, endpoints[kind], "500")
    assert response["Error"]["Code"] == "ModelError"
    assert response["OriginalStatusCode"] == 500
    assert "the model failed on purpose" in response["Error"]["Message"]
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert elapsed < DEADLINE
    assert_healthy(fault_server, endpoints)


@pytest.mark.parametrize(("fault", "words"), [("garbage", "not valid"), ("fewrows", "records")])
def test_unreadable_or_short_answers_are_model_errors_that_say_what_was_wrong(fault_server, endpoints, fault, words):
    response, elapsed = failed(fault_server, endpoints["explained"], fault)
    assert response["Error"]["Code"] == "ModelError"
    message = response["Error"]["Message"]
    assert words in message, message
    if fault == "fewrows":
        assert "1" in message and "2" in message, message  # how many came back against how many were sent
    assert elapsed < DEADLINE
    assert_healthy(fault_server, endpoints)


@pytest.mark.parametrize("kind", ["plain", "explained"])
@pytest.mark.parametrize("fault", ["hang", "slow"])
def test_a_hung_or_slow_container_times_out_at_the_deadline(fault_server, endpoints, kind, fault):
    response, elapsed = failed(fault_server, endpoints[kind], fault, seconds=str(DEADLINE + 3))
    assert response["Error"]["Code"] == "ModelError"
    message = response["Error"]["Message"]
    assert "timed out" in message and f"{DEADLINE:g}-second" in message, message
    assert DEADLINE - 0.5 < elapsed < DEADLINE + SLACK
    assert_healthy(fault_server, endpoints)


@pytest.mark.parametrize("kind", ["plain", "explained"])
def test_a_container_killed_mid_batch_fails_fast_and_serves_again_once_back(
    fault_server, endpoints, fault_container: FaultContainer, kind
):
    response, elapsed = failed(fault_server, endpoints[kind], "kill")
    assert not fault_container.alive() or fault_container.process.wait(5) == 3
    assert response["Error"]["Code"] == "ModelError"
    message = response["Error"]["Message"]
    assert fault_container.url in message and "running" in message, message
    assert elapsed < DEADLINE
    # While it is down, requests fail fast with the same advice rather than hang.
    response, elapsed = failed(fault_server, endpoints[kind], None)
    assert response["Error"]["Code"] == "ModelError" and elapsed < DEADLINE
    fault_container.stop()
    fault_container.start()
    assert_healthy(fault_server, endpoints)
