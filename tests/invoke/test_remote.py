"""Explanations through a remote model container (tests/containers/model_container.py), which logs every request.

The log proves what the server sent: batch sizes against MaxRecordCount and MaxPayloadInMB, the synthetic row counts
against Clarify's formula (baseline size × n_samples), and the request format of synthetic records.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from tests.invoke.conftest import N_FEATURES, csv_body, deploy, shap_config
from tests.kernelshap.oracle import shapley_values

EXACT_SAMPLES = 2**N_FEATURES - 2  # M = 5 is inside the default budget: every coalition


def read(response) -> dict:
    assert response["ContentType"] == "application/json"
    return json.loads(response["Body"].read())


def attributions(explanation: list[dict]) -> np.ndarray:
    return np.array([feature["attributions"][0]["attribution"] for feature in explanation])


def test_csv_batches_respect_max_record_count_and_row_counts_follow_the_formula(
    sagemaker, sagemaker_runtime, container, trained, records, baseline
):
    model = trained["openclarify/xgboost"]
    explainer = {"InferenceConfig": {"MaxRecordCount": 25}, **shap_config(baseline)}
    name = deploy(sagemaker, {"Image": container.url}, explainer)
    container.mark()
    body = read(
        sagemaker_runtime.invoke_endpoint(
            EndpointName=name, Body=csv_body(records[:3]), ContentType="text/csv", Accept="text/csv"
        )
    )
    batches = container.batches()
    # First the request itself, unchanged; then the baseline, once for this Accept (deployment predicted it with
    # Accept absent); then the synthetic records, never more than 25 per request.
    assert batches[0]["records"] == 3 and batches[0]["content_type"] == "text/csv"
    assert batches[1]["records"] == len(baseline) and batches[1]["first_line"] == csv_body(baseline[:1])
    synthetic = batches[2:]
    assert all(b["records"] <= 25 and b["status"] == 200 for b in synthetic)
    assert sum(b["records"] for b in synthetic) == 3 * len(baseline) * EXACT_SAMPLES
    assert all(b["content_type"] == "text/csv" and b["accept"] == "text/csv" for b in synthetic)

    scores = [float(v) for v in body["predictions"]["data"].splitlines()]
    assert body["predictions"]["content_type"] == "text/csv; charset=utf-8"
    expected_value = model.predict(baseline).mean()
    for x, fx, explanation in zip(records[:3], scores, body["explanations"]["kernel_shap"], strict=True):
        phi = attributions(explanation)
        np.testing.assert_allclose(phi, shapley_values(model.predict, x, baseline), atol=1e-9)
        assert phi.sum() == pytest.approx(fx - expected_value, abs=1e-12)

    # The baseline's predictions for this format are cached now: the next request sends only its own rows.
    container.mark()
    sagemaker_runtime.invoke_endpoint(
        EndpointName=name, Body=csv_body(records[:1]), ContentType="text/csv", Accept="text/csv"
    )
    assert sum(b["records"] for b in container.batches()) == 1 + len(baseline) * EXACT_SAMPLES


def test_batches_respect_max_payload_in_mb(sagemaker, sagemaker_runtime, container, model_root, records):
    # 700 long baseline rows × 30 coalitions ≈ 2 MB of synthetic CSV: it must go out in pieces of at most 1 MiB.
    rng = np.random.default_rng(3)
    rows = rng.normal(size=(700, N_FEATURES)) + 1e-9
    path = model_root / "big-baseline.csv"
    path.write_text(csv_body(rows) + "\n")
    explainer = {
        "InferenceConfig": {"MaxPayloadInMB": 1},
        "ShapConfig": {"ShapBaselineConfig": {"ShapBaselineUri": path.as_uri()}},
    }
    name = deploy(sagemaker, {"Image": container.url}, explainer)
    container.mark()
    body = read(
        sagemaker_runtime.invoke_endpoint(EndpointName=name, Body=csv_body(records[:1]), ContentType="text/csv")
    )
    synthetic = container.batches()[1:]
    assert len(synthetic) >= 2
    assert all(b["bytes"] <= 1024 * 1024 for b in synthetic)
    assert sum(b["records"] for b in synthetic) == 700 * EXACT_SAMPLES
    assert len(body["explanations"]["kernel_shap"][0]) == N_FEATURES


def test_jsonlines_both_ways_with_template_and_per_record_gating(
    sagemaker, sagemaker_runtime, container, trained, records, baseline
):
    model = trained["openclarify/xgboost"]
    explainer = {
        "EnableExplanations": "probability>`0.5`",
        "InferenceConfig": {
            "FeaturesAttribute": "data.features",
            "ContentTemplate": '{"data":{"features":$features}}',
            "ProbabilityAttribute": "probability",
            "MaxRecordCount": 40,
        },
        "ShapConfig": {
            "ShapBaselineConfig": {
                "MimeType": "application/jsonlines",
                "ShapBaseline": "\n".join(json.dumps({"data": {"features": list(row)}}) for row in baseline),
            }
        },
    }
    name = deploy(sagemaker, {"Image": container.url}, explainer)
    body_lines = "\n".join(json.dumps({"data": {"features": list(row)}, "id": i}) for i, row in enumerate(records))
    container.mark()
    body = read(
        sagemaker_runtime.invoke_endpoint(
            EndpointName=name, Body=body_lines, ContentType="application/jsonlines", Accept="application/jsonlines"
        )
    )
    probabilities = model.predict(records)
    chosen = probabilities > 0.5
    assert 0 < chosen.sum() < len(records)  # the gate must actually split this batch

    assert body["predictions"]["content_type"] == "application/jsonlines"
    outputs = [json.loads(line) for line in body["predictions"]["data"].splitlines()]
    np.testing.assert_allclose([o["probability"] for o in outputs], probabilities, atol=1e-9)
    kernel_shap = body["explanations"]["kernel_shap"]
    assert [e is not None for e in kernel_shap] == chosen.tolist()

    batches = container.batches()
    assert batches[1]["records"] == len(baseline)  # the baseline, predicted once for this Accept
    synthetic = batches[2:]
    assert all(b["content_type"] == "application/jsonlines" and b["records"] <= 40 for b in synthetic)
    assert synthetic[0]["first_line"].startswith('{"data":{"features":[')
    assert sum(b["records"] for b in synthetic) == chosen.sum() * len(baseline) * EXACT_SAMPLES
    for x, explanation in zip(records[chosen], [e for e in kernel_shap if e is not None], strict=True):
        np.testing.assert_allclose(attributions(explanation), shapley_values(model.predict, x, baseline), atol=1e-9)


@pytest.mark.parametrize(
    ("content_type", "accept", "extra"),
    [
        ("text/csv", "application/jsonlines", {"ProbabilityAttribute": "probability"}),
        ("application/jsonlines", "text/csv", {"ContentTemplate": "$features"}),
    ],
)
def test_mixed_formats(sagemaker, sagemaker_runtime, container, records, baseline, content_type, accept, extra):
    name = deploy(sagemaker, {"Image": container.url}, {"InferenceConfig": extra, **shap_config(baseline)})
    if content_type == "text/csv":
        payload = csv_body(records[:2])
    else:
        payload = "\n".join(json.dumps(list(row)) for row in records[:2])
    container.mark()
    body = read(
        sagemaker_runtime.invoke_endpoint(EndpointName=name, Body=payload, ContentType=content_type, Accept=accept)
    )
    synthetic = container.batches()[1:]
    assert {b["content_type"] for b in synthetic} == {content_type}
    assert {b["accept"] for b in synthetic} == {accept}
    assert len(body["explanations"]["kernel_shap"]) == 2


def test_a_batch_the_container_rejects_as_too_large_is_split(sagemaker, sagemaker_runtime, small_container, baseline):
    # No MaxRecordCount: the server sends everything at once; the container takes at most 7 records (413 above).
    name = deploy(sagemaker, {"Image": small_container.url}, shap_config(baseline))
    record = np.array([[0.9, -1.2, 0.3, 0.8, -0.5]])
    small_container.mark()
    body = read(sagemaker_runtime.invoke_endpoint(EndpointName=name, Body=csv_body(record), ContentType="text/csv"))
    log = small_container.batches()
    accepted = [b for b in log[1:] if b["status"] == 200]
    assert any(b["status"] == 413 for b in log)
    assert all(b["records"] <= 7 for b in accepted)
    assert sum(b["records"] for b in accepted) == len(baseline) * EXACT_SAMPLES
    assert len(body["explanations"]["kernel_shap"][0]) == N_FEATURES


def test_sampled_budget_row_count_and_seed(sagemaker, sagemaker_runtime, container, records, baseline):
    explainer = shap_config(baseline, NumberOfSamples=12, Seed=5)
    name = deploy(sagemaker, {"Image": container.url}, explainer)
    container.mark()
    first = sagemaker_runtime.invoke_endpoint(EndpointName=name, Body=csv_body(records[:1]), ContentType="text/csv")
    first_bytes = first["Body"].read()
    assert sum(b["records"] for b in container.batches()[1:]) == len(baseline) * 12
    again = sagemaker_runtime.invoke_endpoint(EndpointName=name, Body=csv_body(records[:1]), ContentType="text/csv")
    assert again["Body"].read() == first_bytes  # the same Seed gives the same bytes
    body = json.loads(first_bytes)
    phi = attributions(body["explanations"]["kernel_shap"][0])
    fx = float(body["predictions"]["data"])
    expected = trained_expected_value(container, baseline)
    assert phi.sum() == pytest.approx(fx - expected, abs=1e-12)  # additivity holds in the sampled regime too


def trained_expected_value(container, baseline) -> float:
    import xgboost

    booster = xgboost.Booster()
    booster.load_model(str(container_model_path(container)))
    return float(booster.predict(xgboost.DMatrix(baseline)).astype(np.float64).mean())


def container_model_path(container):
    args = container.process.args
    return args[args.index("--model") + 1]


def test_custom_attributes_reach_the_model_and_come_back(sagemaker, sagemaker_runtime, container, records, baseline):
    name = deploy(sagemaker, {"Image": container.url}, shap_config(baseline))
    container.mark()
    response = sagemaker_runtime.invoke_endpoint(
        EndpointName=name, Body=csv_body(records[:1]), ContentType="text/csv", CustomAttributes="trace=abc"
    )
    assert response["CustomAttributes"] == "trace=abc"
    assert {b["custom_attributes"] for b in container.batches()} == {"trace=abc"}


def test_no_accept_from_the_client_means_none_to_the_container(
    sagemaker, sagemaker_runtime, container, records, baseline
):
    # The container gets what the client sent (spec §3.1): no Accept, not the HTTP library's */*.
    name = deploy(sagemaker, {"Image": container.url}, shap_config(baseline, NumberOfSamples=12, Seed=2))
    container.mark()
    body = read(
        sagemaker_runtime.invoke_endpoint(EndpointName=name, Body=csv_body(records[:1]), ContentType="text/csv")
    )
    assert len(body["explanations"]["kernel_shap"][0]) == 5
    batches = container.batches()
    assert len(batches) >= 2 and {b["accept"] for b in batches} == {None}
