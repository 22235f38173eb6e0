"""Model outputs: split per record, scores and labels (spec §5.1 steps 4 and 6, §6 container output table)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from openclarify.clarify.config import InferenceConfig
from openclarify.clarify.outputs import (
    extract_label_headers,
    extract_scores,
    output_format,
    parse_cell,
    scores_for_batch,
    split_outputs,
)
from openclarify.errors import ModelError

DEFAULT = InferenceConfig()


def scores(body, content_type, n, inference=DEFAULT):
    general = extract_scores(split_outputs(body, content_type, n), inference)
    fast = scores_for_batch(body, content_type, n, inference)
    np.testing.assert_array_equal(general, fast)
    return general


# --- CSV layouts from the spec §6 table -------------------------------------------------------------------------


def test_probability_only_one_record():
    assert scores("0.6", "text/csv", 1).tolist() == [[0.6]]


def test_probability_two_records_on_one_line():
    assert scores("0.6,0.3", "text/csv", 2).tolist() == [[0.6], [0.3]]


def test_probability_one_line_per_record():
    assert scores("0.6\n0.3\n", "text/csv; charset=utf-8", 2).tolist() == [[0.6], [0.3]]


def test_multiclass_probabilities_one_record():
    assert scores("0.1,0.6,0.3", "text/csv", 1).tolist() == [[0.1, 0.6, 0.3]]


def test_label_and_probability():
    inference = InferenceConfig(probability_index=1, label_index=0)
    assert scores("1,0.6\n0,0.3", "text/csv", 2, inference).tolist() == [[0.6], [0.3]]
    # A scalar predicted label is not a class list: no label_headers.
    assert extract_label_headers(split_outputs("1,0.6\n0,0.3", "text/csv", 2), inference) is None


def test_label_headers_and_probability_lists_including_python_lists():
    body = "\"['cat','dog','fish']\",\"[0.1,0.6,0.3]\"\n\"['cat','dog','fish']\",\"[0.7,0.2,0.1]\"\n"
    inference = InferenceConfig(probability_index=1, label_index=0)
    outputs = split_outputs(body, "text/csv", 2)
    assert outputs.records[0] == [["cat", "dog", "fish"], [0.1, 0.6, 0.3]]
    assert scores(body, "text/csv", 2, inference).tolist() == [[0.1, 0.6, 0.3], [0.7, 0.2, 0.1]]
    assert extract_label_headers(outputs, inference) == ("cat", "dog", "fish")


def test_configured_label_headers_win():
    inference = InferenceConfig(label_headers=("no", "yes"), label_index=0)
    assert extract_label_headers(split_outputs("a,0.1", "text/csv", 1), inference) == ("no", "yes")
    assert extract_label_headers(split_outputs("0.1", "text/csv", 1), DEFAULT) is None


def test_differing_label_lists_are_a_model_error():
    body = "\"['a','b']\",\"[0.1,0.9]\"\n\"['b','a']\",\"[0.1,0.9]\""
    with pytest.raises(ModelError, match="differs from record 1"):
        extract_label_headers(split_outputs(body, "text/csv", 2), InferenceConfig(label_index=0))


@pytest.mark.parametrize(
    ("cell", "value"),
    [
        ("0.6", 0.6),
        ("1", 1),
        ("-2", -2),
        ("1e-3", 0.001),
        ("[0.1,0.6,0.3]", [0.1, 0.6, 0.3]),
        ("['cat','dog','fish']", ["cat", "dog", "fish"]),
        ("[1, 'a']", [1, "a"]),
        ("cat", "cat"),
        ("[not a list", "[not a list"),
        ("[__import__('os')]", "[__import__('os')]"),
    ],
)
def test_parse_cell(cell, value):
    assert parse_cell(cell) == value


# --- JSON Lines layouts ------------------------------------------------------------------------------------------


def test_jsonlines_score():
    assert scores(
        '{"score":0.6}\n{"score":0.2}\n', "application/jsonlines", 2, InferenceConfig(probability_attribute="score")
    ).tolist() == [[0.6], [0.2]]


def test_jsonlines_label_and_probability():
    inference = InferenceConfig(probability_attribute="probability", label_attribute="predicted_label")
    outputs = split_outputs('{"predicted_label":1,"probability":0.6}', "application/jsonlines", 1)
    assert extract_scores(outputs, inference).tolist() == [[0.6]]
    assert extract_label_headers(outputs, inference) is None


def test_jsonlines_labels_and_probabilities():
    inference = InferenceConfig(probability_attribute="probabilities", label_attribute="predicted_labels")
    body = '{"predicted_labels":["cat","dog","fish"],"probabilities":[0.1,0.6,0.3]}'
    outputs = split_outputs(body, "application/jsonlines", 1)
    assert extract_scores(outputs, inference).tolist() == [[0.1, 0.6, 0.3]]
    assert extract_label_headers(outputs, inference) == ("cat", "dog", "fish")


def test_jsonlines_without_attribute_uses_a_number_or_list():
    assert scores("0.5\n0.25\n", "application/jsonlines", 2).tolist() == [[0.5], [0.25]]
    assert scores("[0.2,0.8]\n[0.3,0.7]", "application/jsonlines", 2).tolist() == [[0.2, 0.8], [0.3, 0.7]]
    with pytest.raises(ModelError, match=r"Set InferenceConfig\.ProbabilityAttribute"):
        scores('{"score":0.6}', "application/jsonlines", 1)


# --- errors a person can act on ----------------------------------------------------------------------------------


def test_wrong_row_count():
    with pytest.raises(ModelError, match="returned 2 lines for 3 records"):
        split_outputs("0.1\n0.2\n", "text/csv", 3)
    with pytest.raises(ModelError, match="returned 1 JSON Lines for 2 records"):
        split_outputs('{"a":1}', "application/jsonlines", 2)
    with pytest.raises(ModelError, match="returned 2 lines for 3 records"):
        scores_for_batch("0.1\n0.2\n", "text/csv", 3, DEFAULT)


def test_unparsable_values():
    with pytest.raises(ModelError, match='Record 2: the model\'s score "oops" is not a number'):
        scores("0.1\noops\n", "text/csv", 2)
    with pytest.raises(ModelError, match="not valid JSON"):
        split_outputs("{bad", "application/jsonlines", 1)
    with pytest.raises(ModelError, match="ProbabilityIndex 3 is out of range"):
        scores("1,0.6", "text/csv", 1, InferenceConfig(probability_index=3))
    with pytest.raises(ModelError, match="record 1 gave 1"):
        scores("0.1\n0.2,0.8\n", "text/csv", 2)


def test_an_integer_score_past_float64_is_a_model_error_naming_the_record():
    # float(10**400) raised OverflowError: a 500. A score spelled 1e400 reads as inf, which the callers refuse.
    big = "1" + "0" * 400
    with pytest.raises(ModelError, match=r"^Record 2: the model's score holds an integer of 401 digits, which is not"):
        extract_scores(split_outputs(f"0.5\n{big}\n", "text/csv", 2), DEFAULT)
    with pytest.raises(ModelError, match=r"^Record 1: the model's score holds an integer of 401 digits"):
        extract_scores(
            split_outputs(f'{{"score":-{big}}}', "application/jsonlines", 1),
            InferenceConfig(probability_attribute="score"),
        )


def test_an_integer_cell_too_long_for_python_reads_as_the_float_it_spells():
    # int() of more than 4300 digits raised ValueError: a 500. As a float it is inf, like "1e5000", and callers refuse
    # inf scores; leading zeros (which count against the limit) change nothing.
    assert parse_cell("1" + "0" * 5000) == float("inf")
    assert parse_cell("-" + "0" * 5000 + "7") == -7
    assert extract_scores(split_outputs("1" + "0" * 5000, "text/csv", 1), DEFAULT).tolist() == [[float("inf")]]
    # Inside a list cell it is neither JSON nor a Python literal Python will read: the cell stays text.
    cell = "[" + "1" * 5000 + "]"
    assert parse_cell(cell) == cell
    with pytest.raises(
        ModelError, match=r"^Line 1 of the model's JSON Lines output holds an integer of more than 4300"
    ):
        split_outputs("[" + "1" * 5000 + "]", "application/jsonlines", 1)


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        pytest.param(
            "[" * 5000 + "]" * 5000,
            "application/jsonlines",
            "Line 1 of the model's JSON Lines output nests JSON",
            id="jsonlines-5000",
        ),
        pytest.param(
            "[0.5]\n" + "[" * 65 + "]" * 65,
            "application/jsonlines",
            "Line 2 of the model's JSON Lines output nests JSON",
            id="jsonlines-65",
        ),
        pytest.param("[" * 3000 + "]" * 3000, "text/csv", "A cell of the model's CSV output nests JSON", id="csv-3000"),
        pytest.param(
            "0.5,'a'\n0.5," + "[" * 65 + "'a'" + "]" * 65,
            "text/csv",
            "A cell of the model's CSV output nests lists",
            id="csv-python-list-65",
        ),
    ],
)
def test_output_nested_too_deep_is_a_model_error(body, content_type, message):
    # 5000 and 3000 levels made json.loads raise RecursionError: a 500.
    with pytest.raises(ModelError) as info:
        split_outputs(body, content_type, body.count("\n") + 1)
    assert info.value.message == f"{message} deeper than 64 levels."


def test_unsupported_output_content_type():
    with pytest.raises(ModelError, match="content type 'application/x-protobuf'"):
        split_outputs(b"\x00", "application/x-protobuf", 1)


def test_comment_character_is_data_not_a_comment():
    with pytest.raises(ModelError):
        scores_for_batch("0.1#x\n0.2", "text/csv", 2, DEFAULT)


@given(
    st.integers(1, 30).flatmap(
        lambda n: st.tuples(
            st.just(n),
            st.lists(
                st.lists(st.floats(allow_nan=False, allow_infinity=False, width=64), min_size=2, max_size=2),
                min_size=n,
                max_size=n,
            ),
        )
    )
)
def test_fast_path_matches_general_path(case):
    n, rows = case
    body = "\n".join(",".join(repr(v) for v in row) for row in rows) + "\n"
    inference = InferenceConfig(probability_index=1)
    assert scores(body, "text/csv", n, inference).tolist() == [[row[1]] for row in rows]


def test_a_model_answer_without_content_type_says_so():
    for missing in (None, ""):
        with pytest.raises(ModelError) as info:
            output_format(missing)
        assert info.value.message.startswith("The model answered without a content type; explanations need")
    with pytest.raises(ModelError, match="answered with content type 'text/plain'"):
        output_format("text/plain")


def test_an_answer_with_more_lines_than_records_is_refused_before_its_lines_are_read():
    # Millions of lines for one record took seconds and hundreds of megabytes to parse before the count was checked.
    csv_answer = "0.5\n" + "not,read,[[[\n" * 1_000_000
    with pytest.raises(ModelError, match=r"returned 1000001 lines for 1 records"):
        split_outputs(csv_answer, "text/csv", 1)
    # The lines past the count are never parsed: the second one is not even JSON.
    with pytest.raises(ModelError, match=r"returned 3 JSON Lines for 1 records"):
        split_outputs('{"score": 0.5}\n{not json\n{"score": 0.1}\n', "application/jsonlines", 1)
    assert split_outputs("0.5\n0.25\n\n", "text/csv", 2).records == ([0.5], [0.25])
