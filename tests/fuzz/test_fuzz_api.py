"""Hostile input against the app in process: every operation's body, raw bytes, nested and oversized JSON,
explainer configs (JMESPath, templates, baselines), and InvokeEndpoint records and headers.

The invariants are in ``tests/fuzz/harness.py``; example counts scale with ``OPENCLARIFY_FUZZ_SCALE``.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.fuzz.conftest import examples
from tests.fuzz.harness import (
    ANY_JSON,
    HOSTILE_STRINGS,
    SUPPORTED,
    csv_bodies,
    explainer_configs,
    jsonlines_bodies,
    nested_json,
    operation_bodies,
    service_model,
)

FUZZ = {
    "deadline": None,
    "database": None,
    "suppress_health_check": list(HealthCheck),
}


@pytest.mark.parametrize("operation", SUPPORTED)
def test_every_operation_body_from_botocore_shapes(fuzz_app, operation):
    # The two big input shapes are slow to generate; the others are cheap.
    n = 40 if operation in ("CreateEndpointConfig", "CreateModel") else 100

    @settings(max_examples=examples(n), **FUZZ)
    @given(body=operation_bodies(operation))
    def run(body):
        response = fuzz_app.control(operation, body)
        if response.status_code == 200 and operation == "CreateEndpoint":
            fuzz_app.control("DeleteEndpoint", {"EndpointName": body["EndpointName"]})

    run()


def test_raw_bodies_targets_and_unsupported_operations(fuzz_app):
    others = [op for op in service_model().operation_names if op not in SUPPORTED][:200]
    target = st.sampled_from(SUPPORTED) | st.sampled_from(others) | st.text(max_size=20)
    body = (
        st.binary(max_size=200)
        | ANY_JSON.map(lambda v: json.dumps(v).encode())
        | st.integers(1, 3000).map(nested_json)
        | st.sampled_from([b'{"a":' * 50, b"\xff\xfe{}", b'{"ModelName": NaN}', b'{"ModelName": 1e999}'])
    )

    @settings(max_examples=examples(400), **FUZZ)
    @given(target=target, body=body, content_type=st.sampled_from(["application/x-amz-json-1.1", "text/plain", ""]))
    def run(target, body, content_type):
        headers = {"X-Amz-Target": target if "." in target else f"SageMaker.{target}", "Content-Type": content_type}
        fuzz_app.send("POST", "/", body, headers)

    run()


def test_deeply_nested_and_oversized_json(fuzz_app):
    for depth in (10, 1_000, 100_000, 1_000_000):
        fuzz_app.control("CreateModel", nested_json(depth))
        fuzz_app.control("CreateModel", b'{"ModelName":' + b'{"a":' * depth + b"1" + b"}" * depth + b"}")
    big = json.dumps({"ModelName": "big", "PrimaryContainer": {"Image": "x" * 20_000_000}}).encode()
    fuzz_app.control("CreateModel", big)
    fuzz_app.send("POST", "/endpoints/plain/invocations", b"1," * 4_000_000, {"Content-Type": "text/csv"})
    fuzz_app.send("POST", "/endpoints/plain/invocations", nested_json(200_000), {"Content-Type": "application/json"})


def test_explainer_configs_jmespath_templates_and_baselines(fuzz_app):
    counter = iter(range(10**9))

    @settings(max_examples=examples(150), **FUZZ)
    @given(explainer=explainer_configs(), deploy=st.integers(0, 4))
    def run(explainer, deploy):
        name = f"fz-{next(counter)}"
        config = {
            "EndpointConfigName": name,
            "ProductionVariants": [
                {
                    "VariantName": "AllTraffic",
                    "ModelName": "plain",
                    "InstanceType": "ml.m5.large",
                    "InitialInstanceCount": 1,
                }
            ],
            "ExplainerConfig": {"ClarifyExplainerConfig": explainer},
        }
        if fuzz_app.control("CreateEndpointConfig", config).status_code != 200 or deploy:
            return
        # One accepted config in five is deployed: baselines are read and scored then.
        if fuzz_app.control("CreateEndpoint", {"EndpointName": name, "EndpointConfigName": name}).status_code == 200:
            described = fuzz_app.control("DescribeEndpoint", {"EndpointName": name}).json()
            if described["EndpointStatus"] == "Failed":
                assert described["FailureReason"].strip()
            fuzz_app.send("POST", f"/endpoints/{name}/invocations", b"1,2,3\n4,5,6", {"Content-Type": "text/csv"})
            fuzz_app.control("DeleteEndpoint", {"EndpointName": name})

    run()


HEADER_TEXT = st.sampled_from(HOSTILE_STRINGS) | st.text(max_size=30).filter(lambda s: "\n" not in s and "\r" not in s)


def test_invocation_records_and_headers(fuzz_app):
    content_types = st.sampled_from(
        ["text/csv", "application/jsonlines", "application/json", "text/csv; charset=utf-8", "image/png", ""]
    )
    enable = st.sampled_from(["`true`", "`false`", "[0]>`0`", "a[", "features[0]", "`1`", "@"]) | st.text(max_size=15)

    @settings(max_examples=examples(800), **FUZZ)
    @given(
        endpoint=st.sampled_from(["plain", "explained", "jsonl", "missing"]),
        body=csv_bodies() | jsonlines_bodies(),
        content_type=content_types,
        accept=content_types,
        attributes=st.none()
        | HEADER_TEXT
        | st.sampled_from(["openclarify-extended=true", "a=b;openclarify-extended=1"]),
        explanations=st.none() | enable,
        variant=st.none() | st.sampled_from(["AllTraffic", "nope", "a" * 70]),
    )
    def run(endpoint, body, content_type, accept, attributes, explanations, variant):
        headers = {"Content-Type": content_type, "Accept": accept}
        if attributes is not None:
            headers["X-Amzn-SageMaker-Custom-Attributes"] = attributes
        if explanations is not None:
            headers["X-Amzn-SageMaker-Enable-Explanations"] = explanations
        if variant is not None:
            headers["X-Amzn-SageMaker-Target-Variant"] = variant
        fuzz_app.send("POST", f"/endpoints/{endpoint}/invocations", body, headers)

    run()


def test_the_guard_sees_a_file_outside_the_roots_and_any_network_attempt(fuzz_app):
    import socket

    before = len(fuzz_app.violations)
    with open("/etc/hostname", "rb"):
        pass
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", 9), timeout=0.2):
        pass
    found = fuzz_app.violations[before:]
    del fuzz_app.violations[before:]  # planted by this test, not by the server
    assert any("/etc/hostname" in v for v in found) and any("socket.connect" in v for v in found), found


@pytest.mark.parametrize("path", ["bad\x00name.csv", "file:///tmp/%00x", "~no-such-user-here/b.csv", "a/" * 3000 + "b"])
def test_unusable_paths_are_client_errors(fuzz_app, path):
    """Found by the fuzzer: a NUL byte in ShapBaselineUri failed the deployment with an internal error."""
    model = {
        "ModelName": f"p{abs(hash(path))}",
        "PrimaryContainer": {"Image": "openclarify/xgboost", "ModelDataUrl": path},
    }
    assert fuzz_app.control("CreateModel", model).status_code == 400
    name = f"u{abs(hash(path))}"
    baseline = {"ShapConfig": {"ShapBaselineConfig": {"ShapBaselineUri": path}}}
    config = {
        "EndpointConfigName": name,
        "ProductionVariants": [
            {"VariantName": "v", "ModelName": "plain", "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}
        ],
        "ExplainerConfig": {"ClarifyExplainerConfig": baseline},
    }
    if fuzz_app.control("CreateEndpointConfig", config).status_code == 200:
        fuzz_app.control("CreateEndpoint", {"EndpointName": name, "EndpointConfigName": name})
        described = fuzz_app.control("DescribeEndpoint", {"EndpointName": name}).json()
        assert described["EndpointStatus"] == "Failed"
        assert "not a usable file path" in described["FailureReason"] or "outside" in described["FailureReason"]


def test_a_null_in_a_list_or_a_map_is_a_validation_error_not_a_crash(fuzz_app):
    """Found by the fuzzer: a JSON null among ProductionVariants passed validation and crashed the service."""
    variants = fuzz_app.control("CreateEndpointConfig", {"EndpointConfigName": "nulls", "ProductionVariants": [None]})
    assert variants.status_code == 400
    assert variants.json()["__type"] == "ValidationException"
    assert "productionVariants.1.member' failed to satisfy constraint: Member must not be null" in variants.text
    environment = fuzz_app.control(
        "CreateModel",
        {
            "ModelName": "nulls",
            "ExecutionRoleArn": "arn:aws:iam::123456789012:role/r",
            "PrimaryContainer": {"Image": "i", "Environment": {"A": None}},
        },
    )
    assert environment.status_code == 400
    assert "environment.A.member' failed to satisfy constraint: Member must not be null" in environment.text
