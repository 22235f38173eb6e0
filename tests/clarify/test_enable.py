"""EnableExplanations: the spec's example table (§1.2), header override, non-boolean results."""

from __future__ import annotations

import pytest

from openclarify.clarify.enable import compile_enable_explanations, evaluate
from openclarify.clarify.outputs import split_outputs
from openclarify.errors import ValidationError


@pytest.mark.parametrize(
    ("expression", "output", "content_type", "expected"),
    [
        ("`true`", "0.3", "text/csv", True),
        ("`false`", "0.9", "text/csv", False),
        ("[1]>`0.5`", "1,0.6", "text/csv", True),
        ("probability>`0.5`", '{"predicted_label":1,"probability":0.6}', "application/jsonlines", True),
        (
            "!contains(probabilities[:-1], max(probabilities))",
            '{"probabilities": [0.4, 0.1, 0.4], "labels":["cat","dog","fish"]}',
            "application/jsonlines",
            False,
        ),
        # The notebooks' expressions (spec §1.2 [OBS]).
        ("[0]>`0.95`", "0.9972", "text/csv", True),
        ("[0]>`0.99`", "0.9713779\n", "text/csv", False),
    ],
)
def test_spec_example_table(expression, output, content_type, expected):
    gate = compile_enable_explanations(None, expression)
    records = split_outputs(output, content_type, 1).records
    assert evaluate(gate, records) == [expected]


def test_evaluated_per_record_in_a_batch():
    gate = compile_enable_explanations(None, "[0]>`0.95`")
    outputs = split_outputs(b"0.0006\n0.97\n0.1\n0.99\n", "text/csv; charset=utf-8", 4)
    assert evaluate(gate, outputs.records) == [False, True, False, True]


def test_one_line_per_record_layout_is_gated_per_cell():
    gate = compile_enable_explanations(None, "[0]>`400000`")
    outputs = split_outputs("194306.59375,403780.28125,485313.8125", "text/csv", 3)
    assert evaluate(gate, outputs.records) == [False, True, True]


def test_header_overrides_config_and_default_is_true():
    assert compile_enable_explanations("`false`", "`true`").expression == "`false`"
    assert compile_enable_explanations(None, "[0]>`0.5`").expression == "[0]>`0.5`"
    default = compile_enable_explanations(None, None)
    assert default.expression == "`true`"
    assert evaluate(default, [[0.1], [0.2]]) == [True, True]


def test_constant_expressions_are_recognised():
    assert compile_enable_explanations(None, "`false`").constant is False
    assert compile_enable_explanations(None, "`true`").constant is True
    assert compile_enable_explanations(None, "[0]>`0.5`").constant is None
    assert compile_enable_explanations(None, "`1`").constant is None


def test_invalid_header_is_a_validation_error_naming_the_header():
    with pytest.raises(ValidationError, match="X-Amzn-SageMaker-Enable-Explanations header '\\[0>' is not a valid"):
        compile_enable_explanations("[0>", "`true`")


@pytest.mark.parametrize(
    ("expression", "says"),
    [
        ("[1]", "gave 0.6"),
        ("[5]", "gave null"),
        ('`"yes"`', 'gave "yes"'),
        ("length([2])", "gave 3"),
    ],
)
def test_non_boolean_results_name_expression_and_value(expression, says):
    gate = compile_enable_explanations(expression, None)
    with pytest.raises(ValidationError) as info:
        evaluate(gate, split_outputs("1,0.6,cat", "text/csv", 1).records)
    assert f"expression {expression!r}" in info.value.message
    assert says in info.value.message
    assert "record 1" in info.value.message
    assert "must give true or false" in info.value.message


@pytest.mark.parametrize(
    ("expression", "output"),
    [
        ("max(probabilities) > `0.5`", {"probabilities": "oops"}),
        # jmespath 1.1 raises TypeError (not null) when ordering a string against a number.
        ("[2]>`0.5`", [1, 0.6, "cat"]),
    ],
)
def test_evaluation_errors_are_validation_errors(expression, output):
    gate = compile_enable_explanations(expression, None)
    with pytest.raises(ValidationError, match="failed on record 1's model output"):
        evaluate(gate, [output])


def test_an_expression_reference_is_named_not_shown_as_a_python_object():
    # `&@` gives a JMESPath expression reference, whose message showed "<jmespath.visitor._Expression object at 0x…>".
    gate = compile_enable_explanations("&@", None)
    with pytest.raises(ValidationError) as info:
        evaluate(gate, [0.7])
    assert 'gave "<an expression reference>" for record 1' in info.value.message
    assert "object at 0x" not in info.value.message
