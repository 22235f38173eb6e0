"""Pre-check helpers: recognise a model's output layout, infer the InferenceConfig that reads it, build a baseline
from sample records and estimate how long an explanation takes. Pure functions; the service sends the requests.

Detection reuses the explainer's own parsers (:mod:`openclarify.clarify.outputs`): an output is split and its cells
read exactly as at InvokeEndpoint, and every inferred config is proved by running ``extract_scores`` and
``extract_label_headers`` with it on the outputs it was inferred from.

Rules (spec §6 table, §1.2 field semantics):

CSV, per column over all records
    one numeric column → the whole output is the score (no fields);
    a bracketed list of numbers (JSON or Python repr, Autopilot's string-encoded lists) → ``ProbabilityIndex``; a
    list of strings of the same length → ``LabelIndex``;
    an integer column followed by a column in [0, 1] whose rows do not sum to 1 → label + probability
    (``ProbabilityIndex`` 1, ``LabelIndex`` 0);
    numeric columns whose rows sum to 1 → class probabilities, one output per column (no fields);
    a string column plus one numeric column → predicted label + score (``LabelIndex``, ``ProbabilityIndex``).
JSON Lines
    a number or a list of numbers → the whole line is the score (no fields);
    an object → ``ProbabilityAttribute`` from ``probabilities``, ``probability``, ``scores``, ``score`` (or the only
    numeric member), ``LabelAttribute`` from ``labels``/``predicted_labels`` (a list as long as the scores) or
    ``predicted_label``/``label``.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from openclarify.clarify.config import InferenceConfig
from openclarify.clarify.outputs import ModelOutputs, extract_label_headers, extract_scores, parse_cell
from openclarify.clarify.records import CSV, MEGABYTE, Record, csv_line, is_number_text, jsonlines_line, media_type
from openclarify.clarify.text import TEXT, paragraphs, spacy_available, split_units
from openclarify.errors import ModelError
from openclarify.kernelshap import clarify_n_samples

LIMIT_SECONDS = 60.0
"""SageMaker's limit for one InvokeEndpoint, explanation included (spec §3.3)."""
NEAR_FRACTION = 0.5
"""An estimate above this share of the limit "nears" it: real latency varies with load and record count."""
MAX_INLINE_BASELINE = 4096
MASK_TOKEN = "<UNK>"
"""The text baseline: what a masked unit becomes (docs/text.md and AWS's NLP notebook use it)."""

PROBABILITY_KEYS = ("probabilities", "probability", "scores", "score")
LABEL_LIST_KEYS = ("labels", "predicted_labels", "label_headers", "classes")
LABEL_KEYS = ("predicted_label", "label", "predicted_labels", "labels")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_SUM_TOLERANCE = 1e-3


class LayoutError(Exception):
    """The output layout cannot be read by any InferenceConfig; the message says what the container must change."""


@dataclass(frozen=True)
class Layout:
    """How a model's per-record output is read. ``fields`` are InferenceConfig members (AWS names)."""

    name: str
    description: str
    fields: dict[str, Any]
    n_outputs: int
    label_headers: tuple[Any, ...] | None = None
    notes: tuple[str, ...] = ()

    def inference(self, **extra: Any) -> InferenceConfig:
        return inference_config({**self.fields, **extra})


def inference_config(fields: dict[str, Any]) -> InferenceConfig:
    """A typed InferenceConfig from AWS-named members (only the members detection sets)."""
    return InferenceConfig(
        features_attribute=fields.get("FeaturesAttribute"),
        content_template=fields.get("ContentTemplate"),
        max_record_count=fields.get("MaxRecordCount"),
        probability_index=fields.get("ProbabilityIndex"),
        label_index=fields.get("LabelIndex"),
        probability_attribute=fields.get("ProbabilityAttribute"),
        label_attribute=fields.get("LabelAttribute"),
    )


# --------------------------------------------------------------------------------------------------------------
# Output layout


def _is_number(value: Any) -> bool:
    # An integer past a double's range is no score: float() of it raises, so it is read as any other non-number.
    return isinstance(value, int | float) and not isinstance(value, bool) and (isinstance(value, float) or _fits(value))


