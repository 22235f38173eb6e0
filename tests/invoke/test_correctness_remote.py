"""Correctness audit, remote model containers: every attribution against a brute-force Shapley oracle, to 1e-9.

The containers are real processes speaking SageMaker's contract (tests/containers): the logging XGBoost container,
the layout container (output layouts of spec §6, its model computed here too) and the text container serving a
scikit-learn pipeline that one-hot encodes string (categorical) columns. Budgets cover every coalition unless the
test says it samples.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.conftest import free_port, wait_for_ping
from tests.containers.layout_container import LABELS, binary, classes
from tests.invoke.conftest import csv_body, deploy, shap_config
from tests.invoke.test_correctness_builtin import (
    DEVIATIONS,
    EXTENDED,
    TOL,
    baselines,
    check_record,
    check_sampled,
    invoke,
    logit,
)

CONTAINERS = Path(__file__).parent.parent / "containers"


@pytest.fixture(scope="module", autouse=True)
def _report_deviations() -> Iterator[None]:
    yield
    for cell, value in sorted(DEVIATIONS.items()):
        if cell.startswith("remote"):
            print(f"DEVIATION {cell}: {value:.3e}")


class Process:
    def __init__(self, script: str, *args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, str(CONTAINERS / script), "--port", str(self.port), *args]
        self.process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_for_ping(self.url, every=0.02):
            self.stop()
            raise RuntimeError(f"{script} did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


@pytest.fixture(scope="module")
def layouts() -> Iterator[Callable[[str], Process]]:
    started: dict[str, Process] = {}

    def get(layout: str) -> Process:
        if layout not in started:
            started[layout] = Process("layout_container.py", "--layout", layout)
        return started[layout]

    yield get
    for process in started.values():
        process.stop()


def xgb(trained: dict[str, Any]) -> Callable[[Any], np.ndarray]:
    model = trained["openclarify/xgboost"]
    return lambda rows: model.predict(np.asarray(rows, dtype=np.float64))


def layout_binary(rows: Any) -> np.ndarray:
    return np.array([binary([float(v) for v in r]) for r in rows])


def layout_classes(rows: Any) -> np.ndarray:
    return np.array([classes([float(v) for v in r]) for r in rows])


# --------------------------------------------------------------------------------------------------------------
# The XGBoost container: CSV, baselines, UseLogit, batching limits


@pytest.mark.parametrize("use_logit", [False, True], ids=["identity", "logit"])
@pytest.mark.parametrize("rows", ["1row", "3rows"])
def test_remote_csv_exact(sagemaker, sagemaker_runtime, container, trained, records, baseline, rows, use_logit):
    base = baselines(baseline)[rows]
    f = xgb(trained)
    name = deploy(sagemaker, {"Image": container.url}, shap_config(base, UseLogit=use_logit))
    _, raw = invoke(sagemaker_runtime, name, csv_body(records[:3]), ContentType="text/csv", CustomAttributes=EXTENDED)
    answer = json.loads(raw)
    g = logit if use_logit else (lambda v: v)
    mean_b = np.float64(f(base.tolist()).mean())
    for i, (x, explanation) in enumerate(zip(records[:3], answer["explanations"]["kernel_shap"], strict=True)):
        phi = check_record(
            f"remote csv xgboost baseline={rows} logit={use_logit}", explanation, f, list(x), base.tolist(), use_logit
        )
        details = answer["openclarify"]["kernel_shap"][i]
        fx = np.float64(f(records[:3].tolist())[i])
        assert details["exact"] is True
        assert np.all(np.asarray(details["standard_errors"], dtype=float) == 0.0)
        assert details["f_x"] == pytest.approx([g(fx)], abs=TOL)
        assert details["expected_value"] == pytest.approx([g(mean_b)], abs=TOL)
        assert details["model_rows"] == 30 * len(base)
        assert abs(phi.sum() - (g(fx) - g(mean_b))) <= TOL


def test_remote_batching_limits_do_not_change_numbers(
    sagemaker, sagemaker_runtime, container, trained, records, baseline
):
    f = xgb(trained)
    body = csv_body(records[:4])
    scores = f(records[:4].tolist())
    # Select the one record scored highest: MaxRecordCount 1 sends its 2 × 30 synthetic records one by one.
    threshold = float(np.sort(scores)[-2])
    selector = f"[0]>`{threshold!r}`"
    answers = []
    for inference in (
        {},
        {"InferenceConfig": {"MaxRecordCount": 1}},
        {"InferenceConfig": {"MaxRecordCount": 7, "MaxPayloadInMB": 1}},
        {"InferenceConfig": {"MaxPayloadInMB": 1}},
    ):
        name = deploy(
            sagemaker, {"Image": container.url}, {"EnableExplanations": selector, **inference, **shap_config(baseline)}
        )
        container.mark()
        answers.append(invoke(sagemaker_runtime, name, body, ContentType="text/csv")[1])
        if "MaxRecordCount" in inference.get("InferenceConfig", {}):
            limit = inference["InferenceConfig"]["MaxRecordCount"]
            assert max(batch["records"] for batch in container.batches()[1:]) <= limit
    assert len(set(answers)) == 1
    kernel_shap = json.loads(answers[0])["explanations"]["kernel_shap"]
    assert sum(explanation is not None for explanation in kernel_shap) == 1
    for x, score, explanation in zip(records[:4], scores, kernel_shap, strict=True):
        if score > threshold:
            check_record(
                "remote csv MaxRecordCount/MaxPayloadInMB/EnableExplanations",
                explanation,
                f,
                list(x),
                baseline.tolist(),
                False,
            )
        else:
            assert explanation is None


@pytest.mark.parametrize("mime", ["text/csv", "application/jsonlines"])
def test_remote_jsonlines_content_template(sagemaker, sagemaker_runtime, container, trained, records, baseline, mime):
    f = xgb(trained)
    config = shap_config(baseline)
    if mime == "application/jsonlines":
        inline = "\n".join(json.dumps({"data": {"features": [float(v) for v in b]}}) for b in baseline)
        config = {"ShapConfig": {"ShapBaselineConfig": {"ShapBaseline": inline, "MimeType": mime}}}
    explainer = {
        "InferenceConfig": {
            "FeaturesAttribute": "data.features",
            "ContentTemplate": '{"data":{"features":$features}}',
            "ProbabilityAttribute": "probability",
            "MaxRecordCount": 5,
        },
        **config,
    }
    name = deploy(sagemaker, {"Image": container.url}, explainer)
    body = "\n".join(json.dumps({"data": {"features": [float(v) for v in x]}}) for x in records[:3])
    _, raw = invoke(sagemaker_runtime, name, body, ContentType="application/jsonlines", Accept="application/jsonlines")
    answer = json.loads(raw)
    assert answer["predictions"]["content_type"] == "application/jsonlines"
    for x, explanation in zip(records[:3], answer["explanations"]["kernel_shap"], strict=True):
        check_record(f"remote jsonl ContentTemplate baseline={mime}", explanation, f, list(x), baseline.tolist(), False)


# --------------------------------------------------------------------------------------------------------------
# Output layouts: which output is explained, and label_headers


@pytest.mark.parametrize(
    ("layout", "inference", "accept", "labels", "fn"),
    [
        ("autopilot", {"LabelIndex": 0, "ProbabilityIndex": 1}, "text/csv", LABELS, layout_classes),
        ("multiclass", {"LabelHeaders": ["c0", "c1", "c2"]}, "text/csv", ["c0", "c1", "c2"], layout_classes),
        ("multiclass", {"ProbabilityIndex": 2}, "text/csv", None, lambda r: layout_classes(r)[:, [2]]),
        (
            "jsonl-labels-probabilities",
            {"LabelAttribute": "predicted_labels", "ProbabilityAttribute": "probabilities"},
            "application/jsonlines",
            LABELS,
            layout_classes,
        ),
        (
            "jsonl-labels-probabilities",
            {"ProbabilityAttribute": "probabilities[1]"},
            "application/jsonlines",
            None,
            lambda r: layout_classes(r)[:, [1]],
        ),
        ("label-probability", {"ProbabilityIndex": 1, "LabelIndex": 0}, "text/csv", None, layout_binary),
        (
            "jsonl-label-probability",
            {"ProbabilityAttribute": "probability"},
            "application/jsonlines",
            None,
            layout_binary,
        ),
        ("one-line", {}, "text/csv", None, layout_binary),
    ],
    ids=[
        "autopilot",
        "multiclass-headers",
        "multiclass-index",
        "jsonl-labels",
        "jsonl-attr-index",
        "label-prob",
        "jsonl-prob",
        "one-line",
    ],
)
def test_remote_output_layouts(
    sagemaker, sagemaker_runtime, layouts, records, baseline, layout, inference, accept, labels, fn
):
    base = baselines(baseline)["3rows"]
    explainer = {"InferenceConfig": {**inference, "FeatureHeaders": list("abcde")}, **shap_config(base)}
    name = deploy(sagemaker, {"Image": layouts(layout).url}, explainer)
    _, raw = invoke(sagemaker_runtime, name, csv_body(records[:3]), ContentType="text/csv", Accept=accept)
    answer = json.loads(raw)
    if labels is None:
        assert list(answer) == ["version", "predictions", "explanations"]
    else:
        assert list(answer) == ["version", "predictions", "label_headers", "explanations"]
        assert answer["label_headers"] == labels
    for x, explanation in zip(records[:3], answer["explanations"]["kernel_shap"], strict=True):
        assert [list(feature) for feature in explanation] == [["feature_header", "attributions"]] * 5
        phi = check_record(
            f"remote layout {layout} {sorted(inference)}", explanation, fn, list(x), base.tolist(), False
        )
        assert phi.shape[1] == (3 if labels is not None else 1)


# --------------------------------------------------------------------------------------------------------------
# Categorical (string) features, through a container that one-hot encodes them


@pytest.fixture(scope="module")
def categorical(model_root: Path) -> Iterator[tuple[Process, Any]]:
    import skops.io
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    rng = np.random.default_rng(3)
    colors, sizes = np.array(["red", "green", "blue"]), np.array(["S", "M", "L", "XL"])
    n = 300
    table = np.empty((n, 4), dtype=object)
    table[:, 0] = colors[rng.integers(0, 3, n)]
    table[:, 1] = sizes[rng.integers(0, 4, n)]
    table[:, 2] = rng.normal(size=n)
    table[:, 3] = rng.normal(size=n)
    y = ((table[:, 0] == "red") + 0.5 * (table[:, 1] == "XL") + table[:, 2].astype(float) > 0.7).astype(int)
    model = Pipeline(
        [
            (
                "encode",
                ColumnTransformer([("cat", OneHotEncoder(handle_unknown="ignore"), [0, 1])], remainder="passthrough"),
            ),
            ("fit", LogisticRegression()),
        ]
    ).fit(table, y)
    path = model_root / "correctness-categorical.skops"
    skops.io.dump(model, path)
    process = Process("text_container.py", "--model", str(path), "--text-columns", "0,1")
    yield process, model
    process.stop()


@pytest.mark.parametrize("use_logit", [False, True], ids=["identity", "logit"])
def test_remote_categorical_strings(sagemaker, sagemaker_runtime, categorical, use_logit):
    process, model = categorical
    base = [["green", "M", 0.1, -0.2], ["blue", "S", -0.3, 0.4]]
    recs = [["red", "XL", 0.9, 0.5], ["blue", "L", -0.7, 1.1], ["green", "S", 0.25, -1.0]]

    def f(rows: Any) -> np.ndarray:
        table = np.array([[r[0], r[1], float(r[2]), float(r[3])] for r in rows], dtype=object)
        return model.predict_proba(table)[:, 1]

    def line(r: list[Any]) -> str:
        return ",".join(str(v) for v in r)

    explainer = {
        "ShapConfig": {"ShapBaselineConfig": {"ShapBaseline": "\n".join(line(b) for b in base)}, "UseLogit": use_logit}
    }
    name = deploy(sagemaker, {"Image": process.url}, explainer)
    _, raw = invoke(sagemaker_runtime, name, "\n".join(line(r) for r in recs), ContentType="text/csv")
    answer = json.loads(raw)
    for x, explanation in zip(recs, answer["explanations"]["kernel_shap"], strict=True):
        check_record(f"remote categorical logit={use_logit}", explanation, f, x, base, use_logit)


# --------------------------------------------------------------------------------------------------------------
# Sampled (below 2^M − 2) with a Seed, remote


@pytest.mark.parametrize("use_logit", [False, True], ids=["identity", "logit"])
def test_remote_sampled_with_seed(sagemaker, sagemaker_runtime, container, trained, records, baseline, use_logit):
    f = xgb(trained)
    base = baselines(baseline)["3rows"]
    name = deploy(
        sagemaker, {"Image": container.url}, shap_config(base, NumberOfSamples=14, Seed=-5, UseLogit=use_logit)
    )
    body = csv_body(records[:3])
    first = invoke(sagemaker_runtime, name, body, ContentType="text/csv", CustomAttributes=EXTENDED)[1]
    second = invoke(sagemaker_runtime, name, body, ContentType="text/csv", CustomAttributes=EXTENDED)[1]
    assert first == second
    for details in check_sampled(
        f"remote sampled logit={use_logit}", json.loads(first), f, records[:3], base, use_logit
    ):
        assert details["seed"] == -5
        assert details["model_rows"] == 14 * len(base)
