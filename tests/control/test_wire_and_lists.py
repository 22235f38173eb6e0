"""Protocol edges (unknown operations, bad bodies, ping) and List* pagination, sorting and filters."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime

import httpx
import pytest
from tests.control.helpers import FAST_WAIT, client_error, unique, variant


def test_ping(server):
    assert httpx.get(server.url + "/ping").status_code == 200


def test_unknown_operations_get_a_400_botocore_understands(sagemaker, server):
    error = client_error(sagemaker.list_training_jobs)
    assert error["Code"] == "UnknownOperationException"
    for target in ("SageMaker.NoSuchThing", "Other.ListModels", None):
        headers = {"Content-Type": "application/x-amz-json-1.1"} | ({"X-Amz-Target": target} if target else {})
        response = httpx.post(server.url + "/", content=b"{}", headers=headers)
        assert response.status_code == 400
        assert response.headers["x-amzn-errortype"] == "UnknownOperationException"
        assert response.json()["__type"] == "UnknownOperationException"


@pytest.mark.parametrize(
    ("body", "code"), [(b"{not json", "SerializationException"), (b"[1]", "SerializationException")]
)
def test_malformed_bodies(server, body, code):
    headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "SageMaker.ListModels"}
    response = httpx.post(server.url + "/", content=body, headers=headers)
    assert response.status_code == 400
    assert response.json()["__type"] == code


def test_wrong_types_from_a_raw_client_are_validation_errors(server):
    headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "SageMaker.ListModels"}
    response = httpx.post(server.url + "/", json={"MaxResults": "ten"}, headers=headers)
    assert response.status_code == 400
    assert response.json()["message"].startswith("1 validation error detected: Value 'ten' at 'maxResults'")


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_not_json(server, constant):
    # Python's json.dumps writes them by default; a server that stored one could not describe it again.
    headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "SageMaker.ListModels"}
    body = f'{{"MaxResults": {constant}}}'
    response = httpx.post(server.url + "/", content=body.encode(), headers=headers)
    assert response.status_code == 400
    assert response.json()["__type"] == "SerializationException"


@pytest.mark.parametrize(
    ("operation", "body", "at"),
    [
        # JSON's 1e999 reads as infinity, and an integer past a double's range has no float.
        (
            "CreateEndpointConfig",
            '{"EndpointConfigName":"inf-weight","ProductionVariants":[{"VariantName":"v","ModelName":"m",'
            '"InitialVariantWeight":1e999}]}',
            "productionVariants.1.member.initialVariantWeight",
        ),
        (
            "CreateEndpointConfig",
            '{"EndpointConfigName":"big-weight","ProductionVariants":[{"VariantName":"v","ModelName":"m",'
            '"InitialVariantWeight":1' + "0" * 400 + "}]}",
            "productionVariants.1.member.initialVariantWeight",
        ),
        ("ListModels", '{"CreationTimeAfter":-1e999}', "creationTimeAfter"),
    ],
)
def test_numbers_past_a_doubles_range_are_validation_errors(sagemaker, server, operation, body, at):
    headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": f"SageMaker.{operation}"}
    response = httpx.post(server.url + "/", content=body.encode(), headers=headers)
    assert response.status_code == 400, response.text
    assert response.json()["__type"] == "ValidationException"
    assert f"at '{at}' failed to satisfy constraint: Member must be " in response.json()["message"]
    assert client_error(sagemaker.describe_endpoint_config, EndpointConfigName="inf-weight")["Code"] == (
        "ValidationException"
    )  # nothing was stored


@pytest.fixture(scope="module")
def listed_models(sagemaker, model_files) -> list[str]:
    prefix = unique("Lst")
    container = {"Image": "openclarify/onnx", "ModelDataUrl": str(model_files["openclarify/onnx"])}
    names = []
    for suffix in ("c", "a", "e", "b", "d"):
        names.append(f"{prefix}-{suffix}")
        sagemaker.create_model(ModelName=names[-1], PrimaryContainer=container)
        time.sleep(0.01)  # distinct creation times
    return names


def test_paginator_walks_every_page(sagemaker, listed_models):
    prefix = listed_models[0][:-2]
    pages = list(sagemaker.get_paginator("list_models").paginate(NameContains=prefix, PaginationConfig={"PageSize": 2}))
    assert [len(p["Models"]) for p in pages] == [2, 2, 1]
    names = [m["ModelName"] for p in pages for m in p["Models"]]
    assert names == list(reversed(listed_models))  # default: CreationTime, Descending


def test_sorting_and_filters(sagemaker, listed_models):
    prefix = listed_models[0][:-2]
    by_name = sagemaker.list_models(NameContains=prefix.lower(), SortBy="Name", SortOrder="Ascending")["Models"]
    assert [m["ModelName"][-1] for m in by_name] == ["a", "b", "c", "d", "e"]
    # botocore sends timestamps as whole epoch seconds, so compute the expectation from the same cut-off.
    created = {n: sagemaker.describe_model(ModelName=n)["CreationTime"].timestamp() for n in listed_models}
    cut = datetime.fromtimestamp(int(created[listed_models[2]]), UTC)
    after = sagemaker.list_models(NameContains=prefix, CreationTimeAfter=cut, SortOrder="Ascending")["Models"]
    assert [m["ModelName"] for m in after] == [n for n in listed_models if created[n] > cut.timestamp()]
    before = sagemaker.list_models(NameContains=prefix, CreationTimeBefore=cut)["Models"]
    assert {m["ModelName"] for m in before} == {n for n in listed_models if created[n] < cut.timestamp()}
    assert len(after) + len(before) == len(listed_models)
    future = datetime.now(UTC).replace(year=datetime.now(UTC).year + 1)
    assert sagemaker.list_models(NameContains=prefix, CreationTimeAfter=future)["Models"] == []


def test_max_results_default_and_bad_tokens(sagemaker, listed_models):
    prefix = listed_models[0][:-2]
    first = sagemaker.list_models(NameContains=prefix, MaxResults=1)
    assert len(first["Models"]) == 1 and first["NextToken"]
    error = client_error(sagemaker.list_models, NameContains="other", NextToken=first["NextToken"])
    assert error["Code"] == "ValidationException"
    error = client_error(sagemaker.list_models, NextToken="garbage")
    assert error["Code"] == "ValidationException"
    error = client_error(sagemaker.list_models, MaxResults=101)
    assert "Member must have value less than or equal to 100" in error["Message"]


def test_list_endpoint_configs_and_endpoints_filter_by_status(sagemaker):
    assert "EndpointConfigs" in sagemaker.list_endpoint_configs(SortBy="Name")
    endpoints = sagemaker.list_endpoints(StatusEquals="Deleting")["Endpoints"]
    assert all(e["EndpointStatus"] == "Deleting" for e in endpoints)
    error = client_error(sagemaker.list_endpoints, StatusEquals="Sleeping")
    assert "Member must satisfy enum value set" in error["Message"]


# -- NextToken is a cursor: items created or deleted between pages are neither skipped nor repeated ----------------


def test_deleting_each_page_while_paging_reaches_every_config(sagemaker, model_files):
    """The audit's repro: with offset tokens, deleting the items of each page made the next page skip as many."""
    model = unique("pgm")
    container = {"Image": "openclarify/onnx", "ModelDataUrl": str(model_files["openclarify/onnx"])}
    sagemaker.create_model(ModelName=model, PrimaryContainer=container)
    prefix = unique("tmp")
    names = [f"{prefix}-{i:02d}" for i in range(12)]
    for name in names:
        sagemaker.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[variant(model)])
    deleted = []
    paginator = sagemaker.get_paginator("list_endpoint_configs")
    for page in paginator.paginate(NameContains=prefix, PaginationConfig={"PageSize": 4}):
        for item in page["EndpointConfigs"]:
            sagemaker.delete_endpoint_config(EndpointConfigName=item["EndpointConfigName"])
            deleted.append(item["EndpointConfigName"])
    assert sorted(deleted) == names
    assert sagemaker.list_endpoint_configs(NameContains=prefix)["EndpointConfigs"] == []


