"""The Clarify pipeline of one InvokeEndpoint on an explainer endpoint (spec §5.1), synchronous.

It runs in a worker thread, never on the event loop. Calls to the model's ``invoke`` (a coroutine) are handed back
to the loop with ``asyncio.run_coroutine_threadsafe``; CPU work (parsing, synthetic rows, the Kernel SHAP solve,
the response bytes) stays in the thread.

Two ways to get synthetic-row predictions, same numbers:

- **in-process runtimes** (ONNX, XGBoost, LightGBM, scikit-learn): ``runtime.predict`` on float arrays, no text
  round trip; the scores are extracted from the arrays exactly as from the bytes the runtime would answer
  (:func:`array_scores`);
- **remote containers**: the rows are serialised as the request was (CSV lines, or ``ContentTemplate`` for JSON
  Lines), batched by ``MaxRecordCount`` and ``MaxPayloadInMB``, sent concurrently (the runtime bounds in-flight
  requests to InitialInstanceCount) and read back in order. A batch the container rejects as too large (HTTP 413),
  or, when MaxRecordCount is not set, with any error status, is split in two and retried.

Every stage checks the :class:`Deadline`; past it the thread stops at its next check.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from openclarify.clarify.baseline import check_width
from openclarify.clarify.config import ClarifyConfig, InferenceConfig
from openclarify.clarify.enable import compile_enable_explanations, evaluate
from openclarify.clarify.outputs import (
    ModelOutputs,
    check_label_headers,
    extract_label_headers,
    extract_scores,
    output_format,
    scores_for_batch,
    split_outputs,
)
from openclarify.clarify.records import (
    CSV,
    Record,
    batch_lines,
    concat_lines,
    join_lines,
    media_type,
    parse_records,
    serialize_rows,
    synthetic_lines,
    to_float_matrix,
)
from openclarify.clarify.response import ExplanationDetails, FeatureAttributions, RecordExplanation, build_response
from openclarify.clarify.text import model_table
from openclarify.errors import ModelError, ValidationError, ValidationException
from openclarify.kernelshap import (
    DesignCache,
    DesignTooLarge,
    Explanation,
    Interrupted,
    check_design_size,
    clarify_n_samples,
    draw_seed,
    explain,
    explain_game,
    group_arguments,
    group_baseline,
    store_group_means,
)
from openclarify.runtimes import InvokeResult, Runtime
from openclarify.runtimes.tabular import invoke_table
from openclarify.services import telemetry
from openclarify.services.baselines import PreparedExplainer, VariantBaseline
from openclarify.services.text_features import explain_text, feature_attributions, split_record

T = TypeVar("T")

# Synthetic rows handled per step (built, sent, read back) for one record; bounds memory, sets the deadline checks.
CHUNK_ROWS = 1 << 14
# In process, fewer and larger predict calls are cheaper (XGBoost builds a DMatrix per call); 2^16 rows of M = 20
# take about 0.2 s on 2 cores, which is also how late a deadline can be noticed.
IN_PROCESS_ROWS = 1 << 16


class DeadlineExceeded(Exception):
    """The invocation ran out of time; the service turns this into the client's error."""


class Deadline:
    """A monotonic point in time plus a cancel flag the event loop sets when it gives up waiting."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self._cancelled = threading.Event()

    def cancel(self) -> None:
        self._cancelled.set()

    def remaining(self) -> float:
        return self.at - time.monotonic()

    def check(self) -> None:
        if self._cancelled.is_set() or time.monotonic() >= self.at:
            raise DeadlineExceeded


@dataclass(frozen=True)
class Invocation:
    """One request as the pipeline sees it."""

    body: bytes
    content_type: str | None
    accept: str | None
    custom_attributes: str | None
    enable_explanations: str | None
    extended: bool = False


@dataclass(frozen=True)
class Answer:
    body: bytes
    custom_attributes: str | None


def is_in_process(runtime: Runtime) -> bool:
    return runtime.spec.url is None


def blocking_invoke(runtime: Runtime) -> bool:
    """Whether the model (behind any telemetry wrapper) can answer ``invoke`` synchronously on the calling thread."""
    return callable(getattr(getattr(runtime, "inner", runtime), "invoke_blocking", None))


class Bridge:
    """Runs the model's coroutines on the event loop from the worker thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop, deadline: Deadline) -> None:
        self.loop = loop
        self.deadline = deadline

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def wait(self, future: concurrent.futures.Future[T]) -> T:
        try:
            return future.result(timeout=max(0.0, self.deadline.remaining()))
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise DeadlineExceeded from None

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.wait(self.submit(coro))


