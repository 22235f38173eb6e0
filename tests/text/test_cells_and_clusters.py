"""Text cells and units at the edges found by the text-feature audit: units that never cut a user-perceived
character, paragraphs at every line break, a text too long for spaCy, and JSON Lines cells that are not strings."""

from __future__ import annotations

import json

import httpx
import numpy as np
import pytest
from botocore.exceptions import ClientError
from prometheus_client.parser import text_string_to_metric_families
from tests.text.conftest import (
    brute_force_shapley,
    deploy,
    invoke,
    masked,
    mixed_jsonl_explainer,
    text_explainer,
    units_of,
)

from openclarify.clarify.text import paragraphs, split_units

SKLEARN = "openclarify/sklearn"

FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # man ZWJ woman ZWJ girl: one emoji
THUMBS = "\U0001f44d\U0001f3fd"  # thumbs up, medium skin tone
FLAGS = "\U0001f1eb\U0001f1f7\U0001f1e9\U0001f1ea"  # FR then DE, written without a space
HEART = "\u2764\ufe0f"  # heart and its emoji variation selector


@pytest.mark.parametrize("language", ["en", "zh", "xx"])
def test_token_units_never_cut_a_grapheme_cluster(language):
    text = f"{FAMILY} {THUMBS} ok {FLAGS} I {HEART} it"
    units = split_units(text, language, "token")
    assert [u.text for u in units] == [FAMILY, THUMBS, "ok", FLAGS[:2], FLAGS[2:], "I", HEART, "it"]
    assert all(text[u.start : u.end] == u.text for u in units)


@pytest.mark.parametrize("language", ["en", "xx"])
def test_a_combining_mark_stays_on_its_letter(language):
    text = "e\u0301te\u0301 cafe\u0301"  # été café, decomposed
    assert [(u.text, u.start) for u in split_units(text, language, "token")] == [
        ("e\u0301te\u0301", 0),
        ("cafe\u0301", 6),
    ]


def test_jieba_word_segmentation_keeps_combining_marks_on_their_letters():
    units = split_units("a\u0301b", "zh", "token")
    assert all(not u.text[0].isspace() and u.text[0] != "\u0301" for u in units)
    assert "".join(u.text for u in units) == "a\u0301b"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("one\r\rtwo", [("one", 0), ("two", 5)]),  # classic Mac line ends
        ("one\u2029two", [("one", 0), ("two", 4)]),  # the paragraph separator ends a paragraph by itself
        ("one\u2028two\u2028\u2028three", [("one\u2028two", 0), ("three", 9)]),  # line separators
        ("one\r\n \r\ntwo\n", [("one", 0), ("two", 8)]),
    ],
)
def test_paragraphs_end_at_every_line_break(text, expected):
    assert [(u.text, u.start) for u in paragraphs(text)] == expected


# -- through boto3 ---------------------------------------------------------------------------------------------


def test_an_emoji_sequence_is_one_unit_in_the_response(sagemaker, sagemaker_runtime, text_models):
    container = {"Image": SKLEARN, "ModelDataUrl": str(text_models["words"].path)}
    name = deploy(sagemaker, container, text_explainer("<UNK>", "token", feature_types=["text"]))
    text = f"{FAMILY} great e\u0301te\u0301"
    _, body = invoke(sagemaker_runtime, name, f'"{text}"', ContentType="text/csv")
    assert units_of(body["explanations"]["kernel_shap"][0][0]) == [(FAMILY, 0), ("great", 6), ("e\u0301te\u0301", 12)]


@pytest.fixture(scope="module")
def jsonl_endpoint(sagemaker, text_models) -> str:
    container = {"Image": SKLEARN, "ModelDataUrl": str(text_models["mixed"].path)}
    return deploy(sagemaker, container, mixed_jsonl_explainer())


def jsonl(features: list) -> str:
    return json.dumps({"features": features})


