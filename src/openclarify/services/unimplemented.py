"""Members of SageMaker's API that this server does not implement: refused, never stored and ignored.

botocore's shapes accept them, but a request that set one and got a 200 would have a client believe, say, that data
capture runs or that a rollout is blue/green. Each is refused with the error its API gives bad input:
``ValidationException`` on the control plane (after the shapes are checked), ``ValidationError`` on InvokeEndpoint,
in the words ServerlessConfig and TargetModel have always been refused with.

A value that asks for nothing is honoured by doing nothing, so it is accepted: ``DataCaptureConfig`` with
``EnableCapture`` false, ``RetainAllVariantProperties`` false, container ``Mode`` SingleModel, and
``InferenceExecutionConfig`` Serial (a model here has one container, and a pipeline of one runs it alone).
``RetainDeploymentConfig`` is accepted for the same reason: there is never a DeploymentConfig to retain.

Members that only describe the machines SageMaker would provision (InstanceType, VolumeSizeInGB, KmsKeyId,
InferenceAmiVersion, ...) are accepted too: no such machine exists here, so there is nothing for them to size,
encrypt or wait for. What a client would use or rely on from those machines (SSM access, CloudWatch metrics, core
dumps, autoscaling, a VPC, network isolation) is refused. docs/api-coverage.md puts every member of CreateModel,
CreateEndpointConfig, CreateEndpoint and UpdateEndpoint on one side or the other.

A raw client's explicit JSON null is an absent member (the shapes skip it too): every check here reads None as not
given.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from openclarify.errors import ValidationError, ValidationException
from openclarify.runtimes import is_remote

Params = Mapping[str, Any]


def _refuse(member: str, hint: str) -> ValidationException:
    return ValidationException(f"{member} is not supported; {hint}.")


def _create_model(params: Params) -> None:
    containers = [c for c in (params.get("PrimaryContainer"), *(params.get("Containers") or [])) if c is not None]
    for container in containers:
        _container(container)
    if (params.get("InferenceExecutionConfig") or {}).get("Mode") == "Direct":
        raise _refuse("InferenceExecutionConfig Mode Direct", "a model here runs one container, so use Serial")
    _network(params)


def _container(container: Params) -> None:
    if container.get("Mode") == "MultiModel":
        raise _refuse("Mode MultiModel", "this server has no multi-model endpoints, so use SingleModel")
    for member in ("ModelPackageName", "InferenceSpecificationName"):
        if container.get(member):
            raise _refuse(member, "this server has no model packages, so give the container an Image")
    image = container.get("ImageConfig")
    if image is not None and (image.get("RepositoryAccessMode") != "Platform" or image.get("RepositoryAuthConfig")):
        raise _refuse(
            "ImageConfig",
            "this server pulls no images (Image is a built-in runtime or a running container's URL), so leave it out "
            "or set RepositoryAccessMode Platform",
        )
    if (container.get("ModelDataSource") or {}).get("S3DataSource"):
        raise _refuse(
            "ModelDataSource",
            "this server reads no model data from S3, so give a built-in Image a ModelDataUrl (a local path or "
            "file:// URI), and start a remote container with its model",
        )
    if container.get("AdditionalModelDataSources"):
        raise _refuse(
            "AdditionalModelDataSources",
            "this server reads no model data from S3, so start a remote container with the files it needs",
        )
    # A built-in Image's ModelDataUrl is refused in the same form where it is loaded (runtimes.registry); a remote
    # container's is not read at all, so only here can asking for data elsewhere be refused.
    scheme = _url_scheme(container.get("ModelDataUrl"))
    if scheme and is_remote((container.get("Image") or "").strip()):
        raise _refuse(
            f"ModelDataUrl scheme '{scheme}://'",
            "a remote container serves the model it was started with, so leave ModelDataUrl out",
        )
    if (container.get("ContainerMetricsConfig") or {}).get("MetricsEndpoints"):
        raise _refuse("ContainerMetricsConfig", _NO_CLOUDWATCH)


def _url_scheme(url: object) -> str | None:
    """The scheme of a URL that names data elsewhere (s3://, https://); None for a local path or a file:// URI."""
    # Not urlparse: it raises on a bracket in the host ("s3://[bucket/key"), which the shapes' pattern lets through.
    found = _SCHEME.match(url) if isinstance(url, str) else None
    return found[1] if found and found[1].lower() != "file" else None


_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]+)://")  # two characters or more: a Windows drive letter is a path


_NO_CLOUDWATCH = (
    "this server publishes no CloudWatch metrics (its own are Prometheus metrics at GET /metrics), so leave it out"
)


