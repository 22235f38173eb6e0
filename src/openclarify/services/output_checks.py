"""Deploy-time checks of ``ProbabilityIndex`` and ``LabelHeaders`` against what the model actually answers.

Both describe the model's output, and the SHAP baseline is scored when the endpoint deploys
(``InvocationService.prepare``): a config that cannot fit the model fails the deployment with a FailureReason that
names the field and the numbers, instead of going InService and then failing every explanation (ProbabilityIndex
out of range) or pairing the wrong names with the attributions (LabelHeaders).

What LabelHeaders must hold: "for multiclass classification problems, the names of the classes. Otherwise, the
name of the predicted label" (spec §1.2), and the SDK's word for the same field, "one for each score of the
probability". So one header per score explained, after ProbabilityIndex or ProbabilityAttribute picked them: the
response's ``label_headers`` then names each value of every ``attribution`` (spec §4.1). A single score is the
exception: any headers are accepted for it (see ``check_output_fields``).

In-process runtimes only. Their answer has one layout per model (a CSV line of its scores, ``{"score": ...}`` in
JSON Lines; ``runtimes.tabular``), so the baseline's scores are proof. A remote container may answer other layouts
for other Accept types or CustomAttributes than the deploy-time request (Accept absent), so one answer proves
nothing there and the invocation decides.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from openclarify.clarify.config import INFERENCE, InferenceConfig
from openclarify.clarify.records import JSONLINES
from openclarify.errors import ModelError, ValidationException
from openclarify.services.explanations import array_scores

_JSON = "application/json"


def check_output_fields(inference: InferenceConfig, raw_scores: np.ndarray, variant: str, model: str) -> None:
    """Raise ValidationException (the deployment's FailureReason) when ProbabilityIndex or LabelHeaders cannot fit
    ``raw_scores``, the in-process model's prediction of the baseline rows: ``(n,)`` or ``(n, k)``."""
    table = np.asarray(raw_scores, dtype=np.float64)
    table = table[:, None] if table.ndim == 1 else table
    columns = table.shape[1]
    where = f"Variant {variant} (model {model})"
    index = inference.probability_index
    if index is not None and index >= columns:
        raise ValidationException(
            f"{where}: {INFERENCE}.ProbabilityIndex is {index}, but the model's CSV output has {columns} column(s) "
            f"per record (indexes 0 to {columns - 1}). Set ProbabilityIndex to the column that holds the score, or "
            f"leave it out to explain all {columns}.",
            member=f"{INFERENCE}.ProbabilityIndex",
        )
    headers = inference.label_headers
    if headers is None:
        return
    for width, output in _explained_widths(inference, table):
        # One score is named either by its label or, as users of binary classifiers often write (["no", "yes"] for
        # the positive class's probability), by the classes: both are read the same, and SageMaker deploys either,
        # so a drop-in server must too. Several scores need one header each, in order.
        if width != len(headers) and width > 1:
            raise ValidationException(
                f"{where}: {INFERENCE}.LabelHeaders has {len(headers)} item(s), but the model gives {width} score(s) "
                f"per record to explain ({output}). Give one label header per score, in the model's output order: "
                "the class names of a multiclass model, or the name of the predicted label for a single score.",
                member=f"{INFERENCE}.LabelHeaders",
            )


def _explained_widths(inference: InferenceConfig, table: np.ndarray) -> Iterator[tuple[int, str]]:
    """(scores explained per record, which output) for each output format the config reads: CSV through
    ProbabilityIndex (or the whole line when neither field is set), JSON Lines or JSON through ProbabilityAttribute.
    A format the attribute does not read at all is left out: that is not a LabelHeaders problem."""
    index = inference.probability_index
    attribute = inference.probability_attribute
    if index is not None:
        yield 1, f"column {index} of its CSV output, chosen by ProbabilityIndex"
    elif attribute is None:
        yield table.shape[1], "its CSV output"
    if attribute is None:
        return
    for content_type, name in ((JSONLINES, "JSON Lines"), (_JSON, "JSON")):
        try:
            # One row tells: an in-process model answers every row alike, and this runs on the event loop.
            width = array_scores(table[:1], content_type, inference).shape[1]
        except ModelError:
            continue
        yield width, f"its {name} output, read with ProbabilityAttribute {attribute!r}"
        return
