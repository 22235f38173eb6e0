"""The pure detection rules on the spec's §6 output examples, and the cost model's arithmetic."""

from __future__ import annotations

import pytest

from openclarify.clarify.outputs import split_outputs
from openclarify.clarify.precheck import (
    Budget,
    LayoutError,
    content_template_for,
    detect_layout,
    fit_cost,
    median_baseline,
)

CSV, JSONL = "text/csv", "application/jsonlines"


@pytest.mark.parametrize(
    ("body", "content_type", "n", "fields", "outputs"),
    [
        ("0.6", CSV, 1, {}, 1),
        ("0.6,0.3", CSV, 2, {}, 1),
        ("0.6\n0.3", CSV, 2, {}, 1),
        ("0.1,0.6,0.3", CSV, 1, {}, 3),
        ("1,0.6\n0,0.3", CSV, 2, {"ProbabilityIndex": 1, "LabelIndex": 0}, 1),
        ("cat,0.6", CSV, 1, {"ProbabilityIndex": 1, "LabelIndex": 0}, 1),
        ("\"['cat','dog','fish']\",\"[0.1,0.6,0.3]\"", CSV, 1, {"ProbabilityIndex": 1, "LabelIndex": 0}, 3),
        ('"[0.1,0.6,0.3]","[""cat"",""dog"",""fish""]"', CSV, 1, {"ProbabilityIndex": 0, "LabelIndex": 1}, 3),
        ('{"score":0.6}', JSONL, 1, {"ProbabilityAttribute": "score"}, 1),
        (
            '{"predicted_label":1,"probability":0.6}',
            JSONL,
            1,
            {"ProbabilityAttribute": "probability", "LabelAttribute": "predicted_label"},
            1,
        ),
        (
            '{"predicted_labels":["cat","dog","fish"],"probabilities":[0.1,0.6,0.3]}',
            JSONL,
            1,
            {"ProbabilityAttribute": "probabilities", "LabelAttribute": "predicted_labels"},
            3,
        ),
        (
            '{"labels":["cat","dog","fish"],"probability":[0.6,0.3,0.1]}',
            JSONL,
            1,
            {"ProbabilityAttribute": "probability", "LabelAttribute": "labels"},
            3,
        ),
        ('{"prediction-score":0.2}', JSONL, 1, {"ProbabilityAttribute": '"prediction-score"'}, 1),
        ("[0.2,0.8]", JSONL, 1, {}, 2),
    ],
)
def test_spec_examples(body, content_type, n, fields, outputs):
    layout = detect_layout(split_outputs(body, content_type, n))
    assert layout.fields == fields
    assert layout.n_outputs == outputs


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        ("cat,dog", CSV, "no score"),
        ("1,0.1,0.6,0.3", CSV, "ProbabilityIndex selects one column"),
        ('{"a":1,"b":2}', JSONL, "Cannot tell which member"),
        ('"text"', JSONL, "each line must be"),
    ],
)
def test_unreadable_layouts_say_what_to_change(body, content_type, message):
    with pytest.raises(LayoutError, match=message):
        detect_layout(split_outputs(body, content_type, 1))


def test_a_label_list_of_another_length_is_not_taken_for_the_class_names():
    layout = detect_layout(split_outputs("\"['cat','dog']\",\"[0.1,0.6,0.3]\"", CSV, 1))
    assert layout.fields == {"ProbabilityIndex": 1} and layout.label_headers is None


def test_content_template_and_baseline():
    assert content_template_for("features") == '{"features":$features}'
    assert content_template_for("data.features") == '{"data":{"features":$features}}'
    assert content_template_for("data[0]") is None
    baseline = median_baseline([("1", "a", "3"), ("2", "b", "5"), ("4", "a", "4")], CSV, None)
    assert baseline.text == '2,"a",4'
    assert "(column 2 is not numeric: its most common value)" in baseline.description


def test_cost_fit_and_estimate():
    cost = fit_cost([(1, 0.011), (10, 0.020), (100, 0.110)])
    assert cost.fixed_seconds == pytest.approx(0.01, abs=1e-6) and cost.per_row_seconds == pytest.approx(0.001)
    budget = Budget(cost, rows_per_request=100)
    estimate = budget.estimate(n_features=10, baseline_size=1)  # min(2068, 1022) = 1022 rows, 11 requests
    assert (estimate.rows, estimate.requests) == (1022, 12)
    assert estimate.seconds == pytest.approx(0.011 + 11 * 0.01 + 1022 * 0.001)
    fit = budget.samples_within(10, 1, 0.5)
    assert budget.estimate(10, 1, fit).seconds <= 0.5 < budget.estimate(10, 1, fit + 1).seconds


@pytest.mark.parametrize(
    ("body", "content_type", "fields"),
    [
        ("1" + "0" * 400 + ",0.5", CSV, {"ProbabilityIndex": 1}),  # beside a probability: read as a label
        (
            '{"label":1' + "0" * 400 + ',"score":0.5}',
            JSONL,
            {"ProbabilityAttribute": "score", "LabelAttribute": "label"},
        ),
        ("1" + "0" * 400, CSV, None),  # alone: no score at all
    ],
)
def test_an_integer_past_a_double_in_an_answer_is_no_number_not_a_crash(body, content_type, fields):
    # It raised OverflowError (float() and math.isfinite of a 400-digit int): a 500 from POST /-/precheck.
    if fields is None:
        with pytest.raises(LayoutError, match="no score"):
            detect_layout(split_outputs(body, content_type, 1))
        return
    assert detect_layout(split_outputs(body, content_type, 1)).fields == fields
