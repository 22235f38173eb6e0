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


# -- what a container would be given, pulled from or measured by ----------------------------------------------------

REMOTE = "http://127.0.0.1:9"  # CreateModel never calls a remote container, so none has to listen here
S3_MODEL = {"S3Uri": "s3://bucket/model/", "S3DataType": "S3Prefix", "CompressionType": "None"}
NO_PACKAGES = "is not supported; this server has no model packages, so give the container an Image."
NO_MODEL_DATA_SOURCE = (
    "ModelDataSource is not supported; this server reads no model data from S3, so give a built-in Image a "
    "ModelDataUrl (a local path or file:// URI), and start a remote container with its model."
)
NO_CLOUDWATCH = (
    "this server publishes no CloudWatch metrics (its own are Prometheus metrics at GET /metrics), so leave it out."
)


def remote(**members: Any) -> dict[str, Any]:
    return {"Image": REMOTE, **members}


@pytest.mark.parametrize(
    ("asks", "message", "nothing"),
    [
        (
            lambda c: {"PrimaryContainer": {**c, "ModelPackageName": "churn-package"}},
            "ModelPackageName " + NO_PACKAGES,
            None,
        ),
        (
            lambda c: {"PrimaryContainer": {**c, "InferenceSpecificationName": "cpu"}},
            "InferenceSpecificationName " + NO_PACKAGES,
            None,
        ),
        (
            lambda c: {"PrimaryContainer": {**c, "ImageConfig": {"RepositoryAccessMode": "Vpc"}}},
            "ImageConfig is not supported; this server pulls no images (Image is a built-in runtime or a running "
            "container's URL), so leave it out or set RepositoryAccessMode Platform.",
            lambda c: {"PrimaryContainer": {**c, "ImageConfig": {"RepositoryAccessMode": "Platform"}}},
        ),
        (
            lambda c: {"PrimaryContainer": {**c, "ModelDataSource": {"S3DataSource": S3_MODEL}}},
            NO_MODEL_DATA_SOURCE,
            lambda c: {"PrimaryContainer": {**c, "ModelDataSource": {}}},
        ),
        (
            lambda c: {"Containers": [remote(ModelDataSource={"S3DataSource": S3_MODEL})]},
            NO_MODEL_DATA_SOURCE,
            lambda c: {"Containers": [remote()]},
        ),
        (
            lambda c: {
                "PrimaryContainer": remote(
                    AdditionalModelDataSources=[{"ChannelName": "extra", "S3DataSource": S3_MODEL}]
                )
            },
            "AdditionalModelDataSources is not supported; this server reads no model data from S3, so start a remote "
            "container with the files it needs.",
            lambda c: {"PrimaryContainer": remote(AdditionalModelDataSources=[])},
        ),
        (
            lambda c: {"PrimaryContainer": remote(ModelDataUrl="s3://bucket/model.tar.gz")},
            "ModelDataUrl scheme 's3://' is not supported; a remote container serves the model it was started with, "
            "so leave ModelDataUrl out.",
            lambda c: {"PrimaryContainer": remote()},
        ),
        (
            lambda c: {"PrimaryContainer": remote(ModelDataUrl="https://bucket.example/model.tar.gz")},
            "ModelDataUrl scheme 'https://' is not supported; a remote container serves the model it was started "
            "with, so leave ModelDataUrl out.",
            None,
        ),
        (
            lambda c: {
                "PrimaryContainer": remote(
                    ContainerMetricsConfig={"MetricsEndpoints": [{"MetricsEndpointPath": "/metrics"}]}
                )
            },
            "ContainerMetricsConfig is not supported; " + NO_CLOUDWATCH,
            lambda c: {"PrimaryContainer": remote(ContainerMetricsConfig={"MetricsEndpoints": []})},
        ),
        (
            lambda c: {
                "PrimaryContainer": c,
                "VpcConfig": {"SecurityGroupIds": ["sg-1234"], "Subnets": ["subnet-1234"]},
            },
            "VpcConfig is not supported; this server connects no container to a VPC, so leave it out and run a remote "
            "container in the network it needs.",
            None,
        ),
        (
            lambda c: {"PrimaryContainer": c, "EnableNetworkIsolation": True},
            "EnableNetworkIsolation is not supported; this server cannot cut a container off the network (the "
            "built-in runtimes make no network calls), so leave it out or set it false.",
            lambda c: {"PrimaryContainer": c, "EnableNetworkIsolation": False},
        ),
    ],
    ids=[
        "model-package",
        "inference-specification",
        "private-registry",
        "model-data-source",
        "model-data-source-remote",
        "additional-model-data",
        "s3-model-data-remote",
        "https-model-data-remote",
        "container-metrics",
        "vpc",
        "network-isolation",
    ],
)
def test_model_members_without_an_implementation_are_refused(sagemaker, container, asks, message, nothing):
    name = unique("unimpl-model")
    refused(sagemaker.create_model, message, ModelName=name, **asks(container))
    assert client_error(sagemaker.describe_model, ModelName=name)["Code"] == "ValidationException"
    if nothing is not None:
        request = nothing(container)
        sagemaker.create_model(ModelName=name, **request)
        described = sagemaker.describe_model(ModelName=name)
        assert {member: described[member] for member in request} == request


