"""Pre-check a model container before turning on explanations (issue 10; spec §6, §5.1, §1, §3.3).

Given a container (a URL, a built-in image and model file, or a registered model) and a few sample records, it:

1. checks ``GET /ping`` (remote containers) or loads the model (built-in runtimes);
2. per allowed content type and accept: sends a few records one at a time, then two records, then a batch, and
   the same batch again. Single answers fix the output layout (:func:`openclarify.clarify.precheck.detect_layout`);
   the two-record and batch answers say whether the container batches and how (one line per record, or one line
   holding one value per record), and whether batch scores agree with single scores; the repeat shows
   nondeterminism;
3. times batches of growing size, fits ``fixed + per_row * rows`` and estimates one explanation's latency with the
   default budget at baseline sizes 1 and 10 against the 60-second limit;
4. builds an ``ExplainerConfig`` (detected InferenceConfig fields, a one-row median baseline from the sample) and
   validates it with the same checks CreateEndpointConfig runs.

Every finding is a sentence a person can act on; ``ok`` is False when any finding is an error, that is, when the
container cannot be explained as is. Input problems (an unreadable sample, an unknown model, a URL the server may
not call) raise ``ValidationException`` instead.

The service never runs CPU work on the event loop: parsing and analysis go to worker threads.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import anyio
import anyio.to_thread
import httpx
import numpy as np

from openclarify.clarify import precheck as rules
from openclarify.clarify.config import validate_explainer_config
from openclarify.clarify.outputs import ModelOutputs, extract_scores, split_outputs
from openclarify.clarify.records import CSV, JSONLINES, Record, media_type, parse_records
from openclarify.errors import ModelError, ServiceError, ValidationException
from openclarify.runtimes import ModelLoadError, Runtime, build_spec, create_runtime, is_remote
from openclarify.services.models import ModelService, model_container

MEBIBYTE = 1024 * 1024
IN_PROCESS_ROWS = 1 << 16
"""Built-in runtimes predict synthetic rows in process, in chunks this large (services/explanations.py)."""
SINGLES = 4
"""Records sent one at a time; their answers fix the layout and are the reference for batch answers."""
BATCH = 32


@dataclass(frozen=True)
class Target:
    """Exactly one of: ``url``; ``image`` (+ ``model_data`` for built-ins); ``model_name``."""

    url: str | None = None
    image: str | None = None
    model_data: str | None = None
    model_name: str | None = None

    def describe(self) -> str:
        if self.url:
            return self.url
        if self.model_name:
            return f"model {self.model_name}"
        return f"{self.image} ({self.model_data})" if self.model_data else str(self.image)


@dataclass(frozen=True)
class PrecheckRequest:
    target: Target
    records: bytes
    content_types: tuple[str, ...] = ()
    """Content types to try, in order of preference; empty means the sample's own format."""
    accepts: tuple[str | None, ...] = ()
    """Accept values to try; empty means none (the container's default output)."""
    features_attribute: str | None = None


@dataclass(frozen=True)
class PrecheckLimits:
    max_sample_bytes: int = MEBIBYTE
    max_records: int = 1000
    total_seconds: float = 60.0
    request_timeout_seconds: float = 30.0
    timing_seconds: float = 3.0
    """Time spent measuring the per-row cost."""
    max_timing_rows: int = 1024


@dataclass(frozen=True)
class HostPolicy:
    """Which container URLs may be called. Default: loopback only (``localhost``, 127.0.0.0/8, ::1), so a server
    that offers the pre-check over HTTP is not an open proxy. ``allowed_hosts`` adds host names or IP literals;
    ``*`` allows any host."""

    allowed_hosts: tuple[str, ...] = ()

    def check(self, url: str) -> None:
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValidationException(f"Container URL {url!r} must be an http:// or https:// URL with a host.")
        host = parsed.hostname.lower()
        if "*" in self.allowed_hosts or host in {h.lower() for h in self.allowed_hosts}:
            return
        if host == "localhost" or _loopback_literal(host):
            return
        raise ValidationException(
            f"Container host {host!r} is not allowed: this server pre-checks loopback containers only. The operator "
            "can allow it with OPENCLARIFY_PRECHECK_ALLOWED_HOSTS."
        )


