"""Response bytes beyond ASCII and plain numbers (spec §4.1, §4.2): string escaping, float spelling, and label lists
that strict JSON cannot carry."""

from __future__ import annotations

import json

import numpy as np
import pytest

from openclarify.clarify.config import InferenceConfig
from openclarify.clarify.outputs import extract_label_headers, split_outputs
from openclarify.clarify.response import RecordExplanation, build_response
from openclarify.errors import ModelError


@pytest.mark.parametrize(
    ("body", "content_type", "inference"),
    [
        ('{"p":0.5,"labels":["a",NaN]}', "application/jsonlines", {"label_attribute": "labels"}),
        ('{"p":0.5,"labels":[Infinity]}', "application/jsonlines", {"label_attribute": "labels"}),
        ('{"p":0.5,"labels":[{"name":-Infinity}]}', "application/jsonlines", {"label_attribute": "labels"}),
        ('"[1e999]",0.5', "text/csv", {"label_index": 0}),
        ('"[NaN, 1]",0.5', "text/csv", {"label_index": 0}),
    ],
)
def test_label_list_holding_nan_or_infinity_is_a_model_error(body, content_type, inference):
    # Written into label_headers they made json.dumps(allow_nan=False) raise: an InternalFailure (500) that boto3
    # retries, for a model answer the server cannot express.
    outputs = split_outputs(body, content_type, 1)
    with pytest.raises(ModelError, match="NaN or infinity"):
        extract_label_headers(outputs, InferenceConfig(**inference))


def test_nan_labels_are_named_before_they_are_compared_across_records():
    # NaN != NaN, so two identical lists would otherwise be reported as differing.
    outputs = split_outputs('{"labels":[NaN]}\n{"labels":[NaN]}\n', "application/jsonlines", 2)
    with pytest.raises(ModelError, match="NaN or infinity"):
        extract_label_headers(outputs, InferenceConfig(label_attribute="labels"))


def test_large_and_tiny_finite_labels_pass_through():
    outputs = split_outputs('{"labels":[1e308,5e-324,-0.0,12345678901234567890]}', "application/jsonlines", 1)
    labels = extract_label_headers(outputs, InferenceConfig(label_attribute="labels"))
    body = build_response(
        predictions_content_type="application/jsonlines",
        predictions_data=b"",
        explanations=[RecordExplanation.tabular(np.array([[0.1, 0.2, 0.3, 0.4]]))],
        label_headers=labels,
    )
    assert b'"label_headers":[1e+308,5e-324,-0.0,12345678901234567890]' in body


def test_floats_are_python_repr_the_spec_s_rule():
    values = [-0.0, 1e-17, 0.1 + 0.2, 1e-320, 5e-324, 1e308, 2.0**53, 1e16, float(np.float32(0.1))]
    body = build_response(
        predictions_content_type="text/csv",
        predictions_data=b"1\n",
        explanations=[RecordExplanation.tabular(np.array([values]))],
    )
    expected = ",".join(repr(v) for v in values)
    assert f'"attribution":[{expected}]'.encode() in body
    assert b"[-0.0,1e-17,0.30000000000000004,1e-320,5e-324,1e+308,9007199254740992.0,1e+16,0.10000000149011612]" in body


def test_strings_are_escaped_to_ascii_as_json_dumps_writes_them():
    headers = ["é", "日本", "😀", 'a"b\\c', "x\x00\x1f\x7f", "lone\ud800"]
    body = build_response(
        predictions_content_type="text/csv; charset=utf-8",
        predictions_data='é,"q"\r\n'.encode(),
        explanations=[RecordExplanation.tabular(np.zeros(len(headers)))],
        feature_headers=headers,
        label_headers=["日本"],
    )
    assert body.isascii()
    assert b'"data":"\\u00e9,\\"q\\"\\r\\n"' in body
    assert b'"label_headers":["\\u65e5\\u672c"]' in body
    written = [f["feature_header"] for f in json.loads(body)["explanations"]["kernel_shap"][0]]
    assert written == headers
    for escaped in (
        b"\\u00e9",
        b"\\u65e5\\u672c",
        b"\\ud83d\\ude00",
        b'a\\"b\\\\c',
        b"x\\u0000\\u001f\\u007f",
        b"lone\\ud800",
    ):
        assert b'"feature_header":"' + escaped + b'"' in body