def test_models_deleted_or_created_between_pages_are_each_listed_once(sagemaker, model_files):
    container = {"Image": "openclarify/onnx", "ModelDataUrl": str(model_files["openclarify/onnx"])}
    prefix = unique("cur")
    for suffix in ("b", "d", "f", "h", "j"):
        sagemaker.create_model(ModelName=f"{prefix}-{suffix}", PrimaryContainer=container)
    query = {"NameContains": prefix, "SortBy": "Name", "SortOrder": "Ascending", "MaxResults": 2}
    first = sagemaker.list_models(**query)
    assert [m["ModelName"][-1] for m in first["Models"]] == ["b", "d"]
    # Before the cursor, two new names and a deleted one change nothing after it (an offset token would show d
    # again); after it, a new name shows and a deleted one does not.
    sagemaker.create_model(ModelName=f"{prefix}-a", PrimaryContainer=container)
    sagemaker.create_model(ModelName=f"{prefix}-c", PrimaryContainer=container)
    sagemaker.delete_model(ModelName=f"{prefix}-b")
    sagemaker.create_model(ModelName=f"{prefix}-g", PrimaryContainer=container)
    sagemaker.delete_model(ModelName=f"{prefix}-h")
    second = sagemaker.list_models(**query, NextToken=first["NextToken"])
    assert [m["ModelName"][-1] for m in second["Models"]] == ["f", "g"]
    third = sagemaker.list_models(**query, NextToken=second["NextToken"])
    assert [m["ModelName"][-1] for m in third["Models"]] == ["j"]
    assert "NextToken" not in third