def _fits(value: int) -> bool:
    try:
        float(value)
    except OverflowError:
        return False
    return True


def _is_integral(value: Any) -> bool:
    return _is_number(value) and math.isfinite(value) and float(value).is_integer()


def _number_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(_is_number(v) for v in value)


def _label_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, str | int) for v in value)


def _kind(values: Sequence[Any]) -> str:
    """The kind of one CSV column over all records: number, numbers (a list), labels (a list), text or mixed."""
    if all(_is_number(v) for v in values):
        return "number"
    if all(_number_list(v) for v in values) and not all(all(isinstance(x, int) for x in v) for v in values):
        return "numbers"
    if all(_label_list(v) for v in values):
        return "labels"
    if all(isinstance(v, str) for v in values):
        return "text"
    return "mixed"


def detect_layout(outputs: ModelOutputs) -> Layout:
    """Recognise the layout of per-record outputs and prove the inferred fields by extracting scores with them."""
    if not outputs.records:
        raise LayoutError("The model returned no outputs.")
    layout = _detect_csv(outputs.records) if outputs.csv else _detect_jsonlines(outputs.records)
    inference = layout.inference()
    try:
        scores = extract_scores(outputs, inference)
        headers = extract_label_headers(outputs, inference)
    except ModelError as exc:
        raise LayoutError(f"The output layout looks like {layout.description}, but reading it fails: {exc}") from exc
    if headers is not None and len(headers) != scores.shape[1]:
        raise LayoutError(
            f"The model names {len(headers)} labels but gives {scores.shape[1]} scores; the label list and the "
            "probability list must have the same length."
        )
    return Layout(layout.name, layout.description, layout.fields, int(scores.shape[1]), headers or None, layout.notes)


def _detect_csv(rows: Sequence[list[Any]]) -> Layout:
    widths = {len(row) for row in rows}
    if len(widths) != 1:
        raise LayoutError(
            f"The model's CSV lines have different numbers of columns ({sorted(widths)}); every record's output "
            "must have the same columns."
        )
    width = widths.pop()
    columns = [[row[j] for row in rows] for j in range(width)]
    kinds = [_kind(column) for column in columns]

    lists = [j for j, kind in enumerate(kinds) if kind == "numbers"]
    if lists:
        prob = _probability_column(columns, lists)
        size = len(rows[0][prob])
        labels = [
            j
            for j, kind in enumerate(kinds)
            if kind == "labels" and all(len(v) == size for v in columns[j]) and j != prob
        ]
        fields: dict[str, Any] = {} if width == 1 else {"ProbabilityIndex": prob}
        notes = []
        if labels:
            fields["LabelIndex"] = labels[0]
            name, description = (
                "labels+probabilities",
                (f"a label list (column {labels[0] + 1}) and a probability list (column {prob + 1})"),
            )
        else:
            name, description = "probability list", f"a list of {size} scores in column {prob + 1}"
        if any(kind == "number" for kind in kinds) and width > 1:
            notes.append(
                f"Column {prob + 1} holds all class probabilities, so every class is explained; to explain only the "
                "predicted class's probability, set ProbabilityIndex to the scalar probability column instead."
            )
        return Layout(name, description, fields, size, notes=tuple(notes))

    numeric = [j for j, kind in enumerate(kinds) if kind == "number"]
    if not numeric:
        raise LayoutError(
            "No column of the model's CSV output holds a number or a list of numbers, so there is no score to "
            f"explain (first output: {_preview(rows[0])}). The container must answer a probability or score."
        )
    if width == 1:
        return Layout("probability", "one score per record", {}, 1)
    if len(numeric) == width:
        sums = [sum(float(v) for v in row) for row in rows]
        in_unit = all(0.0 <= float(v) <= 1.0 for row in rows for v in row)
        sums_to_one = in_unit and all(abs(s - 1.0) <= _SUM_TOLERANCE for s in sums)
        if (
            width == 2
            and all(_is_integral(v) for v in columns[0])
            and all(0.0 <= float(v) <= 1.0 for v in columns[1])
            and not sums_to_one
        ):
            return Layout(
                "label+probability",
                "the predicted label (column 1) and its probability (column 2)",
                {"ProbabilityIndex": 1, "LabelIndex": 0},
                1,
            )
        if sums_to_one:
            return Layout(
                "class probabilities",
                f"{width} class probabilities per record (they sum to 1)",
                {},
                width,
            )
        if all(_is_integral(v) for v in columns[0]) and all(0.0 <= float(v) <= 1.0 for c in columns[1:] for v in c):
            raise LayoutError(
                f"Each output line holds a label followed by {width - 1} probabilities; ProbabilityIndex selects one "
                "column, not a range, so these cannot be explained together. Make the container answer the "
                'probabilities only, or as one bracketed list cell (for example 1,"[0.1,0.6,0.3]").'
            )
        return Layout(
            "scores",
            f"{width} numeric outputs per record",
            {},
            width,
            notes=(
                f"All {width} columns are explained as separate outputs; if one of them is the score you care about, "
                "set ProbabilityIndex to it.",
            ),
        )
    texts = [j for j, kind in enumerate(kinds) if kind in ("text", "labels")]
    if len(numeric) == 1:
        fields = {"ProbabilityIndex": numeric[0]}
        if texts:
            fields["LabelIndex"] = texts[0]
        return Layout(
            "label+probability",
            f"a predicted label (column {texts[0] + 1}) and a score (column {numeric[0] + 1})"
            if texts
            else f"a score in column {numeric[0] + 1}",
            fields,
            1,
        )
    unit = [j for j in numeric if all(0.0 <= float(v) <= 1.0 for v in columns[j])]
    chosen = unit[0] if len(unit) == 1 else numeric[0]
    return Layout(
        "label+probability",
        f"several numeric columns ({', '.join(str(j + 1) for j in numeric)}); the score is taken from column "
        f"{chosen + 1}",
        {"ProbabilityIndex": chosen, **({"LabelIndex": texts[0]} if texts else {})},
        1,
        notes=(f"Check that column {chosen + 1} is the score to explain; otherwise change ProbabilityIndex.",),
    )


