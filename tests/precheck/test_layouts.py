"""Each output layout of the spec's §6 table gets the right diagnosis, and the printed config then explains a
record end to end on a live server: the attributions add up to f(x) - f(baseline) for the score it names."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from tests.containers.layout_container import LABELS, binary, classes
from tests.precheck.conftest import csv_text, deploy, jsonl_text, levels, precheck, sample

BINARY, MULTI = "binary", "multi"

# layout → (InferenceConfig fields the pre-check must detect, model, batch answer shape)
LAYOUTS: dict[str, tuple[dict[str, Any], str, str]] = {
    "probability": ({}, BINARY, "one line per record"),
    "one-line": ({}, BINARY, "one line holding one value per record"),
    "label-probability": ({"ProbabilityIndex": 1, "LabelIndex": 0}, BINARY, "one line per record"),
    "multiclass": ({}, MULTI, "one line per record"),
    "autopilot": ({"ProbabilityIndex": 1, "LabelIndex": 0}, MULTI, "one line per record"),
    "autopilot-full": ({"ProbabilityIndex": 3, "LabelIndex": 2}, MULTI, "one line per record"),
    "jsonl-score": ({"ProbabilityAttribute": "score"}, BINARY, "one JSON line per record"),
    "jsonl-label-probability": (
        {"ProbabilityAttribute": "probability", "LabelAttribute": "predicted_label"},
        BINARY,
        "one JSON line per record",
    ),
    "jsonl-labels-probabilities": (
        {"ProbabilityAttribute": "probabilities", "LabelAttribute": "predicted_labels"},
        MULTI,
        "one JSON line per record",
    ),
}


def model(kind: str, x: np.ndarray) -> np.ndarray:
    return np.atleast_1d(binary(list(x)) if kind == BINARY else classes(list(x)))


def explain(sagemaker_runtime: Any, endpoint: str, body: str, content_type: str) -> dict[str, Any]:
    answer = sagemaker_runtime.invoke_endpoint(EndpointName=endpoint, Body=body, ContentType=content_type)
    return json.loads(answer["Body"].read())


def attribution_sums(payload: dict[str, Any]) -> np.ndarray:
    features = payload["explanations"]["kernel_shap"][0]
    return np.sum([f["attributions"][0]["attribution"] for f in features], axis=0)


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_layout_diagnosis_and_end_to_end(layout, containers, sagemaker, sagemaker_runtime):
    fields, kind, shape = LAYOUTS[layout]
    container = containers(layout)
    rows = sample()
    report = precheck(container.url, csv_text(rows))

    assert report.ok, report.findings
    assert not levels(report, "error") and not levels(report, "warn"), report.findings
    config = report.explainer_config["ClarifyExplainerConfig"]
    assert config["InferenceConfig"] == fields
    assert any(f"answer {shape}" in m for m in levels(report, "ok")), report.findings
    baseline = np.array([float(v) for v in config["ShapConfig"]["ShapBaselineConfig"]["ShapBaseline"].split(",")])
    assert np.allclose(baseline, np.median(rows, axis=0))
    assert report.estimates["n_features"] == 5 and report.estimates["n_samples"] == 30

    endpoint = deploy(sagemaker, {"Image": container.url}, report.explainer_config)
    payload = explain(sagemaker_runtime, endpoint, csv_text(rows[:1]), "text/csv")
    expected = model(kind, rows[0]) - model(kind, baseline)
    assert np.allclose(attribution_sums(payload), expected, atol=1e-9)
    if layout in ("autopilot", "autopilot-full", "jsonl-labels-probabilities"):
        assert payload["label_headers"] == LABELS


def test_jsonlines_records_with_features_attribute_get_a_content_template(containers, sagemaker, sagemaker_runtime):
    container = containers("jsonl-score")
    rows = sample()
    report = precheck(container.url, jsonl_text(rows), features_attribute="data.features")

    assert report.ok, report.findings
    inference = report.explainer_config["ClarifyExplainerConfig"]["InferenceConfig"]
    assert inference == {
        "ProbabilityAttribute": "score",
        "FeaturesAttribute": "data.features",
        "ContentTemplate": '{"data":{"features":$features}}',
    }
    baseline_config = report.explainer_config["ClarifyExplainerConfig"]["ShapConfig"]["ShapBaselineConfig"]
    assert baseline_config["MimeType"] == "application/jsonlines"
    baseline = np.array(json.loads(baseline_config["ShapBaseline"])["data"]["features"])
    assert any("ContentTemplate" in m and "same answers" in m for m in levels(report, "ok"))

    endpoint = deploy(sagemaker, {"Image": container.url}, report.explainer_config)
    payload = explain(sagemaker_runtime, endpoint, jsonl_text(rows[:1]), "application/jsonlines")
    assert np.allclose(attribution_sums(payload), model(BINARY, rows[0]) - model(BINARY, baseline), atol=1e-9)


def test_csv_records_sent_as_jsonlines_too(containers):
    """Each allowed content type is tried; the config uses the first that works."""
    container = containers("probability")
    report = precheck(container.url, csv_text(sample()), content_types=("application/jsonlines", "text/csv"))
    assert report.ok, report.findings
    assert report.content_type == "application/jsonlines"
    assert any(m.startswith("text/csv →") for m in levels(report, "ok"))
    assert any(m.startswith("application/jsonlines →") for m in levels(report, "ok"))
