"""Model responses: split per record, then extract score vectors and label headers (spec §5.1 steps 4 and 6).

A record's output is a JSON-compatible value, the same value ``EnableExplanations`` is evaluated on:

- ``text/csv``: a list of cells, numbers parsed, bracketed list cells (JSON or Python-style) parsed into lists;
- JSON Lines: the line's JSON value.

Problems with what the model answered are ``ModelError`` (424): the client's request was fine, the model's answer is
not something Clarify can explain.
"""

from __future__ import annotations

import ast
import csv
import io
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from openclarify.clarify._jmespath import InvalidExpression, compile_expression
from openclarify.clarify.config import InferenceConfig
from openclarify.clarify.records import (
    CSV,
    JSONLINES,
    MAX_DEPTH,
    TooDeep,
    is_number_text,
    loads_shallow,
    media_type,
    number_value,
    too_deep,
)
from openclarify.errors import ModelError

# [INF] Containers label JSON Lines output in several ways; all are one JSON value per line. application/json is
# included because a one-record JSON answer is also a one-line JSON Lines answer (sklearn-style containers use it).
JSONLINES_ALIASES = frozenset({JSONLINES, "application/x-jsonlines", "application/jsonl", "application/json"})


@dataclass(frozen=True)
class ModelOutputs:
    """Per-record outputs of one model response. ``csv`` says how they were read (lists of cells, or JSON values)."""

    records: tuple[Any, ...]
    csv: bool


def _fail(message: str) -> ModelError:
    return ModelError(message)


def output_format(content_type: str | None) -> str:
    """``CSV`` or ``JSONLINES`` for a model response content type; anything else is a ModelError."""
    kind = media_type(content_type)
    if kind == CSV:
        return CSV
    if kind in JSONLINES_ALIASES:
        return JSONLINES
    answered = f"with content type {content_type!r}" if kind else "without a content type"
    raise _fail(
        f"The model answered {answered}; explanations need text/csv or application/jsonlines output. Set Accept on "
        "the request or configure the container's output format."
    )


def _decode(body: bytes | str) -> str:
    if isinstance(body, str):
        return body
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _fail(f"The model's response is not valid UTF-8 (byte {exc.start}).") from exc


def split_outputs(body: bytes | str, content_type: str | None, n_records: int) -> ModelOutputs:
    """Split a model response into ``n_records`` per-record outputs.

    CSV layouts (spec §5.1 step 4, §6): one line per record; or, when there is exactly one line with one cell per
    record and more than one record, one cell per record (``'0.6,0.3'`` for two records, as the MME capture shows).
    """
    text = _decode(body)
    if output_format(content_type) == CSV:
        rows = _csv_rows(text, n_records)
        if len(rows) == 1 and n_records > 1 and len(rows[0]) == n_records:
            return ModelOutputs(records=tuple([cell] for cell in rows[0]), csv=True)
        _require_count(len(rows), n_records, "lines")
        return ModelOutputs(records=tuple(rows), csv=True)
    values = _json_values(text, n_records)
    return ModelOutputs(records=tuple(values), csv=False)


def _require_count(found: int, expected: int, unit: str) -> None:
    if found != expected:
        raise _fail(_count_message(f"{found} {unit}", expected))


def _count_message(found: str, expected: int) -> str:
    return (
        f"The model returned {found} for {expected} records; it must return one output per record, in request order "
        "(one CSV line or JSON line per record, or one CSV line holding one value per record)."
    )


def _csv_rows(text: str, n_records: int) -> list[list[Any]]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[list[Any]] = []
    lines = 0  # up to the last line that holds a cell
    try:
        for number, cells in enumerate(reader, start=1):
            if cells:
                lines = number
            # Past one line per record the answer is wrong whatever follows, so further lines are only counted (by
            # the C reader), never turned into Python values: four million lines for one record took 7.5 s and 260 MB.
            if number <= max(n_records, 1):
                rows.append([parse_cell(cell) for cell in cells])
    except csv.Error as exc:
        raise _fail(f"The model's CSV output is malformed at line {reader.line_num}: {exc}.") from exc
    if lines > max(n_records, 1):
        raise _fail(_count_message(f"{lines} lines", n_records))
    while rows and not rows[-1]:
        rows.pop()
    for number, row in enumerate(rows, start=1):
        if not row:
            raise _fail(f"The model's CSV output has an empty line {number} between records.")
    return rows


