"""One content type → Accept combination of the pre-check (``services.precheck``): what it sends and what the
answers show.

A probe sends a few sample records one at a time (their answers fix the output layout and are the reference
scores), then two records, then a batch (of at most MaxPayloadInMB, as the explainer's), and the same batch again;
then, for JSON Lines with a FeaturesAttribute, the records rebuilt through the derived ContentTemplate. Its findings
say whether the container batches and how, whether batch scores agree with single scores, whether it is
deterministic, and, when something fails, the real cause: a container error, an output no InferenceConfig reads
(with the Accept to ask for), or a NaN or infinite score, which InvokeEndpoint cannot explain.

Parsing and reading answers run in worker threads, never on the event loop.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.to_thread
import httpx
import numpy as np

from openclarify.clarify import precheck as rules
from openclarify.clarify.config import DEFAULT_MAX_PAYLOAD_IN_MB
from openclarify.clarify.outputs import ModelOutputs, extract_scores, split_outputs
from openclarify.clarify.records import JSONLINES, MEGABYTE, Record, media_type, parse_records
from openclarify.clarify.text import model_table
from openclarify.errors import ModelError, ServiceError
from openclarify.runtimes import Runtime
from openclarify.runtimes.tabular import invoke_table

SINGLES = 4
"""Records sent one at a time; their answers fix the layout and are the reference for batch answers."""
BATCH = 32
MAX_PAYLOAD_BYTES = DEFAULT_MAX_PAYLOAD_IN_MB * MEGABYTE
"""The most one request carries: the explainer's batches stop there (MaxPayloadInMB, 6 by default)."""


@dataclass(frozen=True)
class Finding:
    level: str
    """``ok``, ``warn`` or ``error``."""
    message: str
    combo: str | None = None
    """The content type → Accept combination the finding is about; None when it is about the check as a whole."""


@dataclass
class Progress:
    """What the check is doing, so that running out of time can say where it stopped and why."""

    step: str = "starting"
    requests: int = 0
    slowest: float = 0.0

    def took(self, seconds: float) -> None:
        self.requests += 1
        self.slowest = max(self.slowest, seconds)


@dataclass(frozen=True)
class Sample:
    records: list[Record]
    content_type: str
    lines: list[bytes]
    """Each record as sent in its own format (JSON Lines lines verbatim; CSV re-joined per record)."""
    feature_types: tuple[str, ...] | None = None
    """Column types when some column holds text (``rules.sample_feature_types``), else None."""
    left_out: tuple[str, ...] = ()
    """Why records with NaN or infinity were left out of the checks."""

    @property
    def width(self) -> int:
        return len(self.records[0])


@dataclass
class Probe:
    """What one (content type, accept) combination showed."""

    content_type: str
    accept: str | None
    lines: list[bytes]
    template: str | None = None
    layout: rules.Layout | None = None
    output_type: str | None = None
    can_batch: bool = False
    batch_mode: str | None = None
    noise: float = 0.0
    max_record_count: int | None = None
    """Set when the container limits batches: 1 when it cannot batch at all."""
    findings: list[Finding] = field(default_factory=list)
    feature_types: tuple[str, ...] | None = None
    features_attribute: str | None = None
    progress: Progress = field(default_factory=Progress)

    @property
    def ok(self) -> bool:
        return self.layout is not None and not any(f.level == "error" for f in self.findings)

    def add(self, level: str, message: str) -> None:
        self.findings.append(Finding(level, message, combo_name(self)))


class NonFiniteScores(Exception):
    """The container answered NaN or infinity for a record; the message says for which."""


# --------------------------------------------------------------------------------------------------------------
# Probing


async def invoke(runtime: Runtime, probe: Probe, lines: Sequence[bytes]) -> tuple[Any, float]:
    body = b"\n".join(lines)
    started = time.perf_counter()
    if probe.feature_types is not None and runtime.spec.url is None:
        # In process, an endpoint with text features types the records itself (services.explanations): a text
        # cell that spells a number stays a string, which the runtime's own decoding cannot know.
        result = await anyio.to_thread.run_sync(_invoke_typed, runtime, probe, body)
    else:
        try:
            result = await runtime.invoke(body, probe.content_type, probe.accept, None)
        except httpx.InvalidURL as exc:  # not an HTTPError, so the runtime lets it through: a finding, never a 500
            raise ModelError(f"The container URL is not a URL httpx can send ({exc}).") from None
    took = time.perf_counter() - started
    probe.progress.took(took)
    return result, took


