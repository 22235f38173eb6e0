"""CreateEndpointConfig and friends: botocore-shape validation, Clarify checks, exact echo, not-found/duplicate."""

from __future__ import annotations

import copy

import botocore.session
import pytest
from tests.control.helpers import client_error, unique, variant

ARN_PREFIX = "arn:aws:sagemaker:us-east-1:000000000000"

EXPLAINER = {
    "ClarifyExplainerConfig": {
        "EnableExplanations": "[0]>`0.5`",
        "InferenceConfig": {"FeatureHeaders": ["a", "b", "c", "d"], "MaxRecordCount": 100, "MaxPayloadInMB": 6},
        "ShapConfig": {
            "ShapBaselineConfig": {"MimeType": "text/csv", "ShapBaseline": "0.1,0.2,0.3,0.4"},
            "NumberOfSamples": 50,
            "UseLogit": False,
            "Seed": 7,
        },
    }
}


@pytest.fixture(scope="module")
def model(sagemaker, model_files) -> str:
    name = unique("cfg-model")
    container = {"Image": "openclarify/xgboost", "ModelDataUrl": str(model_files["openclarify/xgboost"])}
    sagemaker.create_model(ModelName=name, PrimaryContainer=container)
    return name


def test_describe_echoes_the_config_exactly_as_submitted(sagemaker, model):
    name = unique("Cfg")
    variants = [variant(model, InitialVariantWeight=0.5, InstanceType="anything-goes")]
    arn = sagemaker.create_endpoint_config(
        EndpointConfigName=name, ProductionVariants=variants, ExplainerConfig=EXPLAINER
    )["EndpointConfigArn"]
    assert arn == f"{ARN_PREFIX}:endpoint-config/{name.lower()}"
    described = sagemaker.describe_endpoint_config(EndpointConfigName=name)
    assert described["EndpointConfigName"] == name
    assert described["EndpointConfigArn"] == arn
    assert described["ProductionVariants"] == variants
    assert described["ExplainerConfig"] == EXPLAINER  # no defaults filled in


def test_minimal_explainer_config_comes_back_without_defaults(sagemaker, model):
    name = unique("cfg-min")
    minimal = {"ClarifyExplainerConfig": {"ShapConfig": {"ShapBaselineConfig": {"ShapBaseline": "1,2,3,4"}}}}
    sagemaker.create_endpoint_config(
        EndpointConfigName=name, ProductionVariants=[variant(model)], ExplainerConfig=minimal
    )
    assert sagemaker.describe_endpoint_config(EndpointConfigName=name)["ExplainerConfig"] == minimal


def test_range_violation_is_reported_in_aws_form(sagemaker, model):
    config = copy.deepcopy(EXPLAINER)
    config["ClarifyExplainerConfig"]["InferenceConfig"]["MaxPayloadInMB"] = 30
    error = client_error(
        sagemaker.create_endpoint_config,
        EndpointConfigName=unique("cfg"),
        ProductionVariants=[variant(model)],
        ExplainerConfig=config,
    )
    assert error == {
        "Code": "ValidationException",
        "Message": "1 validation error detected: Value '30' at "
        "'explainerConfig.clarifyExplainerConfig.inferenceConfig.maxPayloadInMB' failed to satisfy constraint: "
        "Member must have value less than or equal to 25",
    }


def _string_members_with_max(shape_name: str):
    shape = botocore.session.get_session().get_service_model("sagemaker").shape_for(shape_name)
    return [
        (name, m.metadata["max"])
        for name, m in shape.members.items()
        if m.type_name == "string" and "max" in m.metadata
    ]


@pytest.mark.parametrize(("member", "maximum"), _string_members_with_max("ClarifyInferenceConfig"))
def test_every_inference_config_string_maximum_from_the_model_is_enforced(sagemaker, model, member, maximum):
    config = copy.deepcopy(EXPLAINER)
    config["ClarifyExplainerConfig"]["InferenceConfig"][member] = "x" * (maximum + 1)
    error = client_error(
        sagemaker.create_endpoint_config,
        EndpointConfigName=unique("cfg"),
        ProductionVariants=[variant(model)],
        ExplainerConfig=config,
    )
    path = "explainerConfig.clarifyExplainerConfig.inferenceConfig." + member[0].lower() + member[1:]
    assert (
        f"at '{path}' failed to satisfy constraint: Member must have length less than or equal to {maximum}"
        in (error["Message"])
    )