def _probability_column(columns: Sequence[Sequence[Any]], candidates: Sequence[int]) -> int:
    """Among list-of-number columns, prefer one whose lists are probabilities (in [0, 1], summing to 1)."""
    for j in candidates:
        if all(all(0.0 <= float(x) <= 1.0 for x in v) and abs(sum(v) - 1.0) <= _SUM_TOLERANCE for v in columns[j]):
            return j
    return candidates[0]


def _detect_jsonlines(values: Sequence[Any]) -> Layout:
    first = values[0]
    if all(_is_number(v) for v in values):
        return Layout("probability", "one score per line", {}, 1)
    if all(_number_list(v) for v in values):
        return Layout("probability list", f"a list of {len(first)} scores per line", {}, len(first))
    if not all(isinstance(v, dict) for v in values):
        raise LayoutError(
            f"The model's JSON Lines output is {_preview(first)}; each line must be a number, a list of numbers or "
            "an object holding the score."
        )
    common = set(first)
    for value in values[1:]:
        common &= set(value)

    def numeric(key: str) -> bool:
        return all(_is_number(v[key]) or _number_list(v[key]) for v in values)

    prob = next((k for k in PROBABILITY_KEYS if k in common and numeric(k)), None)
    if prob is None:
        others = [k for k in first if k in common and k not in LABEL_KEYS and numeric(k)]
        if len(others) != 1:
            keys = ", ".join(sorted(first)) or "none"
            raise LayoutError(
                f"Cannot tell which member of the model's JSON output holds the score (members: {keys}). Name it "
                "'probability', 'probabilities' or 'score' in the container, or set InferenceConfig."
                "ProbabilityAttribute yourself."
            )
        prob = others[0]
    size = len(first[prob]) if isinstance(first[prob], list) else 1
    fields: dict[str, Any] = {"ProbabilityAttribute": jmespath_key(prob)}
    label = None
    if isinstance(first[prob], list):
        label = next(
            (
                k
                for k in LABEL_LIST_KEYS
                if k in common and all(_label_list(v[k]) and len(v[k]) == len(v[prob]) for v in values)
            ),
            None,
        )
    if label is None:
        label = next((k for k in LABEL_KEYS if k in common and all(not isinstance(v[k], dict) for v in values)), None)
    if label is not None:
        fields["LabelAttribute"] = jmespath_key(label)
    what = f"'{prob}'" + (f" with labels in '{label}'" if label else "")
    notes = []
    if size > 1 and "probability" in common and prob == "probabilities":
        notes.append(
            "'probabilities' holds every class, so every class is explained; set ProbabilityAttribute to "
            "'probability' to explain only the predicted class's probability."
        )
    return Layout("jsonlines", f"JSON objects with the score in {what}", fields, size, notes=tuple(notes))