# --------------------------------------------------------------------------------------------------------------
# Scores


def array_scores(raw: np.ndarray, content_type: str | None, inference: InferenceConfig) -> np.ndarray:
    """``(n, D)`` scores from an in-process runtime's ``predict`` output, as Clarify would read them from the bytes
    the runtime answers for ``content_type`` (see ``runtimes.tabular``: a CSV line of the scores, or
    ``{"score": ...}`` per JSON Lines record, or ``{"predictions": [{"score": ...}]}`` as JSON)."""
    table = np.asarray(raw, dtype=np.float64)
    if table.ndim == 1:
        table = table[:, None]
    kind = output_format(content_type)
    if kind == CSV:
        index = inference.probability_index
        if index is None:
            return table
        if index < table.shape[1]:
            return table[:, [index]]
        rows = table[:1].tolist()
        return extract_scores(ModelOutputs(records=tuple(rows), csv=True), inference)  # raises the range error
    if inference.probability_attribute == "score" and media_type(content_type) != "application/json":
        return table

    def record(row: list[float]) -> Any:
        score: Any = row[0] if len(row) == 1 else row
        if media_type(content_type) == "application/json":
            return {"predictions": [{"score": score}]}
        return {"score": score}

    return extract_scores(ModelOutputs(records=tuple(record(r) for r in table.tolist()), csv=False), inference)


class RemoteScorer:
    """Sends serialised records to a remote container in batches and reads their scores back, in order."""

    def __init__(
        self,
        runtime: Runtime,
        bridge: Bridge,
        config: ClarifyConfig,
        content_type: str | None,
        accept: str | None,
        custom_attributes: str | None,
    ) -> None:
        self.runtime = runtime
        self.bridge = bridge
        self.inference = config.inference
        self.content_type = content_type
        self.accept = accept
        self.custom_attributes = custom_attributes
        self.learned_max: int | None = None

    def serialize(self, rows: Sequence[Record]) -> list[bytes]:
        return serialize_rows(
            rows, self.content_type, self.inference.content_template, self.inference.features_attribute
        )

    def scores(self, lines: Sequence[bytes], what: str) -> np.ndarray:
        """``(len(lines), D)``. Batches go out concurrently; the runtime bounds how many are in flight."""
        limit = self.inference.max_record_count or self.learned_max
        batches = list(batch_lines(lines, limit, self.inference.max_payload_in_mb))
        futures = [self.bridge.submit(self._send(lines[b.start : b.stop], b.body)) for b in batches]
        parts: list[np.ndarray] = []
        try:
            for future in futures:
                for n_rows, result in self.bridge.wait(future):
                    self.bridge.deadline.check()
                    parts.append(self._read(result, n_rows, what))
        finally:
            for future in futures:
                future.cancel()
        widths = {p.shape[1] for p in parts}
        if len(widths) > 1:
            raise ModelError(f"The model gave different numbers of scores for {what}: {sorted(widths)}.")
        return np.vstack(parts)

    async def _send(self, lines: Sequence[bytes], body: bytes) -> list[tuple[int, InvokeResult]]:
        try:
            result = await self.runtime.invoke(body, self.content_type, self.accept, self.custom_attributes)
        except ModelError as exc:
            if len(lines) < 2 or not self._may_split(exc):
                raise
            # [INF] The container refused the batch: halve it and try again (spec §5.6), remembering the size
            # that works so the rest of this request's batches start there.
            half = len(lines) // 2
            self.learned_max = min(self.learned_max or half, half)
            first = await self._send(lines[:half], join_lines(lines[:half]))
            return first + await self._send(lines[half:], join_lines(lines[half:]))
        return [(len(lines), result)]

    def _may_split(self, exc: ModelError) -> bool:
        """413 always means "too large". Without MaxRecordCount, Clarify sizes batches itself and shrinks them on
        container errors (spec §5.6): a container that cannot take batches answers an error status to one. A
        record that fails on its own still fails, with the container's own status and message."""
        status = exc.original_status_code
        if status == 413:
            return True
        return self.inference.max_record_count is None and status is not None and 400 <= status < 600

    def _read(self, result: InvokeResult, n_rows: int, what: str) -> np.ndarray:
        try:
            scores = scores_for_batch(result.body, result.content_type, n_rows, self.inference)
        except ModelError as exc:
            raise ModelError(f"{exc.message} (model output for {what})") from exc
        if not np.all(np.isfinite(scores)):
            raise ModelError(f"The model returned NaN or infinite scores for {what}.")
        return scores


