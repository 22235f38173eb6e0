"""A restart resumes endpoint work in the background: the server answers /ping, the control plane and the console
at once, however long a deployment takes, and shuts down promptly while one is still waiting for a container.

- Creating resumes with its own startup timeout (``ContainerStartupHealthCheckTimeoutInSeconds``) and goes InService
  once the container answers.
- Updating is abandoned: the endpoint is InService on its previous deployment at once, with a FailureReason, and
  that deployment loads again in the background.
"""

from __future__ import annotations

import time

import httpx
from tests.conftest import LiveServer, free_port
from tests.faults.conftest import FaultContainer
from tests.invoke.conftest import FAST_WAIT, deploy, unique

SLOW_STARTUP = {"OPENCLARIFY_CONTAINER_STARTUP_TIMEOUT_SECONDS": "60", "OPENCLARIFY_CREATE_GRACE_SECONDS": "0.2"}


def timed_start(server: LiveServer) -> float:
    started = time.monotonic()
    server.start()
    return time.monotonic() - started


def stops_cleanly(server: LiveServer) -> None:
    """SIGTERM ends the server within seconds, through its lifespan shutdown (uvicorn then re-raises the signal, so
    the exit status is -SIGTERM; LiveServer.stop would SIGKILL a server still running after 10 s)."""
    done = server.log().count("Application shutdown complete.")
    started = time.monotonic()
    server.stop()
    seconds = time.monotonic() - started
    assert seconds < 5, f"shutdown took {seconds:.1f} s"
    assert server.log().count("Application shutdown complete.") == done + 1, server.log()
    assert "Traceback" not in server.log() and "ERROR" not in server.log(), server.log()


def test_restart_while_creating_against_an_unreachable_container(tmp_path, model_root):
    port = free_port()  # nothing listens there yet
    server = LiveServer(tmp_path / "data", [model_root], env=SLOW_STARTUP).start()
    container = FaultContainer(port=port)
    try:
        sagemaker = server.client("sagemaker")
        pv = {"VariantName": "AllTraffic", "InitialInstanceCount": 1, "ContainerStartupHealthCheckTimeoutInSeconds": 60}
        name = deploy(sagemaker, {"Image": container.url}, variants=[pv], wait=False)
        assert sagemaker.describe_endpoint(EndpointName=name)["EndpointStatus"] == "Creating"

        # Shutting down cancels the health check instead of waiting out its 60 s.
        stops_cleanly(server)
        # Repro: /ping and the control plane refused connections for about 63 s here.
        assert timed_start(server) < 5
        sagemaker = server.client("sagemaker")
        assert sagemaker.describe_endpoint(EndpointName=name)["EndpointStatus"] == "Creating"
        assert name in [e["EndpointName"] for e in sagemaker.list_endpoints()["Endpoints"]]
        assert httpx.get(server.url + "/", timeout=5).status_code == 200  # the console
        # And again while the resumed creation waits: still prompt, still clean.
        stops_cleanly(server)

        server.start()
        container.start()
        sagemaker = server.client("sagemaker")
        sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig=FAST_WAIT)
        assert_serves(server, name)
    finally:
        server.stop()
        container.stop()


def assert_serves(server, name: str) -> None:
    answer = server.client("sagemaker-runtime").invoke_endpoint(
        EndpointName=name, Body=b"1,2,3", ContentType="text/csv"
    )
    assert float(answer["Body"].read()) > 0.5


def test_an_update_interrupted_by_a_crash_rolls_back_in_the_background(tmp_path, model_root):
    container = FaultContainer().start()
    server = LiveServer(tmp_path / "data", [model_root], env=SLOW_STARTUP).start()
    try:
        sagemaker = server.client("sagemaker")
        name = deploy(sagemaker, {"Image": container.url})
        unreachable = unique("unreachable")
        sagemaker.create_model(ModelName=unreachable, PrimaryContainer={"Image": f"http://127.0.0.1:{free_port()}"})
        broken = unique("broken-config")
        sagemaker.create_endpoint_config(
            EndpointConfigName=broken,
            ProductionVariants=[{"VariantName": "AllTraffic", "ModelName": unreachable, "InstanceType": "ml.m5.large"}],
        )
        sagemaker.update_endpoint(EndpointName=name, EndpointConfigName=broken)
        assert sagemaker.describe_endpoint(EndpointName=name)["EndpointStatus"] == "Updating"
        assert server.process is not None
        server.process.kill()  # kill -9 while the new deployment waits for its container
        server.process.wait(10)
        server.process = None

        assert timed_start(server) < 5
        sagemaker = server.client("sagemaker")
        sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig=FAST_WAIT)
        described = sagemaker.describe_endpoint(EndpointName=name)
        assert described["EndpointConfigName"] != broken
        assert "interrupted by a server restart" in described["FailureReason"]
        assert_serves(server, name)
    finally:
        server.stop()
        container.stop()


def test_the_server_exits_promptly_while_an_in_service_endpoint_is_being_restored(tmp_path, model_root):
    container = FaultContainer().start()
    server = LiveServer(tmp_path / "data", [model_root], env=SLOW_STARTUP).start()
    try:
        name = deploy(server.client("sagemaker"), {"Image": container.url})
        container.stop()
        server.stop()
        server.start()
        time.sleep(0.5)  # the first restore attempt is pinging the dead container
        assert server.client("sagemaker").describe_endpoint(EndpointName=name)["EndpointStatus"] == "InService"
        stops_cleanly(server)
    finally:
        server.stop()
        container.stop()
