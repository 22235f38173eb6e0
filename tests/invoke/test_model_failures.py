"""An exception raised inside an in-process model's own code is the model's failure, answered as its framework
container would (a 500 from the container, which SageMaker wraps as ModelError, HTTP 424), never the server's
InternalFailure. Before, anything but a ValueError escaped the runtime and became a 500."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from botocore.exceptions import ClientError
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
