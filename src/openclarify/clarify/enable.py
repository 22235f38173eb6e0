"""The ``EnableExplanations`` gate: which records of a request get explained (spec §1.2, §5.1 steps 1 and 5).

The expression is evaluated on each record's **model output**, not on the request record. The spec quotes the
developer guide (§1.2, "The EnableExplanations expression"): "SageMaker Clarify deserializes the model container
output for each record into a JSON compatible data structure" — a CSV output row as a JSON array, a JSON Lines output
record as an object — and every example in its table is a model output (``'1,0.6'`` → ``[1]>`0.5```). So callers
pass ``outputs.split_outputs(...).records``, whose CSV cells are already numbers where they spell numbers.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jmespath.exceptions

from openclarify.clarify._jmespath import InvalidExpression, compile_expression, describe_error
from openclarify.clarify.config import DEFAULT_ENABLE_EXPLANATIONS
from openclarify.errors import ValidationError

HEADER = "X-Amzn-SageMaker-Enable-Explanations"


@dataclass(frozen=True)
class EnableExplanations:
    """A compiled expression and where it came from (for error messages)."""

    expression: str
    source: str
    compiled: Any

    @property
    def constant(self) -> bool | None:
        """The result when the expression is a boolean literal (`` `true` ``/`` `false` ``), else None.

        Lets the caller skip parsing the model output when nothing can be explained, so an unparsable output does
        not fail a request that asked for no explanations.
        """
        parsed = self.compiled.parsed
        if parsed.get("type") == "literal" and isinstance(parsed.get("value"), bool):
            return parsed["value"]
        return None


def compile_enable_explanations(header: str | None, configured: str | None) -> EnableExplanations:
    """The request header overrides the config; with neither, explanations are on (`` `true` ``).

    An invalid expression is a ValidationError naming its source: from the header it is the client's mistake; from
    the config it can only occur if config validation was bypassed.
    """
    if header is not None:
        expression, source = header, f"The {HEADER} header"
    elif configured is not None:
        expression, source = configured, "ClarifyExplainerConfig.EnableExplanations"
    else:
        expression, source = DEFAULT_ENABLE_EXPLANATIONS, "The default EnableExplanations"
    try:
        compiled = compile_expression(expression)
    except InvalidExpression as exc:
        raise ValidationError(
            f"{source} {expression!r} is not a valid JMESPath expression: {exc}.", expression=expression
        ) from exc
    return EnableExplanations(expression=expression, source=source, compiled=compiled)


def evaluate(gate: EnableExplanations, outputs: Sequence[Any]) -> list[bool]:
    """One boolean per record output. A non-boolean result or an evaluation error is a ValidationError.

    [UNK] The error code for an "unexpected evaluation result" is unknown; ValidationError (400) follows the spec's
    recommendation, and the message names the record, the expression and the value it gave so the client can fix
    either the expression or the Accept/output format.
    """
    decisions = []
    for number, output in enumerate(outputs, start=1):
        try:
            result = gate.compiled.search(output)
        except (jmespath.exceptions.JMESPathError, TypeError, ValueError) as exc:
            # jmespath 1.1 lets a TypeError escape when ordering a string against a number (`"cat" > `0.5``).
            raise ValidationError(
                f"EnableExplanations expression {gate.expression!r} failed on record {number}'s model output "
                f"{_preview(output)}: {describe_error(exc)}.",
                expression=gate.expression,
            ) from exc
        if not isinstance(result, bool):
            raise ValidationError(
                f"EnableExplanations expression {gate.expression!r} gave {_preview(result)} for record {number} "
                f"(model output {_preview(output)}); it must give true or false.",
                expression=gate.expression,
            )
        decisions.append(result)
    return decisions


def _preview(value: Any, limit: int = 120) -> str:
    # A JMESPath result is JSON or an expression reference (`&@`), which has no JSON form: named, not its Python repr.
    text = json.dumps(value, default=lambda _: "<an expression reference>")
    return text if len(text) <= limit else text[: limit - 1] + "…"
