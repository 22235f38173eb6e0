"""An endpoint whose container is gone when the server starts goes Failed with a FailureReason (no retry loop).

The server tries the container's /ping for ``container_startup_timeout_seconds`` (3 s in tests) while it restores
endpoints, then records Failed; DeleteEndpoint and a fresh CreateEndpoint are the way back, as on SageMaker.
"""

from __future__ import annotations

import time

from tests.conftest import LiveServer
from tests.faults.conftest import FaultContainer
from tests.invoke.conftest import FAST_WAIT, deploy


def test_an_endpoint_whose_container_is_gone_at_start_fails_with_a_reason(tmp_path, model_root):
    container = FaultContainer().start()
    server = LiveServer(tmp_path / "data", [model_root]).start()
    try:
        sagemaker = server.client("sagemaker")
        name = deploy(sagemaker, {"Image": container.url})
        container.stop()
        server.stop()
        started = time.monotonic()
        server.start()
        assert time.monotonic() - started < 15  # the 3 s startup timeout, not a hang
        sagemaker = server.client("sagemaker")
        described = sagemaker.describe_endpoint(EndpointName=name)
        assert described["EndpointStatus"] == "Failed"
        reason = described["FailureReason"]
        assert container.url in reason and "/ping" in reason, reason
        # The way back: delete it, bring the container up, create it again.
        sagemaker.delete_endpoint(EndpointName=name)
        sagemaker.get_waiter("endpoint_deleted").wait(EndpointName=name, WaiterConfig=FAST_WAIT)
        container.start()
        config = described["EndpointConfigName"]
        sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=config)
        sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig=FAST_WAIT)
        runtime = server.client("sagemaker-runtime")
        answer = runtime.invoke_endpoint(EndpointName=name, Body=b"1,2,3", ContentType="text/csv")
        assert float(answer["Body"].read()) > 0.5
    finally:
        server.stop()
        container.stop()
