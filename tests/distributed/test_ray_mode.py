"""Ray Serve mode driven by unchanged boto3 clients: create, invoke, update; replicas share the load; an update
under load drops nothing; one large explanation's batches spread across replicas and equal the embedded result."""

from __future__ import annotations

import json
import threading
import time

import httpx
import numpy as np
import pytest
from tests.conftest import LiveServer
from tests.distributed.conftest import N_FEATURES

WAIT = {"Delay": 0.5, "MaxAttempts": 240}


def deploy(sm, name: str, model_file, image: str, count: int, baseline_rows: int = 1, seed: int = 7) -> None:
    rng = np.random.default_rng(1)
    baseline = "\n".join(",".join(f"{v:.3f}" for v in row) for row in rng.normal(size=(baseline_rows, N_FEATURES)))
    sm.create_model(ModelName=name, PrimaryContainer={"Image": image, "ModelDataUrl": str(model_file)})
    explainer = {"ShapConfig": {"ShapBaselineConfig": {"ShapBaseline": baseline}, "Seed": seed}}
    sm.create_endpoint_config(
        EndpointConfigName=f"{name}-{count}",
        ProductionVariants=[
            {"VariantName": "A", "ModelName": name, "InstanceType": "ml.m5.large", "InitialInstanceCount": count}
        ],
        ExplainerConfig={"ClarifyExplainerConfig": explainer},
    )
    sm.create_endpoint(EndpointName=name, EndpointConfigName=f"{name}-{count}")
    sm.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig=WAIT)


def replica_calls(server: LiveServer, endpoint: str) -> dict[str, int]:
    return httpx.get(server.url + "/-/ray/replicas", timeout=10).json()[endpoint]["A"]


RECORD = b"0.5,-1.2,0.3,0.8,-0.4,1.1,0.0,-0.7"


def test_create_invoke_and_requests_spread_across_two_replicas(ray_server: LiveServer, dist_models) -> None:
    sm, rt = ray_server.client("sagemaker"), ray_server.client("sagemaker-runtime")
    deploy(sm, "two-replicas", dist_models["sklearn"], "openclarify/sklearn", 2)
    assert sm.describe_endpoint(EndpointName="two-replicas")["EndpointStatus"] == "InService"
    for _ in range(30):
        body = rt.invoke_endpoint(
            EndpointName="two-replicas", Body=RECORD, ContentType="text/csv", EnableExplanations="`false`"
        )["Body"].read()
        assert json.loads(body)["predictions"]["data"]
    calls = replica_calls(ray_server, "two-replicas")
    assert len(calls) == 2, calls  # two replica processes answered
    assert min(calls.values()) >= 5, calls


def test_update_from_one_to_two_instances_under_load_drops_nothing(ray_server: LiveServer, dist_models) -> None:
    sm, rt = ray_server.client("sagemaker"), ray_server.client("sagemaker-runtime")
    deploy(sm, "scale-up", dist_models["sklearn"], "openclarify/sklearn", 1)
    assert len(replica_calls(ray_server, "scale-up")) <= 1
    sm.create_endpoint_config(
        EndpointConfigName="scale-up-2",
        ProductionVariants=[
            {"VariantName": "A", "ModelName": "scale-up", "InstanceType": "ml.m5.large", "InitialInstanceCount": 2}
        ],
        ExplainerConfig=sm.describe_endpoint_config(EndpointConfigName="scale-up-1")["ExplainerConfig"],
    )
    stop = threading.Event()
    outcomes: list[str] = []

    def load() -> None:
        client = ray_server.client("sagemaker-runtime")
        while not stop.is_set():
            try:
                client.invoke_endpoint(EndpointName="scale-up", Body=RECORD, ContentType="text/csv")
                outcomes.append("ok")
            except Exception as exc:
                outcomes.append(repr(exc))

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        time.sleep(1)
        sm.update_endpoint(EndpointName="scale-up", EndpointConfigName="scale-up-2")
        sm.get_waiter("endpoint_in_service").wait(EndpointName="scale-up", WaiterConfig=WAIT)
        time.sleep(2)
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    failures = [o for o in outcomes if o != "ok"]
    assert not failures, failures[:3]
    assert len(outcomes) > 20
    assert sm.describe_endpoint(EndpointName="scale-up")["EndpointConfigName"] == "scale-up-2"
    rt.invoke_endpoint(EndpointName="scale-up", Body=RECORD, ContentType="text/csv")
    deadline = time.monotonic() + 30
    while len(replica_calls(ray_server, "scale-up")) < 2 and time.monotonic() < deadline:
        rt.invoke_endpoint(EndpointName="scale-up", Body=RECORD, ContentType="text/csv")
    assert len(replica_calls(ray_server, "scale-up")) == 2


@pytest.mark.parametrize("kind", ["lightgbm"])
def test_large_explanation_fans_out_and_equals_the_embedded_server(
    ray_server: LiveServer, dist_models, tmp_path, kind: str
) -> None:
    """B = 50 baseline rows: about 50 x 254 synthetic rows, several fan-out batches of 4096 rows."""
    name = f"big-{kind}"
    image = f"openclarify/{kind}"
    sm, rt = ray_server.client("sagemaker"), ray_server.client("sagemaker-runtime")
    deploy(sm, name, dist_models[kind], image, 2, baseline_rows=50)
    before = replica_calls(ray_server, name)
    ray_body = rt.invoke_endpoint(EndpointName=name, Body=RECORD, ContentType="text/csv")["Body"].read()
    after = replica_calls(ray_server, name)
    served = {pid: after.get(pid, 0) - before.get(pid, 0) for pid in after}
    assert len([n for n in served.values() if n > 0]) == 2, served  # both replicas evaluated batches
    assert sum(served.values()) >= 4

    root = dist_models[kind].parent.parent
    embedded = LiveServer(tmp_path / "embedded", [root]).start()
    try:
        deploy(embedded.client("sagemaker"), name, dist_models[kind], image, 1, baseline_rows=50)
        local_body = (
            embedded.client("sagemaker-runtime")
            .invoke_endpoint(EndpointName=name, Body=RECORD, ContentType="text/csv")["Body"]
            .read()
        )
    finally:
        embedded.stop()
    assert json.loads(ray_body)["explanations"]["kernel_shap"]  # a real explanation, not an empty one
    assert ray_body == local_body  # bitwise: same bytes, same floats


def test_a_second_driver_on_the_same_cluster_is_refused_and_the_first_keeps_serving(
    ray_server: LiveServer, tmp_path, postgres
) -> None:
    # A second 'serve --ray' used to take over the first's proxy and applications silently, and when the first
    # exited it deleted them: every request then got Ray's 404. Now the second refuses to start (exit 2, one line).
    # It gets a database of its own: on the first's, the database's own hold refuses it first (tests/cli).
    import subprocess

    args = list(ray_server.extra_args)
    args[args.index("--database-url") + 1] = postgres.create_database()
    second = LiveServer(tmp_path / "second", ray_server.model_roots, env=ray_server.env, extra_args=args)
    result = subprocess.run(
        second.command(),
        capture_output=True,
        text=True,
        timeout=180,
        env=second.env,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert "another 'openclarify serve --ray' is already running on this Ray cluster" in result.stderr
    assert httpx.get(ray_server.url + "/ping", timeout=10).status_code == 200
