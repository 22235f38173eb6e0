"""InvokeEndpoint's header members against the service model's constraints, and the runtime operations this server
refuses: AWS checks lengths and patterns on the server (boto3 checks only minimums), so a value past them is a
ValidationError in AWS's words, never a 500 and never forwarded to a model container."""

from __future__ import annotations

import dataclasses

import botocore.session
import httpx
import pytest
from botocore.exceptions import ClientError
from tests.invoke.conftest import deploy, shap_config

from openclarify.services.invocations import InvokeRequest
from openclarify.wire import runtime_api

RECORD = b"0.1,0.2,0.3,0.4,0.5"


def error_of(call, **kwargs) -> dict:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    response = info.value.response
    return {**response["Error"], "status": response["ResponseMetadata"]["HTTPStatusCode"]}


@pytest.fixture(scope="module")
def remote_explained(sagemaker, container, baseline) -> str:
    return deploy(sagemaker, {"Image": container.url}, shap_config(baseline, Seed=1))


@pytest.fixture(scope="module")
def remote_plain(sagemaker, container) -> str:
    return deploy(sagemaker, {"Image": container.url})


def test_every_header_member_of_the_model_is_read():
    """The headers come from botocore's model, so a member it adds is checked as it is read; this holds the model to
    what the server does with each: an InvokeRequest field of its name, or checked and without effect (documented)."""
    fields = {f.name for f in dataclasses.fields(InvokeRequest)}
    model = botocore.session.get_session().get_service_model("sagemaker-runtime")
    members = model.operation_model("InvokeEndpoint").input_shape.members
    headers = {m.serialization["name"] for m in members.values() if m.serialization.get("location") == "header"}
    assert set(runtime_api.HEADER_MEMBERS) == headers
    for member in runtime_api.HEADER_MEMBERS.values():
        assert runtime_api.field_name(member) in fields or member in runtime_api.WITHOUT_EFFECT, member


@pytest.mark.parametrize("endpoint", ["remote_explained", "remote_plain"])
@pytest.mark.parametrize(
    ("header", "value", "message"),
    [
        # Sent on to the container, these three were a 500: HTTP headers to it are ASCII.
        (
            "X-Amzn-SageMaker-Custom-Attributes",
            "trace=é".encode(),
            "Value at 'customAttributes' failed to satisfy constraint: Member must satisfy regular expression "
            "pattern: \\p{ASCII}*",
        ),
        (
            "Content-Type",
            "text/csv; x=é".encode(),
            "Value 'text/csv; x=é' at 'contentType' failed to satisfy constraint: Member must satisfy regular "
            "expression pattern: \\p{ASCII}*",
        ),
        (
            "Accept",
            "text/csv; q=é".encode(),
            "Value 'text/csv; q=é' at 'accept' failed to satisfy constraint: Member must satisfy regular expression "
            "pattern: \\p{ASCII}*",
        ),
        (
            "X-Amzn-SageMaker-Target-Variant",
            b"All Traffic",
            "Value 'All Traffic' at 'targetVariant' failed to satisfy constraint: Member must satisfy regular "
            "expression pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9])*",
        ),
    ],
)
def test_a_header_outside_its_pattern_is_refused_in_aws_words(request, server, endpoint, header, value, message):
    name = request.getfixturevalue(endpoint)
    answer = httpx.post(
        f"{server.url}/endpoints/{name}/invocations",
        content=RECORD,
        headers={"Content-Type": "text/csv", header: value},
        timeout=30,
    )
    assert (answer.status_code, answer.headers["x-amzn-ErrorType"]) == (400, "ValidationError"), answer.text
    assert answer.json()["Message"] == f"1 validation error detected: {message}"


def test_an_empty_expression_is_under_the_minimum_length(server, remote_explained):
    answer = httpx.post(
        f"{server.url}/endpoints/{remote_explained}/invocations",
        content=RECORD,
        headers={"Content-Type": "text/csv", "X-Amzn-SageMaker-Enable-Explanations": ""},
        timeout=30,
    )
    assert answer.status_code == 400
    assert answer.json()["Message"] == (
        "1 validation error detected: Value '' at 'enableExplanations' failed to satisfy constraint: Member must "
        "have length greater than or equal to 1"
    )


def test_an_over_long_custom_attributes_is_not_quoted(sagemaker_runtime, remote_plain):
    # CustomAttributes is sensitive in the service model: AWS's messages leave such a value out.
    error = error_of(
        sagemaker_runtime.invoke_endpoint,
        EndpointName=remote_plain,
        Body=RECORD,
        ContentType="text/csv",
        CustomAttributes="secret=" + "x" * 1020,
    )
    assert (error["Code"], error["status"]) == ("ValidationError", 400)
    assert error["Message"] == (
        "1 validation error detected: Value at 'customAttributes' failed to satisfy constraint: Member must have "
        "length less than or equal to 1024"
    )


def test_custom_attributes_reach_the_container_and_come_back(sagemaker_runtime, remote_explained, container):
    container.mark()
    response = sagemaker_runtime.invoke_endpoint(
        EndpointName=remote_explained, Body=RECORD, ContentType="text/csv; charset=utf-8", CustomAttributes="trace=7"
    )
    assert response["CustomAttributes"] == "trace=7"
    assert response["ContentType"] == "application/json"
    seen = container.batches()
    assert seen and {batch["custom_attributes"] for batch in seen} == {"trace=7"}
    assert seen[0]["content_type"] == "text/csv; charset=utf-8"


@pytest.mark.parametrize(
    ("operation", "kwargs", "message"),
    [
        (
            "invoke_endpoint_async",
            {"InputLocation": "s3://bucket/input.csv", "ContentType": "text/csv"},
            "InvokeEndpointAsync is not supported: this server has no asynchronous endpoints (CreateEndpointConfig "
            "refuses AsyncInferenceConfig); call InvokeEndpoint, which answers synchronously.",
        ),
        (
            "invoke_endpoint_with_response_stream",
            {"Body": RECORD, "ContentType": "text/csv"},
            "InvokeEndpointWithResponseStream is not supported: this server does not stream responses; call "
            "InvokeEndpoint, which sends the whole answer at once.",
        ),
    ],
)
def test_the_other_runtime_operations_are_refused_as_validation_errors(
    sagemaker_runtime, remote_plain, operation, kwargs, message
):
    # They were a bare 404 "Not Found" in text/plain, which boto3 reads as an unmodelled error with code "404".
    call = getattr(sagemaker_runtime, operation)
    error = error_of(call, EndpointName=remote_plain, **kwargs)
    assert (error["Code"], error["status"], error["Message"]) == ("ValidationError", 400, message)
    error = error_of(call, EndpointName="no-such-endpoint", **kwargs)
    assert (error["Code"], error["Message"]) == (
        "ValidationError",
        "Endpoint no-such-endpoint of account 000000000000 not found.",
    )
