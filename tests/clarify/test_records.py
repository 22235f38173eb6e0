"""Request records: CSV and JSON Lines parsing, numeric conversion, serialisation, batching (spec §5.1, §5.6, §6)."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from openclarify.clarify.records import (
    MEGABYTE,
    batch_lines,
    csv_line,
    parse_records,
    serialize_rows,
    synthetic_lines,
    to_float_matrix,
)
from openclarify.errors import ValidationError

# --- CSV ----------------------------------------------------------------------------------------------------------


def test_spec_csv_inputs():
    assert parse_records(b"1,2,3,4", "text/csv") == [("1", "2", "3", "4")]
    assert parse_records(b"1,2,3,4\n5,6,7,8\n", "text/csv; charset=utf-8") == [
        ("1", "2", "3", "4"),
        ("5", "6", "7", "8"),
    ]
    assert parse_records(b'"This is a good product",5', "text/csv") == [("This is a good product", "5")]


def test_quoted_commas_quotes_and_newlines():
    body = b'"a, b","say ""hi""","line1\nline2",4\r\n"x",,"",7\n'
    assert parse_records(body, "text/csv") == [("a, b", 'say "hi"', "line1\nline2", "4"), ("x", "", "", "7")]


def test_trailing_blank_lines_are_ignored_but_inner_ones_are_errors():
    assert parse_records(b"1,2\n\n\n", "text/csv") == [("1", "2")]
    with pytest.raises(ValidationError, match=r"Record 2 \(line 2\) is empty"):
        parse_records(b"1,2\n\n3,4\n", "text/csv")


def test_ragged_rows_name_the_record():
    with pytest.raises(ValidationError, match="Record 3 has 1 features; expected 2"):
        parse_records(b"1,2\n3,4\n5\n", "text/csv")


def test_bad_quoting_names_the_record():
    with pytest.raises(ValidationError, match=r"Record 2 \(line 2\) is not valid CSV"):
        parse_records(b'1,2\n"3"x,4\n', "text/csv")


def test_empty_body_and_bad_encoding():
    with pytest.raises(ValidationError, match="no records"):
        parse_records(b"", "text/csv")
    with pytest.raises(ValidationError, match="not valid UTF-8"):
        parse_records(b"\xff\xfe1,2", "text/csv")


def test_byte_order_mark_is_dropped():
    assert parse_records("\ufeff1,2".encode(), "text/csv") == [("1", "2")]


def test_unsupported_content_type():
    with pytest.raises(ValidationError, match="'application/json' is not supported"):
        parse_records(b"[1,2]", "application/json")


# --- JSON Lines ---------------------------------------------------------------------------------------------------


def test_spec_jsonlines_inputs():
    assert parse_records(b'{"data":{"features":[1,2,3,4]}}', "application/jsonlines", "data.features") == [(1, 2, 3, 4)]
    assert parse_records(b'{"features":["This is a good product",5]}', "application/jsonlines", "features") == [
        ("This is a good product", 5)
    ]


def test_jsonlines_without_features_attribute_needs_arrays():
    assert parse_records(b"[1,2]\n[3,4]\n", "application/jsonlines") == [(1, 2), (3, 4)]
    with pytest.raises(ValidationError, match="Record 1 has no feature list: it is an object and no FeaturesAttribute"):
        parse_records(b'{"features":[1]}', "application/jsonlines")


def test_jsonlines_errors_name_the_record():
    with pytest.raises(ValidationError, match="Record 2 is not valid JSON"):
        parse_records(b'{"f":[1]}\n{"f":[1}\n', "application/jsonlines", "f")
    with pytest.raises(ValidationError, match="Record 2 has no feature list: FeaturesAttribute 'f' gave null"):
        parse_records(b'{"f":[1]}\n{"g":[1]}\n', "application/jsonlines", "f")
    with pytest.raises(ValidationError, match="Record 2 is an empty line"):
        parse_records(b'{"f":[1]}\n\n{"f":[1]}', "application/jsonlines", "f")


