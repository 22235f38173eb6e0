"""Endpoint lifecycle through boto3, including its waiters: Creating → InService | Failed, Update, Delete."""

from __future__ import annotations

import shutil

import pytest
from botocore.exceptions import WaiterError
from tests.control.helpers import FAST_WAIT, client_error, unique, variant

ARN_PREFIX = "arn:aws:sagemaker:us-east-1:000000000000"


def deploy_config(sagemaker, container: dict, **variant_extra) -> str:
    model = unique("ep-model")
    sagemaker.create_model(ModelName=model, PrimaryContainer=container)
    config = unique("ep-config")
    sagemaker.create_endpoint_config(EndpointConfigName=config, ProductionVariants=[variant(model, **variant_extra)])
    return config


@pytest.mark.parametrize(
    "image", ["openclarify/xgboost", "openclarify/lightgbm", "openclarify/sklearn", "openclarify/onnx"]
)
def test_builtin_endpoints_go_in_service_and_are_deleted(sagemaker, model_files, image):
    config = deploy_config(sagemaker, {"Image": image, "ModelDataUrl": str(model_files[image])}, InitialInstanceCount=2)
    # A prefix no other suite's names contain, so NameContains below finds this endpoint alone whatever ran before.
    name = unique("Lifecycle-Ep")
    arn = sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=config)["EndpointArn"]
    assert arn == f"{ARN_PREFIX}:endpoint/{name.lower()}"
    sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig=FAST_WAIT)

    described = sagemaker.describe_endpoint(EndpointName=name)
    assert described["EndpointStatus"] == "InService"
    assert described["EndpointConfigName"] == config
    (pv,) = described["ProductionVariants"]
    assert pv["VariantName"] == "AllTraffic"
    assert pv["CurrentInstanceCount"] == pv["DesiredInstanceCount"] == 2
    assert pv["DeployedImages"][0]["SpecifiedImage"] == image
    assert described["LastModifiedTime"] >= described["CreationTime"]
    assert "FailureReason" not in described

    listed = sagemaker.list_endpoints(NameContains=name)["Endpoints"]
    assert [(e["EndpointName"], e["EndpointStatus"]) for e in listed] == [(name, "InService")]

    sagemaker.delete_endpoint(EndpointName=name)
    sagemaker.get_waiter("endpoint_deleted").wait(EndpointName=name, WaiterConfig=FAST_WAIT)
    error = client_error(sagemaker.describe_endpoint, EndpointName=name)
    assert error == {"Code": "ValidationException", "Message": f'Could not find endpoint "{arn}".'}


def test_endpoint_with_a_remote_model_container(sagemaker, model_container):
    config = deploy_config(sagemaker, {"Image": model_container})
    name = unique("remote-ep")
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=config)
    sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig=FAST_WAIT)
    assert (
        sagemaker.describe_endpoint(EndpointName=name)["ProductionVariants"][0]["DeployedImages"][0]["SpecifiedImage"]
        == model_container
    )


def test_an_unreachable_container_fails_with_a_reason_and_blocks_updates_meanwhile(sagemaker):
    config = deploy_config(sagemaker, {"Image": "http://127.0.0.1:9"})  # port 9 (discard): nothing listens
    name = unique("dead-ep")
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=config)
    creating = sagemaker.describe_endpoint(EndpointName=name)
    assert creating["EndpointStatus"] == "Creating"
    # The deployment under way, as DescribeEndpoint documents it "while creating or updating with a new config".
    pending = creating["PendingDeploymentSummary"]
    assert pending["EndpointConfigName"] == config
    assert [v["VariantName"] for v in pending["ProductionVariants"]] == ["AllTraffic"]
    for call, kwargs in ((sagemaker.update_endpoint, {"EndpointConfigName": config}), (sagemaker.delete_endpoint, {})):
        error = client_error(call, EndpointName=name, **kwargs)
        assert error == {
            "Code": "ValidationException",
            "Message": f'Cannot update in-progress endpoint "{ARN_PREFIX}:endpoint/{name}".',
        }
    with pytest.raises(WaiterError):
        sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig=FAST_WAIT)
    described = sagemaker.describe_endpoint(EndpointName=name)
    assert described["EndpointStatus"] == "Failed"
    assert "did not pass its /ping health check" in described["FailureReason"]
    assert "PendingDeploymentSummary" not in described
    error = client_error(sagemaker.update_endpoint, EndpointName=name, EndpointConfigName=config)
    assert "DeleteEndpoint is the only operation" in error["Message"]
    sagemaker.delete_endpoint(EndpointName=name)  # the one thing allowed on a failed endpoint
    sagemaker.get_waiter("endpoint_deleted").wait(EndpointName=name, WaiterConfig=FAST_WAIT)


