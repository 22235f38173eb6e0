"""The control-plane operations: one entry per AWS operation, mapping validated parameters to a service call
and its result to the operation's output shape.

Describe* outputs echo the stored Create* request, filtered to the members the output shape declares, so
what was submitted (ExplainerConfig included) comes back exactly as submitted.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from openclarify.services import EndpointConfigService, EndpointService, ModelService
from openclarify.services.endpoints import Restoring
from openclarify.store import EndpointRow
from openclarify.wire.spec import sagemaker_model

Params = Mapping[str, Any]
Handler = Callable[["ControlPlane", Params], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class ControlPlane:
    models: ModelService
    configs: EndpointConfigService
    endpoints: EndpointService


def _echo(request: Mapping[str, Any], output_shape: str) -> dict[str, Any]:
    members = sagemaker_model().shape_for(output_shape).members
    return {k: v for k, v in request.items() if k in members}


# -- models ---------------------------------------------------------------------------------------------------


async def create_model(cp: ControlPlane, p: Params) -> dict[str, Any]:
    return {"ModelArn": (await cp.models.create(p)).arn}


async def describe_model(cp: ControlPlane, p: Params) -> dict[str, Any]:
    row = await cp.models.describe(p["ModelName"])
    out = _echo(row.request, "DescribeModelOutput")
    out.update(ModelName=row.name, ModelArn=row.arn, CreationTime=row.creation_time)
    return out


async def list_models(cp: ControlPlane, p: Params) -> dict[str, Any]:
    page = await cp.models.list(p)
    items = [{"ModelName": r.name, "ModelArn": r.arn, "CreationTime": r.creation_time} for r in page.items]
    return _with_token({"Models": items}, page.next_token)


async def delete_model(cp: ControlPlane, p: Params) -> dict[str, Any]:
    await cp.models.delete(p["ModelName"])
    return {}


# -- endpoint configs -----------------------------------------------------------------------------------------


async def create_endpoint_config(cp: ControlPlane, p: Params) -> dict[str, Any]:
    return {"EndpointConfigArn": (await cp.configs.create(p)).arn}


async def describe_endpoint_config(cp: ControlPlane, p: Params) -> dict[str, Any]:
    row = await cp.configs.describe(p["EndpointConfigName"])
    out = _echo(row.request, "DescribeEndpointConfigOutput")
    out.update(EndpointConfigName=row.name, EndpointConfigArn=row.arn, CreationTime=row.creation_time)
    return out


async def list_endpoint_configs(cp: ControlPlane, p: Params) -> dict[str, Any]:
    page = await cp.configs.list(p)
    items = [
        {"EndpointConfigName": r.name, "EndpointConfigArn": r.arn, "CreationTime": r.creation_time} for r in page.items
    ]
    return _with_token({"EndpointConfigs": items}, page.next_token)


async def delete_endpoint_config(cp: ControlPlane, p: Params) -> dict[str, Any]:
    await cp.configs.delete(p["EndpointConfigName"])
    return {}


# -- endpoints ------------------------------------------------------------------------------------------------


async def create_endpoint(cp: ControlPlane, p: Params) -> dict[str, Any]:
    return {"EndpointArn": (await cp.endpoints.create(p)).arn}


async def update_endpoint(cp: ControlPlane, p: Params) -> dict[str, Any]:
    return {"EndpointArn": (await cp.endpoints.update(p)).arn}


async def delete_endpoint(cp: ControlPlane, p: Params) -> dict[str, Any]:
    await cp.endpoints.delete(p["EndpointName"])
    return {}


async def describe_endpoint(cp: ControlPlane, p: Params) -> dict[str, Any]:
    row = await cp.endpoints.describe(p["EndpointName"])
    return describe_endpoint_row(row, cp.endpoints.restoring(row.name))


async def list_endpoints(cp: ControlPlane, p: Params) -> dict[str, Any]:
    page = await cp.endpoints.list(p)
    items = [
        {
            "EndpointName": r.name,
            "EndpointArn": r.arn,
            "CreationTime": r.creation_time,
            "LastModifiedTime": r.last_modified_time,
            "EndpointStatus": r.status,
        }
        for r in page.items
    ]
    return _with_token({"Endpoints": items}, page.next_token)


def describe_endpoint_row(row: EndpointRow, restoring: Restoring | None = None) -> dict[str, Any]:
    config = row.deployment["config"]
    out: dict[str, Any] = {
        "EndpointName": row.name,
        "EndpointArn": row.arn,
        "EndpointConfigName": row.config_name,
        "ProductionVariants": _variant_summaries(row.deployment, row.last_modified_time, row.status, restoring),
        "EndpointStatus": row.status,
        "CreationTime": row.creation_time,
        "LastModifiedTime": row.last_modified_time,
    }
    if row.failure_reason:
        out["FailureReason"] = row.failure_reason
    if "ExplainerConfig" in config:
        out["ExplainerConfig"] = config["ExplainerConfig"]
    # The deployment under way: a new config while Updating, and the endpoint's own while Creating ("present while
    # creating or updating with a new config", as DescribeEndpoint documents it).
    pending = row.pending if row.pending is not None else row.deployment if row.status == "Creating" else None
    if pending is not None:
        out["PendingDeploymentSummary"] = {
            "EndpointConfigName": pending["config_name"],
            "ProductionVariants": [
                {
                    "VariantName": pv["VariantName"],
                    "DesiredWeight": float(pv.get("InitialVariantWeight", 1.0)),
                    "DesiredInstanceCount": int(pv.get("InitialInstanceCount", 1)),
                    "InstanceType": pv.get("InstanceType"),
                }
                for pv in pending["config"]["ProductionVariants"]
            ],
            "StartTime": row.last_modified_time,
        }
    return out


def _variant_summaries(
    deployment: Mapping[str, Any], when: float, status: str, restoring: Restoring | None
) -> list[dict[str, Any]]:
    live = status in ("InService", "Updating")
    summaries = []
    for pv in deployment["config"]["ProductionVariants"]:
        model = deployment["models"].get(pv["ModelName"].lower(), {})
        container = model.get("PrimaryContainer") or (model.get("Containers") or [{}])[0]
        image = container.get("Image", "")
        weight = float(pv.get("InitialVariantWeight", 1.0))
        count = int(pv.get("InitialInstanceCount", 1))
        summary: dict[str, Any] = {
            "VariantName": pv["VariantName"],
            "DeployedImages": [{"SpecifiedImage": image, "ResolvedImage": image, "ResolutionTime": when}],
            "CurrentWeight": weight if live else 0.0,
            "DesiredWeight": weight,
            "CurrentInstanceCount": count if live else 0,
            "DesiredInstanceCount": count,
        }
        if restoring is not None:
            summary["VariantStatus"] = [_restoring_status(restoring)]
        summaries.append(summary)
    return summaries


def _restoring_status(restoring: Restoring) -> dict[str, Any]:
    """An endpoint loading again after a restart stays InService, as on SageMaker (which never fails a serving
    endpoint because its container restarted); its variants say, in SageMaker's own VariantStatus member, that they
    are being created again and why they are not answering yet."""
    message = "Loading the model again after a server restart."
    if restoring.last_error:
        message += f" {restoring.failures} attempt(s) failed so far, the last with: {restoring.last_error}"
    return {"Status": "Creating", "StatusMessage": message[:1024], "StartTime": restoring.started}


def _with_token(out: dict[str, Any], token: str | None) -> dict[str, Any]:
    if token:
        out["NextToken"] = token
    return out


OPERATIONS: dict[str, Handler] = {
    "CreateModel": create_model,
    "DescribeModel": describe_model,
    "ListModels": list_models,
    "DeleteModel": delete_model,
    "CreateEndpointConfig": create_endpoint_config,
    "DescribeEndpointConfig": describe_endpoint_config,
    "ListEndpointConfigs": list_endpoint_configs,
    "DeleteEndpointConfig": delete_endpoint_config,
    "CreateEndpoint": create_endpoint,
    "DescribeEndpoint": describe_endpoint,
    "ListEndpoints": list_endpoints,
    "UpdateEndpoint": update_endpoint,
    "DeleteEndpoint": delete_endpoint,
}
