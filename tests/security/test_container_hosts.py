"""A model's Image URL may name loopback containers only, unless the operator allows more hosts: CreateModel must
not let a client make the server call an arbitrary address (a cloud metadata service, an internal host)."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient
from tests.control.helpers import client_error, unique

from openclarify.app import build_app
from openclarify.settings import Settings

REFUSED = [
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.5:8080",
    "https://example.com",
    "http://[fe80::1]:8080",
    "http://0.0.0.0:8080",
]


@pytest.mark.parametrize("image", REFUSED)
def test_non_loopback_container_hosts_are_refused_by_default(sagemaker, image):
    error = client_error(sagemaker.create_model, ModelName=unique("host"), PrimaryContainer={"Image": image})
    assert error["Code"] == "ValidationException"
    assert "OPENCLARIFY_CONTAINER_ALLOWED_HOSTS" in error["Message"]


@pytest.mark.parametrize("image", ["http://127.0.0.1:9", "http://localhost:9/", "http://[::1]:9", "http://127.8.0.1:9"])
def test_loopback_containers_are_accepted(sagemaker, image):
    sagemaker.create_model(ModelName=unique("host"), PrimaryContainer={"Image": image})


def test_the_operator_can_allow_named_hosts(tmp_path):
    settings = Settings(data_dir=tmp_path, model_roots=(tmp_path,), container_allowed_hosts=("10.0.0.5",))
    headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "SageMaker.CreateModel"}
    with TestClient(build_app(settings), base_url="http://127.0.0.1") as client:
        ok = client.post(
            "/", json={"ModelName": "a", "PrimaryContainer": {"Image": "http://10.0.0.5:8080"}}, headers=headers
        )
        assert ok.status_code == 200, ok.text
        other = {"ModelName": "b", "PrimaryContainer": {"Image": "http://10.0.0.6:8080"}}
        assert client.post("/", json=other, headers=headers).status_code == 400
