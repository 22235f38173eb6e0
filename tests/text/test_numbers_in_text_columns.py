"""A text cell that spells a number ("10", quoted or not; 5 in JSON Lines) is still text when the endpoint's
FeatureTypes say its column is text: the in-process model gets it as a string, in the prediction as in the
synthetic records. Before, the prediction's own decoding made it a float, and a TfidfVectorizer failed on it with an
AttributeError that became InternalFailure (500)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tests.text.conftest import brute_force_shapley, deploy, invoke, masked, text_explainer, units_of

SKLEARN = "openclarify/sklearn"


@pytest.fixture(scope="module")
def mixed_endpoint(sagemaker, text_models) -> str:
    container = {"Image": SKLEARN, "ModelDataUrl": str(text_models["mixed"].path)}
    return deploy(sagemaker, container, text_explainer("<UNK>,3", "token", feature_types=["text", "numerical"]))


@pytest.mark.parametrize("cell", ['"10"', "10"])
def test_a_number_in_a_text_column_is_explained_as_text(sagemaker_runtime, mixed_endpoint, text_models, cell):
    _, body = invoke(sagemaker_runtime, mixed_endpoint, f"{cell},5", ContentType="text/csv")
    predict = text_models["mixed"].predict
    assert float(body["predictions"]["data"]) == pytest.approx(float(predict([("10", 5)])[0]), abs=1e-12)
    review, stars = body["explanations"]["kernel_shap"][0]
    assert review["feature_type"] == "text" and units_of(review) == [("10", 0)]

    def value(keep: tuple[bool, ...]) -> float:
        return float(predict([(masked("10", [("10", 0)], keep[:1], "<UNK>"), 5 if keep[1] else 3)])[0])

    got = [review["attributions"][0]["attribution"][0], stars["attributions"][0]["attribution"][0]]
    np.testing.assert_allclose(got, brute_force_shapley(value, 2), atol=1e-9)


def test_unexplained_records_are_predicted_with_their_text_as_text(sagemaker_runtime, mixed_endpoint, text_models):
    raw, body = invoke(
        sagemaker_runtime,
        mixed_endpoint,
        '10,5\n"great product",4',
        extended=False,
        ContentType="text/csv",
        EnableExplanations="`false`",
    )
    predictions = [float(line) for line in body["predictions"]["data"].splitlines()]
    expected = text_models["mixed"].predict([("10", 5), ("great product", 4)])
    np.testing.assert_allclose(predictions, expected, atol=1e-12)
    assert body["explanations"] == {}, raw


def test_a_json_number_in_a_text_column_is_text(sagemaker_runtime, mixed_endpoint, text_models):
    # The built-in runtime answers {"score": ...} lines to JSON Lines, which this CSV-minded config does not read:
    # the prediction alone is the point (it failed before explanations were reached).
    _, body = invoke(
        sagemaker_runtime,
        mixed_endpoint,
        json.dumps([5, 5]),
        ContentType="application/jsonlines",
        EnableExplanations="`false`",
    )
    (line,) = body["predictions"]["data"].splitlines()
    score = json.loads(line)["score"]
    assert score == pytest.approx(float(text_models["mixed"].predict([("5", 5)])[0]), abs=1e-12)