def test_what_a_single_container_or_a_role_asks_is_accepted_and_echoed(sagemaker, container):
    # A hostname names a pipeline's container and a cache setting a multi-model one; a role is for AWS services this
    # server never calls. Tags are stored. None of it asks this server to do anything.
    chosen = {**container, "ContainerHostname": "scorer", "MultiModelConfig": {"ModelCacheSetting": "Disabled"}}
    role = "arn:aws:iam::000000000000:role/scorer"
    name = unique("unimpl-extras")
    sagemaker.create_model(
        ModelName=name, PrimaryContainer=chosen, ExecutionRoleArn=role, Tags=[{"Key": "team", "Value": "risk"}]
    )
    described = sagemaker.describe_model(ModelName=name)
    assert (described["PrimaryContainer"], described["ExecutionRoleArn"]) == (chosen, role)
    # ...and network isolation, which the same model cannot be given, is still refused with them.
    error = client_error(
        sagemaker.create_model,
        ModelName=unique("unimpl-extras"),
        PrimaryContainer=chosen,
        ExecutionRoleArn=role,
        EnableNetworkIsolation=True,
    )
    assert error["Message"].startswith("EnableNetworkIsolation is not supported;")


# -- what a variant's machines would do --------------------------------------------------------------------------

NO_SCALING = (
    "ManagedInstanceScaling is not supported; a variant here keeps InitialInstanceCount instances (UpdateEndpoint "
    "changes it), so leave it out or set Status DISABLED."
)


@pytest.mark.parametrize(
    ("asks", "message", "nothing"),
    [
        (
            {"ManagedInstanceScaling": {"Status": "ENABLED", "MinInstanceCount": 1, "MaxInstanceCount": 4}},
            NO_SCALING,
            {"ManagedInstanceScaling": {"Status": "DISABLED", "MinInstanceCount": 1, "MaxInstanceCount": 4}},
        ),
        ({"ManagedInstanceScaling": {"MinInstanceCount": 1, "MaxInstanceCount": 4}}, NO_SCALING, None),
        (
            {"RoutingConfig": {"RoutingStrategy": "PREFIX_AWARE"}},
            "RoutingConfig RoutingStrategy PREFIX_AWARE is not supported; this server does not route by prompt, so "
            "use LEAST_OUTSTANDING_REQUESTS.",
            {"RoutingConfig": {"RoutingStrategy": "LEAST_OUTSTANDING_REQUESTS"}},
        ),
        (
            {"RoutingConfig": {"RoutingStrategy": "KV_AWARE"}},
            "RoutingConfig RoutingStrategy KV_AWARE is not supported; this server does not route by prompt, so use "
            "LEAST_OUTSTANDING_REQUESTS.",
            {"RoutingConfig": {"RoutingStrategy": "RANDOM"}},
        ),
        (
            {"InstancePools": [{"InstanceType": "ml.m5.large", "Priority": 1, "ModelNameOverride": "other"}]},
            "InstancePools ModelNameOverride is not supported; a variant here serves its ModelName on every "
            "instance, so give the other model a variant of its own.",
            {"InstancePools": [{"InstanceType": "ml.m5.large", "Priority": 1}]},
        ),
        (
            {"EnableSSMAccess": True},
            "EnableSSMAccess is not supported; there is no machine to open a session on (a built-in model runs in the "
            "server's process), so leave it out or set it false.",
            {"EnableSSMAccess": False},
        ),
        (
            {"CoreDumpConfig": {"DestinationS3Uri": "s3://bucket/dumps"}},
            "CoreDumpConfig is not supported; this server writes no core dumps to S3, so leave it out.",
            None,
        ),
    ],
    ids=["scaling-on", "scaling-default", "prefix-aware", "kv-aware", "pool-model", "ssm", "core-dumps"],
)
def test_variant_members_without_an_implementation_are_refused(sagemaker, model, asks, message, nothing):
    name = unique("unimpl-variant")
    refused(
        sagemaker.create_endpoint_config,
        message,
        EndpointConfigName=name,
        ProductionVariants=[variant(model, **asks)],
    )
    assert client_error(sagemaker.describe_endpoint_config, EndpointConfigName=name)["Code"] == "ValidationException"
    if nothing is not None:
        sagemaker.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[variant(model, **nothing)])
        described = sagemaker.describe_endpoint_config(EndpointConfigName=name)["ProductionVariants"][0]
        assert {member: described[member] for member in nothing} == nothing