def test_jsonlines_does_not_split_on_unicode_line_separators():
    assert parse_records('["a\u2028b",1]'.encode(), "application/jsonlines") == [("a\u2028b", 1)]


@pytest.mark.parametrize("depth", [65, 100_000])
def test_a_record_nested_too_deep_is_named(depth):
    # 100 000 levels made json.loads raise RecursionError (a 500); 65 parse, but are held to the control plane's 64.
    body = "[1]\n" + "[" * depth + "]" * depth
    with pytest.raises(ValidationError, match=r"^Record 2 nests JSON deeper than 64 levels\.$"):
        parse_records(body, "application/jsonlines")
    assert len(parse_records("[" * 64 + "]" * 64, "application/jsonlines")) == 1


def test_a_record_with_an_integer_too_long_to_read_is_named():
    with pytest.raises(ValidationError, match=r"^Record 1 holds an integer of more than 4300 digits"):
        parse_records("[" + "7" * 5000 + "]", "application/jsonlines")


# --- numbers --------------------------------------------------------------------------------------------------------


def test_float_matrix():
    matrix = to_float_matrix([("1", " 2.5", "nan"), (3, 4.5, "-1e3")])
    np.testing.assert_array_equal(matrix, [[1, 2.5, np.nan], [3, 4.5, -1000]])


@pytest.mark.parametrize("bad", ["", "abc", True, None, [1]])
def test_float_matrix_names_record_and_column(bad):
    with pytest.raises(ValidationError, match=r"Record 2, column 3: .* is not a number"):
        to_float_matrix([(1, 2, 3), (1, 2, bad)])


@pytest.mark.parametrize("sign", ["", "-"])
def test_an_integer_past_float64_is_not_a_finite_number_named_by_record_and_column(sign):
    # float(10**400) raises OverflowError (JSON's 1e400 and the text "1e400" read as inf instead).
    records = parse_records(f"[1,2,3]\n[4,{sign}1{'0' * 400},6]", "application/jsonlines")
    with pytest.raises(ValidationError) as info:
        to_float_matrix(records)
    assert info.value.message == (
        "Record 2, column 2: an integer of 401 digits is not a finite number as a 64-bit float, whose range ends "
        "near ±1.8e308."
    )
    assert to_float_matrix([(10**308,)])[0, 0] == 1e308


# --- serialisation --------------------------------------------------------------------------------------------------


def test_csv_lines_quote_text_and_keep_numbers_verbatim():
    assert csv_line(["1.50", "a, b", 'say "hi"', "", 2, 0.1, np.float64(1e-7), "two\nlines"]) == (
        '1.50,"a, b","say ""hi""",,2,0.1,1e-07,"two\nlines"'
    )


def test_a_lone_empty_cell_is_not_a_blank_line():
    assert csv_line([""]) == '""'
    assert parse_records(b"\n".join(serialize_rows([[""], ["x"]], "text/csv")), "text/csv") == [("",), ("x",)]


def test_content_template_round_trip():
    rows = [(1, 2.5, "text"), (np.float64(0.1), np.int64(3), "é")]
    lines = serialize_rows(rows, "application/jsonlines", '{"myfeatures":$features}')
    assert lines[0] == b'{"myfeatures":[1,2.5,"text"]}'
    assert parse_records(b"\n".join(lines), "application/jsonlines", "myfeatures") == [(1, 2.5, "text"), (0.1, 3, "é")]


def test_jsonlines_without_template_writes_the_array():
    assert serialize_rows([(1, 2)], "application/jsonlines") == [b"[1,2]"]


@given(
    st.lists(
        st.lists(
            st.one_of(st.text(), st.floats(allow_nan=False, allow_infinity=False), st.integers(-(10**12), 10**12)),
            min_size=3,
            max_size=3,
        ),
        min_size=1,
        max_size=5,
    )
)
def test_csv_serialisation_round_trips_through_the_parser(rows):
    body = b"\n".join(serialize_rows(rows, "text/csv"))
    parsed = list(csv.reader(io.StringIO(body.decode(), newline=""), strict=True))
    assert parsed == [[repr(v) if isinstance(v, float) else str(v) for v in row] for row in rows]


