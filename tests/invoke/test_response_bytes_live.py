"""The explainer response's bytes through a live server and boto3 (spec §3.2, §4): non-ASCII headers, model answers
that are not plain numbers, and label lists strict JSON cannot carry.

The container is an in-test HTTP server whose answer is picked by the path prefix of its Image URL; its model is the
sum of the features, so with a zero baseline the attributions are the features themselves.
"""

from __future__ import annotations

import csv
import io
import json
import threading
from collections.abc import Callable, Iterator
from http.server import ThreadingHTTPServer

import pytest
from botocore.exceptions import ClientError
from tests.containers.container_kit import ContainerHandler
from tests.invoke.conftest import deploy

ZERO_BASELINE = {"ShapConfig": {"ShapBaselineConfig": {"ShapBaseline": "0,0,0"}}}


def _nested(score: float) -> str:
    line = {"out": {"p": score, "tiny": 1e-320, "big": 1e308, "ok": True, "n": 10**30, "s": 'é\u2028"q"', "z": -0.0}}
    return json.dumps(line, ensure_ascii=False) + "\n"


# layout -> (one record's output line from its score, content type)
LAYOUTS: dict[str, tuple[Callable[[float], str], str]] = {
    "plain": (lambda s: f"{s!r}\n", "text/csv"),
    "quoted": (lambda s: f'"a,b","he said ""hi""\nok",{s!r}\r\n', "text/csv"),
    "nested": (_nested, "application/jsonlines"),
    "nan-labels": (lambda s: f'{{"p": {s!r}, "labels": ["x", NaN]}}\n', "application/jsonlines"),
    "inf-labels": (lambda s: f'"[1e999]",{s!r}\n', "text/csv"),
}


class _Handler(ContainerHandler):
    def do_GET(self) -> None:
        self._send(200, b"", "text/plain")

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        line, content_type = LAYOUTS[self.path.split("/")[1]]
        rows = [cells for cells in csv.reader(io.StringIO(body.decode())) if cells]
        self._send(200, "".join(line(sum(float(c) for c in row)) for row in rows).encode(), content_type)


@pytest.fixture(scope="module")
def layouts() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _invoke(sagemaker_runtime, name: str, body: str = "1,2,3\n4,5,6") -> tuple[bytes, dict]:
    response = sagemaker_runtime.invoke_endpoint(EndpointName=name, Body=body, ContentType="text/csv")
    return response["Body"].read(), response


def _model_body(layout: str, scores: list[float]) -> bytes:
    line, _ = LAYOUTS[layout]
    return "".join(line(s) for s in scores).encode()


def test_non_ascii_and_escaped_headers_are_json_escaped_ascii(sagemaker, sagemaker_runtime, layouts):
    explainer = {
        "InferenceConfig": {"FeatureHeaders": ["é", "日本", "😀"], "LabelHeaders": ['a"b\\c,d\x00']},
        **ZERO_BASELINE,
    }
    name = deploy(sagemaker, {"Image": layouts + "/plain"}, explainer)
    raw, response = _invoke(sagemaker_runtime, name, "1,2,3")
    assert response["ResponseMetadata"]["HTTPHeaders"]["content-type"] == "application/json"
    assert raw == (
        b'{"version":"1.0","predictions":{"content_type":"text/csv","data":"6.0\\n"},'
        b'"label_headers":["a\\"b\\\\c,d\\u0000"],"explanations":{"kernel_shap":[['
        b'{"feature_header":"\\u00e9","attributions":[{"attribution":[1.0]}]},'
        b'{"feature_header":"\\u65e5\\u672c","attributions":[{"attribution":[2.0]}]},'
        b'{"feature_header":"\\ud83d\\ude00","attributions":[{"attribution":[3.0]}]}]]}}'
    )


@pytest.mark.parametrize(
    ("layout", "inference"),
    [("quoted", {"ProbabilityIndex": 2}), ("nested", {"ProbabilityAttribute": "out.p"})],
)
def test_predictions_data_is_the_model_answer_byte_for_byte(sagemaker, sagemaker_runtime, layouts, layout, inference):
    name = deploy(sagemaker, {"Image": f"{layouts}/{layout}"}, {"InferenceConfig": inference, **ZERO_BASELINE})
    raw, response = _invoke(sagemaker_runtime, name)
    assert response["ContentType"] == "application/json"
    body = json.loads(raw)
    assert body["predictions"]["data"].encode() == _model_body(layout, [6.0, 15.0])
    assert body["predictions"]["content_type"] == LAYOUTS[layout][1]
    assert raw.isascii()
    assert [[f["attributions"][0]["attribution"] for f in r] for r in body["explanations"]["kernel_shap"]] == [
        [[1.0], [2.0], [3.0]],
        [[4.0], [5.0], [6.0]],
    ]


@pytest.mark.parametrize(
    ("layout", "inference"),
    [
        ("nan-labels", {"ProbabilityAttribute": "p", "LabelAttribute": "labels"}),
        ("inf-labels", {"ProbabilityIndex": 1, "LabelIndex": 0}),
    ],
)
def test_label_list_with_nan_or_infinity_is_a_model_error_not_a_500(
    sagemaker, sagemaker_runtime, layouts, layout, inference
):
    name = deploy(sagemaker, {"Image": f"{layouts}/{layout}"}, {"InferenceConfig": inference, **ZERO_BASELINE})
    with pytest.raises(ClientError) as caught:
        _invoke(sagemaker_runtime, name)
    error = caught.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 424, error
    assert error["Error"]["Code"] == "ModelError"
    assert "NaN or infinity" in error["Error"]["Message"]
