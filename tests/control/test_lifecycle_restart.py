"""Endpoint lifecycle across a kill -9: an update cut short rolls back as SageMaker rolls back a failed one."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import LiveServer, free_port, wait_for_ping
from tests.control.helpers import FAST_WAIT, variant

ECHO_CONTAINER = Path(__file__).parent.parent / "containers" / "echo_container.py"


class Container:
    """The echo model container on a fixed port, so it can be stopped and started again at the same URL."""

    def __init__(self, model: Path) -> None:
        self.model = model
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Container:
        cmd = [sys.executable, str(ECHO_CONTAINER), "--port", str(self.port), "--model", str(self.model)]
        self.process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_for_ping(self.url):
            raise RuntimeError("the echo container did not start")
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None


@pytest.fixture
def container(model_files: dict[str, Path]) -> Iterator[Container]:
    started = Container(model_files["openclarify/xgboost"]).start()
    yield started
    started.stop()


def test_an_update_cut_short_by_kill_9_leaves_the_endpoint_in_service_on_its_old_config(
    tmp_path, model_root, container
):
    # A long startup timeout holds the update in Updating until the kill; no grace, so the calls answer at once.
    env = {"OPENCLARIFY_CONTAINER_STARTUP_TIMEOUT_SECONDS": "30", "OPENCLARIFY_CREATE_GRACE_SECONDS": "0"}
    server = LiveServer(tmp_path / "data", [model_root], env=env).start()
    try:
        sm = server.client("sagemaker")
        sm.create_model(ModelName="serving", PrimaryContainer={"Image": container.url})
        sm.create_model(ModelName="unreachable", PrimaryContainer={"Image": f"http://127.0.0.1:{free_port()}"})
        sm.create_endpoint_config(EndpointConfigName="old", ProductionVariants=[variant("serving")])
        sm.create_endpoint_config(EndpointConfigName="new", ProductionVariants=[variant("unreachable")])
        sm.create_endpoint(EndpointName="ep", EndpointConfigName="old")
        sm.get_waiter("endpoint_in_service").wait(EndpointName="ep", WaiterConfig=FAST_WAIT)
        sm.update_endpoint(EndpointName="ep", EndpointConfigName="new")
        assert sm.describe_endpoint(EndpointName="ep")["EndpointStatus"] == "Updating"
        assert server.process is not None
        server.process.kill()
        server.process.wait(10)
        server.process = None
        # The old deployment's container is down when the server comes back: an InService endpoint survives that
        # (it is loaded again with retries), so an endpoint that was serving until the crash must too.
        container.stop()

        server.start()
        sm = server.client("sagemaker")
        described = sm.describe_endpoint(EndpointName="ep")
        assert described["EndpointStatus"] == "InService"
        assert described["EndpointConfigName"] == "old"
        assert "interrupted by a server restart" in described["FailureReason"]
        assert "PendingDeploymentSummary" not in described

        container.start()
        answer = server.client("sagemaker-runtime").invoke_endpoint(
            EndpointName="ep", Body=b"1,2,3,4", ContentType="text/csv"
        )
        assert 0 < float(answer["Body"].read()) < 1
        assert sm.describe_endpoint(EndpointName="ep")["EndpointStatus"] == "InService"
    finally:
        server.stop()