# --------------------------------------------------------------------------------------------------------------
# The pipeline


def run_explained(
    prepared: PreparedExplainer,
    cached: VariantBaseline,
    runtime: Runtime,
    invocation: Invocation,
    bridge: Bridge,
) -> Answer:
    config = prepared.config
    inference = config.inference
    deadline = bridge.deadline
    text_types = prepared.feature_types  # None unless the explainer has text features (services.text_features)
    gate = compile_enable_explanations(invocation.enable_explanations, config.enable_explanations)
    records = parse_records(invocation.body, invocation.content_type, inference.features_attribute)
    check_width(prepared.baseline, records)
    if inference.feature_headers is not None and len(inference.feature_headers) != len(records[0]):
        raise ValidationError(
            f"Records have {len(records[0])} features but FeatureHeaders names {len(inference.feature_headers)}."
        )
    in_process = is_in_process(runtime)
    matrix = to_float_matrix(records) if in_process and text_types is None else None

    if in_process and text_types is not None:
        # The endpoint's column types say which cells are text, which the body alone cannot: a text cell that
        # spells a number ("10", quoted or not) reaches the model as a string, as in the synthetic records.
        result = invoke_table(runtime, model_table(records, text_types), invocation.content_type, invocation.accept)
    elif in_process and blocking_invoke(runtime):
        # Already on a worker thread: ask the in-process model directly instead of via the event loop and back.
        result = runtime.invoke_blocking(  # type: ignore[attr-defined]
            invocation.body, invocation.content_type, invocation.accept, invocation.custom_attributes
        )
    else:
        result = bridge.call(
            runtime.invoke(invocation.body, invocation.content_type, invocation.accept, invocation.custom_attributes)
        )
    deadline.check()

    def answer(explanations: Sequence[RecordExplanation | None], label_headers: Sequence[Any] | None = None) -> Answer:
        body = build_response(
            predictions_content_type=result.content_type,
            predictions_data=result.body,
            explanations=explanations,
            feature_headers=inference.feature_headers,
            label_headers=label_headers,
            nlp=text_types is not None,
            extended=invocation.extended,
        )
        return Answer(body, result.custom_attributes)

    if gate.constant is False:
        return answer([])
    outputs = split_outputs(result.body, result.content_type, len(records))
    decisions = evaluate(gate, outputs.records)
    if not any(decisions):
        return answer([])
    label_headers = extract_label_headers(outputs, inference)
    selected = [i for i, chosen in enumerate(decisions) if chosen]
    if matrix is not None:
        _require_finite(records, matrix, selected, getattr(runtime, "input_dtype", None))
    scores = extract_scores(
        ModelOutputs(records=tuple(outputs.records[i] for i in selected), csv=outputs.csv), inference
    )
    if not np.all(np.isfinite(scores)):
        raise ModelError("The model returned NaN or infinite scores; they cannot be explained.")
    check_label_headers(label_headers, inference, scores.shape[1])

    remote = None
    if in_process:
        assert cached.raw_scores is not None
        base_scores = array_scores(cached.raw_scores, result.content_type, inference)
    else:
        remote = RemoteScorer(
            runtime, bridge, config, invocation.content_type, invocation.accept, invocation.custom_attributes
        )
        base_scores = remote_baseline_scores(prepared, cached, remote)
    if base_scores.shape[1] != scores.shape[1]:
        raise ModelError(
            f"The model gives {scores.shape[1]} scores per record but {base_scores.shape[1]} for the SHAP baseline "
            "rows; check ProbabilityIndex/ProbabilityAttribute."
        )

    # With the extended opt-in, a request about to run out of time gets the best estimates reached so far
    # (flagged) instead of an error: sampling stops a little before the deadline to leave time to answer.
    should_stop = soft_deadline(deadline) if invocation.extended else None
    explanations: list[RecordExplanation | None] = [None] * len(records)
    for position, i in enumerate(selected):
        if should_stop is None:
            deadline.check()
        try:
            if text_types is not None:
                result_i, features = _explain_text(
                    prepared, runtime, remote, records[i], i + 1, scores[position], base_scores, result.content_type,
                    deadline, should_stop, errors=invocation.extended,
                )  # fmt: skip
                explanations[i] = RecordExplanation(features, _details(result_i) if invocation.extended else None)
                telemetry.current().explained(bool(result_i.exact))
                continue
            if in_process:
                assert matrix is not None
                result_i = _explain_in_process(
                    prepared,
                    runtime,
                    matrix[i],
                    scores[position],
                    base_scores,
                    result.content_type,
                    deadline,
                    should_stop,
                    errors=invocation.extended,
                )
            else:
                assert remote is not None
                result_i = _explain_remote(
                    prepared,
                    remote,
                    records[i],
                    scores[position],
                    base_scores,
                    i + 1,
                    should_stop,
                    errors=invocation.extended,
                )
        except Interrupted:
            continue  # out of time before this record got anywhere: it stays unexplained (null)
        except DesignTooLarge as exc:  # the config's budget, for this record's players: the request's to change
            raise ValidationError(f"Record {i + 1}: {design_too_large(config, str(exc))}") from exc
        except ValueError as exc:  # the engine's words about the model's numbers (NaN, logit domain, shapes)
            raise ModelError(f"Record {i + 1} cannot be explained: {exc}.") from exc
        telemetry.current().explained(bool(result_i.exact))
        explanations[i] = RecordExplanation.tabular(
            result_i.attributions, _details(result_i) if invocation.extended else None
        )
    return answer(explanations, label_headers)


