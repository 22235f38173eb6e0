"""The InvokeEndpoint response body of an explainer endpoint, byte for byte as Clarify writes it (spec §4).

Compact JSON (``separators=(",", ":")``), floats in Python's shortest round-trip ``repr`` (``json.dumps``'s
default), keys in the documented order: ``version, predictions{content_type, data}, label_headers, explanations``;
per feature ``feature_header, feature_type, attributions``; per attribution ``attribution, description{partial_text,
start_idx}``. Four captured bodies reproduce exactly under these rules (spec §4.2).

The extended form (opt-in) adds one top-level ``openclarify`` member and leaves every Clarify member byte-identical,
so clients that read Clarify's fields keep working.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

VERSION = "1.0"
EXTENSION_KEY = "openclarify"


@dataclass(frozen=True)
class TextSpan:
    """Which unit of a text feature an attribution is for (NLP, spec §4.3 d/e)."""

    partial_text: str
    start_idx: int


@dataclass(frozen=True)
class UnitAttribution:
    """One attribution: one value per model output, and for text units the span it explains."""

    values: tuple[float, ...]
    description: TextSpan | None = None


@dataclass(frozen=True)
class FeatureAttributions:
    """One request column: a single attribution for tabular features, one per text unit for text features."""

    attributions: tuple[UnitAttribution, ...]
    feature_type: str | None = None


@dataclass(frozen=True)
class ExplanationDetails:
    """Extended-form facts about one record's explanation (never in the default bytes)."""

    expected_value: tuple[float, ...]
    f_x: tuple[float, ...]
    standard_errors: tuple[tuple[float, ...], ...] | None
    exact: bool
    model_rows: int
    seed: int | None
    deadline_reached: bool = False


@dataclass(frozen=True)
class RecordExplanation:
    features: tuple[FeatureAttributions, ...]
    details: ExplanationDetails | None = None

    @classmethod
    def tabular(cls, phi: np.ndarray, details: ExplanationDetails | None = None) -> RecordExplanation:
        """From an ``(n_features, n_outputs)`` attribution matrix (a 1-D vector means one output)."""
        matrix = np.asarray(phi, dtype=np.float64)
        if matrix.ndim == 1:
            matrix = matrix[:, None]
        features = tuple(
            FeatureAttributions(attributions=(UnitAttribution(values=tuple(float(v) for v in row)),)) for row in matrix
        )
        return cls(features=features, details=details)


def _number(value: float) -> float | None:
    # NaN/inf are not JSON; json.dumps would write the invalid tokens NaN/Infinity. null is what a strict client can
    # parse and what MLServer's numpy codec emits (style-anchors lesson 10).
    number = float(value)
    return number if math.isfinite(number) else None


def _feature_object(
    feature: FeatureAttributions, header: str | None, nlp: bool, standard_errors: Sequence[float] | None = None
) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    if header is not None:
        obj["feature_header"] = header
    if nlp and feature.feature_type is not None:
        obj["feature_type"] = feature.feature_type
    attributions = []
    for unit in feature.attributions:
        item: dict[str, Any] = {"attribution": [_number(v) for v in unit.values]}
        if unit.description is not None:
            item["description"] = {
                "partial_text": unit.description.partial_text,
                "start_idx": unit.description.start_idx,
            }
        attributions.append(item)
    obj["attributions"] = attributions
    return obj


def build_response(
    *,
    predictions_content_type: str | None,
    predictions_data: bytes | str,
    explanations: Sequence[RecordExplanation | None],
    feature_headers: Sequence[str] | None = None,
    label_headers: Sequence[Any] | None = None,
    nlp: bool = False,
    extended: bool = False,
) -> bytes:
    """The response body. ``explanations`` has one entry per request record, None where not explained.

    - ``predictions.data`` is the model's body verbatim as a string (trailing newline included); bytes that are not
      UTF-8 are replaced rather than failing the request [INF].
    - ``predictions.content_type`` is the model's content type; [INF] an absent one is written as null.
    - ``label_headers`` appears only when known; ``explanations`` is ``{}`` when no record is explained.
    - ``feature_header`` appears only when ``feature_headers`` is given; ``feature_type`` only when ``nlp``.
    """
    data = (
        predictions_data.decode("utf-8", errors="replace") if isinstance(predictions_data, bytes) else predictions_data
    )
    body: dict[str, Any] = {
        "version": VERSION,
        "predictions": {"content_type": predictions_content_type, "data": data},
    }
    if label_headers is not None:
        body["label_headers"] = list(label_headers)
    explained = any(record is not None for record in explanations)
    body["explanations"] = (
        {"kernel_shap": [_record_object(record, feature_headers, nlp) for record in explanations]} if explained else {}
    )
    if extended:
        body[EXTENSION_KEY] = (
            {"kernel_shap": [None if r is None else _details_object(r.details) for r in explanations]}
            if explained
            else {}
        )
    return json.dumps(body, separators=(",", ":"), allow_nan=False).encode()


def _record_object(
    record: RecordExplanation | None, feature_headers: Sequence[str] | None, nlp: bool
) -> list[dict[str, Any]] | None:
    if record is None:
        return None
    if feature_headers is not None and len(feature_headers) != len(record.features):
        raise ValueError(
            f"{len(feature_headers)} feature headers for {len(record.features)} features; the caller must check "
            "FeatureHeaders against the record width first"
        )
    return [
        _feature_object(feature, None if feature_headers is None else feature_headers[j], nlp)
        for j, feature in enumerate(record.features)
    ]


def _details_object(details: ExplanationDetails | None) -> dict[str, Any] | None:
    if details is None:
        return None
    return {
        "expected_value": [_number(v) for v in details.expected_value],
        "f_x": [_number(v) for v in details.f_x],
        "standard_errors": None
        if details.standard_errors is None
        else [[_number(v) for v in row] for row in details.standard_errors],
        "exact": details.exact,
        "model_rows": details.model_rows,
        "seed": details.seed,
        "deadline_reached": details.deadline_reached,
    }
