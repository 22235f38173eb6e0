"""A smaller sample of hostile input over real HTTP to ``openclarify serve`` (uvicorn's parser included)."""

from __future__ import annotations

import json

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.conftest import LiveServer
from tests.fuzz.conftest import examples
from tests.fuzz.harness import (
    ANY_JSON,
    JSON_TYPE,
    SUPPORTED,
    Tally,
    csv_bodies,
    jsonlines_bodies,
    nested_json,
    operation_bodies,
    report,
)
from tests.fuzz.test_fuzz_api import FUZZ


@pytest.fixture(scope="module")
def http_server(tmp_path_factory, fuzz_model):
    live = LiveServer(tmp_path_factory.mktemp("fuzz-http"), [fuzz_model]).start()
    client = httpx.Client(base_url=live.url, timeout=30)
    body = {
        "ModelName": "m",
        "PrimaryContainer": {"Image": "openclarify/xgboost", "ModelDataUrl": str(fuzz_model / "model.json")},
    }
    headers = {"Content-Type": JSON_TYPE}
    assert client.post("/", json=body, headers={**headers, "X-Amz-Target": "SageMaker.CreateModel"}).status_code == 200
    config = {
        "EndpointConfigName": "c",
        "ProductionVariants": [
            {"VariantName": "v", "ModelName": "m", "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}
        ],
        "ExplainerConfig": {
            "ClarifyExplainerConfig": {
                "ShapConfig": {"ShapBaselineConfig": {"ShapBaseline": "0,0,0"}, "NumberOfSamples": 4}
            }
        },
    }
    assert (
        client.post("/", json=config, headers={**headers, "X-Amz-Target": "SageMaker.CreateEndpointConfig"}).status_code
        == 200
    )
    assert (
        client.post(
            "/",
            json={"EndpointName": "e", "EndpointConfigName": "c"},
            headers={**headers, "X-Amz-Target": "SageMaker.CreateEndpoint"},
        ).status_code
        == 200
    )
    yield live, client
    client.close()
    live.stop()


TALLY = Tally()


def check(response: httpx.Response) -> None:
    TALLY.add(response.status_code)
    assert response.status_code < 500, response.text[:300]
    if response.status_code >= 400:
        payload = response.json()
        assert (payload.get("message") or payload.get("Message") or "").strip(), payload


def test_control_plane_and_invocations_over_http(http_server):
    live, client = http_server
    operation = st.sampled_from(SUPPORTED)
    control = operation.flatmap(
        lambda op: st.tuples(st.just(op), operation_bodies(op).map(lambda b: json.dumps(b).encode()))
    )
    raw = st.tuples(
        operation,
        st.binary(max_size=100) | ANY_JSON.map(lambda v: json.dumps(v).encode()) | st.just(nested_json(50_000)),
    )
    invocation = st.tuples(st.just("invoke"), csv_bodies() | jsonlines_bodies())

    @settings(max_examples=examples(150), **FUZZ)
    @given(case=control | raw | invocation, content_type=st.sampled_from(["text/csv", "application/jsonlines", "x"]))
    def run(case, content_type):
        what, body = case
        if what == "invoke":
            response = client.post("/endpoints/e/invocations", content=body, headers={"Content-Type": content_type})
        else:
            response = client.post(
                "/", content=body, headers={"Content-Type": JSON_TYPE, "X-Amz-Target": f"SageMaker.{what}"}
            )
        check(response)

    run()
    report("real HTTP", TALLY)
    assert "Traceback" not in live.log(), live.log()[-3000:]
