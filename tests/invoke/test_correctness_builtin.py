"""Correctness audit, in-process runtimes: every attribution against a brute-force Shapley oracle, to 1e-9.

Each endpoint's budget covers every coalition (M = 5 features, 2^5 − 2 = 30 ≤ the default budget), so Kernel SHAP
must give the interventional Shapley values exactly: v(S) = mean over baseline rows b of f(x_S, b_rest) (with
UseLogit, the logit of that mean), φ_i = Σ_S |S|!(M−|S|−1)!/M! (v(S∪i) − v(S)). Real boto3, the live server, real
model files.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from math import factorial
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.invoke.conftest import csv_body, deploy, shap_config, training_data

TOL = 1e-9
IMAGES = ["openclarify/xgboost", "openclarify/lightgbm", "openclarify/sklearn", "openclarify/onnx"]
EXTENDED = "openclarify-extended=true"
# The largest deviation from the oracle seen per cell, printed at the end of the module (pytest -s) for the report.
DEVIATIONS: dict[str, float] = {}


def logit(p: np.ndarray) -> np.ndarray:
    return np.log(p) - np.log1p(-p)


def oracle(
    f: Callable[[list[list[Any]]], np.ndarray], x: Sequence[Any], baseline: Sequence[Sequence[Any]], use_logit: bool
) -> np.ndarray:
    """``(M, D)`` exact interventional Shapley values by enumerating all 2^M coalitions (no Kernel SHAP)."""
    m = len(x)
    rows = [
        [x[j] if (s >> j) & 1 else b[j] for j in range(m)] for s in range(1 << m) for b in baseline
    ]  # coalition s holds feature j when bit j is set
    out = np.asarray(f(rows), dtype=np.float64)
    out = out.reshape(1 << m, len(baseline), -1).mean(axis=1)
    v = logit(out) if use_logit else out
    phi = np.zeros((m, v.shape[1]))
    for i in range(m):
        for s in range(1 << m):
            if (s >> i) & 1:
                continue
            size = bin(s).count("1")
            weight = factorial(size) * factorial(m - size - 1) / factorial(m)
            phi[i] += weight * (v[s | (1 << i)] - v[s])
    return phi


def attributions(explanation: list[dict[str, Any]]) -> np.ndarray:
    """``(M, D)`` from one record's kernel_shap entry; every tabular feature has exactly one attribution."""
    for feature in explanation:
        assert len(feature["attributions"]) == 1, feature
    return np.array([feature["attributions"][0]["attribution"] for feature in explanation], dtype=np.float64)


def record_deviation(cell: str, value: float) -> None:
    DEVIATIONS[cell] = max(DEVIATIONS.get(cell, 0.0), float(value))


@pytest.fixture(scope="module", autouse=True)
def _report_deviations() -> Any:
    yield
    for cell, value in sorted(DEVIATIONS.items()):
        print(f"DEVIATION {cell}: {value:.3e}")


def invoke(runtime: Any, name: str, body: str, **kwargs: Any) -> tuple[dict[str, Any], bytes]:
    response = runtime.invoke_endpoint(EndpointName=name, Body=body, **kwargs)
    raw = response["Body"].read()
    assert response["ContentType"] == "application/json"
    return response, raw


def check_record(
    cell: str,
    explanation: list[dict[str, Any]],
    f: Callable[[list[list[Any]]], np.ndarray],
    x: Sequence[Any],
    baseline: Sequence[Sequence[Any]],
    use_logit: bool,
    tol: float = TOL,
) -> np.ndarray:
    phi = attributions(explanation)
    expected = oracle(f, x, baseline, use_logit)
    assert phi.shape == expected.shape, (phi.shape, expected.shape)
    deviation = float(np.max(np.abs(phi - expected)))
    record_deviation(cell, deviation)
    assert deviation <= tol, (cell, phi, expected)
    return phi


# --------------------------------------------------------------------------------------------------------------
# Models: the shared binary ones (tests/invoke/conftest.py) plus a three-class XGBoost trained here


@pytest.fixture(scope="module")
def multiclass(model_root: Path) -> tuple[Path, Callable[[Any], np.ndarray]]:
    import xgboost

    X, _ = training_data()
    y = np.digitize(X[:, 0] + 0.5 * X[:, 1] - 0.4 * X[:, 2] * X[:, 4], [-0.6, 0.6])
    booster = xgboost.train(
        {"objective": "multi:softprob", "num_class": 3, "max_depth": 3}, xgboost.DMatrix(X, label=y), 10
    )
    folder = model_root / "correctness-multiclass"
    folder.mkdir(exist_ok=True)
    booster.save_model(str(folder / "model.json"))

    def predict(rows: Any) -> np.ndarray:
        return booster.predict(xgboost.DMatrix(np.asarray(rows, dtype=np.float64))).astype(np.float64)

    return folder / "model.json", predict


