"""Text features end to end through boto3: a scikit-learn text Pipeline served in process and in a container,
responses in Clarify's NLP layout, attributions that add up and equal brute-force Shapley values."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
from botocore.exceptions import ClientError
from tests.clarify.captured import DOC_NLP_TOKENS, NLP_SENTENCES
from tests.text.conftest import (
    brute_force_shapley,
    deploy,
    invoke,
    masked,
    mixed_jsonl_explainer,
    text_explainer,
    units_of,
)

SKLEARN = "openclarify/sklearn"


def captured_units(body: bytes) -> list[tuple[str, int]]:
    return units_of(json.loads(body)["explanations"]["kernel_shap"][0][0])


def rebuild(units: list[tuple[str, int]]) -> str:
    """The original string of a captured response: units at their offsets, single spaces between."""
    text = ""
    for part, start in units:
        text += " " * (start - len(text)) + part
    return text


REVIEW = rebuild(captured_units(NLP_SENTENCES))  # the NLP notebook's review, spec §4.3 (d)


def csv_cell(text: str) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow([text])  # quotes commas, quotes and newlines
    return buffer.getvalue()[:-1]


@pytest.fixture(scope="module")
def sentences_endpoint(sagemaker, text_models) -> str:
    # The notebook's config: FeatureTypes ["text"], baseline <UNK>, sentences, English.
    container = {"Image": SKLEARN, "ModelDataUrl": str(text_models["words"].path)}
    return deploy(sagemaker, container, text_explainer("<UNK>", "sentence", feature_types=["text"]))


def check_exact(feature: dict, text: str, replacement: str, predict, rows=lambda t: [(t,)]) -> None:
    units = units_of(feature)

    def value(keep: tuple[bool, ...]) -> float:
        return float(predict(rows(masked(text, units, keep, replacement)))[0])

    expected = brute_force_shapley(value, len(units))
    got = np.array([a["attribution"][0] for a in feature["attributions"]])
    np.testing.assert_allclose(got, expected, atol=1e-9)


def test_sentence_granularity_matches_the_notebook_layout(sagemaker_runtime, sentences_endpoint, text_models):
    raw, body = invoke(sagemaker_runtime, sentences_endpoint, csv_cell(REVIEW), extended=False, ContentType="text/csv")
    assert raw == json.dumps(body, separators=(",", ":")).encode()  # compact, as Clarify writes it
    assert list(body) == ["version", "predictions", "explanations"]
    (record,) = body["explanations"]["kernel_shap"]
    (feature,) = record
    assert list(feature) == ["feature_type", "attributions"]  # no FeatureHeaders: no feature_header (spec §4.3 d)
    assert feature["feature_type"] == "text"
    # Golden: the same four sentences at the same offsets as the real response.
    assert units_of(feature) == captured_units(NLP_SENTENCES)
    assert all(list(a) == ["attribution", "description"] for a in feature["attributions"])
    assert all(list(a["description"]) == ["partial_text", "start_idx"] for a in feature["attributions"])
    # 4 units: min(2*4 + 2048, 2^4 - 2) = 14 coalitions, every one: exact Shapley values.
    check_exact(feature, REVIEW, "<UNK>", text_models["words"].predict)


def test_attributions_add_up_to_f_x_minus_f_baseline(sagemaker_runtime, sentences_endpoint, text_models):
    _, body = invoke(sagemaker_runtime, sentences_endpoint, csv_cell(REVIEW), ContentType="text/csv")
    feature = body["explanations"]["kernel_shap"][0][0]
    details = body["openclarify"]["kernel_shap"][0]
    total = sum(a["attribution"][0] for a in feature["attributions"])
    predict = text_models["words"].predict
    f_x = float(predict([(REVIEW,)])[0])
    # Every sentence masked collapses to one "<UNK>": the expected value is the baseline's own prediction.
    f_baseline = float(predict([("<UNK>",)])[0])
    assert details["f_x"][0] == pytest.approx(f_x, abs=1e-12)
    assert details["expected_value"][0] == pytest.approx(f_baseline, abs=1e-12)
    assert total == pytest.approx(f_x - f_baseline, abs=1e-12)
    assert details["exact"] is True and details["model_rows"] == 14


def test_doc_token_example(sagemaker, sagemaker_runtime, text_models):
    # Spec §4.3 (e): ShapBaseline '"<MASK>"' (a quoted CSV cell), NumberOfSamples 100, body '"This is a good product"'.
    container = {"Image": SKLEARN, "ModelDataUrl": str(text_models["words"].path)}
    explainer = text_explainer('"<MASK>"', "token", feature_types=["text"], NumberOfSamples=100)
    explainer["InferenceConfig"]["MaxRecordCount"] = 100
    name = deploy(sagemaker, container, explainer)
    _, body = invoke(sagemaker_runtime, name, '"This is a good product"', ContentType="text/csv")
    feature = body["explanations"]["kernel_shap"][0][0]
    expected = json.loads(DOC_NLP_TOKENS)["explanations"]["kernel_shap"][0][0]
    assert units_of(feature) == units_of(expected)
    assert feature["feature_type"] == expected["feature_type"] == "text"
    assert body["openclarify"]["kernel_shap"][0]["model_rows"] == 30  # min(100, 2^5 - 2)
    check_exact(feature, "This is a good product", "<MASK>", text_models["words"].predict)


def test_many_tokens_sampled_still_add_up(sagemaker_runtime, sentences_endpoint, sagemaker, text_models):
    container = {"Image": SKLEARN, "ModelDataUrl": str(text_models["words"].path)}
    name = deploy(sagemaker, container, text_explainer("<UNK>", "token", feature_types=["text"], Seed=3))
    _, body = invoke(sagemaker_runtime, name, csv_cell(REVIEW), ContentType="text/csv")
    feature = body["explanations"]["kernel_shap"][0][0]
    details = body["openclarify"]["kernel_shap"][0]
    units = units_of(feature)
    assert len(units) > 40 and all(REVIEW[s : s + len(t)] == t for t, s in units)
    m = len(units)
    assert details["exact"] is False and details["model_rows"] == 2 * m + 2048  # Clarify's budget for this M
    total = sum(a["attribution"][0] for a in feature["attributions"])
    assert total == pytest.approx(details["f_x"][0] - details["expected_value"][0], abs=1e-12)
    # The most negative and most positive units are words the model scores below and above the baseline alone.
    values = [a["attribution"][0] for a in feature["attributions"]]
    lowest, highest = units[int(np.argmin(values))][0], units[int(np.argmax(values))][0]
    predict = text_models["words"].predict
    assert predict([(lowest,)])[0] < predict([("<UNK>",)])[0] < predict([(highest,)])[0]


# -- mixed text and numeric columns -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mixed_endpoint(sagemaker, text_models) -> str:
    container = {"Image": SKLEARN, "ModelDataUrl": str(text_models["mixed"].path)}
    explainer = text_explainer('"<UNK>",3', "token", feature_types=["text", "numerical"])
    explainer["InferenceConfig"]["FeatureHeaders"] = ["review", "stars"]
    return deploy(sagemaker, container, explainer)


MIXED_TEXTS = [
    'Nice, "soft" fabric',  # embedded comma and doubled quotes in CSV
    "Cheap\nfabric, ripped",  # embedded newline
    "",  # empty text: no units, only the stars column is a player
    "Terrible",  # one unit
]


@pytest.mark.parametrize("text", MIXED_TEXTS)
def test_mixed_csv_records_exact_and_additive(sagemaker_runtime, mixed_endpoint, text_models, text):
    stars = 4
    body_text = f"{csv_cell(text) if text else ''},{stars}"
    _, body = invoke(sagemaker_runtime, mixed_endpoint, body_text, ContentType="text/csv")
    review, star = body["explanations"]["kernel_shap"][0]
    assert list(review) == ["feature_header", "feature_type", "attributions"]
    assert (review["feature_header"], review["feature_type"]) == ("review", "text")
    assert (star["feature_header"], star["feature_type"]) == ("stars", "numerical")
    assert len(star["attributions"]) == 1 and "description" not in star["attributions"][0]
    units = units_of(review)
    assert all(text[s : s + len(t)] == t for t, s in units)
    predict = text_models["mixed"].predict

    def value(keep: tuple[bool, ...]) -> float:
        row = (masked(text, units, keep[:-1], "<UNK>"), stars if keep[-1] else 3)
        return float(predict([row])[0])

    expected = brute_force_shapley(value, len(units) + 1)
    got = [a["attribution"][0] for a in review["attributions"]] + [star["attributions"][0]["attribution"][0]]
    np.testing.assert_allclose(got, expected, atol=1e-9)
    details = body["openclarify"]["kernel_shap"][0]
    assert sum(got) == pytest.approx(details["f_x"][0] - details["expected_value"][0], abs=1e-12)
    assert details["f_x"][0] == pytest.approx(float(predict([(text, stars)])[0]), abs=1e-12)


def test_mixed_batch_with_quoted_newlines_explains_each_record(sagemaker_runtime, mixed_endpoint, text_models):
    rows = [(t, s) for t, s in zip(MIXED_TEXTS, [5, 1, 2, 3], strict=True)]
    body_text = "\n".join(f"{csv_cell(t) if t else ''},{s}" for t, s in rows)
    _, body = invoke(sagemaker_runtime, mixed_endpoint, body_text, ContentType="text/csv")
    predictions = [float(line) for line in body["predictions"]["data"].splitlines()]
    np.testing.assert_allclose(predictions, text_models["mixed"].predict(rows), atol=1e-12)
    explained = body["explanations"]["kernel_shap"]
    assert len(explained) == 4
    for (text, _), record, details in zip(rows, explained, body["openclarify"]["kernel_shap"], strict=True):
        assert [t for t, _ in units_of(record[0])] == [t for t in _words(text)]
        total = sum(a["attribution"][0] for feature in record for a in feature["attributions"])
        assert total == pytest.approx(details["f_x"][0] - details["expected_value"][0], abs=1e-12)


def _words(text: str) -> list[str]:
    return {
        MIXED_TEXTS[0]: ["Nice", ",", '"', "soft", '"', "fabric"],
        MIXED_TEXTS[1]: ["Cheap", "fabric", ",", "ripped"],
        "": [],
        "Terrible": ["Terrible"],
    }[text]


def test_json_lines_mixed_record(sagemaker, sagemaker_runtime, text_models):
    container = {"Image": SKLEARN, "ModelDataUrl": str(text_models["mixed"].path)}
    name = deploy(sagemaker, container, mixed_jsonl_explainer())
    text = "Great fit. Cheap fabric though!"
    _, body = invoke(sagemaker_runtime, name, json.dumps({"features": [text, 5]}), ContentType="application/jsonlines")
    review, star = body["explanations"]["kernel_shap"][0]
    assert units_of(review) == [("Great fit.", 0), ("Cheap fabric though!", 11)]
    total = review["attributions"][0]["attribution"][0] + review["attributions"][1]["attribution"][0]
    total += star["attributions"][0]["attribution"][0]
    details = body["openclarify"]["kernel_shap"][0]
    assert total == pytest.approx(details["f_x"][0] - details["expected_value"][0], abs=1e-12)
    assert details["f_x"][0] == pytest.approx(float(text_models["mixed"].predict([(text, 5)])[0]), abs=1e-12)
    # A numerical cell past a double's range is the client's bad cell (it was a 500: OverflowError).
    huge = json.dumps({"features": [text, 10**400]})
    with pytest.raises(ClientError) as info:
        invoke(sagemaker_runtime, name, huge, ContentType="application/jsonlines")
    error = info.value.response["Error"]
    assert error["Code"] == "ValidationError"
    assert "column 2: an integer of 401 digits is not a finite number as a 64-bit float" in error["Message"]


def test_feature_types_inferred_from_the_baseline(sagemaker, sagemaker_runtime, text_models):
    # No FeatureTypes: the baseline's non-numeric column is text, the numeric one numerical (docs/text.md).
    container = {"Image": SKLEARN, "ModelDataUrl": str(text_models["mixed"].path)}
    name = deploy(sagemaker, container, text_explainer("<UNK>,3", "paragraph"))
    _, body = invoke(sagemaker_runtime, name, csv_cell("First part.\n\nSecond part.") + ",5", ContentType="text/csv")
    review, star = body["explanations"]["kernel_shap"][0]
    assert units_of(review) == [("First part.", 0), ("Second part.", 13)]
    assert (review["feature_type"], star["feature_type"]) == ("text", "numerical")


# -- the remote container ---------------------------------------------------------------------------------------


def test_text_over_http_to_a_model_container(sagemaker, sagemaker_runtime, text_container, text_models):
    explainer = text_explainer('"<UNK>",3', "token", feature_types=["text", "numerical"])
    explainer["InferenceConfig"]["MaxRecordCount"] = 5
    name = deploy(sagemaker, {"Image": text_container.url}, explainer)
    text = 'So "comfy", love it'
    before = len(text_container.requests())
    _, body = invoke(sagemaker_runtime, name, f"{csv_cell(text)},2", ContentType="text/csv")
    review, star = body["explanations"]["kernel_shap"][0]
    units = units_of(review)
    assert [t for t, _ in units] == ["So", '"', "comfy", '"', ",", "love", "it"]
    predict = text_models["mixed"].predict

    def value(keep: tuple[bool, ...]) -> float:
        return float(predict([(masked(text, units, keep[:-1], "<UNK>"), 2 if keep[-1] else 3)])[0])

    got = [a["attribution"][0] for a in review["attributions"]] + [star["attributions"][0]["attribution"][0]]
    np.testing.assert_allclose(got, brute_force_shapley(value, 8), atol=1e-9)
    # The request itself, the baseline in this request's format (cached per format), then 8 players: every
    # coalition but the empty and the full one, in batches of at most MaxRecordCount.
    sent = text_container.requests()[before:]
    assert sent[:2] == [1, 1]
    assert sum(sent[2:]) == 2**8 - 2 and max(sent[2:]) == 5


# -- limits -----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_limit_server(tmp_path_factory, model_root):
    from tests.conftest import LiveServer

    live = LiveServer(
        tmp_path_factory.mktemp("text-limit"),
        [model_root],
        env={"OPENCLARIFY_MAX_TEXT_UNITS": "6", "OPENCLARIFY_MAX_DESIGN_CELLS": "100"},
    ).start()
    yield live
    live.stop()


def test_too_many_units_is_a_validation_error(small_limit_server, text_models):
    sagemaker = small_limit_server.client("sagemaker")
    runtime = small_limit_server.client("sagemaker-runtime")
    container = {"Image": SKLEARN, "ModelDataUrl": str(text_models["words"].path)}
    name = deploy(sagemaker, container, text_explainer("<UNK>", "token", feature_types=["text"]))
    _, ok = invoke(runtime, name, "one two three four five six", ContentType="text/csv")
    assert len(ok["explanations"]["kernel_shap"][0][0]["attributions"]) == 6
    with pytest.raises(ClientError) as info:
        invoke(runtime, name, "one two three four five six seven", ContentType="text/csv")
    error = info.value.response["Error"]
    assert error["Code"] == "ValidationError"
    assert "more than 6 text units" in error["Message"] and "max_text_units" in error["Message"]


def test_a_record_whose_units_need_a_design_past_the_bound_is_a_validation_error(small_limit_server, text_models):
    # A text record's players are its units, counted per record: the bound on the design is checked at the
    # invocation, before any synthetic record is scored.
    sagemaker = small_limit_server.client("sagemaker")
    runtime = small_limit_server.client("sagemaker-runtime")
    container = {"Image": SKLEARN, "ModelDataUrl": str(text_models["words"].path)}
    name = deploy(sagemaker, container, text_explainer("<UNK>", "token", feature_types=["text"], NumberOfSamples=40))
    _, ok = invoke(runtime, name, "one two three four", ContentType="text/csv")  # 14 coalitions, all listed
    assert ok["openclarify"]["kernel_shap"][0]["exact"] is True
    with pytest.raises(ClientError) as info:
        invoke(runtime, name, "one two three four five six", ContentType="text/csv")
    error = info.value.response["Error"]
    assert error["Code"] == "ValidationError"
    assert error["Message"].startswith("Record 1: ShapConfig.NumberOfSamples 40 needs a larger coalition design")
    assert "6 players and 40 coalitions make a design of 240 cells, more than the 100 allowed" in error["Message"]
    assert "Lower NumberOfSamples, or a coarser text Granularity." in error["Message"]