def test_a_model_file_removed_after_create_model_fails_the_endpoint(sagemaker, model_files, model_root):
    copy = model_root / unique("vanishing")
    copy.mkdir()
    shutil.copy(model_files["openclarify/xgboost"], copy / "model.json")
    config = deploy_config(sagemaker, {"Image": "openclarify/xgboost", "ModelDataUrl": str(copy)})
    shutil.rmtree(copy)
    name = unique("gone-ep")
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=config)
    with pytest.raises(WaiterError):
        sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig=FAST_WAIT)
    described = sagemaker.describe_endpoint(EndpointName=name)
    assert described["EndpointStatus"] == "Failed"
    assert described["FailureReason"].startswith("Variant AllTraffic (model ")
    assert "ModelDataUrl does not exist" in described["FailureReason"]


def test_update_endpoint_switches_config_and_keeps_serving_on_failure(sagemaker, model_files, model_root):
    first = deploy_config(
        sagemaker, {"Image": "openclarify/xgboost", "ModelDataUrl": str(model_files["openclarify/xgboost"])}
    )
    second = deploy_config(
        sagemaker, {"Image": "openclarify/onnx", "ModelDataUrl": str(model_files["openclarify/onnx"])}
    )
    name = unique("upd-ep")
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=first)
    sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig=FAST_WAIT)

    sagemaker.update_endpoint(EndpointName=name, EndpointConfigName=second)
    sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig=FAST_WAIT)
    described = sagemaker.describe_endpoint(EndpointName=name)
    assert described["EndpointConfigName"] == second
    assert described["ProductionVariants"][0]["DeployedImages"][0]["SpecifiedImage"] == "openclarify/onnx"

    # A rollout that cannot load leaves the running deployment in place and says why.
    broken = deploy_config(sagemaker, {"Image": "http://127.0.0.1:9"})
    sagemaker.update_endpoint(EndpointName=name, EndpointConfigName=broken)
    assert sagemaker.describe_endpoint(EndpointName=name)["PendingDeploymentSummary"]["EndpointConfigName"] == broken
    sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig=FAST_WAIT)
    described = sagemaker.describe_endpoint(EndpointName=name)
    assert described["EndpointConfigName"] == second
    assert "PendingDeploymentSummary" not in described
    assert "/ping" in described["FailureReason"]


def test_create_endpoint_errors(sagemaker, model_files):
    error = client_error(sagemaker.create_endpoint, EndpointName=unique("ep"), EndpointConfigName="Missing-Config")
    assert error == {
        "Code": "ValidationException",
        "Message": f'Could not find endpoint configuration "{ARN_PREFIX}:endpoint-config/missing-config".',
    }
    config = deploy_config(
        sagemaker, {"Image": "openclarify/onnx", "ModelDataUrl": str(model_files["openclarify/onnx"])}
    )
    name = unique("ep-dup")
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=config)
    error = client_error(sagemaker.create_endpoint, EndpointName=name.upper(), EndpointConfigName=config)
    assert error["Message"] == f'Cannot create already existing endpoint "{ARN_PREFIX}:endpoint/{name}".'
    error = client_error(sagemaker.update_endpoint, EndpointName="nope", EndpointConfigName=config)
    assert error["Message"] == f'Could not find endpoint "{ARN_PREFIX}:endpoint/nope".'


def test_deleting_the_config_and_model_does_not_touch_a_running_endpoint(sagemaker, model_files):
    model = unique("snap-model")
    sagemaker.create_model(
        ModelName=model,
        PrimaryContainer={"Image": "openclarify/onnx", "ModelDataUrl": str(model_files["openclarify/onnx"])},
    )
    config = unique("snap-config")
    explainer = {"ClarifyExplainerConfig": {"ShapConfig": {"ShapBaselineConfig": {"ShapBaseline": "0,0,0,0"}}}}
    sagemaker.create_endpoint_config(
        EndpointConfigName=config, ProductionVariants=[variant(model)], ExplainerConfig=explainer
    )
    name = unique("snap-ep")
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=config)
    sagemaker.delete_endpoint_config(EndpointConfigName=config)
    sagemaker.delete_model(ModelName=model)
    sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig=FAST_WAIT)
    assert sagemaker.describe_endpoint(EndpointName=name)["ExplainerConfig"] == explainer
