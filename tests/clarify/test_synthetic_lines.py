"""Synthetic records serialised in one buffer (``synthetic_lines``, ``Lines``) and cut into batches (``batch_lines``):
the same bytes and the same batches as serialising and cutting line by line (spec §5.2, §5.6)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openclarify.clarify.records import (
    MEGABYTE,
    CsvNumber,
    Lines,
    batch_lines,
    concat_lines,
    join_lines,
    serialize_rows,
    synthetic_lines,
)
from openclarify.errors import ValidationError

# Cells as requests bring them: CSV text (numbers spelled as text, quotes, commas, newlines, non-ASCII, empty), numbers
# read from a CSV baseline, and JSON values.
_TEXT = st.text(alphabet=st.sampled_from(list('ab ,"\n\r\t0.5-e+é漢😀')), max_size=8)
_CELL = st.one_of(
    _TEXT,
    st.sampled_from(["", "1.50", "-0", "nan", "inf", "1e-9", " 7 "]),
    st.sampled_from(["0", "12", "3.25"]).map(CsvNumber),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.lists(st.integers(0, 3), max_size=2),
)
_FORMATS = [
    ("text/csv", None, None),
    ("application/jsonlines", None, None),
    ("application/jsonlines", '{"features":$features}', "features"),
    ("application/jsonlines", '{"id":"é","x":$features,"n":1}', None),
    ("application/jsonlines", '{"a":$features,"b":$features}', None),
]


@st.composite
def _requests(draw):
    m = draw(st.integers(1, 6))
    n_rows = draw(st.integers(1, 4))
    instance = draw(st.lists(_CELL, min_size=m, max_size=m))
    baseline = draw(st.lists(st.lists(_CELL, min_size=m, max_size=m), min_size=n_rows, max_size=n_rows))
    n = draw(st.integers(0, 12))
    rows = draw(st.lists(st.lists(st.booleans(), min_size=m, max_size=m), min_size=n, max_size=n))
    masks = np.array(rows, dtype=bool)
    return instance, baseline, masks.reshape(n, m), draw(st.sampled_from(_FORMATS))


def _one_by_one(instance, baseline, masks, fmt) -> list[bytes]:
    rows = [[instance[j] if take else row[j] for j, take in enumerate(mask)] for mask in masks for row in baseline]
    return serialize_rows(rows, *fmt)


@settings(max_examples=300, deadline=None)
@given(_requests())
def test_lines_equal_rows_serialised_one_by_one(request):
    instance, baseline, masks, fmt = request
    lines = synthetic_lines(instance, baseline, masks, *fmt)
    expected = _one_by_one(instance, baseline, masks, fmt)
    assert list(lines) == expected
    assert len(lines) == len(expected)
    assert lines.body == b"\n".join(expected)
    assert lines.lengths().tolist() == [len(line) for line in expected]
    if expected:
        assert lines[-1] == expected[-1]


@settings(max_examples=200, deadline=None)
@given(_requests(), st.integers(-15, 15), st.integers(-15, 15), st.sampled_from([1, 2, 3]))
def test_slices_and_concatenation_keep_every_line(request, start, stop, step):
    instance, baseline, masks, fmt = request
    lines = synthetic_lines(instance, baseline, masks, *fmt)
    expected = _one_by_one(instance, baseline, masks, fmt)
    part = lines[start:stop:step]
    assert list(part) == expected[start:stop:step]
    assert join_lines(part) == b"\n".join(expected[start:stop:step])
    halves = concat_lines([lines[:start], lines[start:]])
    assert list(halves) == expected and halves.body == lines.body


def test_a_line_index_out_of_range_is_an_index_error():
    lines = Lines.of([b"a", b"bc"])
    assert (lines[0], lines[1], lines[-2]) == (b"a", b"bc", b"a")
    with pytest.raises(IndexError):
        lines[2]
    with pytest.raises(IndexError):
        lines[-3]


def test_a_wide_record_is_built_in_blocks(monkeypatch):
    # Blocks of a few cells each: the lines must come out the same as from one block.
    rng = np.random.default_rng(3)
    instance = [f"x{j}" for j in range(7)]
    baseline = [[f"b{b}{j}" for j in range(7)] for b in range(3)]
    masks = rng.random((40, 7)) < 0.5
    whole = synthetic_lines(instance, baseline, masks, "text/csv")
    monkeypatch.setattr("openclarify.clarify.records._CELLS_PER_BLOCK", 50)
    assert synthetic_lines(instance, baseline, masks, "text/csv") == whole
    assert list(whole) == _one_by_one(instance, baseline, masks, ("text/csv", None, None))


def _greedy(lengths: list[int], max_records: int | None, limit: int) -> list[tuple[int, int]]:
    """Batches taken line by line: each line joins the batch while the batch stays within both limits."""
    batches, start, size = [], 0, 0
    for index, length in enumerate(lengths):
        added = length + (1 if index > start else 0)
        if index > start and ((max_records and index - start >= max_records) or size + added > limit):
            batches.append((start, index))
            start, size, added = index, 0, length
        size += added
    if start < len(lengths):
        batches.append((start, len(lengths)))
    return batches


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.integers(0, MEGABYTE // 2), min_size=0, max_size=30),
    st.one_of(st.none(), st.integers(1, 7)),
    st.booleans(),
)
def test_batches_are_the_greedy_ones_line_by_line(lengths, max_records, as_buffer):
    lines = [bytes([65 + i % 26]) * length for i, length in enumerate(lengths)]
    given_lines = Lines.of(lines) if as_buffer else lines
    batches = list(batch_lines(given_lines, max_records, 1))
    assert [(b.start, b.stop) for b in batches] == _greedy(lengths, max_records, MEGABYTE)
    assert [b.body for b in batches] == [b"\n".join(lines[b.start : b.stop]) for b in batches]
    assert all(len(b.body) <= MEGABYTE for b in batches)


def test_a_line_past_the_limit_is_refused_before_any_batch():
    lines = Lines.of([b"1", b"x" * (MEGABYTE + 1), b"2"])
    with pytest.raises(ValidationError, match="Synthetic record 2 is 1048577 bytes, more than MaxPayloadInMB"):
        next(batch_lines(lines, None, 1))
