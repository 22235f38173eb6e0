"""The Runtime interface of every built-in and the remote container: predict on arrays, invoke on bytes."""

from __future__ import annotations

import asyncio
import json
import random

import numpy as np
import pytest
from tests.control.conftest import N_FEATURES, training_data

from openclarify.errors import ModelError, ValidationError
from openclarify.runtimes import RuntimeSpec, build_spec, create_runtime
from openclarify.services.endpoints import LiveEndpoint, LiveVariant

BUILTINS = ["openclarify/xgboost", "openclarify/lightgbm", "openclarify/sklearn", "openclarify/onnx"]
X, Y = training_data()


def loaded(image: str, model_files, model_root, url: str | None = None):
    container = {"Image": url or image, "ModelDataUrl": str(model_files.get(image, ""))}
    runtime = create_runtime(build_spec(container, model_roots=[model_root], max_concurrency=2))
    runtime.load()
    return runtime


@pytest.mark.parametrize("image", BUILTINS)
def test_predict_answers_positive_class_probabilities(image, model_files, model_root):
    runtime = loaded(image, model_files, model_root)
    scores = runtime.predict(X[:50])
    assert scores.shape == (50,)
    assert np.all((scores >= 0) & (scores <= 1))
    accuracy = np.mean((scores > 0.5) == Y[:50])
    assert accuracy > 0.8  # the model really learnt the rule
    runtime.close()


@pytest.mark.parametrize("image", BUILTINS)
def test_invoke_speaks_csv_and_json_lines(image, model_files, model_root):
    runtime = loaded(image, model_files, model_root)
    expected = runtime.predict(X[:3])
    csv_body = "\n".join(",".join(str(v) for v in row) for row in X[:3]).encode()

    result = asyncio.run(runtime.invoke(csv_body, "text/csv", None, "trace=1"))
    assert result.content_type == "text/csv"
    assert result.custom_attributes is None  # framework containers do not echo it
    np.testing.assert_allclose([float(line) for line in result.body.decode().splitlines()], expected, rtol=1e-6)

    lines = "\n".join(json.dumps({"features": row.tolist()}) for row in X[:3]).encode()
    result = asyncio.run(runtime.invoke(lines, "application/jsonlines", "application/jsonlines", None))
    assert result.content_type == "application/jsonlines"
    got = [json.loads(line)["score"] for line in result.body.decode().splitlines()]
    np.testing.assert_allclose(got, expected, rtol=1e-6)

    result = asyncio.run(runtime.invoke(csv_body, None, "application/json", None))
    np.testing.assert_allclose([p["score"] for p in json.loads(result.body)["predictions"]], expected, rtol=1e-6)


@pytest.mark.parametrize(
    ("body", "content_type", "accept", "status"),
    [
        (b"1,2,3,4", "application/x-npy", None, 415),
        (b"1,2,3,4", "text/csv", "image/png", 415),
        (b"1,2,x,4", "text/csv", None, 400),
        (b"1,2,3", "text/csv", None, 400),
        (b'{"other": [1,2,3,4]}', "application/jsonlines", None, 400),
    ],
)
def test_invoke_errors_are_model_errors_with_the_container_status(
    model_files, model_root, body, content_type, accept, status
):
    runtime = loaded("openclarify/xgboost", model_files, model_root)
    with pytest.raises(ModelError) as info:
        asyncio.run(runtime.invoke(body, content_type, accept, None))
    assert info.value.original_status_code == status


def test_remote_container_forwards_payloads_verbatim(model_files, model_root, model_container):
    runtime = loaded("openclarify/xgboost", model_files, model_root, url=model_container)
    local = loaded("openclarify/xgboost", model_files, model_root)
    np.testing.assert_allclose(runtime.predict(X[:5]), local.predict(X[:5]), rtol=1e-6)

    async def call():
        try:
            body = "\n".join(",".join(str(v) for v in row) for row in X[:2]).encode()
            ok = await runtime.invoke(body, "text/csv", "text/csv", "trace=42")
            with pytest.raises(ModelError) as info:
                await runtime.invoke(b"not,numbers", "text/csv", None, None)
            return ok, info.value
        finally:
            await runtime.aclose()

    ok, error = asyncio.run(call())
    assert ok.custom_attributes == "trace=42"
    assert ok.content_type == "text/csv"
    np.testing.assert_allclose([float(v) for v in ok.body.split()], local.predict(X[:2]), rtol=1e-6)
    assert error.original_status_code == 400
    assert error.original_message == "unable to parse the CSV payload"


def test_variants_are_picked_by_weight_or_by_name():
    def variant(name: str, weight: float) -> LiveVariant:
        runtime = create_runtime(RuntimeSpec(image="http://127.0.0.1:9", url="http://127.0.0.1:9"))
        return LiveVariant(name, "m", weight, 1, runtime, asyncio.Semaphore(1))

    live = LiveEndpoint("ep", "cfg", {}, [variant("a", 3.0), variant("b", 1.0), variant("never", 0.0)])
    rng = random.Random(0)
    picks = [live.pick_variant(rng=rng).name for _ in range(4000)]
    assert picks.count("never") == 0
    assert 0.7 < picks.count("a") / len(picks) < 0.8
    assert live.pick_variant("b").name == "b"
    with pytest.raises(ValidationError):
        live.pick_variant("zzz")


def test_n_features_mismatch_is_a_clear_error(model_files, model_root):
    runtime = loaded("openclarify/lightgbm", model_files, model_root)
    with pytest.raises(ValueError, match=f"expects {N_FEATURES} features"):
        runtime.predict(np.zeros((2, N_FEATURES + 1)))
