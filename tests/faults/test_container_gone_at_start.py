"""An endpoint that was InService stays InService when its model container is gone at a server restart.

The server answers at once and loads the endpoint again in the background, retrying the container's /ping with
backoff. Until it loads, invocations get ServiceUnavailable (503, retried by boto3) naming the container and the
failed health check, and DescribeEndpoint shows the variant Creating with the same reason; once the container is
back the endpoint serves again, with no DeleteEndpoint/CreateEndpoint round trip (SageMaker never fails a serving
endpoint because its container restarted).
"""

from __future__ import annotations

import json
import time

import pytest
from botocore.exceptions import ClientError
from tests.conftest import LiveServer
from tests.faults.conftest import FaultContainer
from tests.invoke.conftest import deploy, shap_config

DEADLINE = 3.0


def invoke_error(runtime, name: str) -> tuple[dict, dict]:
    with pytest.raises(ClientError) as info:
        runtime.invoke_endpoint(EndpointName=name, Body=b"1,2,3", ContentType="text/csv")
    return info.value.response["Error"], info.value.response["ResponseMetadata"]


def test_an_in_service_endpoint_whose_container_is_gone_at_start_stays_in_service(tmp_path, model_root):
    container = FaultContainer().start()
    # Repro: a 15 s startup timeout kept the server unreachable for 16 s, then failed the endpoints.
    env = {"OPENCLARIFY_CONTAINER_STARTUP_TIMEOUT_SECONDS": "15", "OPENCLARIFY_INVOKE_DEADLINE_SECONDS": str(DEADLINE)}
    server = LiveServer(tmp_path / "data", [model_root], env=env).start()
    try:
        sagemaker = server.client("sagemaker")
        plain = deploy(sagemaker, {"Image": container.url})
        explained = deploy(sagemaker, {"Image": container.url}, shap_config("0,0,0", NumberOfSamples=6))
        container.stop()
        server.stop()
        started = time.monotonic()
        server.start()
        assert time.monotonic() - started < 5, "the server waited for the container before answering"
        sagemaker, runtime = server.client("sagemaker"), server.client("sagemaker-runtime")
        for name in (plain, explained):
            described = sagemaker.describe_endpoint(EndpointName=name)
            assert described["EndpointStatus"] == "InService"
            assert "FailureReason" not in described
            assert described["ProductionVariants"][0]["VariantStatus"][0]["Status"] == "Creating"

        # Once an attempt has failed, invocations say why. Each waits for the endpoint at most half its deadline, and
        # boto3 retries the 503 (these clients allow one retry): two waits of 1.5 s.
        limit = time.monotonic() + 30
        while True:
            asked = time.monotonic()
            error, meta = invoke_error(runtime, plain)
            waited = time.monotonic() - asked
            assert error["Code"] == "ServiceUnavailable" and meta["HTTPStatusCode"] == 503, error
            assert meta["HTTPHeaders"]["retry-after"] == "5"
            assert waited < DEADLINE + 1.5, waited
            if "/ping" in error["Message"] or time.monotonic() > limit:
                break
        assert container.url in error["Message"] and "InService" in error["Message"], error
        assert invoke_error(runtime, explained)[0]["Code"] == "ServiceUnavailable"
        status = sagemaker.describe_endpoint(EndpointName=plain)["ProductionVariants"][0]["VariantStatus"][0]
        assert container.url in status["StatusMessage"] and "/ping" in status["StatusMessage"], status
        assert sagemaker.describe_endpoint(EndpointName=plain)["EndpointStatus"] == "InService"
        assert "could not be loaded again after the restart" in server.log()

        # The container comes back on its port: both endpoints serve again on their own.
        container.start()
        limit = time.monotonic() + 30
        for name in (plain, explained):
            while True:
                try:
                    answer = runtime.invoke_endpoint(EndpointName=name, Body=b"1,2,3", ContentType="text/csv")
                    break
                except ClientError as exc:
                    assert exc.response["Error"]["Code"] == "ServiceUnavailable", exc.response["Error"]
                    assert time.monotonic() < limit, "the endpoint was not loaded again once its container was back"
            body = answer["Body"].read()
            if name == plain:
                assert float(body) > 0.5
            else:
                assert len(json.loads(body)["explanations"]["kernel_shap"][0]) == 3
            described = sagemaker.describe_endpoint(EndpointName=name)
            assert described["EndpointStatus"] == "InService"
            assert "VariantStatus" not in described["ProductionVariants"][0]
    finally:
        server.stop()
        container.stop()