def parse_cell(cell: str) -> Any:
    """A CSV output cell as a JSON-compatible value: number, list, or the string itself.

    ``"[0.1,0.6,0.3]"`` → list via JSON; ``"['cat','dog','fish']"`` (Python repr, as the spec's examples show) → list
    via ``ast.literal_eval``, which evaluates literals only. Anything else non-numeric stays a string.
    """
    stripped = cell.strip()
    if is_number_text(stripped):
        return number_value(stripped)
    if stripped.startswith("[") and stripped.endswith("]"):
        try:
            return loads_shallow(stripped)
        except TooDeep as exc:
            raise _fail(f"A cell of the model's CSV output {exc}.") from None
        except ValueError:  # not JSON, or an integer too long to read (which literal_eval refuses too)
            pass
        try:
            value = ast.literal_eval(stripped)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return cell
        if isinstance(value, list | tuple):
            if too_deep(list(value), MAX_DEPTH):
                raise _fail(f"A cell of the model's CSV output nests lists deeper than {MAX_DEPTH} levels.")
            return list(value)
    return cell


def _json_values(text: str, n_records: int) -> list[Any]:
    lines = [line.rstrip("\r") for line in text.split("\n")]
    while lines and not lines[-1].strip():
        lines.pop()
    _require_count(len(lines), n_records, "JSON Lines")  # counted before any line is parsed
    values = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            raise _fail(f"The model's JSON Lines output has an empty line {number} between records.")
        try:
            values.append(loads_shallow(line))
        except TooDeep as exc:
            raise _fail(f"Line {number} of the model's JSON Lines output {exc}.") from None
        except json.JSONDecodeError as exc:
            raise _fail(f"Line {number} of the model's JSON Lines output is not valid JSON: {exc.msg}.") from exc
        except ValueError as exc:  # the only other error of json.loads: an integer too long to read
            raise _fail(
                f"Line {number} of the model's JSON Lines output holds an integer of more than "
                f"{sys.get_int_max_str_digits()} digits, which cannot be read."
            ) from exc
    return values


# --------------------------------------------------------------------------------------------------------------
# Scores and labels


def _search(expression: str, member: str) -> Any:
    try:
        return compile_expression(expression)
    except InvalidExpression as exc:  # validated at CreateEndpointConfig; kept for direct callers
        raise _fail(f"{member} {expression!r} is not a valid JMESPath expression: {exc}.") from exc


def score_value(output: Any, csv_output: bool, inference: InferenceConfig, record: int) -> Any:
    """The raw score of one record's output: ``ProbabilityIndex`` / ``ProbabilityAttribute``, else the whole output."""
    if csv_output:
        if inference.probability_index is None:
            return output[0] if len(output) == 1 else output
        if inference.probability_index >= len(output):
            raise _fail(
                f"Record {record}: ProbabilityIndex {inference.probability_index} is out of range; the model output "
                f"has {len(output)} columns ({_preview(output)})."
            )
        return output[inference.probability_index]
    if inference.probability_attribute is None:
        return output
    return _search(inference.probability_attribute, "ProbabilityAttribute").search(output)


def score_vector(value: Any, record: int, hint: str = "") -> np.ndarray:
    """A score (number) or score list as a float64 vector of length D ≥ 1."""
    items = value if isinstance(value, list) else [value]
    if not items:
        raise _fail(f"Record {record}: the model's score is an empty list.{hint}")
    vector = np.empty(len(items), dtype=np.float64)
    for i, item in enumerate(items):
        if isinstance(item, bool) or not isinstance(item, int | float | str):
            raise _fail(
                f"Record {record}: the model's score {_preview(value)} is not a number or list of numbers.{hint}"
            )
        if isinstance(item, str) and not is_number_text(item):
            raise _fail(
                f"Record {record}: the model's score {_preview(value)} is not a number or list of numbers.{hint}"
            )
        try:
            vector[i] = float(item)
        except OverflowError:  # an int: float("1e999") is inf, which callers refuse, but float(10**400) raises
            digits = len(str(abs(int(item))))  # read from text, so within the digits str() may write
            raise _fail(
                f"Record {record}: the model's score holds an integer of {digits} digits, which is not a finite "
                f"number as a 64-bit float, whose range ends near ±1.8e308.{hint}"
            ) from None
    return vector


def extract_scores(outputs: ModelOutputs, inference: InferenceConfig) -> np.ndarray:
    """``(n_records, D)`` float64 scores; every record must give the same D."""
    hint = _score_hint(outputs.csv, inference)
    rows = [
        score_vector(score_value(output, outputs.csv, inference, number), number, hint)
        for number, output in enumerate(outputs.records, start=1)
    ]
    return _stack(rows)


def _stack(rows: Sequence[np.ndarray]) -> np.ndarray:
    width = len(rows[0]) if rows else 0
    for number, row in enumerate(rows, start=1):
        if len(row) != width:
            raise _fail(f"Record {number}: the model gave {len(row)} scores but record 1 gave {width}.")
    return np.vstack(rows) if rows else np.empty((0, 0))


