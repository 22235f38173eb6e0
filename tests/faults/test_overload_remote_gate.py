"""A remote variant runs at most InitialInstanceCount invocations at once; the ones admitted beyond wait their turn.

Its container requests were bounded, but not the invocations themselves: every admitted invocation ran its own
pipeline (parsing, synthetic records, the answer) in the server at once, so twenty 6 MiB bodies on one instance
took 2.8 GB and starved the event loop past their deadlines. Seen from the container, two explanations on one
instance must arrive one after the other, never interleaved.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from tests.conftest import LiveServer
from tests.invoke.conftest import Container, csv_body, deploy, shap_config

M = 5


@pytest.fixture(scope="module")
def logging_container(model_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Container]:
    import xgboost

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, M))
    path = model_root / "overload-gate-xgb.json"
    xgboost.train(
        {"objective": "binary:logistic", "max_depth": 2}, xgboost.DMatrix(X, label=X[:, 0] > 0), 5
    ).save_model(str(path))
    live = Container(path, tmp_path_factory.mktemp("overload-gate") / "requests.jsonl")
    yield live
    live.stop()


@pytest.fixture(scope="module")
def gate_server(tmp_path_factory: pytest.TempPathFactory, model_root: Path) -> Iterator[LiveServer]:
    live = LiveServer(
        tmp_path_factory.mktemp("overload-gate-server"),
        [model_root],
        env={"OPENCLARIFY_INVOKE_DEADLINE_SECONDS": "30", "OPENCLARIFY_MAX_QUEUED_INVOCATIONS": "4"},
    ).start()
    yield live
    live.stop()


def test_two_explanations_on_one_remote_instance_reach_the_container_one_after_the_other(
    gate_server: LiveServer, logging_container: Container
):
    rng = np.random.default_rng(1)
    baseline = rng.normal(size=(2, M)).round(3)
    # One synthetic record per container request: each explanation is some 60 requests, 20 ms each.
    explainer = {"InferenceConfig": {"MaxRecordCount": 1}, **shap_config(baseline, Seed=1)}
    name = deploy(gate_server.client("sagemaker"), {"Image": logging_container.url}, explainer)
    runtime = gate_server.client("sagemaker-runtime", read_timeout=60)
    body = csv_body(rng.normal(size=(1, M)).round(3))
    logging_container.mark()
    outcomes: dict[str, object] = {}

    def invoke(tag: str) -> None:
        try:
            response = runtime.invoke_endpoint(
                EndpointName=name, Body=body, ContentType="text/csv", CustomAttributes=f"req={tag};delay=0.02"
            )
            outcomes[tag] = json.loads(response["Body"].read())["explanations"]["kernel_shap"][0] is not None
        except Exception as exc:  # reported by the assertion below
            outcomes[tag] = exc

    threads = [threading.Thread(target=invoke, args=(tag,)) for tag in "AB"]
    for thread in threads:
        thread.start()
        time.sleep(0.1)  # A first, so B arrives while A is running
    for thread in threads:
        thread.join(60)
    assert outcomes == {"A": True, "B": True}, outcomes

    tags = [batch["custom_attributes"].split(";")[0] for batch in logging_container.batches()]
    assert tags.count("req=A") > 10 and tags.count("req=B") > 10, tags
    switches = sum(1 for before, after in itertools.pairwise(tags) if before != after)
    assert switches == 1, f"the two invocations ran at once on one instance: {''.join(t[-1] for t in tags)}"