def model_fn(trained: dict[str, Any], image: str) -> Callable[[Any], np.ndarray]:
    model = trained[image]
    return lambda rows: model.predict(np.asarray(rows, dtype=np.float64))


def baselines(baseline: np.ndarray) -> dict[str, np.ndarray]:
    third = np.array([[0.9, 0.8, -1.1, 0.2, 1.3]])
    return {"1row": baseline[:1], "3rows": np.vstack([baseline, third])}


# --------------------------------------------------------------------------------------------------------------
# CSV records, every built-in runtime, one and several baseline rows, UseLogit off and on


@pytest.mark.parametrize("use_logit", [False, True], ids=["identity", "logit"])
@pytest.mark.parametrize("rows", ["1row", "3rows"])
@pytest.mark.parametrize("image", IMAGES)
def test_csv_exact_matches_oracle(sagemaker, sagemaker_runtime, trained, records, baseline, image, rows, use_logit):
    base = baselines(baseline)[rows]
    f = model_fn(trained, image)
    name = deploy(
        sagemaker, {"Image": image, "ModelDataUrl": str(trained[image].path)}, shap_config(base, UseLogit=use_logit)
    )
    body = csv_body(records[:3])
    _, raw = invoke(sagemaker_runtime, name, body, ContentType="text/csv", Accept="text/csv", CustomAttributes=EXTENDED)
    answer = json.loads(raw)
    assert list(answer) == ["version", "predictions", "explanations", "openclarify"]
    cell = f"builtin csv {image.split('/')[1]} baseline={rows} logit={use_logit}"
    # f(x) as the model scored the request (a float32 ONNX graph scores a row differently alone and in a batch)
    scores = [float(v) for v in answer["predictions"]["data"].split()]
    assert scores == pytest.approx(f(records[:3].tolist()).tolist(), abs=trained[image].tolerance)
    for i, (x, explanation) in enumerate(zip(records[:3], answer["explanations"]["kernel_shap"], strict=True)):
        phi = check_record(cell, explanation, f, list(x), base.tolist(), use_logit)
        details = answer["openclarify"]["kernel_shap"][i]
        fx = scores[i]
        mean_b = f(base.tolist()).mean()
        g = logit if use_logit else (lambda v: v)
        assert details["exact"] is True
        assert details["f_x"] == pytest.approx([g(np.float64(fx))], abs=TOL)
        assert details["expected_value"] == pytest.approx([g(np.float64(mean_b))], abs=TOL)
        assert np.all(np.asarray(details["standard_errors"], dtype=float) == 0.0), details["standard_errors"]
        # Efficiency: Σφ = g(f(x)) − g(E_b f(b)), from the response's own numbers.
        assert phi.sum() == pytest.approx(details["f_x"][0] - details["expected_value"][0], abs=TOL)
        record_deviation(f"{cell} (efficiency)", abs(phi.sum() - (g(np.float64(fx)) - g(np.float64(mean_b)))))


# --------------------------------------------------------------------------------------------------------------
# JSON Lines records (FeaturesAttribute) and JSON Lines output (ProbabilityAttribute)


@pytest.mark.parametrize("image", ["openclarify/xgboost", "openclarify/sklearn"])
def test_jsonlines_features_attribute_matches_oracle(sagemaker, sagemaker_runtime, trained, records, baseline, image):
    f = model_fn(trained, image)
    explainer = {
        "InferenceConfig": {"FeaturesAttribute": "features", "ProbabilityAttribute": "score"},
        **shap_config(baseline),
    }
    name = deploy(sagemaker, {"Image": image, "ModelDataUrl": str(trained[image].path)}, explainer)
    body = "\n".join(json.dumps({"features": [float(v) for v in x]}) for x in records[:3])
    _, raw = invoke(sagemaker_runtime, name, body, ContentType="application/jsonlines", Accept="application/jsonlines")
    answer = json.loads(raw)
    assert answer["predictions"]["content_type"] == "application/jsonlines"
    for x, explanation in zip(records[:3], answer["explanations"]["kernel_shap"], strict=True):
        check_record(f"builtin jsonl {image.split('/')[1]}", explanation, f, list(x), baseline.tolist(), False)


# --------------------------------------------------------------------------------------------------------------
# Several outputs: which output is explained, and the label_headers / attribution layout


