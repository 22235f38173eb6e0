"""Members of SageMaker's API that this server does not implement: refused, never stored and ignored.

botocore's shapes accept them, but a request that set one and got a 200 would have a client believe, say, that data
capture runs or that a rollout is blue/green. Each is refused with the error its API gives bad input:
``ValidationException`` on the control plane (after the shapes are checked), ``ValidationError`` on InvokeEndpoint,
in the words ServerlessConfig and TargetModel have always been refused with.

A value that asks for nothing is honoured by doing nothing, so it is accepted: ``DataCaptureConfig`` with
``EnableCapture`` false, ``RetainAllVariantProperties`` false, container ``Mode`` SingleModel, and
``InferenceExecutionConfig`` Serial (a model here has one container, and a pipeline of one runs it alone).
``RetainDeploymentConfig`` is accepted for the same reason: there is never a DeploymentConfig to retain.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from openclarify.errors import ValidationError, ValidationException

Params = Mapping[str, Any]


def _refuse(member: str, hint: str) -> ValidationException:
    return ValidationException(f"{member} is not supported; {hint}.")


def _create_model(params: Params) -> None:
    containers = [params.get("PrimaryContainer"), *(params.get("Containers") or [])]
    if any(c is not None and c.get("Mode") == "MultiModel" for c in containers):
        raise _refuse("Mode MultiModel", "this server has no multi-model endpoints, so use SingleModel")
    if (params.get("InferenceExecutionConfig") or {}).get("Mode") == "Direct":
        raise _refuse("InferenceExecutionConfig Mode Direct", "a model here runs one container, so use Serial")


def _create_endpoint_config(params: Params) -> None:
    for variant in params.get("ProductionVariants") or []:
        if variant.get("ServerlessConfig"):
            raise _refuse("ServerlessConfig", "use InitialInstanceCount")
    if params.get("AsyncInferenceConfig"):
        raise _refuse("AsyncInferenceConfig", "this server answers InvokeEndpoint only, synchronously")
    if params.get("ShadowProductionVariants"):
        raise _refuse("ShadowProductionVariants", "deploy the shadow model as an endpoint of its own")
    capture = params.get("DataCaptureConfig")
    if capture is not None and capture.get("EnableCapture") is not False:  # SageMaker's default is enabled
        raise _refuse("DataCaptureConfig", "this server captures no data, so leave it out or set EnableCapture false")


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