def test_endpoints_created_between_pages_do_not_repeat_items(sagemaker, model_files):
    model = unique("pge")
    container = {"Image": "openclarify/onnx", "ModelDataUrl": str(model_files["openclarify/onnx"])}
    sagemaker.create_model(ModelName=model, PrimaryContainer=container)
    config = unique("pge-config")
    sagemaker.create_endpoint_config(EndpointConfigName=config, ProductionVariants=[variant(model)])
    prefix = unique("pge")
    names = [f"{prefix}-{suffix}" for suffix in ("b", "c", "d")]
    for name in names:
        sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=config)
    try:
        query = {"NameContains": prefix, "SortBy": "Name", "SortOrder": "Ascending", "MaxResults": 2}
        first = sagemaker.list_endpoints(**query)
        assert [e["EndpointName"] for e in first["Endpoints"]] == names[:2]
        names.append(f"{prefix}-a")  # sorts first: an offset token would show c again
        sagemaker.create_endpoint(EndpointName=names[-1], EndpointConfigName=config)
        second = sagemaker.list_endpoints(**query, NextToken=first["NextToken"])
        assert [e["EndpointName"] for e in second["Endpoints"]] == names[2:3]
        assert "NextToken" not in second
        # A ListEndpoints token is ListEndpoints' own, as the other lists' are theirs.
        for call in (sagemaker.list_models, sagemaker.list_endpoint_configs):
            error = client_error(call, **query, NextToken=first["NextToken"])
            assert error["Message"] == "Invalid pagination token: it does not belong to this request."
    finally:
        for name in names:
            sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig=FAST_WAIT)
            sagemaker.delete_endpoint(EndpointName=name)


def test_a_token_is_bound_to_its_operation(sagemaker, listed_models):
    token = sagemaker.list_models(MaxResults=1)["NextToken"]
    for call in (sagemaker.list_endpoints, sagemaker.list_endpoint_configs):
        error = client_error(call, MaxResults=1, NextToken=token)
        assert error == {
            "Code": "ValidationException",
            "Message": "Invalid pagination token: it does not belong to this request.",
        }
    assert sagemaker.list_models(MaxResults=1, NextToken=token)["Models"]


def test_an_edited_token_is_refused(sagemaker, listed_models):
    prefix = listed_models[0][:-2]
    token = sagemaker.list_models(NameContains=prefix, SortBy="Name", MaxResults=1)["NextToken"]
    data = json.loads(base64.urlsafe_b64decode(token))
    for edit in ({"k": [12.5, "x"]}, {"k": ["zzz"]}, {"o": 1}, {"h": "0" * 16}):
        forged = base64.urlsafe_b64encode(json.dumps({**data, **edit}).encode()).decode()
        error = client_error(sagemaker.list_models, NameContains=prefix, SortBy="Name", NextToken=forged)
        assert error["Code"] == "ValidationException"


