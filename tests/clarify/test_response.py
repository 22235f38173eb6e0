"""Byte-exact response bodies (spec §4): golden tests rebuilt from the captured payloads of §4.3."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from openclarify.clarify.response import (
    ExplanationDetails,
    FeatureAttributions,
    RecordExplanation,
    TextSpan,
    UnitAttribution,
    build_response,
)

from . import captured

ADULT_HEADERS = [
    "Age", "Workclass", "fnlwgt", "Education", "Education-Num", "Marital Status", "Occupation",
    "Relationship", "Ethnic group", "Sex", "Capital Gain", "Capital Loss", "Hours per week", "Country",
]  # fmt: skip
ADULT_PHI = [
    -0.002863750863790409, -7.958259263737853e-05, -0.0005799106931207973, 7.400679338294426e-05,
    -0.0011474692113115962, -0.0010910584437894126, 4.752810313976612e-05, -0.003110098727907769,
    -0.0010510744473187237, -2.486117335041576e-05, 0.007341078375308486, 0.0005919217832840569,
    -0.0003354581308615858, 2.9343273508735876e-05,
]  # fmt: skip


def test_tabular_capture_is_reproduced_byte_for_byte():
    body = build_response(
        predictions_content_type="text/csv; charset=utf-8",
        predictions_data=b"0.0006380207487381995\n",
        explanations=[RecordExplanation.tabular(np.array(ADULT_PHI))],
        feature_headers=ADULT_HEADERS,
    )
    assert body == captured.TABULAR_ADULT
    assert len(body) == 1391


def test_multi_model_capture_is_reproduced_byte_for_byte():
    headers = ["YEAR_BUILT", "SQUARE_FEET", "NUM_BEDROOMS", "NUM_BATHROOMS", "LOT_ACRES", "GARAGE_SPACES"]
    phi = [43204.68750000001, -18403.078124999996, -15086.921875, 3.637978807091713e-12, 5.4569682106375694e-12,
           -8704.93750000002]  # fmt: skip
    body = build_response(
        predictions_content_type="text/csv",
        predictions_data="416284.03125",
        explanations=[RecordExplanation.tabular(np.array(phi)[:, None])],
        feature_headers=headers,
    )
    assert body == captured.MME_CHICAGO
    assert len(body) == 641


def text_feature(units: list[tuple[float, str, int]]) -> FeatureAttributions:
    return FeatureAttributions(
        attributions=tuple(
            UnitAttribution(values=(value,), description=TextSpan(text, start)) for value, text, start in units
        ),
        feature_type="text",
    )


def test_nlp_capture_is_reproduced_byte_for_byte():
    sentences = [
        (0.06300842799999996, "I am 5'6\", 130 lbs with an athletic body type and i ordered a size small.", 0),
        (
            -0.17682224599999996,
            "these were really baggy in the thigh/quadricep area and made my thighs look bulky.",
            74,
        ),
        (
            0.19618576600000012,
            "the fabric quality is very nice and i like the idea of them for curvier body types.",
            157,
        ),
        (0.0976928519999999, "my son commented that they looked like pajama pants and i agreed.", 241),
    ]
    body = build_response(
        predictions_content_type="text/csv",
        predictions_data="0.9713779\n",
        explanations=[RecordExplanation(features=(text_feature(sentences),))],
        nlp=True,
    )
    assert body == captured.NLP_SENTENCES
    assert len(body) == 809


def test_doc_nlp_token_example_has_the_same_content():
    # The developer-guide example is hand-formatted (feature_type after attributions), so compare parsed values.
    tokens = [(-0.007270948666666712, "This", 0), (-0.018199033666666628, "is", 5), (0.01970993241666666, "a", 8),
              (0.1253469515833334, "good", 10), (0.03291143366666657, "product", 15)]  # fmt: skip
    body = build_response(
        predictions_content_type="text/csv",
        predictions_data="0.9766594\n",
        explanations=[RecordExplanation(features=(text_feature(tokens),))],
        nlp=True,
    )
    assert json.loads(body) == json.loads(captured.DOC_NLP_TOKENS)


def test_no_explained_record_gives_an_empty_object():
    # Spec §4.3 (a) second example; and (c): `false` on a batch gives {}, never {"kernel_shap":[null,null]}.
    body = build_response(
        predictions_content_type="text/csv; charset=utf-8", predictions_data="0.6380207487381995", explanations=[None]
    )
    assert (
        body == b'{"version":"1.0","predictions":{"content_type":"text/csv; charset=utf-8",'
        b'"data":"0.6380207487381995"},"explanations":{}}'
    )
    assert build_response(
        predictions_content_type="text/csv", predictions_data="0.1\n0.2\n", explanations=[None, None]
    ).endswith(b'"explanations":{}}')


def test_nlp_no_explanation_capture_length():
    # Spec §4.2: the NLP no-explanation body was 98 bytes. Its data is not shown; a one-record answer of the same
    # notebook's form (7 decimals and a newline) gives exactly that length.
    body = build_response(
        predictions_content_type="text/csv", predictions_data="0.9713779\n", explanations=[None], nlp=True
    )
    assert (
        body == b'{"version":"1.0","predictions":{"content_type":"text/csv","data":"0.9713779\\n"},"explanations":{}}'
    )
    assert len(body) == 98


def test_unexplained_records_are_null_in_request_order():
    body = build_response(
        predictions_content_type="text/csv",
        predictions_data="0.1\n0.99\n0.2\n",
        explanations=[None, RecordExplanation.tabular(np.array([0.5, -0.25])), None],
    )
    assert json.loads(body)["explanations"] == {
        "kernel_shap": [
            None,
            [{"attributions": [{"attribution": [0.5]}]}, {"attributions": [{"attribution": [-0.25]}]}],
            None,
        ]
    }


def test_label_headers_and_multi_output_attributions():
    phi = np.array([[0.1, -0.05, -0.05], [0.0, 0.2, -0.2]])
    body = build_response(
        predictions_content_type="application/jsonlines",
        predictions_data='{"predicted_label":"dog","probabilities":[0.1,0.6,0.3]}\n',
        explanations=[RecordExplanation.tabular(phi)],
        feature_headers=["f1", "f2"],
        label_headers=["cat", "dog", "fish"],
    )
    assert body.startswith(
        b'{"version":"1.0","predictions":{"content_type":"application/jsonlines","data":"{\\"predicted_label\\":\\"dog\\",'
    )
    document = json.loads(body)
    assert list(document) == ["version", "predictions", "label_headers", "explanations"]
    assert document["label_headers"] == ["cat", "dog", "fish"]
    assert document["explanations"]["kernel_shap"][0][1] == {
        "feature_header": "f2",
        "attributions": [{"attribution": [0.0, 0.2, -0.2]}],
    }


def test_feature_type_only_in_nlp_mode():
    record = RecordExplanation(features=(FeatureAttributions((UnitAttribution((1.0,)),), feature_type="numerical"),))
    tabular = build_response(predictions_content_type="text/csv", predictions_data="1", explanations=[record])
    assert b"feature_type" not in tabular
    nlp = build_response(predictions_content_type="text/csv", predictions_data="1", explanations=[record], nlp=True)
    assert b'"feature_type":"numerical"' in nlp


def test_non_finite_values_become_null():
    body = build_response(
        predictions_content_type="text/csv",
        predictions_data="1",
        explanations=[RecordExplanation.tabular(np.array([math.nan, math.inf, -math.inf, 1.5]))],
    )
    assert json.loads(body)["explanations"]["kernel_shap"][0][0]["attributions"][0]["attribution"] == [None]
    assert b"NaN" not in body and b"Infinity" not in body


def test_extended_form_adds_one_member_and_keeps_clarify_bytes():
    details = ExplanationDetails(
        expected_value=(0.0028374067042022,),
        f_x=(0.0006380207487381995,),
        standard_errors=tuple((1e-4,) for _ in ADULT_PHI),
        exact=False,
        model_rows=2076,
        seed=42,
    )
    args = dict(
        predictions_content_type="text/csv; charset=utf-8",
        predictions_data=b"0.0006380207487381995\n",
        explanations=[RecordExplanation.tabular(np.array(ADULT_PHI), details)],
        feature_headers=ADULT_HEADERS,
    )
    assert build_response(**args) == captured.TABULAR_ADULT  # details never leak into the default form
    extended = build_response(**args, extended=True)
    assert extended.startswith(captured.TABULAR_ADULT[:-1] + b',"openclarify":{"kernel_shap":[{')
    extra = json.loads(extended)["openclarify"]["kernel_shap"][0]
    assert extra == {
        "expected_value": [0.0028374067042022],
        "f_x": [0.0006380207487381995],
        "standard_errors": [[1e-4]] * 14,
        "exact": False,
        "model_rows": 2076,
        "seed": 42,
        "deadline_reached": False,
    }


def test_extended_form_mirrors_unexplained_records():
    body = build_response(
        predictions_content_type="text/csv",
        predictions_data="0.1\n0.9",
        explanations=[None, RecordExplanation.tabular(np.array([0.8]))],
        extended=True,
    )
    assert json.loads(body)["openclarify"] == {"kernel_shap": [None, None]}
    nothing = build_response(
        predictions_content_type="text/csv", predictions_data="0.1", explanations=[None], extended=True
    )
    assert nothing.endswith(b'"explanations":{},"openclarify":{}}')


def test_header_count_must_match_features():
    with pytest.raises(ValueError, match="2 feature headers for 3 features"):
        build_response(
            predictions_content_type="text/csv",
            predictions_data="1",
            explanations=[RecordExplanation.tabular(np.zeros(3))],
            feature_headers=["a", "b"],
        )


@given(st.lists(st.floats(allow_nan=False, allow_infinity=False, width=64), min_size=1, max_size=8))
def test_floats_round_trip_exactly(values):
    body = build_response(
        predictions_content_type="text/csv",
        predictions_data="1",
        explanations=[RecordExplanation.tabular(np.array(values))],
    )
    parsed = [f["attributions"][0]["attribution"][0] for f in json.loads(body)["explanations"]["kernel_shap"][0]]
    assert parsed == values
    assert b" " not in body
