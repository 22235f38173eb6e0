"""Which ONNX models CreateModel accepts: graphs built here with onnx's helper API, served by the real server.

A model whose input the runtime cannot feed (n × features in float or double, n any) is refused when it is created,
not answered with onnxruntime's error on every request once it is InService.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tests.control.helpers import FAST_WAIT, client_error, unique, variant

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

WEIGHTS = np.array([0.5, -1.25, 2.0, 0.75, -0.3])
BIAS = 0.1


def write(model_root: Path, graph: onnx.GraphProto) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model, full_check=True)
    path = model_root / f"{unique('onnx')}.onnx"
    path.write_bytes(model.SerializeToString())
    return path


def linear(model_root: Path, elem_type: int, shape: list[int | str | None]) -> Path:
    """``x @ WEIGHTS + BIAS`` in ``elem_type`` for an input of ``shape``, reshaped to n × 5 first: a graph onnx
    checks as valid whatever the input's rank."""
    dtype = helper.tensor_dtype_to_np_dtype(elem_type)
    nodes = [helper.make_node("Reshape", ["x", "rows"], ["flat"])]
    nodes.append(helper.make_node("MatMul", ["flat", "w"], ["xw"]))
    nodes.append(helper.make_node("Add", ["xw", "b"], ["y"]))
    initializers = [
        numpy_helper.from_array(np.array([-1, len(WEIGHTS)], dtype=np.int64), "rows"),
        numpy_helper.from_array(WEIGHTS.reshape(-1, 1).astype(dtype), "w"),
        numpy_helper.from_array(np.array([BIAS], dtype=dtype), "b"),
    ]
    graph = helper.make_graph(
        nodes,
        "linear",
        [helper.make_tensor_value_info("x", elem_type, shape)],
        [helper.make_tensor_value_info("y", elem_type, [None, 1])],
        initializers,
    )
    return write(model_root, graph)


def cast_to_float(model_root: Path, elem_type: int) -> Path:
    """Casts an n × 5 input of ``elem_type`` to a float output: a valid graph whose input is not float or double."""
    graph = helper.make_graph(
        [helper.make_node("Cast", ["x"], ["y"], to=TensorProto.FLOAT)],
        "cast",
        [helper.make_tensor_value_info("x", elem_type, [None, 5])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 5])],
    )
    return write(model_root, graph)


def row_sum(model_root: Path) -> Path:
    """The sum of each record's features, for records of any width (the feature dimension is symbolic)."""
    graph = helper.make_graph(
        [helper.make_node("ReduceSum", ["x", "axes"], ["y"], keepdims=1)],
        "row_sum",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "features"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 1])],
        [numpy_helper.from_array(np.array([1], dtype=np.int64), "axes")],
    )
    return write(model_root, graph)


def create(sagemaker, path: Path, name: str | None = None) -> str:
    name = name or unique("onnx-model")
    sagemaker.create_model(ModelName=name, PrimaryContainer={"Image": "openclarify/onnx", "ModelDataUrl": str(path)})
    return name


def deploy(sagemaker, path: Path, explainer: dict | None = None) -> str:
    model = create(sagemaker, path)
    config = unique("onnx-config")
    extra = {"ExplainerConfig": {"ClarifyExplainerConfig": explainer}} if explainer else {}
    sagemaker.create_endpoint_config(EndpointConfigName=config, ProductionVariants=[variant(model)], **extra)
    name = unique("onnx-ep")
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=config)
    sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig=FAST_WAIT)
    return name


def csv(rows: np.ndarray) -> str:
    return "\n".join(",".join(repr(float(v)) for v in row) for row in rows)