def _require_finite(
    records: Sequence[Record], matrix: np.ndarray, selected: Sequence[int], model_dtype: type | None = None
) -> None:
    """NaN and infinity are the client's values, not the model's: a numeric model reads them as missing, so a record
    holding one is predicted, and may go unexplained. The engine explains finite features only, so a record selected
    for explanation with one is a bad request (ValidationError naming it) rather than a ModelError. A model that
    computes in single precision (``model_dtype`` float32) reads a value past its range (±3.4e38) as infinite, so
    such a value is named the same way."""
    single = model_dtype is np.float32
    for i in selected:
        row = matrix[i]
        bad = np.flatnonzero(~(np.abs(row) <= _FLOAT32_MAX) if single else ~np.isfinite(row))
        if bad.size:
            j = int(bad[0])
            past = single and bool(np.isfinite(row[j]))
            raise ValidationError(
                f"Record {i + 1}, column {j + 1}: {json.dumps(records[i][j])} is not a finite number"
                + (" in the single precision this model computes in (at most ±3.4e38)" if past else "")
                + "; a record to explain needs finite features (NaN and infinity are accepted only in records that "
                "EnableExplanations leaves unexplained)."
            )


_FLOAT32_MAX = float(np.finfo(np.float32).max)


def engine_seed(seed: int | None) -> int | None:
    """The engine's seed for Clarify's ``ShapConfig.Seed``, or None without one.

    Seed is an Integer with no minimum in SageMaker's API model, so any int32 is valid, negative ones included; the
    engine takes non-negative seeds only. A negative Seed becomes its 32-bit two's-complement value (-1 → 2^32 − 1,
    -2^31 → 2^31): Seeds 0 to 2^31 − 1 keep their value, and no two Seeds share an engine seed, so a negative Seed
    reproduces its explanations as any other does.
    """
    return None if seed is None else seed & 0xFFFF_FFFF


def clarify_seed(seed: int) -> int:
    """The Seed that reproduces a result made with engine seed ``seed`` (``engine_seed``'s inverse). Seeds drawn
    without a Seed are below 2^31, so they are reported as they are."""
    return seed - (1 << 32) if seed >= 1 << 31 else seed


def _seed(config: ClarifyConfig) -> int:
    """The engine seed of one explanation: the endpoint's Seed, else a fresh one (reported in the extended answer)."""
    seed = engine_seed(config.shap.seed)
    return draw_seed() if seed is None else seed


def _designs(prepared: PreparedExplainer) -> DesignCache | None:
    # With a fixed Seed every record of a given width gets the same coalition design: plan it once.
    return prepared.designs if prepared.config.shap.seed is not None else None