# --- batching -------------------------------------------------------------------------------------------------------


def test_batches_respect_max_record_count():
    lines = [str(i).encode() for i in range(10)]
    batches = list(batch_lines(lines, max_record_count=3, max_payload_in_mb=6))
    assert [(b.start, b.stop) for b in batches] == [(0, 3), (3, 6), (6, 9), (9, 10)]
    assert batches[0].body == b"0\n1\n2"


def test_max_record_count_one_sends_one_record_per_request():
    batches = list(batch_lines([b"a", b"b"], max_record_count=1, max_payload_in_mb=1))
    assert [b.body for b in batches] == [b"a", b"b"]


def test_batches_respect_payload_bytes():
    line = b"x" * (MEGABYTE // 4)  # four of these plus separators exceed 1 MiB; three fit
    batches = list(batch_lines([line] * 7, max_record_count=None, max_payload_in_mb=1))
    assert [(b.start, b.stop) for b in batches] == [(0, 3), (3, 6), (6, 7)]
    assert all(len(b.body) <= MEGABYTE for b in batches)


def test_exact_fit_is_allowed():
    half = MEGABYTE // 2
    lines = [b"x" * half, b"y" * (half - 1)]  # half + 1 separator + half - 1 == 1 MiB
    assert [len(b.body) for b in batch_lines(lines, None, 1)] == [MEGABYTE]


def test_a_row_larger_than_the_limit_is_an_error():
    with pytest.raises(ValidationError, match="Synthetic record 2 is 1048577 bytes, more than MaxPayloadInMB"):
        list(batch_lines([b"1", b"x" * (MEGABYTE + 1)], None, 1))


def test_no_lines_no_batches():
    assert list(batch_lines([], 5, 6)) == []


@given(
    st.lists(st.binary(min_size=0, max_size=40).filter(lambda b: b"\n" not in b), min_size=1, max_size=60),
    st.one_of(st.none(), st.integers(1, 10)),
)
def test_batches_cover_every_line_in_order(lines, max_records):
    batches = list(batch_lines(lines, max_records, 1))
    assert b"\n".join(b.body for b in batches) == b"\n".join(lines)
    assert [b.start for b in batches] == [0] + [b.stop for b in batches[:-1]]
    assert batches[-1].stop == len(lines)
    assert all(max_records is None or b.stop - b.start <= max_records for b in batches)


def test_features_attribute_without_template_cannot_be_rebuilt():
    with pytest.raises(ValidationError, match=r"need InferenceConfig\.ContentTemplate"):
        serialize_rows([(1, 2)], "application/jsonlines", None, "features")


@pytest.mark.parametrize(
    ("content_type", "template", "attribute"),
    [
        ("text/csv", None, None),
        ("application/jsonlines", '{"features":$features}', "features"),
        ("application/jsonlines", None, None),
        ("application/jsonlines", '{"a":$features,"b":$features}', None),
    ],
)
def test_synthetic_lines_equal_serialised_rows(content_type, template, attribute):
    instance = ("1.50", "a, b", 3, 0.25)
    baseline = [("0", "", 0, 0.0), ("9", 'q"uote', -1, 1e-9)]
    masks = np.array([[1, 0, 0, 1], [0, 1, 1, 0], [1, 1, 1, 0]], dtype=bool)
    rows = [[instance[j] if take else row[j] for j, take in enumerate(mask)] for mask in masks for row in baseline]
    assert list(synthetic_lines(instance, baseline, masks, content_type, template, attribute)) == serialize_rows(
        rows, content_type, template, attribute
    )


def test_synthetic_lines_single_empty_text_cell():
    masks = np.array([[False], [True]])
    assert list(synthetic_lines(("good",), [("",)], masks, "text/csv")) == [b'""', b'"good"']