def test_a_text_longer_than_spacy_splits_is_a_validation_error(sagemaker_runtime, jsonl_endpoint):
    # spaCy refuses more than nlp.max_length (10^6) characters with a ValueError, which was answered as the
    # model's failure: ModelError (424) quoting spaCy's advice about its parser.
    body = jsonl(["x" * 1_000_001, 5])
    with pytest.raises(ClientError) as info:
        invoke(sagemaker_runtime, jsonl_endpoint, body, ContentType="application/jsonlines")
    error = info.value.response["Error"]
    assert error["Code"] == "ValidationError"
    assert error["Message"] == (
        "Record 1, column 1: a text of 1000001 characters is longer than the 1000000 that sentence granularity "
        "splits; send shorter text, or use paragraph granularity."
    )


@pytest.mark.parametrize(("cell", "spelled"), [(None, "null"), (True, "true"), (["great"], '["great"]')])
def test_a_json_cell_that_is_no_text_is_a_validation_error(sagemaker_runtime, jsonl_endpoint, cell, spelled):
    # Predicting alone, the model was given Python's spelling of the cell ("None", "True", "['great']").
    with pytest.raises(ClientError) as info:
        invoke(
            sagemaker_runtime,
            jsonl_endpoint,
            jsonl([cell, 5]),
            ContentType="application/jsonlines",
            EnableExplanations="`false`",
        )
    error = info.value.response["Error"]
    assert error["Code"] == "ValidationError"
    assert error["Message"] == f"Row 1, column 1 is a text feature but holds {spelled}, not a string or a number."


def test_a_json_number_in_a_text_column_is_explained_as_its_text(sagemaker_runtime, jsonl_endpoint, text_models):
    # It was predicted as the text "5" but refused when explained ("holds 5, not a string").
    _, body = invoke(sagemaker_runtime, jsonl_endpoint, jsonl([5, 4]), ContentType="application/jsonlines")
    review, stars = body["explanations"]["kernel_shap"][0]
    assert units_of(review) == [("5", 0)]
    predict = text_models["mixed"].predict

    def value(keep: tuple[bool, ...]) -> float:
        return float(predict([(masked("5", [("5", 0)], keep[:1], "<UNK>"), 4 if keep[1] else 3)])[0])

    got = [review["attributions"][0]["attribution"][0], stars["attributions"][0]["attribution"][0]]
    np.testing.assert_allclose(got, brute_force_shapley(value, 2), atol=1e-9)


def test_a_csv_text_cell_may_be_longer_than_the_csv_modules_own_limit(sagemaker, sagemaker_runtime, text_models):
    # Python's csv module refuses fields over 131 072 characters: such a cell was a 400 "field larger than field
    # limit", though the body holds 6 MiB.
    container = {"Image": SKLEARN, "ModelDataUrl": str(text_models["words"].path)}
    name = deploy(sagemaker, container, text_explainer("<UNK>", "paragraph", feature_types=["text"]))
    long = "great " * 40_000  # 240 000 characters
    _, body = invoke(sagemaker_runtime, name, f'"{long.strip()}\n\nawful"', ContentType="text/csv")
    assert units_of(body["explanations"]["kernel_shap"][0][0]) == [(long.strip(), 0), ("awful", len(long) + 1)]


def test_text_explanations_are_counted_in_the_metrics(server, sagemaker, sagemaker_runtime, text_models):
    # The text path returned before the count: openclarify_explanations_total stayed 0 for text endpoints.
    container = {"Image": SKLEARN, "ModelDataUrl": str(text_models["words"].path)}
    name = deploy(sagemaker, container, text_explainer("<UNK>", "token", feature_types=["text"]))
    invoke(sagemaker_runtime, name, '"great fun"\n"awful"', ContentType="text/csv")
    counted = {
        sample.labels["kind"]: sample.value
        for family in text_string_to_metric_families(httpx.get(server.url + "/metrics").text)
        for sample in family.samples
        if sample.name == "openclarify_explanations_total" and sample.labels.get("endpoint") == name
    }
    assert counted == {"exact": 2.0, "sampled": 0.0}  # two and one units: every coalition fits the default budget
