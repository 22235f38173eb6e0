"""Overload beyond a variant's capacity gets a fast, retryable ServiceUnavailable with Retry-After, never a hang."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from tests.conftest import LiveServer
from tests.faults.conftest import FaultContainer
from tests.invoke.conftest import deploy

QUEUE = 2
SLOW = 2.0


@pytest.fixture(scope="module")
def busy_server(tmp_path_factory, model_root):
    live = LiveServer(
        tmp_path_factory.mktemp("busy-server"),
        [model_root],
        env={"OPENCLARIFY_MAX_QUEUED_INVOCATIONS": str(QUEUE), "OPENCLARIFY_INVOKE_DEADLINE_SECONDS": "10"},
    ).start()
    yield live
    live.stop()


def test_requests_beyond_running_plus_queued_are_refused_at_once_with_retry_after(
    busy_server, fault_container: FaultContainer
):
    name = deploy(busy_server.client("sagemaker"), {"Image": fault_container.url})
    url = f"{busy_server.url}/endpoints/{name}/invocations"
    headers = {"Content-Type": "text/csv", "X-Amzn-SageMaker-Custom-Attributes": f"fault=slow;seconds={SLOW}"}

    def call(_: int) -> tuple[httpx.Response, float]:
        started = time.monotonic()
        response = httpx.post(url, content=b"1,2,3", headers=headers, timeout=30)
        return response, time.monotonic() - started

    n = 10
    with ThreadPoolExecutor(n) as pool:
        results = list(pool.map(call, range(n)))
    ok = [(r, t) for r, t in results if r.status_code == 200]
    refused = [(r, t) for r, t in results if r.status_code != 200]
    # One instance running plus QUEUE waiting are admitted; the rest are refused without waiting for them.
    assert len(ok) == 1 + QUEUE, [r.status_code for r, _ in results]
    for response, elapsed in refused:
        assert response.status_code == 503
        assert response.headers["x-amzn-ErrorType"] == "ServiceUnavailable"
        assert response.headers["Retry-After"] == "1"
        assert "at capacity" in response.json()["Message"]
        assert elapsed < SLOW / 2
    # Admission is released: the variant serves again once the burst is over.
    assert httpx.post(url, content=b"1,2,3", headers={"Content-Type": "text/csv"}, timeout=30).status_code == 200


def test_boto3_sees_a_retryable_service_unavailable(busy_server, fault_container: FaultContainer):
    from botocore.exceptions import ClientError

    name = deploy(busy_server.client("sagemaker"), {"Image": fault_container.url})
    runtime = busy_server.client("sagemaker-runtime")

    def call(_: int) -> str:
        try:
            runtime.invoke_endpoint(
                EndpointName=name, Body=b"1,2,3", ContentType="text/csv", CustomAttributes="fault=slow;seconds=1"
            )
            return "ok"
        except ClientError as exc:
            return exc.response["Error"]["Code"]

    with ThreadPoolExecutor(6) as pool:
        codes = sorted(pool.map(call, range(6)))
    assert codes.count("ok") == 1 + QUEUE and set(codes) == {"ok", "ServiceUnavailable"}, codes