def _score_hint(csv_output: bool, inference: InferenceConfig) -> str:
    if csv_output and inference.probability_index is None:
        return " Set InferenceConfig.ProbabilityIndex to the column that holds the score."
    if not csv_output and inference.probability_attribute is None:
        return " Set InferenceConfig.ProbabilityAttribute to the JMESPath of the score."
    return ""


def _preview(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def extract_label_headers(outputs: ModelOutputs, inference: InferenceConfig) -> tuple[Any, ...] | None:
    """Label headers for the response's ``label_headers``, or None when unknown (spec §5.1 step 6).

    ``LabelHeaders`` from the config win. Otherwise ``LabelIndex`` (CSV) or ``LabelAttribute`` (JSON Lines) read a
    list of class names from the model output. [INF] A scalar there is the record's *predicted* label, which differs
    between records and cannot be one top-level header list, so it is not emitted. Class lists must agree across
    records: a single ``label_headers`` list labels every record's attributions.
    """
    if inference.label_headers is not None:
        return inference.label_headers
    if outputs.csv and inference.label_index is None:
        return None
    if not outputs.csv and inference.label_attribute is None:
        return None
    labels = None
    for number, output in enumerate(outputs.records, start=1):
        if outputs.csv:
            index = inference.label_index
            assert index is not None
            if index >= len(output):
                raise _fail(
                    f"Record {number}: LabelIndex {index} is out of range; the model output has {len(output)} "
                    f"columns ({_preview(output)})."
                )
            value = output[index]
        else:
            assert inference.label_attribute is not None
            value = _search(inference.label_attribute, "LabelAttribute").search(output)
        if not isinstance(value, list):
            return None
        if _holds_non_finite(value):
            # json.loads reads NaN/Infinity/1e999 from the model, but the response is strict JSON
            # (spec §4.1: it must decode as a JSON object), which has no spelling for them.
            raise _fail(
                f"Record {number}: the model's label list {_preview(value)} holds NaN or infinity, which the "
                "response's JSON cannot carry; configure LabelHeaders to name the outputs."
            )
        if labels is not None and value != labels:
            raise _fail(
                f"Record {number}: the model's label list {_preview(value)} differs from record 1's "
                f"{_preview(labels)}; configure LabelHeaders to name the outputs."
            )
        labels = value
    return None if labels is None else tuple(labels)


def _holds_non_finite(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return True
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def check_label_headers(label_headers: Sequence[Any] | None, inference: InferenceConfig, width: int) -> None:
    """``label_headers`` name each of the ``width`` scores explained per record, in order (spec §4.1), so several
    scores need exactly one header each; a single score may carry any (a binary classifier's two class names, as
    SageMaker deploys them). ModelError otherwise: a response whose names do not line up with its attributions would
    be read wrong by every client that pairs them.

    Built-in models are checked when the endpoint deploys; a container's layout is only known at the invocation.
    """
    if label_headers is None or width <= 1 or len(label_headers) == width:
        return
    source = "InferenceConfig.LabelHeaders" if inference.label_headers is not None else "The model's label list"
    raise _fail(
        f"{source} has {len(label_headers)} item(s), but the model gave {width} scores per record to explain; "
        "label headers must name each score, one per score in the model's output order."
    )


# --------------------------------------------------------------------------------------------------------------
# Fast path for synthetic batches


def scores_for_batch(
    body: bytes | str, content_type: str | None, n_rows: int, inference: InferenceConfig
) -> np.ndarray:
    """``(n_rows, D)`` scores of a synthetic batch, vectorised where the output is a plain numeric CSV table.

    Gives exactly what ``extract_scores(split_outputs(...))`` gives; the general path is the fallback whenever the
    fast one cannot read the body (quoted cells, list cells, JSON Lines).
    """
    text = _decode(body)
    if output_format(content_type) == CSV and '"' not in text and "[" not in text:
        table = _numeric_table(text)
        if table is not None:
            if table.shape[0] == 1 and n_rows > 1 and table.shape[1] == n_rows:
                return table.reshape(n_rows, 1)
            _require_count(table.shape[0], n_rows, "lines")
            if inference.probability_index is None:
                return table
            if inference.probability_index < table.shape[1]:
                return table[:, [inference.probability_index]]
    return extract_scores(split_outputs(text, content_type, n_rows), inference)


def _numeric_table(text: str) -> np.ndarray | None:
    stripped = text.strip("\r\n")
    if not stripped or "\n\n" in stripped or "\n\r\n" in stripped:
        return None
    try:
        table = np.loadtxt(io.StringIO(stripped), delimiter=",", dtype=np.float64, ndmin=2, comments=None)
    except ValueError:
        return None
    return table