async def run_probe(runtime: Runtime, sample: Sample, probe: Probe) -> None:
    combo = combo_name(probe)
    n = len(probe.lines)
    # 1. single records: the layout and the reference scores.
    probe.progress.step = f"sending single records ({combo})"
    singles = []
    try:
        for line in probe.lines[: min(SINGLES, n)]:
            result, _ = await invoke(runtime, probe, [line])
            singles.append(result)
    except ModelError as exc:
        hint = ""
        if runtime.spec.url is None and sample.feature_types is None and exc.original_status_code == 500:
            hint = (
                " If a column holds text, include sample records where it holds words: the pre-check takes a "
                "column for text (FeatureTypes) when some cell is not a number."
            )
        probe.add("error", f"{combo}: a single record fails: {model_error(exc)}.{hint}")
        return
    try:
        outputs, layout, reference = await anyio.to_thread.run_sync(_read_singles, singles)
    except (ModelError, rules.LayoutError) as exc:
        hint = _json_hint(singles[0]).strip()
        probe.add(
            "error", f"{combo}: {hint} Read as one record: {_message(exc)}" if hint else f"{combo}: {_message(exc)}"
        )
        return
    bad = _first_non_finite(reference)
    if bad is not None:
        shown = singles[bad].body.decode(errors="replace").strip()
        probe.add(
            "error",
            f"{combo}: record {bad + 1} gets a non-finite score ({quote(shown)}). InvokeEndpoint cannot explain "
            "a record whose score is NaN or infinite (ModelError); the container must answer a finite score for "
            "every record it is sent.",
        )
        return
    probe.layout, probe.output_type = layout, singles[0].content_type
    shown = singles[0].body.decode(errors="replace").strip()
    probe.add(
        "ok",
        f"{combo}: one record answers {quote(shown)} ({singles[0].content_type}): {layout.description}"
        f" → {_fields(layout.fields)}.",
    )
    for note in layout.notes:
        probe.add("ok", note)
    probe.progress.step = f"sending batches ({combo})"
    try:
        await _batches(runtime, sample, probe, outputs, reference)
    except NonFiniteScores as exc:
        probe.add(
            "error",
            f"{combo}: {exc} InvokeEndpoint cannot explain NaN or infinite scores (ModelError); the container must "
            "answer the same finite scores in a batch as one record at a time.",
        )


