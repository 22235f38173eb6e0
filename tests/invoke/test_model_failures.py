"""An exception raised inside an in-process model's own code is the model's failure, answered as its framework
container would (a 500 from the container, which SageMaker wraps as ModelError, HTTP 424), never the server's
InternalFailure. Before, anything but a ValueError escaped the runtime and became a 500. Likewise an answer of a
remote container that cannot be read (numbers past float64, nesting too deep to parse) is a ModelError."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from botocore.exceptions import ClientError
from tests.faults.conftest import FaultContainer
from tests.invoke.conftest import deploy, failure_reason, shap_config

TEXTS = ["great product, love it", "awful, it broke", "very nice quality", "terrible fit, returned it"]
STARS = [5.0, 1.0, 4.0, 2.0]


@pytest.fixture(scope="module")
def text_and_stars_model(model_root: Path) -> Path:
    """A text column through a TfidfVectorizer and a numeric one passed through: it needs the text as ``str``."""
    import skops.io
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    X = np.empty((len(TEXTS), 2), dtype=object)
    X[:, 0], X[:, 1] = TEXTS, STARS
    model = make_pipeline(
        ColumnTransformer([("text", TfidfVectorizer(), 0), ("stars", "passthrough", [1])]), LogisticRegression()
    )
    model.fit(X, [1, 0, 1, 0])
    folder = model_root / "failures"
    folder.mkdir()
    skops.io.dump(model, folder / "mixed.skops")
    return folder / "mixed.skops"


def test_an_exception_in_the_model_is_a_model_error(sagemaker, sagemaker_runtime, text_and_stars_model):
    name = deploy(sagemaker, {"Image": "openclarify/sklearn", "ModelDataUrl": str(text_and_stars_model)})
    # Without an explainer there are no FeatureTypes: "10" reads as a number, and the vectorizer cannot take one.
    with pytest.raises(ClientError) as info:
        sagemaker_runtime.invoke_endpoint(EndpointName=name, Body=b'"10",5', ContentType="text/csv")
    error = info.value.response
    assert error["Error"]["Code"] == "ModelError"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert error["OriginalStatusCode"] == 500
    assert "AttributeError" in error["OriginalMessage"] and "lower" in error["OriginalMessage"]
    # The endpoint keeps serving.
    answer = sagemaker_runtime.invoke_endpoint(EndpointName=name, Body=b'"great",5', ContentType="text/csv")
    assert 0.0 < float(answer["Body"].read()) < 1.0


def test_a_model_failing_on_the_baseline_fails_the_deployment_with_its_words(sagemaker, text_and_stars_model):
    # A tabular explainer: the baseline is a float matrix, which the vectorizer cannot take.
    container = {"Image": "openclarify/sklearn", "ModelDataUrl": str(text_and_stars_model)}
    name = deploy(sagemaker, container, shap_config("1,3"), wait=False)
    reason = failure_reason(sagemaker, name)
    assert "cannot score the SHAP baseline" in reason and "AttributeError" in reason, reason


@pytest.fixture(scope="module")
def unreadable_answers(sagemaker):
    """An explained endpoint on tests/containers/fault_container.py, whose answers go wrong on request."""
    container = FaultContainer().start()
    explainer = {
        "InferenceConfig": {"ProbabilityAttribute": "score"},  # its JSON Lines answers; CSV ones are read by column
        **shap_config("0.1,0.2,0.3\n-0.5,0.4,0.0", Seed=1),
    }
    yield deploy(sagemaker, {"Image": container.url}, explainer)
    container.stop()


@pytest.mark.parametrize(
    ("attributes", "accept", "message"),
    [
        pytest.param(
            "fault=bigint",
            "text/csv",
            "Record 1: the model's score holds an integer of 400 digits, which is not a finite number as a 64-bit",
            id="csv-integer-past-float64",
        ),
        pytest.param(
            "fault=bigint",
            "application/jsonlines",
            "Record 1: the model's score holds an integer of 400 digits",
            id="jsonlines-integer-past-float64",
        ),
        # More digits than Python's int() reads: the float it spells is inf, which is no score to explain.
        pytest.param(
            "fault=bigint;digits=5001",
            "text/csv",
            "The model returned NaN or infinite scores",
            id="csv-integer-of-5001-digits",
        ),
        pytest.param(
            "fault=deep",
            "application/jsonlines",
            "Line 1 of the model's JSON Lines output nests JSON deeper than 64 levels.",
            id="jsonlines-5000-deep",
        ),
        pytest.param(
            "fault=deep;depth=3000",
            "text/csv",
            "A cell of the model's CSV output nests JSON deeper than 64 levels.",
            id="csv-cell-3000-deep",
        ),
    ],
)
def test_a_container_answer_that_cannot_be_read_is_a_model_error(
    sagemaker_runtime, unreadable_answers, attributes, accept, message
):
    """Each was a 500 (OverflowError, ValueError from int(), RecursionError) with a traceback in the log."""
    with pytest.raises(ClientError) as info:
        sagemaker_runtime.invoke_endpoint(
            EndpointName=unreadable_answers,
            Body=b"1.0,2.0,3.0\n0.5,-1.0,0.25",
            ContentType="text/csv",
            Accept=accept,
            CustomAttributes=attributes,
        )
    error = info.value.response
    assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == ("ModelError", 424)
    assert message in error["Error"]["Message"], error["Error"]["Message"]
    # The endpoint keeps serving.
    answer = sagemaker_runtime.invoke_endpoint(
        EndpointName=unreadable_answers, Body=b"1.0,2.0,3.0", ContentType="text/csv", Accept=accept
    )
    assert len(json.loads(answer["Body"].read())["explanations"]["kernel_shap"]) == 1
