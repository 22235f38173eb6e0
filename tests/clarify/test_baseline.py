"""SHAP baseline parsing (spec §5.5)."""

from __future__ import annotations

import numpy as np
import pytest

from openclarify.clarify.baseline import check_width, parse_baseline
from openclarify.clarify.records import csv_line, jsonlines_line, synthetic_lines
from openclarify.errors import ValidationError, ValidationException


def test_csv_baseline_default_mime_type():
    baseline = parse_baseline("38.76832669322709,2.2148738379814077,0\n1,2,3")
    assert baseline.size == 2
    assert baseline.width == 3
    np.testing.assert_array_equal(baseline.matrix(), [[38.76832669322709, 2.2148738379814077, 0], [1, 2, 3]])


def test_text_baselines_keep_their_strings():
    assert parse_baseline("<UNK>").rows == (("<UNK>",),)
    assert parse_baseline('"<MASK>"').rows == (("<MASK>",),)
    assert parse_baseline(b'"a, b",1\n').rows == (("a, b", "1"),)


def test_a_csv_baselines_numbers_go_to_json_lines_as_numbers_and_to_csv_as_written():
    # The SageMaker SDK always sends the baseline as text/csv; a JSON Lines model must still get numbers from it.
    row = parse_baseline('0,1.50,-2e3,+7,"cat",,nan,1e999').rows[0]
    template = '{"features":$features}'
    assert jsonlines_line(row, template) == '{"features":[0,1.5,-2000.0,7,"cat","","nan","1e999"]}'
    assert csv_line(row) == '0,1.50,-2e3,+7,"cat",,nan,1e999'
    masks = np.array([[True, False, False, False, False, False, False, False]])
    line = synthetic_lines((5, 6, 7, 8, "dog", "", 9, 10), [row], masks, "application/jsonlines", template)[0]
    assert line == b'{"features":[5,1.5,-2000.0,7,"cat","","nan","1e999"]}'


def test_jsonlines_baseline_with_features_attribute():
    data = b'{"features":[1,2]}\n{"features":[3,4]}\n'
    baseline = parse_baseline(data, "application/jsonlines", "features", source="s3://bucket/baseline.jsonl")
    assert baseline.rows == ((1, 2), (3, 4))


def test_errors_name_the_source():
    with pytest.raises(ValidationException, match=r"^s3://b/k\.csv: baseline row 2 has 1 features but row 1 has 2"):
        parse_baseline("1,2\n3", source="s3://b/k.csv")
    with pytest.raises(ValidationException, match="MimeType 'text/plain' is not supported"):
        parse_baseline("1,2", "text/plain")
    with pytest.raises(ValidationException, match=r"Baseline row 1, column 2: \"x\" is not a number"):
        parse_baseline("1,x").matrix()


def test_record_width_must_match():
    baseline = parse_baseline("0,0,0,0")
    check_width(baseline, [("1", "2", "3", "4")])
    with pytest.raises(ValidationError, match="Record 2 has 3 features but the SHAP baseline has 4"):
        check_width(baseline, [("1", "2", "3", "4"), ("1", "2", "3")])


@pytest.mark.parametrize(
    ("data", "words"),
    [
        # 1500 levels made json.loads raise RecursionError: CreateEndpointConfig answered 500.
        pytest.param("[" * 1500 + "]" * 1500, "Baseline row 1 nests JSON deeper than 64 levels.", id="nested"),
        # Passed CreateEndpointConfig, then failed the deployment with "Internal error ... (OverflowError)".
        pytest.param(
            "[1,2]\n[3,1" + "0" * 400 + "]",
            "Baseline row 2, column 2: an integer of 401 digits is not a finite number as a 64-bit float",
            id="integer-past-float64",
        ),
        pytest.param("[" + "1" * 5000 + "]", "Baseline row 1 holds an integer of more than 4300 digits", id="long"),
    ],
)
def test_a_jsonlines_baseline_no_model_can_read_is_refused_when_parsed(data, words):
    with pytest.raises(ValidationException) as info:
        parse_baseline(data, "application/jsonlines")
    assert info.value.message.startswith(f"ShapBaseline cannot be parsed as application/jsonlines: {words}")


def test_a_csv_baseline_number_with_thousands_of_leading_zeros_reaches_json_lines_as_its_value():
    # Leading zeros count against Python's 4300-digit limit of int("..."): a finite cell once raised ValueError here.
    row = parse_baseline("0" * 5000 + "1,-" + "0" * 5000 + "2,0").rows[0]
    assert jsonlines_line(row, None) == "[1,-2,0]"
    np.testing.assert_array_equal(parse_baseline("0" * 5000 + "1,2").matrix(), [[1, 2]])


def test_a_leading_byte_order_mark_is_dropped_from_text_as_from_bytes():
    assert parse_baseline("\ufeff1,2").rows == parse_baseline(b"\xef\xbb\xbf1,2").rows == (("1", "2"),)
    assert parse_baseline("\ufeff[1,2]", "application/jsonlines").rows == ((1, 2),)


def test_bytes_not_in_utf8_name_the_baseline():
    with pytest.raises(ValidationException, match=r"^ShapBaselineUri 'b\.csv' is not valid UTF-8 \(byte 0\)"):
        parse_baseline("1,2".encode("utf-16"), source="ShapBaselineUri 'b.csv'")


def test_row_and_value_bounds_count_rows_not_line_breaks():
    from openclarify.clarify.baseline import MAX_BASELINE_CELLS, MAX_BASELINE_ROWS

    # Quoted cells may hold line breaks and commas: they are one row, however many of each.
    quoted = '"' + "a,\n" * (MAX_BASELINE_ROWS + 1) + '",1\n'
    assert parse_baseline(quoted).size == 1
    with pytest.raises(ValidationException, match=f"holds more than {MAX_BASELINE_ROWS:,} rows"):
        parse_baseline("1\n" * (MAX_BASELINE_ROWS + 1))
    with pytest.raises(ValidationException, match=f"holds more than {MAX_BASELINE_ROWS:,} rows"):
        parse_baseline("[1]\n" * (MAX_BASELINE_ROWS + 1), "application/jsonlines")
    with pytest.raises(ValidationException, match=f"holds more than {MAX_BASELINE_CELLS:,} values"):
        parse_baseline("[" + ",".join(["0"] * (MAX_BASELINE_CELLS + 1)) + "]", "application/jsonlines")
    assert parse_baseline("1\n" * MAX_BASELINE_ROWS + "\n\n").size == MAX_BASELINE_ROWS
