"""What an operator sees of a live server (``openclarify serve``): /metrics and the log, after real requests.

The model is tests/containers/fault_container.py (standard library only, so it starts at once); its
``fault=slow`` CustomAttributes item holds one invocation past the server's deadline.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from prometheus_client.parser import text_string_to_metric_families
from tests.conftest import REGION, LiveServer, free_port, wait_for_ping

from openclarify.wire.sagemaker_api import OPERATIONS

SCRIPT = Path(__file__).parent.parent / "containers" / "fault_container.py"
DEADLINE = 1.5
FAST_WAIT = {"Delay": 0.2, "MaxAttempts": 100}
KEY, SECRET = "AKIDMETRICSAUDIT", "metrics-audit-secret-value"


@pytest.fixture(scope="module")
def container() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, str(SCRIPT), "--port", str(port)], stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        assert wait_for_ping(url), "the fault container did not start"
        yield url
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, model_root: Path) -> Iterator[LiveServer]:
    server = LiveServer(
        tmp_path_factory.mktemp("metrics-operator"),
        [model_root],
        env={"OPENCLARIFY_INVOKE_DEADLINE_SECONDS": str(DEADLINE)},
    ).start()
    yield server
    server.stop()


def deploy(live: LiveServer, container: str, name: str, explained: bool) -> str:
    sagemaker = live.client("sagemaker")
    sagemaker.create_model(ModelName=name, PrimaryContainer={"Image": container})
    variant = {"VariantName": "AllTraffic", "ModelName": name, "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}
    extra = {
        "ExplainerConfig": {"ClarifyExplainerConfig": {"ShapConfig": {"ShapBaselineConfig": {"ShapBaseline": "0,0"}}}}
    }
    sagemaker.create_endpoint_config(
        EndpointConfigName=name, ProductionVariants=[variant], **(extra if explained else {})
    )
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)
    sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig=FAST_WAIT)
    return name


def series(text: str) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    return {
        (s.name, tuple(sorted(s.labels.items())))
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def log_lines(live: LiveServer, event: str) -> list[dict]:
    lines = []
    for line in live.log().splitlines():
        _, _, message = line.partition(": ")
        if message.startswith("{"):
            payload = json.loads(message)
            if payload.get("event") == event:
                lines.append(payload)
    return lines


def test_made_up_operation_names_add_no_series(live):
    before = series(httpx.get(live.url + "/metrics").text)
    for i in range(30):
        answer = httpx.post(live.url + "/", content=b"{}", headers={"X-Amz-Target": f"SageMaker.MadeUp{i}"})
        assert answer.status_code == 400
    httpx.post(live.url + "/", content=b"{}", headers={"X-Amz-Target": "Other.ListModels"})
    text = httpx.get(live.url + "/metrics").text
    new = series(text) - before
    assert not [s for s in new if any("MadeUp" in value for _, value in s[1])]
    operations = {dict(labels)["operation"] for name, labels in series(text) if name == "openclarify_requests_total"}
    assert operations <= set(OPERATIONS) | {"unknown", "ping", "metrics", "console", "other", "precheck"}
    assert 'openclarify_requests_total{operation="unknown",status="400"} 31.0' in text


def test_a_deleted_endpoint_leaves_no_series(live, container):
    name = deploy(live, container, "metrics-deleted", explained=True)
    live.client("sagemaker-runtime").invoke_endpoint(EndpointName=name, Body="1,2", ContentType="text/csv")
    named = [s for s in series(httpx.get(live.url + "/metrics").text) if ("endpoint", name) in s[1]]
    assert len(named) > 20  # the outcome counter, four stages' histograms, rows, explanations
    live.client("sagemaker").delete_endpoint(EndpointName=name)
    text = httpx.get(live.url + "/metrics").text
    assert [s for s in series(text) if ("endpoint", name) in s[1]] == []


@pytest.fixture
def answering_at_once(tmp_path: Path, model_root: Path) -> Iterator[LiveServer]:
    """DeleteEndpoint answers at once, without waiting for the old deployment's last invocations."""
    server = LiveServer(tmp_path, [model_root], env={"OPENCLARIFY_CREATE_GRACE_SECONDS": "0"}).start()
    yield server
    server.stop()