def jmespath_key(key: str) -> str:
    """A JMESPath expression selecting top-level member ``key`` (quoted when it is not an identifier)."""
    return key if _IDENTIFIER.fullmatch(key) else json.dumps(key)


def _preview(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --------------------------------------------------------------------------------------------------------------
# Agreement between answers


def max_difference(a: np.ndarray, b: np.ndarray) -> float:
    """Largest absolute difference between two score matrices of the same shape (inf when shapes differ)."""
    if a.shape != b.shape:
        return math.inf
    return float(np.max(np.abs(a - b))) if a.size else 0.0


def agree(a: np.ndarray, b: np.ndarray) -> bool:
    """Scores agree up to float32 rounding (batch and single paths of a model may round differently)."""
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=1e-5, atol=1e-7))


# --------------------------------------------------------------------------------------------------------------
# Records in other formats, ContentTemplate, baseline


def json_values(record: Record) -> list[Any]:
    """A record's cells as JSON values: CSV number strings become numbers, other values pass through."""
    return [parse_cell(v) if isinstance(v, str) and is_number_text(v) else v for v in record]


def content_template_for(features_attribute: str) -> str | None:
    """``{"data":{"features":$features}}`` for FeaturesAttribute ``data.features``; None when the path is not a
    plain dotted name or the template would exceed ContentTemplate's 64 characters."""
    if not _DOTTED.fullmatch(features_attribute):
        return None
    sentinel = "__openclarify_features__"
    node: Any = sentinel
    for part in reversed(features_attribute.split(".")):
        node = {part: node}
    template = json.dumps(node, separators=(",", ":")).replace(json.dumps(sentinel), "$features")
    return template if len(template) <= 64 else None


def encode_lines(records: Sequence[Record], content_type: str, content_template: str | None = None) -> list[bytes]:
    """Records as request lines in ``content_type`` (CSV cells, or JSON arrays through ``content_template``)."""
    if media_type(content_type) == CSV:
        return [csv_line(r).encode() for r in records]
    return [jsonlines_line(json_values(r), content_template).encode() for r in records]


@dataclass(frozen=True)
class SampleBaseline:
    row: tuple[Any, ...]
    text: str
    """One line in the records' format, ready for ``ShapBaseline``."""
    mime_type: str
    description: str


