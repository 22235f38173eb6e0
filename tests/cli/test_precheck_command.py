"""``openclarify precheck`` at the edges of its input and of ``--create``: a sample read only as far as the check
takes it, an --image named for what it is, and a name in use refused before anything is created."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from tests.cli.conftest import N_FEATURES, cli, one_line_error
from tests.conftest import LiveServer

from openclarify.commands.common import EXIT_REFUSED, CliError


@pytest.fixture
def sample(tmp_path) -> Path:
    rng = np.random.default_rng(11)
    path = tmp_path / "sample.csv"
    path.write_text("".join(",".join(f"{v:.3f}" for v in row) + "\n" for row in rng.normal(size=(20, N_FEATURES))))
    return path


def _names(server: LiveServer) -> dict[str, set[str]]:
    sm = server.client("sagemaker")
    return {
        "models": {m["ModelName"] for m in sm.list_models()["Models"]},
        "configs": {c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]},
        "endpoints": {e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]},
    }


def test_a_sample_is_read_no_further_than_the_check_takes(tmp_path):
    endless = cli("precheck", "--url", "http://127.0.0.1:1", "--records", "/dev/zero", bounded=True)
    assert "/dev/zero holds more than 1048576 bytes (1 MiB)" in one_line_error(endless, 2)
    big = tmp_path / "big.csv"
    big.write_text("1,2\n" * 300_000)
    from_stdin = cli("precheck", "--url", "http://127.0.0.1:1", stdin=big.read_text())
    assert "stdin holds more than 1048576 bytes" in one_line_error(from_stdin, 2)


def test_an_image_that_is_no_runtime_is_named_as_such(sample):
    message = one_line_error(cli("precheck", "--image", "ftp://x", "--records", str(sample)), 2)
    assert "--image 'ftp://x' is neither a built-in runtime" in message and "openclarify/sklearn" in message


def test_create_with_a_name_in_use_creates_nothing(cli_server, explained_endpoint, sample):
    """An endpoint cli-taken exists, without a model or endpoint config of that name: the model and endpoint config
    used to be created, and left behind when CreateEndpoint refused the name."""
    sm = cli_server.client("sagemaker")
    sm.create_endpoint(EndpointName="cli-taken", EndpointConfigName=explained_endpoint)
    model = cli_server.model_roots[0] / f"{explained_endpoint}.skops"
    args = ["--image", "openclarify/sklearn", "--model-data", str(model), "--records", str(sample)]
    result = cli("precheck", *args, "--create", "cli-taken", url=cli_server.url)
    message = one_line_error(result, 4)
    assert "--create cli-taken: endpoint cli-taken already exists" in message
    names = _names(cli_server)
    assert "cli-taken" not in names["models"] | names["configs"]


def test_a_create_that_fails_midway_deletes_what_it_created(cli_server, explained_endpoint, monkeypatch):
    """The name was free when checked and taken by the time of CreateEndpoint (another client, in between):
    the model and endpoint config this run made are deleted again, and the error says so."""
    from openclarify.commands import precheck

    for variable in [k for k in os.environ if k.startswith("AWS_")]:  # as cli() runs the command: no profile
        monkeypatch.delenv(variable)
    sm = cli_server.client("sagemaker")
    sm.create_endpoint(EndpointName="cli-raced", EndpointConfigName=explained_endpoint)
    config = sm.describe_endpoint_config(EndpointConfigName=explained_endpoint)
    model = sm.describe_model(ModelName=explained_endpoint)
    report = SimpleNamespace(container=model["PrimaryContainer"], explainer_config=config["ExplainerConfig"])
    args = argparse.Namespace(create="cli-raced", model=None, region="us-east-1")
    with pytest.raises(CliError) as raised:
        precheck._create(args, report, cli_server.url)
    assert raised.value.code == EXIT_REFUSED
    assert raised.value.message.startswith("endpoint cli-raced not created: ValidationException: ")
    assert raised.value.message.endswith("The model and endpoint config cli-raced this run created were deleted again.")
    names = _names(cli_server)
    assert "cli-raced" not in names["models"] | names["configs"]
