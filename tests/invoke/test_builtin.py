"""InvokeEndpoint with Clarify explanations on the in-process runtimes, through boto3's sagemaker-runtime client."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tests.invoke.conftest import csv_body, deploy, shap_config
from tests.kernelshap.oracle import shapley_values

IMAGES = ["openclarify/xgboost", "openclarify/lightgbm", "openclarify/sklearn", "openclarify/onnx"]


def invoke(runtime, name: str, body: str, **kwargs) -> tuple[dict, dict]:
    response = runtime.invoke_endpoint(EndpointName=name, Body=body, **kwargs)
    raw = response["Body"].read()
    return response, json.loads(raw) if response["ContentType"] == "application/json" else {"raw": raw}


@pytest.mark.parametrize("image", IMAGES)
def test_explanations_equal_exact_shapley_values(sagemaker, sagemaker_runtime, trained, records, baseline, image):
    model = trained[image]
    name = deploy(
        sagemaker,
        {"Image": image, "ModelDataUrl": str(model.path)},
        shap_config(baseline),
    )
    response, body = invoke(sagemaker_runtime, name, csv_body(records), ContentType="text/csv", Accept="text/csv")

    assert response["ContentType"] == "application/json"
    assert response["InvokedProductionVariant"] == "AllTraffic"
    assert list(body) == ["version", "predictions", "explanations"]
    assert body["version"] == "1.0"
    assert body["predictions"]["content_type"] == "text/csv"
    scores = [float(line) for line in body["predictions"]["data"].splitlines()]
    np.testing.assert_allclose(scores, model.predict(records), atol=model.tolerance)

    kernel_shap = body["explanations"]["kernel_shap"]
    assert len(kernel_shap) == len(records)
    expected_value = model.predict(baseline).mean()
    for x, fx, explanation in zip(records, scores, kernel_shap, strict=True):
        # One object per feature, one attribution per output; no feature_header without FeatureHeaders.
        assert [list(feature) for feature in explanation] == [["attributions"]] * len(x)
        phi = np.array([feature["attributions"][0]["attribution"] for feature in explanation])
        assert phi.shape == (len(x), 1)
        # M = 5 is inside the default budget: every coalition is evaluated, so the values are exact.
        np.testing.assert_allclose(phi, shapley_values(model.predict, x, baseline), atol=10 * model.tolerance)
        assert phi.sum() == pytest.approx(fx - expected_value, abs=10 * model.tolerance)


def test_xgboost_scores_single_precision_rows_as_it_scores_double(trained, records, baseline):
    """The XGBoost runtime lets the explainer hand it float32 rows (``input_dtype``): XGBoost keeps feature values in
    single precision, so the scores are bitwise those of the float64 rows."""
    xgboost = pytest.importorskip("xgboost")
    from openclarify.runtimes.xgboost import XGBoostRuntime

    assert XGBoostRuntime.input_dtype == np.float32
    booster = xgboost.Booster()
    booster.load_model(str(trained["openclarify/xgboost"].path))
    rng = np.random.default_rng(0)
    masks = rng.random((500, records.shape[1])) < 0.5
    rows = np.where(masks[:, None, :], records[0], baseline[None, :, :]).reshape(-1, records.shape[1])
    assert np.array_equal(booster.inplace_predict(rows), booster.inplace_predict(rows.astype(np.float32)))


def test_sklearn_tree_ensembles_score_single_precision_rows_as_they_score_double(trained, records, baseline, tmp_path):
    """scikit-learn's tree ensembles convert their input to float32, so the runtime declares it (``input_dtype``) and
    gets float32 rows from the explainer; the scores are bitwise those of the float64 rows. A model that computes in
    double precision keeps float64."""
    pytest.importorskip("skops")
    from sklearn.linear_model import LinearRegression
    from skops.io import dump

    from openclarify.runtimes.base import RuntimeSpec
    from openclarify.runtimes.sklearn import SklearnRuntime

    def loaded(path):
        runtime = SklearnRuntime(RuntimeSpec(image="openclarify/sklearn", model_path=path))
        runtime.load()
        return runtime

    runtime = loaded(trained["openclarify/sklearn"].path)
    assert runtime.input_dtype == np.float32
    rng = np.random.default_rng(0)
    masks = rng.random((500, records.shape[1])) < 0.5
    rows = np.where(masks[:, None, :], records[0], baseline[None, :, :]).reshape(-1, records.shape[1])
    assert np.array_equal(runtime.predict(rows), runtime.predict(rows.astype(np.float32)))

    dump(LinearRegression().fit(rows, rows @ np.arange(rows.shape[1])), tmp_path / "model.skops")
    assert loaded(tmp_path / "model.skops").input_dtype == np.float64
