"""Protocol edges (unknown operations, bad bodies, ping) and List* pagination, sorting and filters."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx
import pytest
from tests.control.helpers import client_error, unique


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
