"""The SHAP baseline: parse inline ``ShapBaseline`` text or the bytes of a ``ShapBaselineUri`` file (spec §5.5).

Reading the URI is the caller's job; this module only turns bytes into baseline rows and checks them. Parsing uses
the configured ``MimeType`` (``text/csv`` by default, or ``application/jsonlines`` with ``FeaturesAttribute``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from openclarify.clarify.records import (
    CSV,
    JSONLINES,
    Record,
    csv_numbers,
    media_type,
    parse_csv,
    parse_jsonlines,
    require_float_range,
    to_float_matrix,
)
from openclarify.errors import ValidationError, ValidationException

SUPPORTED_MIME_TYPES = (CSV, JSONLINES)

# Clarify documents no bound on a baseline's rows, but every row multiplies the synthetic dataset (spec §5.2): past
# these, explanations would mostly run out of the 60 s limit. Reading rows costs far more than their bytes (a 16 MiB
# CSV of 8 million cells took a minute of CPU and 2 GB as row tuples), so the bounds are checked on a cheap count
# before the rows are built.
MAX_BASELINE_ROWS = 100_000
MAX_BASELINE_CELLS = 1_000_000


@dataclass(frozen=True)
class Baseline:
    """Baseline rows with raw values (strings for CSV, number cells as ``CsvNumber``; JSON values for JSON Lines),
    all the same width."""

    rows: tuple[Record, ...]

    @property
    def size(self) -> int:
        return len(self.rows)

    @property
    def width(self) -> int:
        return len(self.rows[0])

    def matrix(self) -> np.ndarray:
        """``(size, width)`` float64; a non-numeric cell raises ValidationException naming baseline row and column."""
        try:
            return to_float_matrix(self.rows, what="Baseline row")
        except ValidationError as exc:
            raise ValidationException(exc.message) from exc


def parse_baseline(
    data: bytes | str,
    mime_type: str | None = None,
    features_attribute: str | None = None,
    *,
    source: str = "ShapBaseline",
) -> Baseline:
    """Parse baseline data. Errors are ValidationException whose message starts with ``source``.

    ``source`` names where the data came from (the config member or the URI), so the same function serves
    CreateEndpointConfig validation and the endpoint's baseline load.
    """
    kind = media_type(mime_type) if mime_type else CSV
    if kind not in SUPPORTED_MIME_TYPES:
        raise ValidationException(
            f"{source}: MimeType {mime_type!r} is not supported; use text/csv or application/jsonlines."
        )
    text = _decode(data, source)
    _check_size(text, kind, source)
    try:
        if kind == CSV:
            # Number cells are marked as such, so that JSON Lines requests send them to the model as numbers.
            rows = [csv_numbers(row) for row in parse_csv(text, what="baseline row")]
        else:
            rows = parse_jsonlines(text, features_attribute, what="baseline row")
            # No model scores a number past float64's range, so the config is refused now, not at each deployment.
            require_float_range(rows, what="Baseline row")
    except ValidationError as exc:
        raise ValidationException(f"{source} cannot be parsed as {kind}: {_baseline_wording(exc.message)}") from exc
    width = len(rows[0])
    if kind == JSONLINES:  # a JSON line's cells are only known once it is read
        _check_cells(sum(len(row) for row in rows), source)
    for number, row in enumerate(rows, start=1):
        if len(row) != width:
            raise ValidationException(
                f"{source}: baseline row {number} has {len(row)} features but row 1 has {width}; "
                "every baseline row must have the same features."
            )
    return Baseline(rows=tuple(rows))


def _decode(data: bytes | str, source: str) -> str:
    """The baseline as text. A leading byte-order mark is dropped whether the baseline came as bytes (a file) or as
    text (inline, often read from a file that holds one): in both it is the same spreadsheet export."""
    if isinstance(data, str):
        return data.removeprefix("\ufeff")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationException(
            f"{source} is not valid UTF-8 (byte {exc.start}); save the baseline as UTF-8 text."
        ) from None


def _check_size(text: str, kind: str, source: str) -> None:
    if kind == JSONLINES:
        rows = text.rstrip().count("\n") + 1
        if rows > MAX_BASELINE_ROWS:
            raise _too_large(source, f"more than {MAX_BASELINE_ROWS:,} rows")
        return
    # Commas and line breaks bound the cells from above; only a baseline near the bounds is counted exactly,
    # since quoted cells may hold both.
    if text.count(",") + text.count("\n") + 1 <= MAX_BASELINE_CELLS and text.count("\n") < MAX_BASELINE_ROWS:
        return
    rows = cells = 0
    try:
        for row in csv.reader(io.StringIO(text, newline="")):
            rows += bool(row)
            cells += len(row)
            if rows > MAX_BASELINE_ROWS:
                raise _too_large(source, f"more than {MAX_BASELINE_ROWS:,} rows")
            _check_cells(cells, source)
    except csv.Error:
        return  # not CSV: the parse says where


def _check_cells(cells: int, source: str) -> None:
    if cells > MAX_BASELINE_CELLS:
        raise _too_large(source, f"more than {MAX_BASELINE_CELLS:,} values (rows × features)")


def _too_large(source: str, what: str) -> ValidationException:
    return ValidationException(
        f"{source} holds {what}; a SHAP baseline should hold a few representative rows, since each explained record "
        "costs baseline rows × NumberOfSamples model rows."
    )


def _baseline_wording(message: str) -> str:
    return message.replace("The request body holds no records.", "it holds no rows.")


def check_width(baseline: Baseline, records: Sequence[Record]) -> None:
    """Every request record must have as many features as the baseline (spec §5.5). ValidationError names the record."""
    for number, record in enumerate(records, start=1):
        if len(record) != baseline.width:
            raise ValidationError(
                f"Record {number} has {len(record)} features but the SHAP baseline has {baseline.width}; "
                "records must have the same columns as the baseline."
            )