async def _batches(
    runtime: Runtime, sample: Sample, probe: Probe, outputs: ModelOutputs, reference: np.ndarray
) -> None:
    assert probe.layout is not None
    combo = combo_name(probe)
    n = len(probe.lines)
    inference = probe.layout.inference()
    # 2. two records, then a batch.
    two = [probe.lines[0], probe.lines[1 % n]]
    two_ref = np.vstack([reference[0], reference[1 % len(reference)]])
    batch_lines = fill(probe.lines, max(min(BATCH, n), 8))
    batch_ref_index = [i % n for i in range(len(batch_lines))]
    ok_two, mode_two, scores_two, why = await _try_batch(runtime, probe, two, inference)
    if not ok_two:
        probe.add(
            "warn",
            f"{combo}: two records in one request fail ({why}). The config sets MaxRecordCount 1, so the "
            "explainer sends one synthetic record per request (slow: see the estimate), and InvokeEndpoint "
            "requests must carry one record each.",
        )
        probe.max_record_count = 1
        await _repeat(runtime, probe, [probe.lines[0]], inference, reference[:1])
        return
    ok_batch, mode, scores_batch, why = await _try_batch(runtime, probe, batch_lines, inference)
    if not ok_batch:
        probe.add(
            "warn",
            f"{combo}: two records work but a batch of {len(batch_lines)} fails ({why}). The config sets "
            "MaxRecordCount 2.",
        )
        probe.can_batch, probe.batch_mode, probe.max_record_count = True, mode_two, 2
        _compare(probe, two_ref, scores_two, "two-record")
        return
    probe.can_batch, probe.batch_mode = True, mode
    shape = (
        "one line holding one value per record"
        if mode == "one-line"
        else "one line per record"
        if outputs.csv
        else "one JSON line per record"
    )
    probe.add("ok", f"{combo}: batches work: {len(batch_lines)} records answer {shape}.")
    noise = await _repeat(runtime, probe, batch_lines, inference, scores_batch)
    tolerance = max(noise * 4, 0.0)
    ref = np.vstack([reference[i] for i in batch_ref_index if i < len(reference)])
    got = np.vstack([scores_batch[k] for k, i in enumerate(batch_ref_index) if i < len(reference)])
    _compare(probe, ref, got, f"batch of {len(batch_lines)}", tolerance)
    _compare(probe, two_ref, scores_two, "two-record", tolerance)
    if probe.template is not None and media_type(probe.content_type) == sample.content_type:
        # Synthetic records are rebuilt through ContentTemplate: they must get the same answers.
        rebuilt = fill(rules.encode_lines(sample.records, JSONLINES, probe.template), len(batch_lines))
        ok, _, scores, why = await _try_batch(runtime, probe, rebuilt, inference)
        same = scores_batch[: len(rebuilt)]
        if not ok or not (rules.agree(scores, same) or rules.max_difference(scores, same) <= tolerance):
            detail = why if not ok else f"max difference {rules.max_difference(scores, same):.3g}"
            probe.add(
                "error",
                f"{combo}: records rebuilt with ContentTemplate {probe.template} do not get the same answers as "
                f"the originals ({detail}); write a ContentTemplate that reproduces the container's input.",
            )
        else:
            probe.add("ok", f"{combo}: records rebuilt with ContentTemplate {probe.template} get the same answers.")


async def _try_batch(
    runtime: Runtime, probe: Probe, lines: Sequence[bytes], inference: Any
) -> tuple[bool, str | None, np.ndarray, str]:
    try:
        result, _ = await invoke(runtime, probe, lines)
    except ModelError as exc:
        return False, None, np.empty((0, 0)), model_error(exc)
    try:
        return await anyio.to_thread.run_sync(read_batch, result, len(lines), inference)
    except ModelError as exc:
        return False, None, np.empty((0, 0)), exc.message + _json_hint(result)


async def _repeat(runtime: Runtime, probe: Probe, lines: Sequence[bytes], inference: Any, first: np.ndarray) -> float:
    ok, _, again, why = await _try_batch(runtime, probe, lines, inference)
    if not ok:
        probe.add("error", f"{combo_name(probe)}: the same request sent again fails ({why}).")
        return 0.0
    noise = rules.max_difference(first, again)
    if rules.agree(first, again):
        probe.add("ok", f"{combo_name(probe)}: deterministic: the same request twice gives the same scores.")
        return 0.0
    probe.noise = noise
    probe.add(
        "warn",
        f"{combo_name(probe)}: nondeterministic: the same request twice gives scores up to {noise:.3g} apart. "
        "Kernel SHAP then attributes noise to features; make the model deterministic (fixed seeds, no dropout "
        "at inference) or expect attributions below that size to be noise.",
    )
    return noise


def _compare(probe: Probe, expected: np.ndarray, got: np.ndarray, what: str, tolerance: float = 0.0) -> None:
    diff = rules.max_difference(expected, got)
    if rules.agree(expected, got):
        probe.add("ok", f"{combo_name(probe)}: {what} scores match the single-record scores.")
    elif diff <= tolerance:
        probe.add(
            "warn",
            f"{combo_name(probe)}: {what} scores differ from single-record scores by up to {diff:.3g}, within the "
            "model's own noise.",
        )
    else:
        probe.add(
            "error",
            f"{combo_name(probe)}: {what} scores differ from the single-record scores of the same records (max "
            f"difference {diff:.3g}); batched answers must be in request order and computed per record. Fix the "
            "container's batch handling, or set MaxRecordCount 1.",
        )


# --------------------------------------------------------------------------------------------------------------
# Worker-thread and wording helpers


def preview_scores(scores: np.ndarray) -> str:
    return ", ".join(f"{float(v):.4g}" for v in np.ravel(scores))


