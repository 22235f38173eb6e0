"""validate_explainer_config (spec §1.3 semantic checks) and parse_explainer_config defaults."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from openclarify.clarify.config import (
    BaselineConfig,
    ClarifyConfig,
    InferenceConfig,
    ShapConfig,
    TextConfig,
    parse_explainer_config,
    validate_explainer_config,
)
from openclarify.errors import ValidationException

BASELINE = "ExplainerConfig.ClarifyExplainerConfig.ShapConfig.ShapBaselineConfig"
INFERENCE = "ExplainerConfig.ClarifyExplainerConfig.InferenceConfig"


def config(**changes: Any) -> dict[str, Any]:
    """A valid tabular config; ``changes`` maps dotted paths under ClarifyExplainerConfig to values (None deletes)."""
    base: dict[str, Any] = {
        "ClarifyExplainerConfig": {
            "InferenceConfig": {"FeatureHeaders": ["a", "b", "c"]},
            "ShapConfig": {"ShapBaselineConfig": {"ShapBaseline": "1,2,3\n4,5,6"}},
        }
    }
    result = copy.deepcopy(base)
    for path, value in changes.items():
        node = result["ClarifyExplainerConfig"]
        *parents, leaf = path.split(".")
        for parent in parents:
            node = node.setdefault(parent, {})
        if value is None:
            node.pop(leaf, None)
        else:
            node[leaf] = value
    return result


def rejected(explainer_config: dict[str, Any]) -> ValidationException:
    with pytest.raises(ValidationException) as info:
        validate_explainer_config(explainer_config)
    return info.value


def test_valid_configs_pass():
    validate_explainer_config(config())
    validate_explainer_config({})  # ExplainerConfig without ClarifyExplainerConfig: nothing to check
    validate_explainer_config(
        config(
            EnableExplanations="!contains(probabilities[:-1], max(probabilities))",
            **{
                "InferenceConfig.FeaturesAttribute": "data.features",
                "InferenceConfig.ContentTemplate": '{"data":{"features":$features}}',
                "InferenceConfig.ProbabilityAttribute": "probability",
                "InferenceConfig.LabelAttribute": "labels",
                "ShapConfig.ShapBaselineConfig.MimeType": "application/jsonlines",
                "ShapConfig.ShapBaselineConfig.ShapBaseline": '{"data":{"features":[1,2,3]}}',
            },
        )
    )


@pytest.mark.parametrize(
    ("baseline", "says"),
    [({}, "neither was given"), ({"ShapBaseline": "1,2,3", "ShapBaselineUri": "s3://b/k.csv"}, "both were given")],
)
def test_exactly_one_baseline_source(baseline, says):
    error = rejected(config(**{"ShapConfig.ShapBaselineConfig": baseline}))
    assert error.details["member"] == BASELINE
    assert "'explainerConfig.clarifyExplainerConfig.shapConfig.shapBaselineConfig'" in error.message  # AWS's spelling
    assert "Exactly one of ShapBaseline and ShapBaselineUri" in error.message
    assert says in error.message


def test_uri_baseline_is_not_read_here():
    validate_explainer_config(config(**{"ShapConfig.ShapBaselineConfig": {"ShapBaselineUri": "s3://bucket/base.csv"}}))


def test_mime_type_must_be_csv_or_jsonlines():
    error = rejected(config(**{"ShapConfig.ShapBaselineConfig.MimeType": "application/json"}))
    assert error.details["member"] == f"{BASELINE}.MimeType"
    assert "Value 'application/json'" in error.message
    assert "[text/csv, application/jsonlines]" in error.message


@pytest.mark.parametrize(
    ("path", "member"),
    [
        ("EnableExplanations", "ExplainerConfig.ClarifyExplainerConfig.EnableExplanations"),
        ("InferenceConfig.FeaturesAttribute", f"{INFERENCE}.FeaturesAttribute"),
        ("InferenceConfig.ProbabilityAttribute", f"{INFERENCE}.ProbabilityAttribute"),
        ("InferenceConfig.LabelAttribute", f"{INFERENCE}.LabelAttribute"),
    ],
)
def test_jmespath_members_must_compile(path, member):
    error = rejected(config(**{path: "[0>`0.5`"}))
    assert error.details["member"] == member
    assert "Member must be a valid JMESPath expression" in error.message
    assert "\n" not in error.message


def test_content_template_needs_features_placeholder():
    error = rejected(config(**{"InferenceConfig.ContentTemplate": '{"myfeatures":$feature}'}))
    assert error.details["member"] == f"{INFERENCE}.ContentTemplate"
    assert "$features" in error.message


def test_content_template_must_give_one_json_line():
    error = rejected(config(**{"InferenceConfig.ContentTemplate": '{"myfeatures":$features'}))
    assert "valid JSON" in error.message


def test_feature_types_need_a_text_item_and_text_config():
    error = rejected(config(**{"InferenceConfig.FeatureTypes": ["numerical", "numerical", "categorical"]}))
    assert error.details["member"] == f"{INFERENCE}.FeatureTypes"
    assert "at least one 'text'" in error.message
    error = rejected(config(**{"InferenceConfig.FeatureTypes": ["text", "numerical", "numerical"]}))
    assert error.details["member"] == "ExplainerConfig.ClarifyExplainerConfig.ShapConfig.TextConfig"


def test_feature_types_and_headers_agree_in_length():
    error = rejected(
        config(
            **{
                "InferenceConfig.FeatureTypes": ["text", "numerical"],
                "ShapConfig.TextConfig": {"Language": "en", "Granularity": "token"},
            }
        )
    )
    assert "FeatureTypes has 2 items but FeatureHeaders has 3" in error.message


def test_feature_headers_match_baseline_width():
    error = rejected(config(**{"InferenceConfig.FeatureHeaders": ["a", "b"]}))
    assert error.details["member"] == f"{INFERENCE}.FeatureHeaders"
    assert "FeatureHeaders has 2 items but the ShapBaseline rows have 3 features" in error.message


@pytest.mark.parametrize(
    ("baseline", "mime", "says"),
    [
        ("1,2,3\n4,5", None, "baseline row 2 has 2 features but row 1 has 3"),
        ('1,"2,3', None, "cannot be parsed as text/csv"),
        ("\n\n", None, "it holds no rows"),
        ("[1,2,3]\n{bad", "application/jsonlines", "Baseline row 2 is not valid JSON"),
        ('{"x":1}', "application/jsonlines", "Baseline row 1 has no feature list"),
    ],
)
def test_inline_baseline_must_parse(baseline, mime, says):
    changes: dict[str, Any] = {"ShapConfig.ShapBaselineConfig.ShapBaseline": baseline, "InferenceConfig": {}}
    if mime:
        changes["ShapConfig.ShapBaselineConfig.MimeType"] = mime
    error = rejected(config(**changes))
    assert error.details["member"] == f"{BASELINE}.ShapBaseline"
    assert says in error.message


def test_messages_are_worded_as_the_shape_checks_and_aws_word_theirs():
    """lowerCamelCase member paths, Java-style values and the "N validation error(s) detected:" prefix (spec §1.3)."""
    error = rejected(config(**{"InferenceConfig.FeatureTypes": ["numerical", "numerical", "categorical"]}))
    assert error.message.startswith(
        "1 validation error detected: Value '[numerical, numerical, categorical]' at "
        "'explainerConfig.clarifyExplainerConfig.inferenceConfig.featureTypes' failed to satisfy constraint: "
    )
    for mime, baseline in (("application/jsonlines", "[1,2,3]\n{bad"), ("text/csv", '1,"2,3')):
        changes = {
            "ShapConfig.ShapBaselineConfig.MimeType": mime,
            "ShapConfig.ShapBaselineConfig.ShapBaseline": baseline,
        }
        error = rejected(config(**changes))
        assert error.message.startswith(
            "1 validation error detected: 'explainerConfig.clarifyExplainerConfig.shapConfig.shapBaselineConfig."
            f"shapBaseline' failed to satisfy constraint: Member must be valid baseline data (ShapBaseline cannot be "
            f"parsed as {mime}: "
        )
    error = rejected(config(**{"InferenceConfig.ContentTemplate": "{'f':$features}"}))
    assert "Value '{'f':$features}' at 'explainerConfig.clarifyExplainerConfig.inferenceConfig.contentTemplate'" in (
        error.message
    )


def test_jsonlines_baseline_uses_features_attribute():
    validate_explainer_config(
        config(
            **{
                "InferenceConfig.FeaturesAttribute": "features",
                "ShapConfig.ShapBaselineConfig.MimeType": "application/jsonlines",
                "ShapConfig.ShapBaselineConfig.ShapBaseline": '{"features":[1,2,3]}\n{"features":[0,0,0]}\n',
            }
        )
    )


def test_parse_fills_clarify_defaults():
    parsed = parse_explainer_config(
        {"ClarifyExplainerConfig": {"ShapConfig": {"ShapBaselineConfig": {"ShapBaseline": "0,0,0,0"}}}}
    )
    assert parsed == ClarifyConfig(
        shap=ShapConfig(baseline=BaselineConfig(mime_type="text/csv", inline="0,0,0,0")),
        inference=InferenceConfig(max_payload_in_mb=6),
        enable_explanations="`true`",
    )
    assert parsed.shap.number_of_samples is None
    assert parsed.shap.use_logit is False
    assert parsed.shap.seed is None
    assert not parsed.nlp


def test_parse_reads_every_member():
    submitted = {
        "ClarifyExplainerConfig": {
            "EnableExplanations": "[0]>`0.95`",
            "InferenceConfig": {
                "FeaturesAttribute": "features",
                "ContentTemplate": '{"features":$features}',
                "MaxRecordCount": 100,
                "MaxPayloadInMB": 2,
                "ProbabilityIndex": 1,
                "LabelIndex": 0,
                "ProbabilityAttribute": "probability",
                "LabelAttribute": "labels",
                "LabelHeaders": ["no", "yes"],
                "FeatureHeaders": ["review"],
                "FeatureTypes": ["text"],
            },
            "ShapConfig": {
                "ShapBaselineConfig": {"MimeType": "application/jsonlines", "ShapBaselineUri": "s3://b/k"},
                "NumberOfSamples": 100,
                "UseLogit": True,
                "Seed": 7,
                "TextConfig": {"Language": "en", "Granularity": "sentence"},
            },
        }
    }
    before = copy.deepcopy(submitted)
    parsed = parse_explainer_config(submitted)
    assert submitted == before  # echoed verbatim by Describe*, so never mutated
    assert parsed is not None
    assert parsed.enable_explanations == "[0]>`0.95`"
    assert parsed.inference.label_headers == ("no", "yes")
    assert parsed.inference.feature_types == ("text",)
    assert parsed.inference.max_record_count == 100
    assert parsed.inference.max_payload_in_mb == 2
    assert parsed.shap == ShapConfig(
        baseline=BaselineConfig(mime_type="application/jsonlines", uri="s3://b/k"),
        number_of_samples=100,
        use_logit=True,
        seed=7,
        text=TextConfig(language="en", granularity="sentence"),
    )
    assert parsed.nlp


def test_parse_without_clarify_config_is_none():
    assert parse_explainer_config({}) is None