def test_an_invocation_still_running_when_its_endpoint_is_deleted_brings_no_series_back(answering_at_once, container):
    live = answering_at_once
    name = deploy(live, container, "metrics-in-flight", explained=False)
    runtime = live.client("sagemaker-runtime")
    answers: list[bytes] = []

    def invoke() -> None:
        slow = "fault=slow,seconds=1"  # one model call, inside the deadline
        answers.append(
            runtime.invoke_endpoint(EndpointName=name, Body="1,2", ContentType="text/csv", CustomAttributes=slow)[
                "Body"
            ].read()
        )

    caller = threading.Thread(target=invoke)
    caller.start()
    time.sleep(0.3)
    live.client("sagemaker").delete_endpoint(EndpointName=name)
    caller.join(10)
    assert answers, "the old deployment must answer what it accepted"
    deadline = time.monotonic() + 5
    # The log line is written after the metrics of the invocation: once it is there, so are they.
    while not [line for line in log_lines(live, "invocation") if line["endpoint"] == name]:
        assert time.monotonic() < deadline, "the invocation was never logged"
        time.sleep(0.05)
    text = httpx.get(live.url + "/metrics").text
    # Before, its 84 series came back with it, for the life of the process.
    assert [s for s in series(text) if ("endpoint", name) in s[1]] == []


def test_every_refused_request_logs_one_line_with_the_clients_request_id(live, container):
    name = deploy(live, container, "metrics-logged", explained=False)
    runtime = live.client("sagemaker-runtime")
    answered = runtime.invoke_endpoint(
        EndpointName=name, Body="1.25,2.75", ContentType="text/csv", CustomAttributes="secret-attribute-xyz"
    )
    ids = {"success": answered["ResponseMetadata"]["RequestId"]}
    with pytest.raises(ClientError) as unknown:
        runtime.invoke_endpoint(EndpointName="no-such-endpoint", Body="1,2", ContentType="text/csv")
    ids["unknown endpoint"] = unknown.value.response["ResponseMetadata"]["RequestId"]
    guard = httpx.post(  # a web page's request, refused by the browser guard before any handler
        live.url + "/", content=b"{}", headers={"X-Amz-Target": "SageMaker.ListModels", "Sec-Fetch-Site": "cross-site"}
    )
    assert guard.status_code == 403
    ids["browser guard"] = guard.headers["x-amzn-RequestId"]
    with pytest.raises(ClientError) as missing:
        live.client("sagemaker").describe_model(ModelName="no-such-model")
    ids["control plane 400"] = missing.value.response["ResponseMetadata"]["RequestId"]
    time.sleep(0.2)  # the log is written by another process

    logged = log_lines(live, "invocation") + log_lines(live, "request")
    for what, request_id in ids.items():
        assert len([line for line in logged if line["request_id"] == request_id]) == 1, what
    by_id = {line["request_id"]: line for line in logged}
    assert by_id[ids["unknown endpoint"]]["code"] == "ValidationError"
    assert by_id[ids["browser guard"]] | {"request_id": None} == {
        "event": "request",
        "request_id": None,
        "operation": "ListModels",
        "status": 403,
        "code": "AccessDeniedException",
    }
    assert "secret-attribute-xyz" not in live.log() and "1.25,2.75" not in live.log()
    assert "HTTP Request:" not in live.log()  # httpx's line per container call, several per explained request


def test_an_explanation_past_its_deadline_shows_its_model_wait_as_model_time(live, container):
    name = deploy(live, container, "metrics-deadline", explained=True)
    runtime = live.client("sagemaker-runtime")
    with pytest.raises(ClientError) as late:
        runtime.invoke_endpoint(EndpointName=name, Body="1,2", ContentType="text/csv", CustomAttributes="fault=slow")
    assert late.value.response["Error"]["Code"] == "ModelError"
    time.sleep(0.2)
    [line] = [line for line in log_lines(live, "invocation") if line["endpoint"] == name]
    assert line["total_ms"] >= DEADLINE * 1e3
    # The container held the call the whole time; the explainer itself did next to nothing.
    assert line["model_ms"] > 0.9 * line["total_ms"] and line["explainer_ms"] < 0.1 * line["total_ms"]


def test_metrics_behind_access_keys_need_a_signature_and_parse(tmp_path, model_root):
    server = LiveServer(tmp_path, [model_root], env={"OPENCLARIFY_ACCESS_KEYS": f"{KEY}:{SECRET}"}).start()
    try:
        refused = httpx.get(server.url + "/metrics")
        assert refused.status_code == 403
        request = AWSRequest(method="GET", url=server.url + "/metrics")
        SigV4Auth(Credentials(KEY, SECRET), "sagemaker", REGION).add_auth(request)
        signed = httpx.get(server.url + "/metrics", headers=dict(request.headers))
        assert signed.status_code == 200
        assert ("openclarify_requests_total", (("operation", "metrics"), ("status", "403"))) in series(signed.text)
        time.sleep(0.2)
        [line] = log_lines(server, "request")
        assert line["request_id"] == refused.headers["x-amzn-RequestId"] and line["operation"] == "metrics"
        assert SECRET not in server.log() and "Signature=" not in server.log()
    finally:
        server.stop()
