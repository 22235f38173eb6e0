"""Crash safety: ``kill -9`` the server at random points during a stream of Create/Update/Delete calls, restart it
on the same data directory, and check that the state is whole.

After every restart:

- every model, endpoint config and endpoint whose create call returned success (and whose delete did not) is there;
- everything listed describes completely (no half-made resource), endpoints have left Creating/Updating/Deleting,
  and an InService endpoint answers an invocation;
- every resource whose delete call returned success is gone.

The quick variant (3 kills) runs by default; ``pytest -m slow tests/faults/test_crash.py`` runs the 50 of the issue.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from tests.conftest import REGION, LiveServer

STREAM_SECONDS = 3.0


@pytest.fixture(scope="module")
def crash_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import xgboost

    root = tmp_path_factory.mktemp("crash-models")
    X = np.random.default_rng(0).normal(size=(60, 3))
    booster = xgboost.train({"objective": "binary:logistic", "max_depth": 2}, xgboost.DMatrix(X, label=X[:, 0] > 0), 3)
    booster.save_model(str(root / "model.json"))
    return root


@dataclass
class Ledger:
    """What the server acknowledged. ``maybe`` holds names whose call got no answer (it may or may not have run)."""

    models: set[str] = field(default_factory=set)
    configs: set[str] = field(default_factory=set)
    endpoints: set[str] = field(default_factory=set)
    deleted: set[str] = field(default_factory=set)
    maybe: set[str] = field(default_factory=set)
    calls: int = 0


def client(server: LiveServer):
    import boto3

    return boto3.session.Session().client(
        "sagemaker",
        endpoint_url=server.url,
        region_name=REGION,
        aws_access_key_id="AKIDCRASH",
        aws_secret_access_key="x",
        config=Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=10),
    )


def stream(
    server: LiveServer,
    ledger: Ledger,
    rng: random.Random,
    model_url: str,
    stop: threading.Event,
    going: threading.Event,
) -> None:
    """Random Create/Update/Delete calls until the server dies or ``stop`` is set; ``going`` once one was answered."""
    sm = client(server)
    serial = ledger.calls
    while not stop.is_set():
        if serial > ledger.calls:
            going.set()
        serial += 1
        live_models = sorted(ledger.models - ledger.deleted)
        live_configs = sorted(ledger.configs - ledger.deleted)
        live_endpoints = sorted(ledger.endpoints - ledger.deleted)
        choice = rng.random()
        name = None
        try:
            if choice < 0.3 or not live_models:
                name = f"m{serial}"
                ledger.maybe.add(name)
                container = {"Image": "openclarify/xgboost", "ModelDataUrl": model_url}
                sm.create_model(ModelName=name, PrimaryContainer=container)
                ledger.models.add(name)
            elif choice < 0.55 or not live_configs:
                name = f"c{serial}"
                ledger.maybe.add(name)
                variant = {
                    "VariantName": "AllTraffic",
                    "ModelName": rng.choice(live_models),
                    "InstanceType": "ml.m5.large",
                    "InitialInstanceCount": 1,
                }
                sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[variant])
                ledger.configs.add(name)
            elif choice < 0.75 or not live_endpoints:
                name = f"e{serial}"
                ledger.maybe.add(name)
                sm.create_endpoint(EndpointName=name, EndpointConfigName=rng.choice(live_configs))
                ledger.endpoints.add(name)
            elif choice < 0.85:
                sm.update_endpoint(EndpointName=rng.choice(live_endpoints), EndpointConfigName=rng.choice(live_configs))
            else:
                kind, pool = rng.choice(
                    [("endpoint", live_endpoints), ("config", live_configs), ("model", live_models)]
                )
                if not pool:
                    continue
                name = rng.choice(pool)
                ledger.maybe.add(name)
                {"endpoint": sm.delete_endpoint, "config": sm.delete_endpoint_config, "model": sm.delete_model}[kind](
                    **{
                        "endpoint": {"EndpointName": name},
                        "config": {"EndpointConfigName": name},
                        "model": {"ModelName": name},
                    }[kind]
                )
                ledger.deleted.add(name)
            if name is not None:
                ledger.maybe.discard(name)
        except ClientError:
            if name is not None:
                ledger.maybe.discard(name)  # a refusal (e.g. in progress): it did not happen
        except BotoCoreError:
            break  # the server died under us; ``name`` stays in maybe
    ledger.calls = serial


def settle(sm, name: str, timeout: float = 15.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        described = sm.describe_endpoint(EndpointName=name)
        if described["EndpointStatus"] in ("InService", "Failed") or time.monotonic() > deadline:
            return described
        time.sleep(0.1)


def check_state(server: LiveServer, ledger: Ledger) -> None:
    import boto3

    sm = client(server)

    def every(operation: str, key: str, member: str) -> set[str]:
        return {item[member] for page in sm.get_paginator(operation).paginate() for item in page[key]}

    models = every("list_models", "Models", "ModelName")
    configs = every("list_endpoint_configs", "EndpointConfigs", "EndpointConfigName")
    endpoints = every("list_endpoints", "Endpoints", "EndpointName")
    for kind, acked, present in (
        ("model", ledger.models, models),
        ("config", ledger.configs, configs),
        ("endpoint", ledger.endpoints, endpoints),
    ):
        # A delete in flight when the server died (``maybe``) may have happened: its object may be gone.
        lost = acked - ledger.deleted - ledger.maybe - present
        assert not lost, f"acknowledged {kind}s missing after a crash: {sorted(lost)}"
    gone = (ledger.deleted - ledger.maybe) & (models | configs | endpoints)
    assert not gone, f"acknowledged deletes came back: {sorted(gone)}"
    for name in models:
        assert sm.describe_model(ModelName=name)["PrimaryContainer"]["Image"] == "openclarify/xgboost"
    for name in configs:
        assert sm.describe_endpoint_config(EndpointConfigName=name)["ProductionVariants"][0]["ModelName"]
    runtime = boto3.session.Session().client(
        "sagemaker-runtime",
        endpoint_url=server.url,
        region_name=REGION,
        aws_access_key_id="A",
        aws_secret_access_key="x",
    )
    for name in endpoints:
        described = settle(sm, name)
        assert described["EndpointStatus"] in ("InService", "Failed"), described
        if described["EndpointStatus"] == "Failed":
            assert described["FailureReason"].strip()
            continue
        assert described["ProductionVariants"][0]["VariantName"] == "AllTraffic"
        answer = runtime.invoke_endpoint(EndpointName=name, Body=b"1,2,3", ContentType="text/csv")
        assert 0.0 <= float(answer["Body"].read()) <= 1.0
    # Names in doubt are adopted by whatever the server says now.
    for name in ledger.maybe:
        if name in models | configs | endpoints:
            {"m": ledger.models, "c": ledger.configs, "e": ledger.endpoints}[name[0]].add(name)
            ledger.deleted.discard(name)
        else:
            ledger.deleted.add(name)
    ledger.maybe.clear()


def crash_loop(tmp_path: Path, model_root: Path, kills: int, seed: int, stream_seconds: float = STREAM_SECONDS) -> None:
    rng = random.Random(seed)
    server = LiveServer(tmp_path / "data", [model_root], env={"OPENCLARIFY_CREATE_GRACE_SECONDS": "0.5"})
    ledger = Ledger()
    url = str(model_root / "model.json")
    try:
        for _ in range(kills):
            server.start()
            check_state(server, ledger)
            stop, going = threading.Event(), threading.Event()
            worker = threading.Thread(target=stream, args=(server, ledger, rng, url, stop, going), daemon=True)
            worker.start()
            assert going.wait(30), "the first call of the stream got no answer"
            time.sleep(rng.uniform(0.0, stream_seconds))
            assert server.process is not None
            server.process.kill()  # kill -9
            server.process.wait(10)
            server.process = None
            stop.set()
            worker.join(30)
            assert not worker.is_alive()
        server.start()
        check_state(server, ledger)
        assert ledger.models, "the stream never created anything"
        print(
            f"crash loop: {kills} kills, {ledger.calls} calls; acknowledged {len(ledger.models)} models, "
            f"{len(ledger.configs)} configs, {len(ledger.endpoints)} endpoints, {len(ledger.deleted)} deletes"
        )
    finally:
        server.stop()


def test_kill_9_during_a_stream_of_writes_a_few_times(tmp_path, crash_model):
    crash_loop(tmp_path, crash_model, kills=3, seed=1, stream_seconds=1.5)


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_kill_9_during_a_stream_of_writes_fifty_times(tmp_path, crash_model):
    crash_loop(tmp_path, crash_model, kills=50, seed=2)