def _network(params: Params) -> None:
    """CreateModel's and CreateEndpointConfig's network members, which mean the same in both."""
    if params.get("VpcConfig"):
        raise _refuse(
            "VpcConfig",
            "this server connects no container to a VPC, so leave it out and run a remote container in "
            "the network it needs",
        )
    if params.get("EnableNetworkIsolation"):
        raise _refuse(
            "EnableNetworkIsolation",
            "this server cannot cut a container off the network (the built-in runtimes make no network calls), so "
            "leave it out or set it false",
        )


def _create_endpoint_config(params: Params) -> None:
    for variant in params.get("ProductionVariants") or []:
        _variant(variant)
    if params.get("AsyncInferenceConfig"):
        raise _refuse("AsyncInferenceConfig", "this server answers InvokeEndpoint only, synchronously")
    if params.get("ShadowProductionVariants"):
        raise _refuse("ShadowProductionVariants", "deploy the shadow model as an endpoint of its own")
    capture = params.get("DataCaptureConfig")
    if capture is not None and capture.get("EnableCapture") is not False:  # SageMaker's default is enabled
        raise _refuse("DataCaptureConfig", "this server captures no data, so leave it out or set EnableCapture false")
    metrics = params.get("MetricsConfig") or {}
    if (
        metrics.get("EnableEnhancedMetrics")
        or metrics.get("EnableDetailedObservability")
        or metrics.get("MetricPublishFrequencyInSeconds") is not None
    ):
        raise _refuse("MetricsConfig", _NO_CLOUDWATCH)
    _network(params)


def _variant(variant: Params) -> None:
    if variant.get("ServerlessConfig"):
        raise _refuse("ServerlessConfig", "use InitialInstanceCount")
    scaling = variant.get("ManagedInstanceScaling")
    if scaling is not None and scaling.get("Status") != "DISABLED":
        raise _refuse(
            "ManagedInstanceScaling",
            "a variant here keeps InitialInstanceCount instances (UpdateEndpoint changes it), so leave it out or set "
            "Status DISABLED",
        )
    strategy = (variant.get("RoutingConfig") or {}).get("RoutingStrategy")
    if strategy in ("PREFIX_AWARE", "KV_AWARE"):
        raise _refuse(
            f"RoutingConfig RoutingStrategy {strategy}",
            "this server does not route by prompt, so use LEAST_OUTSTANDING_REQUESTS",
        )
    if any(pool.get("ModelNameOverride") for pool in variant.get("InstancePools") or []):
        raise _refuse(
            "InstancePools ModelNameOverride",
            "a variant here serves its ModelName on every instance, so give the other model a variant of its own",
        )
    if variant.get("EnableSSMAccess"):
        raise _refuse(
            "EnableSSMAccess",
            "there is no machine to open a session on (a built-in model runs in the server's process), so leave it out "
            "or set it false",
        )
    if variant.get("CoreDumpConfig"):
        raise _refuse("CoreDumpConfig", "this server writes no core dumps to S3, so leave it out")


def _deployment(params: Params) -> None:
    if params.get("DeploymentConfig"):  # an empty one asks for no policy: updates are all at once anyway
        raise _refuse("DeploymentConfig", "endpoints are created and updated all at once, without blue/green steps")


def _update_endpoint(params: Params) -> None:
    _deployment(params)
    if params.get("RetainAllVariantProperties"):
        raise _refuse(
            "RetainAllVariantProperties", "an update deploys the new endpoint config's variants exactly as given"
        )


CONTROL_PLANE: dict[str, Callable[[Params], None]] = {
    "CreateModel": _create_model,
    "CreateEndpointConfig": _create_endpoint_config,
    "CreateEndpoint": _deployment,
    "UpdateEndpoint": _update_endpoint,
}


def refuse_unimplemented(operation: str, params: Params) -> None:
    """Raise ValidationException if a control-plane request sets a member this server does not implement."""
    check = CONTROL_PLANE.get(operation)
    if check is not None:
        check(params)


# InvokeEndpoint members: (attribute of the request, API member name, why it cannot be served).
INVOKE_ENDPOINT: tuple[tuple[str, str, str], ...] = (
    ("target_model", "TargetModel", "this server has no multi-model endpoints"),
    ("inference_component_name", "InferenceComponentName", "this server has no inference components"),
    ("session_id", "SessionId", "this server has no stateful sessions"),
    ("target_container_hostname", "TargetContainerHostname", "a model here runs one container, invoked as a whole"),
)


def refuse_unimplemented_invocation(request: object) -> None:
    """Raise ValidationError if an InvokeEndpoint request (``services.invocations.InvokeRequest``) sets a member
    this server does not implement."""
    for attribute, member, reason in INVOKE_ENDPOINT:
        if getattr(request, attribute, None) is not None:
            raise ValidationError(f"{member} is not supported: {reason}.")