def scores(sagemaker_runtime, endpoint: str, rows: np.ndarray) -> np.ndarray:
    response = sagemaker_runtime.invoke_endpoint(
        EndpointName=endpoint, Body=csv(rows), ContentType="text/csv", Accept="text/csv"
    )
    return np.array([float(line) for line in response["Body"].read().decode().splitlines()])


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda root: cast_to_float(root, TensorProto.INT64),
            "ONNX models must take a float or double input tensor (n × features); this model's input is tensor(int64).",
        ),
        (
            lambda root: cast_to_float(root, TensorProto.FLOAT16),
            "ONNX models must take a float or double input tensor (n × features); this model's input is "
            "tensor(float16).",
        ),
        (
            lambda root: linear(root, TensorProto.FLOAT, [1, 5]),
            "ONNX models must take any number of records (n × features); this model's input fixes n at 1.",
        ),
        (
            lambda root: linear(root, TensorProto.FLOAT, [None, 5, 1]),
            "ONNX models must take a 2-D input tensor (n × features); this model's input has 3 dimensions.",
        ),
        (
            lambda root: linear(root, TensorProto.FLOAT, [5]),
            "ONNX models must take a 2-D input tensor (n × features); this model's input has 1 dimension.",
        ),
    ],
    ids=["int64", "float16", "fixed-batch", "rank-3", "rank-1"],
)
def test_an_input_the_runtime_cannot_feed_is_refused_at_create_model(sagemaker, model_root, build, message):
    name = unique("onnx-refused")
    error = client_error(
        sagemaker.create_model,
        ModelName=name,
        PrimaryContainer={"Image": "openclarify/onnx", "ModelDataUrl": str(build(model_root))},
    )
    assert error["Code"] == "ValidationException"
    assert error["Message"].startswith(message)
    assert "Export it with" in error["Message"]  # says what to do about it, too
    client_error(sagemaker.describe_model, ModelName=name)  # nothing was stored


def test_a_double_precision_model_is_served_and_explained_in_double_precision(sagemaker, sagemaker_runtime, model_root):
    endpoint = deploy(
        sagemaker,
        linear(model_root, TensorProto.DOUBLE, ["batch", 5]),
        {"ShapConfig": {"ShapBaselineConfig": {"ShapBaseline": csv(np.array([[0.1, -0.2, 0.3, 0.05, -0.15]]))}}},
    )
    records = np.array([[1.0, 2.0, 3.0, 4.0, 5.0], [0.123456789012, -1.5, 0.25, 7.0, -3.0], [0.0] * 5])
    response = sagemaker_runtime.invoke_endpoint(
        EndpointName=endpoint, Body=csv(records), ContentType="text/csv", Accept="text/csv"
    )
    body = json.loads(response["Body"].read())
    got = [float(line) for line in body["predictions"]["data"].splitlines()]
    # float32 would round these in the 8th digit; double precision keeps them to the 15th.
    np.testing.assert_allclose(got, records @ WEIGHTS + BIAS, rtol=1e-13, atol=1e-13)

    baseline = np.array([0.1, -0.2, 0.3, 0.05, -0.15])
    for x, explanation in zip(records, body["explanations"]["kernel_shap"], strict=True):
        phi = [feature["attributions"][0]["attribution"][0] for feature in explanation]
        # A linear model's Shapley values are exact: each weight times the feature's distance from the baseline.
        np.testing.assert_allclose(phi, WEIGHTS * (x - baseline), rtol=1e-9, atol=1e-12)


def test_a_model_of_any_width_takes_records_of_any_width(sagemaker, sagemaker_runtime, model_root):
    endpoint = deploy(sagemaker, row_sum(model_root))
    for width in (1, 3, 8):
        records = np.arange(4 * width, dtype=np.float64).reshape(4, width) / 4
        np.testing.assert_allclose(scores(sagemaker_runtime, endpoint, records), records.sum(axis=1), rtol=1e-6)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_a_classifier_exported_with_its_zipmap_answers_plain_probabilities(
    sagemaker, sagemaker_runtime, model_root, n_classes
):
    """skl2onnx ends a classifier in a ZipMap by default (a dictionary of probabilities per row), which was refused;
    served without it, the model answers the probabilities scikit-learn gives, as one exported with zipmap=False."""
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(1)
    X = rng.standard_normal((120, 5))
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5 if n_classes == 3 else 0)
    model = LogisticRegression().fit(X, y)
    path = model_root / f"{unique('zipmap')}.onnx"
    path.write_bytes(to_onnx(model, X[:1].astype(np.float32)).SerializeToString())
    assert any(node.op_type == "ZipMap" for node in onnx.load(path).graph.node)
    records = X[:6]
    expected = model.predict_proba(records)
    response = sagemaker_runtime.invoke_endpoint(
        EndpointName=deploy(sagemaker, path), Body=csv(records), ContentType="text/csv", Accept="text/csv"
    )
    got = [[float(v) for v in line.split(",")] for line in response["Body"].read().decode().splitlines()]
    np.testing.assert_allclose(np.squeeze(got), expected[:, 1] if n_classes == 2 else expected, rtol=1e-5, atol=1e-6)
