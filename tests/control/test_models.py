"""CreateModel / DescribeModel / ListModels / DeleteModel through a real boto3 client."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.control.helpers import client_error, unique

ARN_PREFIX = "arn:aws:sagemaker:us-east-1:000000000000"
BUILTINS = ["openclarify/xgboost", "openclarify/lightgbm", "openclarify/sklearn", "openclarify/onnx"]


@pytest.mark.parametrize("image", BUILTINS)
def test_each_builtin_model_is_created_and_described_as_submitted(sagemaker, model_files, image):
    name = unique("Model-" + image.split("/")[1])
    container = {"Image": image, "ModelDataUrl": str(model_files[image]), "Environment": {"A": "1"}}
    arn = sagemaker.create_model(ModelName=name, PrimaryContainer=container)["ModelArn"]
    assert arn == f"{ARN_PREFIX}:model/{name.lower()}"

    described = sagemaker.describe_model(ModelName=name.upper())  # names are case-insensitive
    assert described["ModelName"] == name
    assert described["ModelArn"] == arn
    assert described["PrimaryContainer"] == container
    assert described["CreationTime"].year >= 2024


def test_file_uri_and_directory_artifacts_are_accepted(sagemaker, model_files):
    xgb = model_files["openclarify/xgboost"]
    for url in (xgb.as_uri(), str(xgb.parent)):
        sagemaker.create_model(
            ModelName=unique("uri"), PrimaryContainer={"Image": "openclarify/xgboost", "ModelDataUrl": url}
        )


def test_duplicate_and_missing_models_are_answered_as_aws_does(sagemaker, model_files):
    name = unique("dup")
    container = {"Image": "openclarify/xgboost", "ModelDataUrl": str(model_files["openclarify/xgboost"])}
    sagemaker.create_model(ModelName=name, PrimaryContainer=container)
    error = client_error(sagemaker.create_model, ModelName=name.upper(), PrimaryContainer=container)
    assert error == {
        "Code": "ValidationException",
        "Message": f'Cannot create already existing model "{ARN_PREFIX}:model/{name.lower()}".',
    }
    sagemaker.delete_model(ModelName=name)
    for call in (sagemaker.describe_model, sagemaker.delete_model):
        error = client_error(call, ModelName=name)
        assert error == {"Code": "ValidationException", "Message": f'Could not find model "{ARN_PREFIX}:model/{name}".'}


@pytest.mark.parametrize(
    ("url", "phrase"),
    [
        ("/etc/passwd", "outside the model roots"),
        ("s3://bucket/model.tar.gz", "not supported"),
        ("file://otherhost/model.json", "local path"),
    ],
)
def test_model_data_outside_the_roots_is_rejected(sagemaker, url, phrase):
    error = client_error(
        sagemaker.create_model,
        ModelName=unique("esc"),
        PrimaryContainer={"Image": "openclarify/xgboost", "ModelDataUrl": url},
    )
    assert error["Code"] == "ValidationException"
    assert phrase in error["Message"]


def test_dotdot_and_symlink_escapes_are_rejected(sagemaker, model_root, model_files, tmp_path):
    outside = tmp_path / "model.json"
    outside.write_bytes(model_files["openclarify/xgboost"].read_bytes())
    link = model_root / unique("link")
    link.symlink_to(outside)
    # tmp_path and model_root share a parent, so this ".." path names an existing file outside the root.
    assert tmp_path.parent == model_root.parent
    escape = f"{model_root}/xgb/../../{tmp_path.name}/model.json"
    for url in (str(link), escape):
        error = client_error(
            sagemaker.create_model,
            ModelName=unique("esc"),
            PrimaryContainer={"Image": "openclarify/xgboost", "ModelDataUrl": url},
        )
        assert error["Code"] == "ValidationException"
        assert "outside the model roots" in error["Message"]


@pytest.mark.parametrize("image", BUILTINS)
def test_a_file_that_is_not_a_model_is_rejected_without_echoing_it(sagemaker, model_root: Path, image):
    junk = model_root / unique("junk")
    junk.write_text("SECRET-CONTENT-" * 50)
    error = client_error(
        sagemaker.create_model, ModelName=unique("junk"), PrimaryContainer={"Image": image, "ModelDataUrl": str(junk)}
    )
    assert error["Code"] == "ValidationException"
    assert "not a valid" in error["Message"]
    assert "SECRET" not in error["Message"] and "Traceback" not in error["Message"]


def test_a_model_of_another_kind_is_rejected(sagemaker, model_files):
    container = {"Image": "openclarify/xgboost", "ModelDataUrl": str(model_files["openclarify/lightgbm"])}
    error = client_error(sagemaker.create_model, ModelName=unique("kind"), PrimaryContainer=container)
    assert error["Code"] == "ValidationException"
    assert "XGBoost" in error["Message"]


def test_skops_files_needing_untrusted_types_are_refused(sagemaker, model_root):
    import skops.io
    from sklearn.preprocessing import FunctionTransformer

    path = model_root / unique("untrusted")
    skops.io.dump(FunctionTransformer(func=print), path)  # a builtin function: never trusted
    error = client_error(
        sagemaker.create_model,
        ModelName=unique("untrusted"),
        PrimaryContainer={"Image": "openclarify/sklearn", "ModelDataUrl": str(path)},
    )
    assert error["Code"] == "ValidationException"
    assert "not trusted" in error["Message"]


def test_unknown_images_and_missing_containers_are_rejected(sagemaker):
    error = client_error(sagemaker.create_model, ModelName=unique("img"), PrimaryContainer={"Image": "acme/model:1"})
    assert error["Code"] == "ValidationException"
    assert "openclarify/xgboost" in error["Message"]
    error = client_error(sagemaker.create_model, ModelName=unique("none"))
    assert error["Code"] == "ValidationException"


def test_a_remote_container_model_is_accepted_without_contacting_it(sagemaker):
    name = unique("remote")
    sagemaker.create_model(ModelName=name, PrimaryContainer={"Image": "http://127.0.0.1:9/"})
    assert sagemaker.describe_model(ModelName=name)["PrimaryContainer"]["Image"] == "http://127.0.0.1:9/"


def test_model_name_constraints_come_from_the_service_model(sagemaker):
    error = client_error(sagemaker.create_model, ModelName="bad_name", PrimaryContainer={"Image": "openclarify/onnx"})
    assert error["Code"] == "ValidationException"
    assert error["Message"] == (
        "1 validation error detected: Value 'bad_name' at 'modelName' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: [a-zA-Z0-9]([\\-a-zA-Z0-9]*[a-zA-Z0-9])?"
    )
    error = client_error(sagemaker.create_model, ModelName="a" * 64, PrimaryContainer={"Image": "openclarify/onnx"})
    assert "Member must have length less than or equal to 63" in error["Message"]


def test_patterns_are_matched_as_aws_matches_them_in_javas_dialect(sagemaker):
    # Tag keys and values use Unicode categories (\p{L}: letters, \p{Z}: separators, \p{N}: numbers), which Python's
    # re cannot compile; \d is ASCII in Java, and its . matches no line break.
    remote = {"Image": "http://127.0.0.1:9/"}
    for tags in ([{"Key": "bad!key#", "Value": "v"}], [{"Key": "team", "Value": "a;b"}]):
        error = client_error(sagemaker.create_model, ModelName=unique("tag"), PrimaryContainer=remote, Tags=tags)
        assert error["Code"] == "ValidationException"
        assert "Member must satisfy regular expression pattern: ([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)" in error["Message"]
    tags = [{"Key": "équipe 2", "Value": "données/été=+@:_.-"}]  # letters, digits and separators of any script
    sagemaker.create_model(ModelName=unique("tag"), PrimaryContainer=remote, Tags=tags)
    role = "arn:aws:iam::" + "\u0661" * 12 + ":role/x"  # Arabic-Indic digits: \d in Python's re, not in Java's
    error = client_error(
        sagemaker.create_model, ModelName=unique("role"), PrimaryContainer=remote, ExecutionRoleArn=role
    )
    assert "'executionRoleArn' failed to satisfy constraint: Member must satisfy regular expression" in error["Message"]
    environment = {"NOTE": "two\nlines"}  # EnvironmentValue is [\S\s]*: any character, line breaks included
    sagemaker.create_model(ModelName=unique("env"), PrimaryContainer={**remote, "Environment": environment})


@pytest.mark.parametrize(
    "container",
    [
        {"Image": "http://[x"},
        {"Image": "http://[x/", "ModelDataUrl": "/models/m.json"},
        {"Image": "openclarify/xgboost", "ModelDataUrl": "s3://[bucket/x"},
        {"Image": "openclarify/xgboost", "ModelDataUrl": "file://[x/m.json"},
        {"Image": "http://127.0.0.1:9/\x7fx"},  # DEL and NUL are not whitespace: the shapes let them through
        {"Image": "http://127.0.0.1:9/\x00x"},
    ],
)
def test_a_url_python_cannot_parse_is_a_validation_error_not_a_crash(sagemaker, container):
    # urllib raises ValueError on an unclosed IPv6 bracket, which the shapes' patterns let through.
    error = client_error(sagemaker.create_model, ModelName=unique("url"), PrimaryContainer=container)
    assert error["Code"] == "ValidationException", error
    assert "not a valid" in error["Message"] or "not supported" in error["Message"], error
