"""ProbabilityIndex and LabelHeaders are checked against the model's real outputs when the endpoint deploys.

The SHAP baseline is scored then, so a config that cannot fit an in-process model fails the endpoint with a
FailureReason naming the field and the numbers, rather than going InService and failing (ProbabilityIndex) or
mislabelling (LabelHeaders) every explanation. LabelHeaders holds one name per score explained: the classes of a
multiclass model, the predicted label's name for a single score (spec §1.2; the SDK's "one for each score").
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tests.invoke.conftest import N_FEATURES, csv_body, deploy, failure_reason, shap_config

SKLEARN = "openclarify/sklearn"
XGB = "openclarify/xgboost"
INFERENCE = "ExplainerConfig.ClarifyExplainerConfig.InferenceConfig"


@pytest.fixture(scope="module")
def three_classes(model_root: Path) -> dict[str, str]:
    """A 3-class scikit-learn model: its CSV answer is three probabilities per record."""
    import skops.io
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(3)
    X = rng.normal(size=(150, N_FEATURES))
    y = np.digitize(X[:, 0] + 0.5 * X[:, 1], [-0.5, 0.5])
    path = model_root / "three-classes.skops"
    skops.io.dump(LogisticRegression().fit(X, y), path)
    return {"Image": SKLEARN, "ModelDataUrl": str(path)}


def explainer(baseline: np.ndarray, **inference) -> dict:
    return {"InferenceConfig": inference, **shap_config(baseline, NumberOfSamples=30, Seed=1)}


def test_a_probability_index_past_the_model_columns_fails_the_endpoint(sagemaker, three_classes, baseline):
    name = deploy(sagemaker, three_classes, explainer(baseline, ProbabilityIndex=5), wait=False)
    reason = failure_reason(sagemaker, name)
    assert reason.startswith("Variant AllTraffic (model ")
    assert f"{INFERENCE}.ProbabilityIndex is 5" in reason and "has 3 column(s)" in reason, reason


@pytest.mark.parametrize(
    ("inference", "explained"),
    [
        ({"LabelHeaders": ["a", "b"]}, "3 score(s) per record to explain (its CSV output)"),
        ({"ProbabilityAttribute": "score", "LabelHeaders": ["a", "b"]}, "3 score(s) per record to explain (its JSON"),
    ],
)
def test_label_headers_that_do_not_name_every_explained_score_fail_the_endpoint(
    sagemaker, three_classes, baseline, inference, explained
):
    name = deploy(sagemaker, three_classes, explainer(baseline, **inference), wait=False)
    reason = failure_reason(sagemaker, name)
    count = len(inference["LabelHeaders"])
    assert f"{INFERENCE}.LabelHeaders has {count} item(s)" in reason and explained in reason, reason


def test_a_single_probability_may_be_named_by_its_label_or_by_the_classes(
    sagemaker, sagemaker_runtime, trained, baseline, records
):
    # binary:logistic answers the positive class only: one score. Clarify's docs call its header the predicted
    # label's name, but users of binary classifiers often give both classes (["no", "yes"]) and SageMaker deploys
    # that, so a drop-in server does too, and echoes them.
    container = {"Image": XGB, "ModelDataUrl": str(trained[XGB].path)}
    name = deploy(sagemaker, container, explainer(baseline, LabelHeaders=["no", "yes"]))
    response = sagemaker_runtime.invoke_endpoint(EndpointName=name, Body=csv_body(records[:1]), ContentType="text/csv")
    body = json.loads(response["Body"].read())
    assert body["label_headers"] == ["no", "yes"]
    assert len(body["explanations"]["kernel_shap"][0][0]["attributions"][0]["attribution"]) == 1


@pytest.mark.parametrize(
    ("inference", "accept", "labels", "width"),
    [
        ({"LabelHeaders": ["a", "b", "c"]}, "text/csv", ["a", "b", "c"], 3),
        ({"ProbabilityIndex": 2, "LabelHeaders": ["c"]}, "text/csv", ["c"], 1),
        (
            {"ProbabilityAttribute": "score", "LabelHeaders": ["a", "b", "c"]},
            "application/jsonlines",
            ["a", "b", "c"],
            3,
        ),
    ],
)
def test_fields_that_fit_the_model_deploy_and_label_every_attribution(
    sagemaker, sagemaker_runtime, three_classes, baseline, records, inference, accept, labels, width
):
    name = deploy(sagemaker, three_classes, explainer(baseline, **inference))
    response = sagemaker_runtime.invoke_endpoint(
        EndpointName=name, Body=csv_body(records[:2]), ContentType="text/csv", Accept=accept
    )
    body = json.loads(response["Body"].read())
    assert body["label_headers"] == labels
    for explanation in body["explanations"]["kernel_shap"]:
        assert {len(feature["attributions"][0]["attribution"]) for feature in explanation} == {width}


@pytest.mark.parametrize(("headers", "fits"), [(["a", "b"], False), (["a", "b", "c"], True)])
def test_a_containers_scores_are_checked_against_label_headers_when_it_answers(
    sagemaker, sagemaker_runtime, container, baseline, records, headers, fits
):
    # A container may answer other layouts for other Accept types or CustomAttributes than at deployment, so its
    # scores are counted at the invocation: here three class probabilities (the test container's classes=3).
    inference = {"LabelHeaders": headers, "ProbabilityAttribute": "probabilities"}
    name = deploy(sagemaker, {"Image": container.url}, explainer(baseline, **inference))
    invoke = {
        "EndpointName": name,
        "Body": csv_body(records[:1]),
        "ContentType": "text/csv",
        "CustomAttributes": "classes=3",
        "Accept": "application/jsonlines",
    }
    if fits:
        body = json.loads(sagemaker_runtime.invoke_endpoint(**invoke)["Body"].read())
        assert body["label_headers"] == headers
        assert len(body["explanations"]["kernel_shap"][0][0]["attributions"][0]["attribution"]) == 3
        return
    with pytest.raises(sagemaker_runtime.exceptions.ModelError) as caught:
        sagemaker_runtime.invoke_endpoint(**invoke)
    message = caught.value.response["Error"]["Message"]
    assert "InferenceConfig.LabelHeaders has 2 item(s), but the model gave 3 scores per record" in message, message