def soft_deadline(deadline: Deadline) -> Callable[[], bool]:
    """Asked between blocks of synthetic rows: stop once the time left would not cover another block
    (the longest seen so far, with a margin) plus solving and answering (5% of the deadline, 0.1-2 s)."""
    reserve = min(2.0, max(0.1, 0.05 * deadline.seconds))
    last_call: list[float] = []
    longest = [0.0]

    def should_stop() -> bool:
        now = time.monotonic()
        if last_call:
            longest[0] = max(longest[0], now - last_call[-1])
        last_call[:] = [now]
        return deadline.remaining() < reserve + 1.5 * longest[0]

    return should_stop


def _link(config: ClarifyConfig) -> str:
    return "logit" if config.shap.use_logit else "identity"


def _explain_in_process(
    prepared: PreparedExplainer,
    runtime: Runtime,
    x: np.ndarray,
    fx: np.ndarray,
    base_scores: np.ndarray,
    content_type: str,
    deadline: Deadline,
    should_stop: Callable[[], bool] | None = None,
    *,
    errors: bool,
) -> Explanation:
    inference = prepared.config.inference

    def predict(X: np.ndarray) -> np.ndarray:
        deadline.check()
        try:
            raw = runtime.predict(X)
        except ValueError as exc:
            raise ModelError(f"The model failed on synthetic records: {exc}.") from exc
        return array_scores(raw, content_type, inference)

    assert prepared.matrix is not None
    return explain(
        predict,
        x,
        prepared.matrix,
        number_of_samples=prepared.config.shap.number_of_samples,
        seed=engine_seed(prepared.config.shap.seed),
        link=_link(prepared.config),
        fx=fx,
        baseline_outputs=base_scores,
        # A distributed runtime (serve --ray) fans the batches out across its replicas, in batches of its size.
        max_rows=getattr(runtime, "fanout_rows", None) or IN_PROCESS_ROWS,
        designs=_designs(prepared),
        should_stop=should_stop,
        map_predict=getattr(runtime, "map_predict", None),
        errors=errors,
        dtype=getattr(runtime, "input_dtype", None),
        # Without a Seed, a design planned ahead between requests, if one is ready.
        ahead=prepared.design_pool.take if prepared.design_pool is not None else None,
        max_design_cells=prepared.max_design_cells,
    )


def design_too_large(config: ClarifyConfig, detail: str) -> str:
    """Why an explanation's coalition design is refused (``kernelshap.DesignTooLarge``), and what to change."""
    samples = config.shap.number_of_samples
    asked = "Clarify's default budget (2M + 2^11)" if samples is None else f"ShapConfig.NumberOfSamples {samples}"
    units = ", or a coarser text Granularity" if config.shap.text is not None else ""
    return (
        f"{asked} needs a larger coalition design than this server samples at once: {detail} (openclarify serve "
        f"--max-design-cells; each cell takes about 20-40 bytes). Lower NumberOfSamples{units}."
    )


def check_design_budget(config: ClarifyConfig, n_players: int, max_cells: int | None) -> None:
    """At deployment, where the players are the baseline's columns: a config whose budget needs a design past the
    server's bound fails the endpoint now (ValidationException, its FailureReason), not every invocation."""
    try:
        check_design_size(n_players, clarify_n_samples(n_players, config.shap.number_of_samples), max_cells)
    except DesignTooLarge as exc:
        raise ValidationException(design_too_large(config, str(exc))) from exc