def test_several_violations_are_counted_and_list_paths_are_aws_style(sagemaker, model):
    config = copy.deepcopy(EXPLAINER)
    config["ClarifyExplainerConfig"]["InferenceConfig"]["FeatureTypes"] = ["numerical", "bogus", "text", "text"]
    config["ClarifyExplainerConfig"]["ShapConfig"]["TextConfig"] = {"Language": "klingon", "Granularity": "word"}
    error = client_error(
        sagemaker.create_endpoint_config,
        EndpointConfigName=unique("cfg"),
        ProductionVariants=[variant(model)],
        ExplainerConfig=config,
    )
    message = error["Message"]
    assert message.startswith("3 validation errors detected: ")
    assert "'explainerConfig.clarifyExplainerConfig.inferenceConfig.featureTypes.2.member'" in message
    assert "Member must satisfy enum value set: [token, sentence, paragraph]" in message
    assert "at 'explainerConfig.clarifyExplainerConfig.shapConfig.textConfig.language'" in message


@pytest.mark.parametrize(
    ("edit", "member"),
    [
        (
            lambda c: c["ShapConfig"]["ShapBaselineConfig"].update(ShapBaselineUri="s3://b/k"),
            "shapConfig.shapBaselineConfig",
        ),
        (lambda c: c.update(EnableExplanations="[0]>>"), "enableExplanations"),
        # Their pattern is .*, and Java's . matches no line break.
        (lambda c: c.update(EnableExplanations="`true`\n"), "enableExplanations"),
        (
            lambda c: c["InferenceConfig"].update(ContentTemplate='{"f":\n$features}'),
            "inferenceConfig.contentTemplate",
        ),
        (lambda c: c["InferenceConfig"].update(ContentTemplate='{"f":1}'), "inferenceConfig.contentTemplate"),
        (
            lambda c: c["ShapConfig"]["ShapBaselineConfig"].update(
                MimeType="application/jsonlines", ShapBaseline="[1,2,3,4]\n{bad"
            ),
            "shapConfig.shapBaselineConfig.shapBaseline",
        ),
        (lambda c: c["InferenceConfig"].update(FeatureTypes=["numerical"] * 4), "inferenceConfig.featureTypes"),
    ],
)
def test_clarify_semantic_checks_name_the_member(sagemaker, model, edit, member):
    config = copy.deepcopy(EXPLAINER)
    edit(config["ClarifyExplainerConfig"])
    error = client_error(
        sagemaker.create_endpoint_config,
        EndpointConfigName=unique("cfg"),
        ProductionVariants=[variant(model)],
        ExplainerConfig=config,
    )
    assert error["Code"] == "ValidationException"
    # Named as the shape checks name members (spec §1.3: lowerCamelCase, dot-joined).
    assert error["Message"].startswith("1 validation error detected: ")
    assert f"'explainerConfig.clarifyExplainerConfig.{member}' failed to satisfy constraint: " in error["Message"]


def refused_baseline(sagemaker, model: str, baseline_config: dict) -> tuple[str, dict[str, str]]:
    """CreateEndpointConfig with EXPLAINER's ShapBaselineConfig replaced, which must fail: (its name, the error)."""
    config = copy.deepcopy(EXPLAINER)
    config["ClarifyExplainerConfig"]["ShapConfig"]["ShapBaselineConfig"] = baseline_config
    name = unique("cfg")
    error = client_error(
        sagemaker.create_endpoint_config,
        EndpointConfigName=name,
        ProductionVariants=[variant(model)],
        ExplainerConfig=config,
    )
    assert error["Code"] == "ValidationException"
    return name, error