@pytest.mark.parametrize(
    ("asks", "message", "nothing"),
    [
        (
            {"MetricsConfig": {"EnableEnhancedMetrics": True}},
            "MetricsConfig is not supported; " + NO_CLOUDWATCH,
            {"MetricsConfig": {"EnableEnhancedMetrics": False, "EnableDetailedObservability": False}},
        ),
        (
            {"MetricsConfig": {"EnableDetailedObservability": True}},
            "MetricsConfig is not supported; " + NO_CLOUDWATCH,
            None,
        ),
        (
            {"MetricsConfig": {"MetricPublishFrequencyInSeconds": 10}},
            "MetricsConfig is not supported; " + NO_CLOUDWATCH,
            None,
        ),
        (
            {"VpcConfig": {"SecurityGroupIds": ["sg-1234"], "Subnets": ["subnet-1234"]}},
            "VpcConfig is not supported; this server connects no container to a VPC, so leave it out and run a remote "
            "container in the network it needs.",
            None,
        ),
        (
            {"EnableNetworkIsolation": True},
            "EnableNetworkIsolation is not supported; this server cannot cut a container off the network (the "
            "built-in runtimes make no network calls), so leave it out or set it false.",
            {"EnableNetworkIsolation": False},
        ),
    ],
    ids=["enhanced-metrics", "detailed-observability", "metrics-frequency", "vpc", "network-isolation"],
)
def test_endpoint_config_members_about_machines_that_ask_for_something_are_refused(
    sagemaker, model, asks, message, nothing
):
    name = unique("unimpl-machines")
    refused(
        sagemaker.create_endpoint_config,
        message,
        EndpointConfigName=name,
        ProductionVariants=[variant(model)],
        **asks,
    )
    if nothing is not None:
        sagemaker.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[variant(model)], **nothing)
        described = sagemaker.describe_endpoint_config(EndpointConfigName=name)
        assert {member: described[member] for member in nothing} == nothing


def test_what_only_describes_the_machines_is_accepted_and_echoed_but_access_to_them_is_not(sagemaker, model):
    machines = variant(
        model,
        VolumeSizeInGB=30,
        ModelDataDownloadTimeoutInSeconds=600,
        VariantInstanceProvisionTimeoutInSeconds=600,
        InferenceAmiVersion="al2-ami-sagemaker-inference-gpu-2",
        AcceleratorType="ml.eia2.medium",
        AcceleratorPartitionLayouts=[{"AcceleratorPartitionTypes": ["mig-3g.40gb"]}],
        CapacityReservationConfig={"CapacityReservationPreference": "capacity-reservations-only"},
        InstancePools=[{"InstanceType": "ml.g5.xlarge", "Priority": 1}, {"InstanceType": "ml.m5.large", "Priority": 2}],
    )
    config = {
        "KmsKeyId": "alias/endpoint-volumes",
        "ExecutionRoleArn": "arn:aws:iam::000000000000:role/endpoints",
        "CrossRegionTrafficConfig": {"MaxInvocationsPerSecondPerInstance": 10, "MaxCrossRegionPercentPerEndpoint": 50},
    }
    name = unique("unimpl-machines")
    sagemaker.create_endpoint_config(
        EndpointConfigName=name, ProductionVariants=[machines], Tags=[{"Key": "team", "Value": "risk"}], **config
    )
    described = sagemaker.describe_endpoint_config(EndpointConfigName=name)
    assert described["ProductionVariants"] == [machines]
    assert {member: described[member] for member in config} == config
    error = client_error(
        sagemaker.create_endpoint_config,
        EndpointConfigName=unique("unimpl-machines"),
        ProductionVariants=[{**machines, "EnableSSMAccess": True}],
        **config,
    )
    assert error["Message"].startswith("EnableSSMAccess is not supported;")