@pytest.mark.parametrize("use_logit", [False, True], ids=["identity", "logit"])
def test_multiclass_all_outputs_with_label_headers(
    sagemaker, sagemaker_runtime, multiclass, records, baseline, use_logit
):
    path, f = multiclass
    explainer = {
        "InferenceConfig": {"LabelHeaders": ["low", "mid", "high"], "FeatureHeaders": list("abcde")},
        **shap_config(baseline, UseLogit=use_logit),
    }
    name = deploy(sagemaker, {"Image": "openclarify/xgboost", "ModelDataUrl": str(path)}, explainer)
    _, raw = invoke(sagemaker_runtime, name, csv_body(records[:2]), ContentType="text/csv", Accept="text/csv")
    answer = json.loads(raw)
    assert list(answer) == ["version", "predictions", "label_headers", "explanations"]
    assert answer["label_headers"] == ["low", "mid", "high"]
    for x, explanation in zip(records[:2], answer["explanations"]["kernel_shap"], strict=True):
        assert [feature["feature_header"] for feature in explanation] == list("abcde")
        assert [list(feature) for feature in explanation] == [["feature_header", "attributions"]] * 5
        # attribution[k] explains output k, named label_headers[k]
        check_record(
            f"builtin multiclass all outputs logit={use_logit}", explanation, f, list(x), baseline.tolist(), use_logit
        )


@pytest.mark.parametrize("index", [0, 2])
def test_multiclass_probability_index_picks_that_column(
    sagemaker, sagemaker_runtime, multiclass, records, baseline, index
):
    path, f = multiclass
    explainer = {"InferenceConfig": {"ProbabilityIndex": index}, **shap_config(baseline)}
    name = deploy(sagemaker, {"Image": "openclarify/xgboost", "ModelDataUrl": str(path)}, explainer)
    _, raw = invoke(sagemaker_runtime, name, csv_body(records[:2]), ContentType="text/csv", Accept="text/csv")
    answer = json.loads(raw)
    assert "label_headers" not in answer
    for x, explanation in zip(records[:2], answer["explanations"]["kernel_shap"], strict=True):
        check_record(
            "builtin multiclass ProbabilityIndex",
            explanation,
            lambda rows: f(rows)[:, [index]],
            list(x),
            baseline.tolist(),
            False,
        )


def test_multiclass_probability_attribute_picks_that_class(sagemaker, sagemaker_runtime, multiclass, records, baseline):
    path, f = multiclass
    explainer = {"InferenceConfig": {"ProbabilityAttribute": "score[1]"}, **shap_config(baseline)}
    name = deploy(sagemaker, {"Image": "openclarify/xgboost", "ModelDataUrl": str(path)}, explainer)
    _, raw = invoke(
        sagemaker_runtime, name, csv_body(records[:2]), ContentType="text/csv", Accept="application/jsonlines"
    )
    answer = json.loads(raw)
    for x, explanation in zip(records[:2], answer["explanations"]["kernel_shap"], strict=True):
        check_record(
            "builtin multiclass ProbabilityAttribute",
            explanation,
            lambda rows: f(rows)[:, [1]],
            list(x),
            baseline.tolist(),
            False,
        )


# --------------------------------------------------------------------------------------------------------------
# EnableExplanations selecting some records of a batch


def test_enable_explanations_selects_records(sagemaker, sagemaker_runtime, trained, records, baseline):
    image = "openclarify/lightgbm"
    f = model_fn(trained, image)
    scores = f(records.tolist())
    threshold = float(np.median(scores))
    explainer = {"EnableExplanations": f"[0]>`{threshold!r}`", **shap_config(baseline)}
    name = deploy(sagemaker, {"Image": image, "ModelDataUrl": str(trained[image].path)}, explainer)
    _, raw = invoke(sagemaker_runtime, name, csv_body(records), ContentType="text/csv", Accept="text/csv")
    kernel_shap = json.loads(raw)["explanations"]["kernel_shap"]
    assert len(kernel_shap) == len(records)
    chosen = [i for i, s in enumerate(scores) if s > threshold]
    assert 0 < len(chosen) < len(records)
    for i, (x, explanation) in enumerate(zip(records, kernel_shap, strict=True)):
        if i in chosen:
            check_record("builtin EnableExplanations subset", explanation, f, list(x), baseline.tolist(), False)
        else:
            assert explanation is None


# --------------------------------------------------------------------------------------------------------------
# Sampled: NumberOfSamples below 2^M − 2 with a Seed