@pytest.mark.parametrize(
    ("baseline", "words"),
    [
        # CreateEndpointConfig answered 500 (RecursionError).
        pytest.param("[" * 1500 + "]" * 1500, "Baseline row 1 nests JSON deeper than 64 levels", id="nested-1500-deep"),
        # Accepted, then every deployment failed with "Internal error while deploying the endpoint (OverflowError)".
        pytest.param(
            f"[0.1,0.2,0.3,0.4]\n[0.1,1{'0' * 400},0.3,0.4]",
            "Baseline row 2, column 2: an integer of 401 digits is not a finite number as a 64-bit float",
            id="integer-past-float64",
        ),
    ],
)
def test_a_jsonlines_baseline_no_model_can_read_is_refused_naming_the_problem(sagemaker, model, baseline, words):
    name, error = refused_baseline(sagemaker, model, {"MimeType": "application/jsonlines", "ShapBaseline": baseline})
    assert (
        "'explainerConfig.clarifyExplainerConfig.shapConfig.shapBaselineConfig.shapBaseline' failed to satisfy "
        "constraint: Member must be valid baseline data (ShapBaseline cannot be parsed as application/jsonlines: "
        f"{words}"
    ) in error["Message"], error["Message"]
    assert client_error(sagemaker.describe_endpoint_config, EndpointConfigName=name)["Code"] == "ValidationException"


def test_clarify_checks_print_lists_as_aws_does(sagemaker, model):
    config = copy.deepcopy(EXPLAINER)
    config["ClarifyExplainerConfig"]["InferenceConfig"]["FeatureTypes"] = ["numerical", "categorical"] * 2
    error = client_error(
        sagemaker.create_endpoint_config,
        EndpointConfigName=unique("cfg"),
        ProductionVariants=[variant(model)],
        ExplainerConfig=config,
    )
    assert error["Message"].startswith(
        "1 validation error detected: Value '[numerical, categorical, numerical, categorical]' at "
        "'explainerConfig.clarifyExplainerConfig.inferenceConfig.featureTypes' failed to satisfy constraint: "
    )


def test_missing_model_duplicate_and_missing_config(sagemaker, model):
    error = client_error(
        sagemaker.create_endpoint_config, EndpointConfigName=unique("cfg"), ProductionVariants=[variant("No-Such")]
    )
    assert error == {"Code": "ValidationException", "Message": f'Could not find model "{ARN_PREFIX}:model/no-such".'}

    name = unique("cfg-dup")
    sagemaker.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[variant(model)])
    error = client_error(sagemaker.create_endpoint_config, EndpointConfigName=name, ProductionVariants=[variant(model)])
    assert (
        error["Message"]
        == f'Cannot create already existing endpoint configuration "{ARN_PREFIX}:endpoint-config/{name}".'
    )

    sagemaker.delete_endpoint_config(EndpointConfigName=name)
    for call in (sagemaker.describe_endpoint_config, sagemaker.delete_endpoint_config):
        error = client_error(call, EndpointConfigName=name)
        assert error == {
            "Code": "ValidationException",
            "Message": f'Could not find endpoint configuration "{ARN_PREFIX}:endpoint-config/{name}".',
        }


def test_variant_rules(sagemaker, model):
    twice = [variant(model, "v1"), variant(model, "V1")]
    error = client_error(sagemaker.create_endpoint_config, EndpointConfigName=unique("cfg"), ProductionVariants=twice)
    assert "more than once" in error["Message"]
    zero = [variant(model, "v1", InitialVariantWeight=0.0)]
    error = client_error(sagemaker.create_endpoint_config, EndpointConfigName=unique("cfg"), ProductionVariants=zero)
    assert "InitialVariantWeight" in error["Message"]


@pytest.mark.parametrize("uri", ["", "ftp://x/y", "http://h/b.csv", "two\nlines.csv"])
def test_a_baseline_uri_that_is_neither_a_url_aws_takes_nor_a_local_path_is_refused_at_once(sagemaker, model, uri):
    # AWS's Url pattern takes https:// and s3://; here a file:// URI or a local path too (docs/invocations.md). Anything
    # else is refused when the config is created, as AWS refuses it, not when an endpoint deploys it.
    _, error = refused_baseline(sagemaker, model, {"ShapBaselineUri": uri})
    assert (
        "at 'explainerConfig.clarifyExplainerConfig.shapConfig.shapBaselineConfig.shapBaselineUri' failed to "
        in (error["Message"])
    )
    assert "Member must satisfy regular expression pattern: (https|s3)://" in error["Message"]
    container = {"Image": "openclarify/xgboost", "ModelDataUrl": uri}
    error = client_error(sagemaker.create_model, ModelName=unique("url"), PrimaryContainer=container)
    assert "at 'primaryContainer.modelDataUrl' failed to satisfy constraint" in error["Message"]