def raw_call(server, operation: str, body: dict) -> dict:
    """A control-plane call from a raw client, which may send what botocore never does: an explicit JSON null."""
    headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": f"SageMaker.{operation}"}
    response = httpx.post(server.url + "/", json=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def nulls(value, at: str = "") -> list[str]:
    """Where ``value`` holds a null, at any depth (botocore's parser drops them, so only raw JSON shows them)."""
    if value is None:
        return [at]
    if isinstance(value, dict):
        return [found for key, item in value.items() for found in nulls(item, f"{at}.{key}")]
    if isinstance(value, list):
        return [found for i, item in enumerate(value) for found in nulls(item, f"{at}[{i}]")]
    return []


def test_explicit_nulls_are_absent_members_that_describe_never_echoes(sagemaker, server, model_files):
    model, config, endpoint = unique("null-model"), unique("null-config"), unique("null-ep")
    container = {"Image": "openclarify/onnx", "ModelDataUrl": str(model_files["openclarify/onnx"])}
    raw_call(
        server,
        "CreateModel",
        {
            "ModelName": model,
            "PrimaryContainer": {**container, "Environment": None, "ContainerHostname": None},
            "ExecutionRoleArn": None,
            "VpcConfig": None,
        },
    )
    explainer = {
        "ClarifyExplainerConfig": {
            "EnableExplanations": None,
            "InferenceConfig": {"MaxPayloadInMB": None, "FeatureHeaders": None},
            "ShapConfig": {"ShapBaselineConfig": {"ShapBaseline": "1,2,3,4", "MimeType": None}, "Seed": None},
        }
    }
    pv = {"VariantName": "AllTraffic", "ModelName": model, "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}
    raw_call(
        server,
        "CreateEndpointConfig",
        {
            "EndpointConfigName": config,
            "ProductionVariants": [{**pv, "ContainerStartupHealthCheckTimeoutInSeconds": None, "RoutingConfig": None}],
            "ExplainerConfig": explainer,
            "DataCaptureConfig": None,
            "KmsKeyId": None,
        },
    )
    as_submitted = {
        "ClarifyExplainerConfig": {
            "InferenceConfig": {},
            "ShapConfig": {"ShapBaselineConfig": {"ShapBaseline": "1,2,3,4"}},
        }
    }

    described = raw_call(server, "DescribeModel", {"ModelName": model})
    assert nulls(described) == []
    assert described["PrimaryContainer"] == container
    assert "ExecutionRoleArn" not in described and "VpcConfig" not in described

    described = raw_call(server, "DescribeEndpointConfig", {"EndpointConfigName": config})
    assert nulls(described) == []
    assert described["ProductionVariants"] == [pv]
    assert described["ExplainerConfig"] == as_submitted
    assert "DataCaptureConfig" not in described and "KmsKeyId" not in described

    sagemaker.create_endpoint(EndpointName=endpoint, EndpointConfigName=config)
    sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=endpoint, WaiterConfig=FAST_WAIT)
    described = raw_call(server, "DescribeEndpoint", {"EndpointName": endpoint})
    assert nulls(described) == []
    assert described["ExplainerConfig"] == as_submitted


def test_a_null_weight_or_instance_count_is_the_default(sagemaker, server, model_files):
    model, config, endpoint = unique("null-model"), unique("null-config"), unique("null-ep")
    container = {"Image": "openclarify/onnx", "ModelDataUrl": str(model_files["openclarify/onnx"])}
    sagemaker.create_model(ModelName=model, PrimaryContainer=container)
    pv = {"VariantName": "AllTraffic", "ModelName": model, "InitialVariantWeight": None, "InitialInstanceCount": None}
    raw_call(server, "CreateEndpointConfig", {"EndpointConfigName": config, "ProductionVariants": [pv]})
    assert sagemaker.describe_endpoint_config(EndpointConfigName=config)["ProductionVariants"] == [
        {"VariantName": "AllTraffic", "ModelName": model}
    ]
    sagemaker.create_endpoint(EndpointName=endpoint, EndpointConfigName=config)
    sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=endpoint, WaiterConfig=FAST_WAIT)
    summary = sagemaker.describe_endpoint(EndpointName=endpoint)["ProductionVariants"][0]
    assert (summary["CurrentWeight"], summary["CurrentInstanceCount"]) == (1.0, 1)