def _invoke_typed(runtime: Runtime, probe: Probe, body: bytes) -> Any:
    assert probe.feature_types is not None
    try:
        table = model_table(parse_records(body, probe.content_type, probe.features_attribute), probe.feature_types)
    except ServiceError as exc:  # what InvokeEndpoint would refuse as a bad request
        raise ModelError(f"InvokeEndpoint would refuse the record: {exc.message}") from exc
    return invoke_table(runtime, table, probe.content_type, probe.accept)


def _read_singles(results: Sequence[Any]) -> tuple[ModelOutputs, rules.Layout, np.ndarray]:
    parts = [split_outputs(r.body, r.content_type, 1) for r in results]
    kinds = {p.csv for p in parts}
    if len(kinds) != 1:
        raise ModelError("Single-record answers come back in different formats.")
    outputs = ModelOutputs(records=tuple(p.records[0] for p in parts), csv=parts[0].csv)
    layout = rules.detect_layout(outputs)
    return outputs, layout, extract_scores(outputs, layout.inference())


def read_batch(result: Any, n: int, inference: Any) -> tuple[bool, str | None, np.ndarray, str]:
    outputs = split_outputs(result.body, result.content_type, n)
    text = result.body.decode("utf-8", errors="replace")
    one_line = outputs.csv and n > 1 and len([line for line in text.splitlines() if line.strip()]) == 1
    scores = extract_scores(outputs, inference)
    bad = _first_non_finite(scores)
    if bad is not None:
        # Not a failed batch (that would advise MaxRecordCount) nor a disagreement (NaN equals nothing): its own error.
        value = preview_scores(scores[bad])
        raise NonFiniteScores(
            f"a request of {rules.plural(n, 'record')} gets a non-finite score for record {bad + 1} ({value})."
        )
    return True, "one-line" if one_line else "lines", scores, ""


def _first_non_finite(scores: np.ndarray) -> int | None:
    bad = np.flatnonzero(~np.all(np.isfinite(np.asarray(scores, dtype=np.float64).reshape(len(scores), -1)), axis=1))
    return int(bad[0]) if bad.size else None


def _json_hint(result: Any) -> str:
    """Clarify reads one output per record, a line each: one application/json document for a whole request cannot be
    split, while the same container often offers JSON Lines."""
    if media_type(result.content_type) != "application/json":
        return ""
    return (
        " The container answers one application/json document per request, which Clarify cannot split into one "
        "output per record: ask it for Accept: application/jsonlines (one JSON line per record), or text/csv."
    )


def cycle(lines: Sequence[bytes], n: int) -> list[bytes]:
    return [lines[i % len(lines)] for i in range(n)]


def fill(lines: Sequence[bytes], n: int, limit: int = MAX_PAYLOAD_BYTES) -> list[bytes]:
    """``cycle(lines, n)``, cut short where the request (lines joined by newlines) would pass ``limit`` bytes, as
    ``clarify.records.batch_lines`` cuts the explainer's batches; at least one line."""
    taken: list[bytes] = []
    size = -1
    for i in range(n):
        line = lines[i % len(lines)]
        size += len(line) + 1
        if taken and size > limit:
            break
        taken.append(line)
    return taken


def combo_name(probe: Probe) -> str:
    return f"{media_type(probe.content_type)} → Accept {probe.accept or '(none)'}"


def _fields(fields: dict[str, Any]) -> str:
    if not fields:
        return "no InferenceConfig fields needed (the whole output is the score)"
    return ", ".join(f"{k} {v!r}" if isinstance(v, str) else f"{k} {v}" for k, v in fields.items())


def model_error(exc: ModelError) -> str:
    """The model's failure, without a closing period: callers end their sentence with one."""
    if exc.original_status_code is not None:
        return f"HTTP {exc.original_status_code}: {quote((exc.original_message or '').strip())}"
    return exc.message.strip().rstrip(".")


def _message(exc: Exception) -> str:
    return exc.message if isinstance(exc, ServiceError) else str(exc)


def quote(text: str, limit: int = 120) -> str:
    text = text.replace("\n", "\\n")
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.3g} ms" if seconds < 1 else f"{seconds:.3g} s"


def secs(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds >= 1 else f"{seconds * 1000:.0f} ms"