def median_baseline(
    records: Sequence[Record],
    content_type: str,
    content_template: str | None,
    feature_types: Sequence[str] | None = None,
) -> SampleBaseline:
    """One baseline row: the per-column median of numeric columns, the most common value of the others, and the
    mask token for text columns (``feature_types``), which every masked unit of the text then becomes."""
    row: list[Any] = []
    modal: list[int] = []
    text: list[int] = []
    for j in range(len(records[0])):
        column = json_values([r[j] for r in records])
        if feature_types is not None and feature_types[j] == TEXT:
            row.append(MASK_TOKEN)
            text.append(j + 1)
        elif all(_is_number(v) for v in column):
            median = float(np.median(np.asarray(column, dtype=np.float64)))
            row.append(int(median) if median.is_integer() and all(isinstance(v, int) for v in column) else median)
        else:
            counts = Counter(json.dumps(v, sort_keys=True) for v in column)
            row.append(json.loads(counts.most_common(1)[0][0]))
            modal.append(j + 1)
    values = tuple(_round(v) for v in row)
    kind = media_type(content_type)
    line = csv_line(values) if kind == CSV else jsonlines_line(list(values), content_template)
    others = len(values) - len(text)
    parts = []
    if text:
        parts.append(
            f"{MASK_TOKEN} for text {_columns(text)}: a masked unit of the text becomes it (docs/text.md), so it "
            "should be a token the model reads as no information"
        )
    if others:
        what = "the per-column median" if not text else "for the other columns, the median"
        median = f"{what} of the {plural(len(records), 'sample record')}"
        if modal:
            verb, its = ("is", "its") if len(modal) == 1 else ("are", "their")
            median += f" ({_columns(modal)} {verb} not numeric: {its} most common value)"
        parts.append(median)
    description = "one row: " + "; ".join(parts)
    return SampleBaseline(values, line, kind, description)


def _columns(numbers: Sequence[int]) -> str:
    """``column 2`` or ``columns 2, 3`` (1-based)."""
    return f"column {numbers[0]}" if len(numbers) == 1 else f"columns {', '.join(map(str, numbers))}"


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _round(value: Any) -> Any:
    if isinstance(value, float) and math.isfinite(value):
        return float(f"{value:.10g}")
    return value


# --------------------------------------------------------------------------------------------------------------
# Sample records: text columns, non-finite values


def sample_feature_types(records: Sequence[Record]) -> tuple[str, ...] | None:
    """``text`` for a column where some record holds a string that does not spell a number, ``numerical`` for the
    others; None when no column is text. The server applies the same rule to a baseline without FeatureTypes
    (``clarify.text.resolve_feature_types``)."""
    types = tuple(
        TEXT if any(isinstance(r[j], str) and not is_number_text(r[j]) for r in records) else "numerical"
        for j in range(len(records[0]))
    )
    return types if TEXT in types else None


def non_finite_cell(record: Record, feature_types: Sequence[str] | None = None) -> int | None:
    """The first column (0-based) of a non-text cell holding NaN or infinity, or None."""
    for j, value in enumerate(record):
        if feature_types is not None and feature_types[j] == TEXT:
            continue
        if isinstance(value, str) and is_number_text(value):
            value = float(value)
        if isinstance(value, float) and not math.isfinite(value):
            return j
    return None


# --------------------------------------------------------------------------------------------------------------
# Text features: TextConfig defaults and the number of units


_LATIN = re.compile(r"[A-Za-z\u00c0-\u024f]")
_LETTER = re.compile(r"[^\W\d_]")
_SENTENCE_BREAK = re.compile(r"(?<=[.!?\u3002\uff01\uff1f\u061f\u0964])\s+")
_TOKEN = re.compile(r"\w+|[^\w\s]")


@dataclass(frozen=True)
class TextDefaults:
    language: str
    granularity: str
    why: str
    """One sentence on how they were chosen, for the findings."""


def text_defaults(texts: Sequence[str]) -> TextDefaults:
    """``TextConfig`` for sample texts. Language: ``en`` when the letters are mostly Latin, else ``xx`` (spaCy's
    multi-language rules, which split any script); the sample cannot tell languages apart reliably, so the user is
    told to set the real one. Granularity: ``sentence`` when some text holds several sentences (fewer, readable
    players, as in AWS's NLP notebook), else ``token`` (a one-sentence text would otherwise be one player)."""
    letters = sum(len(_LETTER.findall(t)) for t in texts)
    latin = sum(len(_LATIN.findall(t)) for t in texts)
    language = "en" if letters == 0 or latin >= letters / 2 else "xx"
    sentences = max((count_units(t, language, "sentence")[0] for t in texts), default=0)
    granularity = "sentence" if sentences > 1 else "token"
    script = "mostly Latin letters" if language == "en" else "mostly non-Latin letters"
    why = (
        f"TextConfig Language {language} (the sample is written in {script}; set the text's own language code, "
        f"docs/text.md lists them), Granularity {granularity} ("
        + (
            "some sample texts hold several sentences"
            if granularity == "sentence"
            else "the texts are single sentences"
        )
        + ")."
    )
    return TextDefaults(language, granularity, why)