def _loopback_literal(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Finding:
    level: str
    """``ok``, ``warn`` or ``error``."""
    message: str


@dataclass
class PrecheckReport:
    findings: list[Finding] = field(default_factory=list)
    explainer_config: dict[str, Any] | None = None
    estimates: dict[str, Any] = field(default_factory=dict)
    container: dict[str, Any] | None = None
    """The ContainerDefinition the checked container corresponds to (for CreateModel), when known."""
    content_type: str | None = None
    accept: str | None = None

    @property
    def ok(self) -> bool:
        return not any(f.level == "error" for f in self.findings) and self.explainer_config is not None

    def add(self, level: str, message: str) -> None:
        self.findings.append(Finding(level, message))

    def as_dict(self) -> dict[str, Any]:
        """The answer of ``POST /-/precheck`` and of ``openclarify precheck --format json``."""
        return {
            "ok": self.ok,
            "findings": [{"level": f.level, "message": f.message} for f in self.findings],
            "explainer_config": self.explainer_config,
            "estimates": self.estimates,
        }


@dataclass(frozen=True)
class Sample:
    records: list[Record]
    content_type: str
    lines: list[bytes]
    """Each record as sent in its own format (JSON Lines lines verbatim; CSV re-joined per record)."""

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

    @property
    def ok(self) -> bool:
        return self.layout is not None and not any(f.level == "error" for f in self.findings)

    def add(self, level: str, message: str) -> None:
        self.findings.append(Finding(level, message))


class _Failed(Exception):
    """A step failed; its finding has been recorded."""


class PrecheckService:
    def __init__(
        self,
        *,
        models: ModelService | None = None,
        model_roots: Sequence[Path] = (),
        hosts: HostPolicy | None = None,
        limits: PrecheckLimits | None = None,
    ) -> None:
        self._models = models
        self._roots = tuple(model_roots)
        self._hosts = hosts or HostPolicy()
        self.limits = limits or PrecheckLimits()

    async def run(self, request: PrecheckRequest) -> PrecheckReport:
        """Pre-check one container. Raises ValidationException for bad input; everything else is a finding."""
        sample = await anyio.to_thread.run_sync(self._parse_sample, request)
        container = self._container(request.target)
        report = PrecheckReport(container=container)
        runtime: Runtime | None = None
        try:
            with anyio.fail_after(self.limits.total_seconds):
                runtime = await self._open(container, report)
                if runtime is not None:
                    await self._check(runtime, sample, request, report)
        except TimeoutError:
            report.add(
                "error",
                f"The pre-check did not finish within {self.limits.total_seconds:g} s; the container answers too "
                "slowly to be explained within SageMaker's 60-second limit.",
            )
        finally:
            if runtime is not None:
                await runtime.aclose()
        return report

    # -- inputs ----------------------------------------------------------------------------------------------------

    def _parse_sample(self, request: PrecheckRequest) -> Sample:
        body = request.records
        if len(body) > self.limits.max_sample_bytes:
            raise ValidationException(
                f"The sample is {len(body)} bytes; the pre-check takes at most {self.limits.max_sample_bytes} bytes. "
                "A few dozen records are enough."
            )
        text = body.decode("utf-8-sig", errors="replace")
        if not text.strip():
            raise ValidationException("The sample holds no records: give a few CSV lines or JSON Lines records.")
        kind = _sample_format(text, request.features_attribute)
        try:
            records = parse_records(body, kind, request.features_attribute)
        except ServiceError as exc:
            raise ValidationException(f"The sample records cannot be read as {kind}: {exc.message}") from exc
        if len(records) > self.limits.max_records:
            raise ValidationException(
                f"The sample holds {len(records)} records; the pre-check takes at most {self.limits.max_records}."
            )
        if kind == JSONLINES:
            lines = [line.rstrip("\r").encode() for line in text.split("\n") if line.strip()]
        else:
            lines = rules.encode_lines(records, CSV)
        return Sample(records, kind, lines)

    def _container(self, target: Target) -> dict[str, Any]:
        chosen = [x for x in (target.url, target.image, target.model_name) if x]
        if len(chosen) != 1:
            raise ValidationException(
                "Name exactly one container: a container URL, a built-in image with its model file, or a model name."
            )
        if target.url:
            self._hosts.check(target.url)
            return {"Image": target.url}
        if target.image:
            if is_remote(target.image):
                self._hosts.check(target.image)
                return {"Image": target.image}
            container = {"Image": target.image}
            if target.model_data:
                container["ModelDataUrl"] = target.model_data
            return container
        if self._models is None:
            raise ValidationException("Registered models can only be pre-checked through a server.")
        assert target.model_name is not None
        # A registered model was accepted by CreateModel and will be called at CreateEndpoint anyway, so its URL is
        # not subject to the host policy.
        return model_container(self._models.describe(target.model_name).request)

    async def _open(self, container: dict[str, Any], report: PrecheckReport) -> Runtime | None:
        try:
            spec = build_spec(
                container,
                model_roots=self._roots,
                startup_timeout_seconds=2.0,
                request_timeout_seconds=self.limits.request_timeout_seconds,
            )
        except ModelLoadError as exc:
            report.add("error", str(exc))
            return None
        runtime = create_runtime(spec)
        if spec.url is not None:
            if not await self._ping(spec.url, report):
                return None
            return runtime
        try:
            started = time.perf_counter()
            await anyio.to_thread.run_sync(runtime.load)
        except ModelLoadError as exc:
            report.add("error", f"The model does not load: {exc}")
            return None
        report.add("ok", f"The built-in runtime {spec.image} loaded the model in {_ms(time.perf_counter() - started)}.")
        return runtime

    async def _ping(self, url: str, report: PrecheckReport) -> bool:
        ping = url.rstrip("/") + "/ping"
        try:
            async with httpx.AsyncClient(timeout=2.0) as client:
                started = time.perf_counter()
                response = await client.get(ping)
                took = time.perf_counter() - started
        except httpx.HTTPError as exc:
            report.add(
                "error",
                f"GET {ping} failed ({type(exc).__name__}): start the container and check the URL and port "
                "(SageMaker containers listen on 8080).",
            )
            return False
        if response.status_code != 200:
            report.add("error", f"GET {ping} answered HTTP {response.status_code}; a healthy container answers 200.")
            return False
        if took > 2.0:
            report.add("warn", f"GET {ping} took {_ms(took)}; SageMaker allows 2 s.")
        else:
            report.add("ok", f"GET {ping} answered 200 in {_ms(took)}.")
        return True

    # -- the checks ------------------------------------------------------------------------------------------------

    async def _check(self, runtime: Runtime, sample: Sample, request: PrecheckRequest, report: PrecheckReport) -> None:
        content_types = request.content_types or (sample.content_type,)
        accepts = request.accepts or (None,)
        probes = []
        for content_type in content_types:
            kind = media_type(content_type)
            if kind not in (CSV, JSONLINES):
                report.add(
                    "error",
                    f"Content type {content_type!r} cannot be explained: Clarify sends text/csv or "
                    "application/jsonlines to the container.",
                )
                continue
            for accept in accepts:
                probe = self._new_probe(sample, content_type, accept, request.features_attribute)
                if probe is None:
                    report.add(
                        "error",
                        f"FeaturesAttribute {request.features_attribute!r} is not a dotted member name, so no "
                        "ContentTemplate can be derived; JSON Lines records cannot be rebuilt for the container.",
                    )
                    continue
                await self._probe(runtime, sample, probe)
                probes.append(probe)
                report.findings.extend(probe.findings)
        chosen = next((p for p in probes if p.ok), None)
        if chosen is None:
            if not any(f.level == "error" for f in report.findings):
                report.add("error", "No content type and accept combination could be checked.")
            return
        if len(probes) > 1:
            report.add("ok", f"The config below uses {_combo(chosen)}.")
        report.content_type, report.accept = chosen.content_type, chosen.accept
        budget = await self._time(runtime, chosen, report)
        await anyio.to_thread.run_sync(self._conclude, runtime, sample, request, chosen, budget, report)

    def _new_probe(self, sample: Sample, content_type: str, accept: str | None, fa: str | None) -> Probe | None:
        kind = media_type(content_type)
        template = None
        if kind == JSONLINES and fa is not None:
            template = rules.content_template_for(fa)
            if template is None:
                return None
        lines = sample.lines if kind == sample.content_type else rules.encode_lines(sample.records, kind, template)
        return Probe(content_type, accept, lines, template)

    async def _invoke(self, runtime: Runtime, probe: Probe, lines: Sequence[bytes]) -> tuple[Any, float]:
        started = time.perf_counter()
        result = await runtime.invoke(b"\n".join(lines), probe.content_type, probe.accept, None)
        return result, time.perf_counter() - started

    async def _probe(self, runtime: Runtime, sample: Sample, probe: Probe) -> None:
        combo = _combo(probe)
        n = len(probe.lines)
        # 1. single records: the layout and the reference scores.
        singles = []
        try:
            for line in probe.lines[: min(SINGLES, n)]:
                result, _ = await self._invoke(runtime, probe, [line])
                singles.append(result)
        except ModelError as exc:
            probe.add("error", f"{combo}: a single record fails: {_model_error(exc)}")
            return
        try:
            outputs, layout, reference = await anyio.to_thread.run_sync(_read_singles, singles)
        except (ModelError, rules.LayoutError) as exc:
            probe.add("error", f"{combo}: {_message(exc)}")
            return
        probe.layout, probe.output_type = layout, singles[0].content_type
        shown = singles[0].body.decode(errors="replace").strip()
        probe.add(
            "ok",
            f"{combo}: one record answers {_quote(shown)} ({singles[0].content_type}): {layout.description}"
            f" → {_fields(layout.fields)}.",
        )
        for note in layout.notes:
            probe.add("ok", note)
        inference = layout.inference()

        # 2. two records, then a batch.
        two = [probe.lines[0], probe.lines[1 % n]]
        two_ref = np.vstack([reference[0], reference[1 % len(reference)]])
        batch_lines = _cycle(probe.lines, max(min(BATCH, n), 8))
        batch_ref_index = [i % n for i in range(len(batch_lines))]
        ok_two, mode_two, scores_two, why = await self._try_batch(runtime, probe, two, inference)
        if not ok_two:
            probe.add(
                "warn",
                f"{combo}: two records in one request fail ({why}). The config sets MaxRecordCount 1, so the "
                "explainer sends one synthetic record per request (slow: see the estimate), and InvokeEndpoint "
                "requests must carry one record each.",
            )
            probe.max_record_count = 1
            await self._repeat(runtime, probe, [probe.lines[0]], inference, reference[:1])
            return
        ok_batch, mode, scores_batch, why = await self._try_batch(runtime, probe, batch_lines, inference)
        if not ok_batch:
            probe.add(
                "warn",
                f"{combo}: two records work but a batch of {len(batch_lines)} fails ({why}). The config sets "
                "MaxRecordCount 2.",
            )
            probe.can_batch, probe.batch_mode, probe.max_record_count = True, mode_two, 2
            self._compare(probe, two_ref, scores_two, "two-record")
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
        noise = await self._repeat(runtime, probe, batch_lines, inference, scores_batch)
        tolerance = max(noise * 4, 0.0)
        ref = np.vstack([reference[i] for i in batch_ref_index if i < len(reference)])
        got = np.vstack([scores_batch[k] for k, i in enumerate(batch_ref_index) if i < len(reference)])
        self._compare(probe, ref, got, f"batch of {len(batch_lines)}", tolerance)
        self._compare(probe, two_ref, scores_two, "two-record", tolerance)
        if probe.template is not None and media_type(probe.content_type) == sample.content_type:
            # Synthetic records are rebuilt through ContentTemplate: they must get the same answers.
            rebuilt = rules.encode_lines(sample.records, JSONLINES, probe.template)
            ok, _, scores, why = await self._try_batch(runtime, probe, _cycle(rebuilt, len(batch_lines)), inference)
            if not ok or not (
                rules.agree(scores, scores_batch) or rules.max_difference(scores, scores_batch) <= tolerance
            ):
                detail = why if not ok else f"max difference {rules.max_difference(scores, scores_batch):.3g}"
                probe.add(
                    "error",
                    f"{combo}: records rebuilt with ContentTemplate {probe.template} do not get the same answers as "
                    f"the originals ({detail}); write a ContentTemplate that reproduces the container's input.",
                )
            else:
                probe.add("ok", f"{combo}: records rebuilt with ContentTemplate {probe.template} get the same answers.")

    async def _try_batch(
        self, runtime: Runtime, probe: Probe, lines: Sequence[bytes], inference: Any
    ) -> tuple[bool, str | None, np.ndarray, str]:
        try:
            result, _ = await self._invoke(runtime, probe, lines)
        except ModelError as exc:
            return False, None, np.empty((0, 0)), _model_error(exc)
        try:
            return await anyio.to_thread.run_sync(_read_batch, result, len(lines), inference)
        except ModelError as exc:
            hint = ""
            if media_type(result.content_type) == "application/json":
                hint = " The container answers one application/json document; ask for Accept application/jsonlines."
            return False, None, np.empty((0, 0)), exc.message + hint

    async def _repeat(
        self, runtime: Runtime, probe: Probe, lines: Sequence[bytes], inference: Any, first: np.ndarray
    ) -> float:
        ok, _, again, why = await self._try_batch(runtime, probe, lines, inference)
        if not ok:
            probe.add("error", f"{_combo(probe)}: the same request sent again fails ({why}).")
            return 0.0
        noise = rules.max_difference(first, again)
        if rules.agree(first, again):
            probe.add("ok", f"{_combo(probe)}: deterministic: the same request twice gives the same scores.")
            return 0.0
        probe.noise = noise
        probe.add(
            "warn",
            f"{_combo(probe)}: nondeterministic: the same request twice gives scores up to {noise:.3g} apart. "
            "Kernel SHAP then attributes noise to features; make the model deterministic (fixed seeds, no dropout "
            "at inference) or expect attributions below that size to be noise.",
        )
        return noise

    def _compare(self, probe: Probe, expected: np.ndarray, got: np.ndarray, what: str, tolerance: float = 0.0) -> None:
        diff = rules.max_difference(expected, got)
        if rules.agree(expected, got):
            probe.add("ok", f"{_combo(probe)}: {what} scores match the single-record scores.")
        elif diff <= tolerance:
            probe.add(
                "warn",
                f"{_combo(probe)}: {what} scores differ from single-record scores by up to {diff:.3g}, within the "
                "model's own noise.",
            )
        else:
            probe.add(
                "error",
                f"{_combo(probe)}: {what} scores differ from the single-record scores of the same records (max "
                f"difference {diff:.3g}); batched answers must be in request order and computed per record. Fix the "
                "container's batch handling, or set MaxRecordCount 1.",
            )

    # -- cost --------------------------------------------------------------------------------------------------

    async def _time(self, runtime: Runtime, probe: Probe, report: PrecheckReport) -> rules.Budget:
        """Time requests of 1, 2, 4, … rows (two each, the faster counts) within the timing budget."""
        spent_until = time.monotonic() + self.limits.timing_seconds
        samples: list[tuple[int, float]] = []
        largest_ok = 0
        size = 1
        while size <= min(self.limits.max_timing_rows, probe.max_record_count or self.limits.max_timing_rows):
            lines = _cycle(probe.lines, size)
            best = math.inf
            failed = None
            for _ in range(2):
                try:
                    _, took = await self._invoke(runtime, probe, lines)
                except ModelError as exc:
                    failed = _model_error(exc)
                    break
                best = min(best, took)
            if failed is not None:
                if largest_ok >= 1 and (probe.max_record_count is None or largest_ok < probe.max_record_count):
                    probe.max_record_count = largest_ok
                    report.add(
                        "warn",
                        f"A batch of {size} records fails ({failed}); the config sets MaxRecordCount "
                        f"{largest_ok}, the largest batch that worked.",
                    )
                break
            samples.append((size, best))
            largest_ok = size
            if not probe.can_batch or time.monotonic() > spent_until or best > self.limits.timing_seconds / 4:
                break
            size *= 2
        if not samples:
            samples = [(1, self.limits.request_timeout_seconds)]
        cost = rules.fit_cost(samples)
        line_bytes = float(np.mean([len(line) for line in probe.lines]))
        if not probe.can_batch:
            rows_per_request = 1
        elif runtime.spec.url is None:
            rows_per_request = IN_PROCESS_ROWS
        else:
            rows_per_request = rules.rows_per_payload(line_bytes)
        if probe.max_record_count is not None:
            rows_per_request = min(rows_per_request, probe.max_record_count)
        report.add(
            "ok",
            f"Measured container cost: {_ms(cost.fixed_seconds)} per request + {_ms(cost.per_row_seconds)} per "
            f"record (requests of {', '.join(str(s) for s, _ in samples)} record{'s' if samples[-1][0] > 1 else ''}).",
        )
        return rules.Budget(cost, rows_per_request)

    # -- conclusions -------------------------------------------------------------------------------------------

    def _conclude(
        self,
        runtime: Runtime,
        sample: Sample,
        request: PrecheckRequest,
        probe: Probe,
        budget: rules.Budget,
        report: PrecheckReport,
    ) -> None:
        assert probe.layout is not None
        width = sample.width
        inference: dict[str, Any] = dict(probe.layout.fields)
        if request.features_attribute is not None:
            inference["FeaturesAttribute"] = request.features_attribute
        if probe.template is not None:
            inference["ContentTemplate"] = probe.template
        if probe.max_record_count is not None:
            inference["MaxRecordCount"] = probe.max_record_count

        shap: dict[str, Any] = {}
        number_of_samples = self._estimate(width, budget, report, inference)
        if number_of_samples is not None:
            shap["NumberOfSamples"] = number_of_samples

        kind = media_type(probe.content_type)
        baseline = rules.median_baseline(sample.records, kind, probe.template)
        if len(baseline.text) > rules.MAX_INLINE_BASELINE:
            report.add(
                "error",
                f"The baseline row is {len(baseline.text)} characters, more than ShapBaseline's 4096: store it in a "
                "file and use ShapBaselineUri.",
            )
            return
        shap["ShapBaselineConfig"] = {"MimeType": kind, "ShapBaseline": baseline.text}
        report.add(
            "ok",
            f"Baseline: {baseline.description}. Replace it with rows that represent 'no information' for your "
            "model (for example training-set medians) if you have them.",
        )
        if probe.layout.n_outputs > 1 and probe.layout.label_headers is None:
            report.add(
                "ok",
                f"The model gives {probe.layout.n_outputs} scores per record; add InferenceConfig.LabelHeaders to "
                "name them in responses.",
            )
        config = {"ClarifyExplainerConfig": {"InferenceConfig": inference, "ShapConfig": shap}}
        try:
            validate_explainer_config(config)
        except ValidationException as exc:
            report.add("error", f"The derived ExplainerConfig is not valid: {exc.message}")
            return
        report.explainer_config = config

    def _estimate(
        self, width: int, budget: rules.Budget, report: PrecheckReport, inference: dict[str, Any]
    ) -> int | None:
        """Latency findings; returns a NumberOfSamples for the config when the default budget cannot fit."""
        limit, near = rules.LIMIT_SECONDS, rules.LIMIT_SECONDS * rules.NEAR_FRACTION
        one, ten = budget.estimate(width, 1), budget.estimate(width, 10)
        report.estimates = {
            "n_features": width,
            "n_samples": one.n_samples,
            "limit_seconds": limit,
            "fixed_seconds": round(budget.cost.fixed_seconds, 6),
            "per_row_seconds": round(budget.cost.per_row_seconds, 9),
            "rows_per_request": budget.rows_per_request,
            "measured": [[n, round(t, 6)] for n, t in budget.cost.samples],
            "baseline_1": one.as_dict(),
            "baseline_10": ten.as_dict(),
        }
        summary = (
            f"Estimated explanation time per record (M={width} features, default NumberOfSamples → "
            f"{one.n_samples} samples): baseline of 1 row {_s(one.seconds)} ({one.rows} synthetic records in "
            f"{one.requests} requests); baseline of 10 rows {_s(ten.seconds)}."
        )
        chosen: int | None = None
        if one.seconds <= near:
            report.add("ok", summary)
        else:
            fit = budget.samples_within(width, 1, near)
            if fit < 1:
                report.add(
                    "error",
                    f"{summary} Even NumberOfSamples 1 needs {_s(budget.estimate(width, 1, 1).seconds)}, "
                    f"over the {limit:g}-second limit: the container is too slow per request.",
                )
                return None
            fitted = budget.estimate(width, 1, fit)
            knobs = [f"NumberOfSamples {fit} brings a 1-row baseline to {_s(fitted.seconds)}"]
            if budget.rows_per_request == 1:
                knobs.append(
                    f"the container takes one record per request ({one.requests} requests of "
                    f"{_ms(budget.cost.seconds(1))}); accepting batches (then raise or drop MaxRecordCount) cuts "
                    "the per-request overhead"
                )
            elif inference.get("MaxRecordCount"):
                knobs.append(f"a larger MaxRecordCount than {inference['MaxRecordCount']} cuts the request count")
            if one.seconds > limit:
                chosen = fit
                report.add(
                    "warn",
                    f"{summary} That is over the {limit:g}-second limit; the config sets NumberOfSamples {fit} "
                    f"({_s(fitted.seconds)}, fewer samples means noisier attributions). Other knobs: "
                    + "; ".join(knobs[1:] or ["a faster model or more instances"])
                    + ".",
                )
            else:
                report.add(
                    "warn",
                    f"{summary} That nears the {limit:g}-second limit (explaining several records per request adds "
                    "up): " + "; ".join(knobs) + ".",
                )
        if ten.seconds > near:
            size = budget.baseline_within(width, near, chosen)
            ten_configured = budget.estimate(width, 10, chosen).seconds
            rows = f"{max(size, 1)} row{'s' if size > 1 else ''}"
            lower = f", or lower NumberOfSamples to {budget.samples_within(width, 10, near)}" if size < 10 else ""
            report.add(
                "warn",
                f"A 10-row baseline would take {_s(ten_configured)} per record: keep the baseline at {rows} or "
                f"fewer{lower}.",
            )
        if chosen is not None:
            report.estimates["configured"] = budget.estimate(width, 1, chosen).as_dict()
        return chosen


# --------------------------------------------------------------------------------------------------------------
# Worker-thread helpers


def _read_singles(results: Sequence[Any]) -> tuple[ModelOutputs, rules.Layout, np.ndarray]:
    parts = [split_outputs(r.body, r.content_type, 1) for r in results]
    kinds = {p.csv for p in parts}
    if len(kinds) != 1:
        raise ModelError("Single-record answers come back in different formats.")
    outputs = ModelOutputs(records=tuple(p.records[0] for p in parts), csv=parts[0].csv)
    layout = rules.detect_layout(outputs)
    return outputs, layout, extract_scores(outputs, layout.inference())


def _read_batch(result: Any, n: int, inference: Any) -> tuple[bool, str | None, np.ndarray, str]:
    outputs = split_outputs(result.body, result.content_type, n)
    text = result.body.decode("utf-8", errors="replace")
    one_line = outputs.csv and n > 1 and len([line for line in text.splitlines() if line.strip()]) == 1
    return True, "one-line" if one_line else "lines", extract_scores(outputs, inference), ""


def _sample_format(text: str, features_attribute: str | None) -> str:
    first = text.lstrip("\ufeff \t\r\n")[:1]
    return JSONLINES if first in "{[" or features_attribute is not None else CSV


def _cycle(lines: Sequence[bytes], n: int) -> list[bytes]:
    return [lines[i % len(lines)] for i in range(n)]


def _combo(probe: Probe) -> str:
    return f"{media_type(probe.content_type)} → Accept {probe.accept or '(none)'}"


def _fields(fields: dict[str, Any]) -> str:
    if not fields:
        return "no InferenceConfig fields needed (the whole output is the score)"
    return ", ".join(f"{k} {v!r}" if isinstance(v, str) else f"{k} {v}" for k, v in fields.items())


def _model_error(exc: ModelError) -> str:
    if exc.original_status_code is not None:
        return f"HTTP {exc.original_status_code}: {_quote((exc.original_message or '').strip())}"
    return exc.message.strip()


def _message(exc: Exception) -> str:
    return exc.message if isinstance(exc, ServiceError) else str(exc)


def _quote(text: str, limit: int = 120) -> str:
    text = text.replace("\n", "\\n")
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.3g} ms" if seconds < 1 else f"{seconds:.3g} s"


def _s(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds >= 1 else f"{seconds * 1000:.0f} ms"
