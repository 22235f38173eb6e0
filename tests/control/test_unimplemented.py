"""Members SageMaker has and this server does not implement are refused (ValidationException), never stored and
ignored; values that ask for nothing are accepted (services.unimplemented)."""

from __future__ import annotations

from typing import Any

import pytest
from tests.control.helpers import FAST_WAIT, client_error, unique, variant

S3 = "s3://bucket/prefix"
CAPTURE = {"InitialSamplingPercentage": 100, "DestinationS3Uri": S3, "CaptureOptions": [{"CaptureMode": "Input"}]}


@pytest.fixture(scope="module")
def container(model_files) -> dict[str, Any]:
    return {"Image": "openclarify/onnx", "ModelDataUrl": str(model_files["openclarify/onnx"])}


@pytest.fixture(scope="module")
def model(sagemaker, container) -> str:
    name = unique("unimpl-model")
    sagemaker.create_model(ModelName=name, PrimaryContainer=container)
    return name


@pytest.fixture(scope="module")
def config(sagemaker, model) -> str:
    name = unique("unimpl-config")
    sagemaker.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[variant(model)])
    return name


@pytest.fixture(scope="module")
def endpoint(sagemaker, config) -> str:
    name = unique("unimpl-ep")
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=config)
    sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig=FAST_WAIT)
    return name


def refused(call, message: str, **kwargs) -> None:
    assert client_error(call, **kwargs) == {"Code": "ValidationException", "Message": message}


@pytest.mark.parametrize("where", ["PrimaryContainer", "Containers"])
def test_multi_model_containers_are_refused(sagemaker, container, where):
    name = unique("unimpl-mme")
    chosen = {**container, "Mode": "MultiModel"}
    args = {"PrimaryContainer": chosen} if where == "PrimaryContainer" else {"Containers": [chosen]}
    message = "Mode MultiModel is not supported; this server has no multi-model endpoints, so use SingleModel."
    refused(sagemaker.create_model, message, ModelName=name, **args)
    assert client_error(sagemaker.describe_model, ModelName=name)["Code"] == "ValidationException"


def test_direct_inference_execution_is_refused_and_what_asks_for_nothing_is_accepted(sagemaker, container):
    refused(
        sagemaker.create_model,
        "InferenceExecutionConfig Mode Direct is not supported; a model here runs one container, so use Serial.",
        ModelName=unique("unimpl-direct"),
        Containers=[container],
        InferenceExecutionConfig={"Mode": "Direct"},
    )
    name = unique("unimpl-serial")
    sagemaker.create_model(
        ModelName=name,
        PrimaryContainer={**container, "Mode": "SingleModel"},
        InferenceExecutionConfig={"Mode": "Serial"},
    )
    assert sagemaker.describe_model(ModelName=name)["InferenceExecutionConfig"] == {"Mode": "Serial"}


NO_DATA_CAPTURE = (
    "DataCaptureConfig is not supported; this server captures no data, so leave it out or set EnableCapture false."
)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            lambda model: {"AsyncInferenceConfig": {"OutputConfig": {"S3OutputPath": S3}}},
            "AsyncInferenceConfig is not supported; this server answers InvokeEndpoint only, synchronously.",
        ),
        (
            lambda model: {"ShadowProductionVariants": [variant(model, "Shadow")]},
            "ShadowProductionVariants is not supported; deploy the shadow model as an endpoint of its own.",
        ),
        (lambda model: {"DataCaptureConfig": CAPTURE}, NO_DATA_CAPTURE),  # SageMaker's default: capture on
        (lambda model: {"DataCaptureConfig": {**CAPTURE, "EnableCapture": True}}, NO_DATA_CAPTURE),
    ],
    ids=["async", "shadow", "capture-default", "capture-on"],
)
def test_endpoint_config_members_without_an_implementation_are_refused(sagemaker, model, extra, message):
    name = unique("unimpl-cfg")
    refused(
        sagemaker.create_endpoint_config,
        message,
        EndpointConfigName=name,
        ProductionVariants=[variant(model)],
        **extra(model),
    )
    assert client_error(sagemaker.describe_endpoint_config, EndpointConfigName=name)["Code"] == "ValidationException"


def test_serverless_variants_are_still_refused(sagemaker, model):
    serverless = variant(model, ServerlessConfig={"MemorySizeInMB": 2048, "MaxConcurrency": 1})
    refused(
        sagemaker.create_endpoint_config,
        "ServerlessConfig is not supported; use InitialInstanceCount.",
        EndpointConfigName=unique("unimpl-sls"),
        ProductionVariants=[serverless],
    )


def test_data_capture_switched_off_is_accepted_and_echoed(sagemaker, model):
    name = unique("unimpl-nocapture")
    off = {**CAPTURE, "EnableCapture": False}
    sagemaker.create_endpoint_config(
        EndpointConfigName=name, ProductionVariants=[variant(model)], DataCaptureConfig=off
    )
    assert sagemaker.describe_endpoint_config(EndpointConfigName=name)["DataCaptureConfig"] == off


DEPLOYMENT = {"AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "errors"}]}}
NO_DEPLOYMENT_CONFIG = (
    "DeploymentConfig is not supported; endpoints are created and updated all at once, without blue/green steps."
)


def test_create_endpoint_refuses_a_deployment_config(sagemaker, config):
    name = unique("unimpl-ep")
    refused(
        sagemaker.create_endpoint,
        NO_DEPLOYMENT_CONFIG,
        EndpointName=name,
        EndpointConfigName=config,
        DeploymentConfig=DEPLOYMENT,
    )
    assert client_error(sagemaker.describe_endpoint, EndpointName=name)["Code"] == "ValidationException"


def test_update_endpoint_refuses_what_it_would_ignore(sagemaker, endpoint, config):
    refused(
        sagemaker.update_endpoint,
        NO_DEPLOYMENT_CONFIG,
        EndpointName=endpoint,
        EndpointConfigName=config,
        DeploymentConfig=DEPLOYMENT,
    )
    refused(
        sagemaker.update_endpoint,
        "RetainAllVariantProperties is not supported; an update deploys the new endpoint config's variants exactly "
        "as given.",
        EndpointName=endpoint,
        EndpointConfigName=config,
        RetainAllVariantProperties=True,
    )
    assert sagemaker.describe_endpoint(EndpointName=endpoint)["EndpointStatus"] == "InService"
    # Asking to retain nothing is what every update does.
    sagemaker.update_endpoint(
        EndpointName=endpoint, EndpointConfigName=config, RetainAllVariantProperties=False, RetainDeploymentConfig=True
    )
    sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=endpoint, WaiterConfig=FAST_WAIT)