def count_units(text: str, language: str, granularity: str) -> tuple[int, bool]:
    """The units of ``text`` (docs/text.md), and whether the count is exact: with spaCy installed it is the server's
    own splitter; without it tokens and sentences are approximated by word characters and end marks."""
    if granularity == "paragraph":
        return len(paragraphs(text)), True
    if spacy_available():
        return len(split_units(text, language, granularity)), True
    if granularity == "sentence":
        return sum(1 for part in _SENTENCE_BREAK.split(text.strip()) if part), False
    return len(_TOKEN.findall(text)), False


# --------------------------------------------------------------------------------------------------------------
# Cost model and latency estimate


@dataclass(frozen=True)
class CostModel:
    """Container time for one request of ``n`` rows: ``fixed + per_row * n`` seconds."""

    fixed_seconds: float
    per_row_seconds: float
    samples: tuple[tuple[int, float], ...] = ()

    def seconds(self, n_rows: int) -> float:
        return self.fixed_seconds + self.per_row_seconds * n_rows


def fit_cost(samples: Sequence[tuple[int, float]]) -> CostModel:
    """Least-squares ``fixed + per_row * n`` through (rows, seconds) points, both terms kept non-negative."""
    if not samples:
        raise ValueError("no timings")
    n = np.asarray([s[0] for s in samples], dtype=np.float64)
    t = np.asarray([s[1] for s in samples], dtype=np.float64)
    if len(set(n.tolist())) < 2:
        return CostModel(float(np.min(t)), 0.0, tuple(samples))
    slope, intercept = np.polyfit(n, t, 1)
    if slope < 0:
        slope, intercept = 0.0, float(np.mean(t))
    if intercept < 0:
        intercept = 0.0
        slope = float(np.sum(n * t) / np.sum(n * n))
    return CostModel(float(intercept), float(slope), tuple(samples))


@dataclass(frozen=True)
class Estimate:
    baseline_size: int
    n_samples: int
    rows: int
    requests: int
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "baseline_size": self.baseline_size,
            "n_samples": self.n_samples,
            "synthetic_rows": self.rows,
            "container_requests": self.requests,
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True)
class Budget:
    """What one explanation costs with a given container: the explainer's batching and the measured cost."""

    cost: CostModel
    rows_per_request: int
    """The largest batch the explainer sends: MaxRecordCount, or what fits MaxPayloadInMB."""

    def estimate(self, n_features: int, baseline_size: int, number_of_samples: int | None = None) -> Estimate:
        n = clarify_n_samples(n_features, number_of_samples)
        rows = baseline_size * n
        requests = math.ceil(rows / self.rows_per_request) if rows else 0
        # The prediction itself comes first: one request of one record.
        seconds = self.cost.seconds(1) + requests * self.cost.fixed_seconds + rows * self.cost.per_row_seconds
        return Estimate(baseline_size, n, rows, requests + 1, seconds)

    def samples_within(self, n_features: int, baseline_size: int, seconds: float) -> int:
        """The largest NumberOfSamples whose estimate stays within ``seconds`` (0 when even 1 does not)."""
        low, high = 0, max(1, clarify_n_samples(n_features))
        while low < high:
            mid = (low + high + 1) // 2
            if self.estimate(n_features, baseline_size, mid).seconds <= seconds:
                low = mid
            else:
                high = mid - 1
        return low

    def baseline_within(self, n_features: int, seconds: float, number_of_samples: int | None = None) -> int:
        size = 0
        while size < 1000 and self.estimate(n_features, size + 1, number_of_samples).seconds <= seconds:
            size += 1
        return size


def rows_per_payload(line_bytes: float, max_payload_in_mb: int = 6) -> int:
    return max(1, int(max_payload_in_mb * MEGABYTE // (line_bytes + 1)))