def _explain_remote(
    prepared: PreparedExplainer,
    remote: RemoteScorer,
    record: Record,
    fx: np.ndarray,
    base_scores: np.ndarray,
    number: int,
    should_stop: Callable[[], bool] | None = None,
    *,
    errors: bool,
) -> Explanation:
    """Every one of the ``baseline size × n_samples`` synthetic records goes to the container, as Clarify documents
    (spec §5.2); nothing is skipped, so the container's load is what a Clarify user plans for."""
    config = prepared.config
    rows = prepared.baseline.rows
    b = len(rows)
    m = len(record)
    d = fx.shape[0]
    inference = config.inference
    seed = _seed(config)
    budget = clarify_n_samples(m, config.shap.number_of_samples)
    groups = group_baseline(b, m, budget, _link(config))  # type: ignore[arg-type]
    group_rows = [[rows[i] for i in members] for members in groups]

    def values(design: Any) -> tuple[np.ndarray, int]:
        out = np.empty((design.n_coalitions, d))
        sent = 0
        for start, masks in design.mask_chunks(max(1, CHUNK_ROWS // b)):
            remote.bridge.deadline.check()
            parts = design.chunk_by_group(start, masks)
            lines = concat_lines(
                [
                    synthetic_lines(
                        record,
                        group_rows[g],
                        part,
                        remote.content_type,
                        inference.content_template,
                        inference.features_attribute,
                    )
                    for g, _, part in parts
                ]
            )
            scores = remote.scores(lines, f"the synthetic records of record {number}")
            if scores.shape[1] != d:
                raise ModelError(
                    f"The model gave {scores.shape[1]} scores per synthetic record of record {number} but {d} for the "
                    "record itself."
                )
            store_group_means(out, scores, parts, [len(r) for r in group_rows])
            sent += len(lines)
        return out, sent

    return explain_game(
        values,
        n_players=m,
        v_full=fx,
        v_empty=base_scores.mean(axis=0),
        budget=budget,
        seed=seed,
        link=_link(config),  # type: ignore[arg-type]
        rows_per_coalition=max(len(r) for r in group_rows),
        **group_arguments(groups, base_scores),
        designs=_designs(prepared),
        should_stop=should_stop,
        # Check the clock after every few container calls, not every 16k rows: a container is slow.
        stop_check_rows=4 * (inference.max_record_count or 64),
        errors=errors,
        max_design_cells=prepared.max_design_cells,
    )


def remote_baseline_scores(prepared: PreparedExplainer, cached: VariantBaseline, remote: RemoteScorer) -> np.ndarray:
    """The baseline's scores as this request's model call would give them: predicted once per (Content-Type,
    Accept, CustomAttributes), since any of them may change what the container answers, then cached (bounded)."""
    key = (media_type(remote.content_type), media_type(remote.accept), remote.custom_attributes or "")
    scores = cached.scores.get(key)
    if scores is None:
        lines = remote.serialize(prepared.baseline.rows)
        scores = remote.scores(lines, "the SHAP baseline rows")
        cached.remember(key, scores)
    return scores


def _explain_text(
    prepared: PreparedExplainer,
    runtime: Runtime,
    remote: RemoteScorer | None,
    record: Record,
    number: int,
    fx: np.ndarray,
    base_scores: np.ndarray,
    content_type: str,
    deadline: Deadline,
    should_stop: Callable[[], bool] | None = None,
    *,
    errors: bool,
) -> tuple[Explanation, tuple[FeatureAttributions, ...]]:
    """A record with text features: players are its non-text features and text units (``services.text_features``).
    Synthetic records go to the model as records: an object table in process, serialised lines to a container."""
    config = prepared.config
    types = prepared.feature_types
    assert types is not None and config.shap.text is not None
    rows = prepared.baseline.rows
    text = split_record(record, number, types, config.shap.text, rows, prepared.max_text_units)

    def in_process(batch: Sequence[Record]) -> np.ndarray:
        deadline.check()
        try:
            raw = runtime.predict(model_table(batch, types))
        except (ValueError, TypeError) as exc:
            raise ModelError(f"The model failed on synthetic records: {exc}.") from exc
        return array_scores(raw, content_type, config.inference)

    def remotely(batch: Sequence[Record]) -> np.ndarray:
        assert remote is not None
        return remote.scores(remote.serialize(batch), f"the synthetic records of record {number}")

    result = explain_text(
        text,
        rows,
        in_process if remote is None else remotely,
        fx=fx,
        base_scores=base_scores,
        number_of_samples=config.shap.number_of_samples,
        seed=_seed(config),
        link=_link(config),
        max_rows=IN_PROCESS_ROWS if remote is None else CHUNK_ROWS,
        check=deadline.check,
        should_stop=should_stop,
        designs=_designs(prepared),
        errors=errors,
        max_design_cells=prepared.max_design_cells,
    )
    return result, feature_attributions(text, result.attributions)


def _details(result: Explanation) -> ExplanationDetails:
    return ExplanationDetails(
        expected_value=tuple(float(v) for v in result.expected_value),
        f_x=tuple(float(v) for v in result.fx),
        standard_errors=None
        if result.standard_errors is None
        else tuple(tuple(float(v) for v in row) for row in result.standard_errors),
        exact=bool(result.exact),
        model_rows=int(result.model_rows),
        seed=clarify_seed(int(result.seed)),
        deadline_reached=not result.complete,
    )