@pytest.mark.parametrize("use_logit", [False, True], ids=["identity", "logit"])
def test_sampled_with_seed_is_reproducible_additive_and_close(
    sagemaker, sagemaker_runtime, trained, records, baseline, use_logit
):
    image = "openclarify/xgboost"
    f = model_fn(trained, image)
    base = baselines(baseline)["3rows"]
    name = deploy(
        sagemaker,
        {"Image": image, "ModelDataUrl": str(trained[image].path)},
        shap_config(base, NumberOfSamples=16, Seed=1234, UseLogit=use_logit),
    )
    body = csv_body(records[:4])
    kwargs = {"ContentType": "text/csv", "Accept": "text/csv", "CustomAttributes": EXTENDED}
    first = invoke(sagemaker_runtime, name, body, **kwargs)[1]
    second = invoke(sagemaker_runtime, name, body, **kwargs)[1]
    assert first == second
    for details in check_sampled(
        f"builtin sampled logit={use_logit}", json.loads(first), f, records[:4], base, use_logit
    ):
        assert details["seed"] == 1234
        assert np.asarray(details["standard_errors"], dtype=float).shape == (5, 1)


def check_sampled(
    cell: str,
    answer: dict[str, Any],
    f: Callable[[Any], np.ndarray],
    records: np.ndarray,
    base: np.ndarray,
    use_logit: bool,
) -> list[dict[str, Any]]:
    """A sampled answer's records: efficiency to TOL in link space, f(x) and E[f(b)] as computed here, and each
    attribution within half the largest exact one of the oracle's. Returns each record's extended details."""
    g = logit if use_logit else (lambda v: v)
    mean_b = np.float64(f(base.tolist()).mean())
    every = []
    for i, (x, explanation) in enumerate(zip(records, answer["explanations"]["kernel_shap"], strict=True)):
        phi = attributions(explanation)
        details = answer["openclarify"]["kernel_shap"][i]
        assert details["exact"] is False
        fx = np.float64(f(records.tolist())[i])
        efficiency = abs(phi.sum() - (g(fx) - g(mean_b)))
        record_deviation(f"{cell} (efficiency)", efficiency)
        assert efficiency <= TOL
        assert details["f_x"] == pytest.approx([g(fx)], abs=TOL)
        assert details["expected_value"] == pytest.approx([g(mean_b)], abs=TOL)
        exact = oracle(f, list(x), base.tolist(), use_logit)
        error = float(np.max(np.abs(phi - exact)))
        record_deviation(f"{cell} (error vs exact)", error)
        assert error <= 0.5 * float(np.max(np.abs(exact))), (phi, exact)
        every.append(details)
    return every


def test_max_record_count_and_payload_do_not_change_numbers(sagemaker, sagemaker_runtime, trained, records, baseline):
    image = "openclarify/xgboost"
    body = csv_body(records)
    answers = []
    for inference in ({}, {"MaxRecordCount": 1, "MaxPayloadInMB": 1}, {"MaxRecordCount": 7, "MaxPayloadInMB": 25}):
        explainer = {"InferenceConfig": inference, **shap_config(baseline)} if inference else shap_config(baseline)
        name = deploy(sagemaker, {"Image": image, "ModelDataUrl": str(trained[image].path)}, explainer)
        answers.append(invoke(sagemaker_runtime, name, body, ContentType="text/csv", Accept="text/csv")[1])
    assert answers[0] == answers[1] == answers[2]


def test_sampled_multiclass_seeded_record_independent_of_batch(
    sagemaker, sagemaker_runtime, multiclass, records, baseline
):
    """Three outputs sampled with one Seed: efficiency per output, and a record explained alone or inside a batch
    gets bit-identical attributions."""
    path, f = multiclass
    explainer = {
        "InferenceConfig": {"LabelHeaders": ["low", "mid", "high"]},
        **shap_config(baseline, NumberOfSamples=12, Seed=99),
    }
    name = deploy(sagemaker, {"Image": "openclarify/xgboost", "ModelDataUrl": str(path)}, explainer)
    kwargs = {"ContentType": "text/csv", "Accept": "text/csv", "CustomAttributes": EXTENDED}
    batch = json.loads(invoke(sagemaker_runtime, name, csv_body(records[:3]), **kwargs)[1])
    alone = json.loads(invoke(sagemaker_runtime, name, csv_body(records[1:2]), **kwargs)[1])
    assert batch["explanations"]["kernel_shap"][1] == alone["explanations"]["kernel_shap"][0]
    scores = f(records[:3].tolist())
    mean_b = f(baseline.tolist()).mean(axis=0)
    for i, (x, explanation) in enumerate(zip(records[:3], batch["explanations"]["kernel_shap"], strict=True)):
        phi = attributions(explanation)
        assert phi.shape == (5, 3)
        efficiency = float(np.max(np.abs(phi.sum(axis=0) - (scores[i] - mean_b))))
        record_deviation("builtin sampled multiclass (efficiency)", efficiency)
        assert efficiency <= TOL
        error = float(np.max(np.abs(phi - oracle(f, list(x), baseline.tolist(), False))))
        record_deviation("builtin sampled multiclass (error vs exact)", error)
        assert batch["openclarify"]["kernel_shap"][i]["exact"] is False
