"""Pre-check a model container before turning on explanations (issue 10; spec §6, §5.1, §1, §3.3).

Given a container (a URL, a built-in image and model file, or a registered model) and a few sample records, it:

1. checks ``GET /ping`` (remote containers) or loads the model (built-in runtimes);
2. per allowed content type and accept, probes the container (``services.precheck_probe``): single records fix
   the output layout, two records and a batch show whether and how it batches and whether batch scores agree, a
   repeat shows nondeterminism;
3. times batches of growing size, fits ``fixed + per_row * rows`` and estimates one explanation's latency with the
   default budget at baseline sizes 1 and 10 against the 60-second limit;
4. builds an ``ExplainerConfig`` (detected InferenceConfig fields, a one-row median baseline from the sample; for a
   sample with text, FeatureTypes, a TextConfig and the mask token as the text's baseline, which the model must
   score) and validates it with the same checks CreateEndpointConfig runs.

Every finding is a sentence a person can act on. The verdict (``ok``) is one: the printed config explains the
container. An error about one content type → Accept combination leaves it standing when another combination works
(the config names the one it uses, and the failed ones are listed); any other error means there is no config.
A request that cannot be checked raises ``ValidationException`` instead, before anything is called: an unreadable
sample, an unknown model or image, a model file that is missing or outside the model roots, a URL the server may not
call or that is no URL httpx can send. A container that does not answer, or a model file that does not load, was
checked and failed: a finding.

What one check costs is bounded (docs/precheck.md): no request it sends carries more than MaxPayloadInMB (6 MiB, as
Clarify's batches), /ping is read for its status only, answers are capped by the runtime, and a server runs at most
``PrecheckLimits.max_running`` checks at once; one more is ServiceUnavailable at once, as invocations at capacity are.

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
from openclarify.clarify.records import CSV, JSONLINES, Record, media_type, parse_records
from openclarify.clarify.text import TEXT
from openclarify.errors import ModelError, ServiceError, ServiceUnavailable, ValidationException
from openclarify.runtimes import (
    BUILTIN_IMAGES,
    ModelLoadError,
    Runtime,
    RuntimeSpec,
    build_spec,
    create_runtime,
    is_remote,
)
from openclarify.services.models import ModelService, model_container
from openclarify.services.precheck_probe import (
    Finding,
    NonFiniteScores,
    Probe,
    Progress,
    Sample,
    combo_name,
    cycle,
    fill,
    invoke,
    model_error,
    ms,
    preview_scores,
    quote,
    read_batch,
    run_probe,
    secs,
)

MEBIBYTE = 1024 * 1024
IN_PROCESS_ROWS = 1 << 16
"""Built-in runtimes predict synthetic rows in process, in chunks this large (services/explanations.py)."""
PING_LIMIT_SECONDS = 2.0
"""SageMaker's limit for one ``GET /ping`` (the server's health check uses it too: runtimes.http_container)."""
PING_WAIT_SECONDS = 10.0
"""How long the check waits for a slow /ping, to tell "answers too late" from "does not answer"."""
MAX_URL_CHARS = 255
"""CreateModel's limit for ContainerDefinition.Image, so that a URL the check takes can also be registered."""
RETRY_AFTER_SECONDS = 5
"""What a refused check is told to wait: a check takes seconds."""


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
    timeout_hint: str = "the server's OPENCLARIFY_PRECHECK_TIMEOUT_SECONDS"
    """Where ``total_seconds`` comes from, named when the check runs out of time."""
    max_running: int = 4
    """Checks one service runs at once. Each may hold requests of up to 6 MiB and answers of up to 64 MiB (the
    runtime's cap), so the bound keeps a server's memory bounded whoever calls the route."""


@dataclass(frozen=True)
class HostPolicy:
    """Which container URLs may be called. Default: loopback only (``localhost``, 127.0.0.0/8, ::1), so a server
    that offers the pre-check over HTTP is not an open proxy. ``allowed_hosts`` adds host names or IP literals;
    ``*`` allows any host."""

    allowed_hosts: tuple[str, ...] = ()

    def check(self, url: str) -> None:
        # Both parsers' hosts must be allowed: urllib's is the one named here, httpx's the one it connects to.
        for host in check_url(url):
            if "*" in self.allowed_hosts or host in {h.lower() for h in self.allowed_hosts}:
                continue
            if host == "localhost" or _loopback_literal(host):
                continue
            raise ValidationException(
                f"Container host {host!r} is not allowed: this server pre-checks loopback containers only. The "
                "operator can allow it with OPENCLARIFY_PRECHECK_ALLOWED_HOSTS."
            )


def check_url(url: str) -> set[str]:
    """Raise ValidationException unless ``url`` is a container URL httpx can send as given; return its host, lower
    case, as urllib and httpx read it.

    urllib takes control characters and any length, which httpx refuses only when the request is made (InvalidURL,
    no HTTPError): checked here, before anything is called, so that the caller hears what is wrong with the URL.
    """
    shown = quote(url)
    for position, char in enumerate(url, start=1):
        if char.isspace() or ord(char) < 0x20 or ord(char) == 0x7F:
            raise ValidationException(
                f"Container URL {shown} holds {char!r} at position {position}: a URL may not hold control "
                "characters or whitespace."
            )
    if len(url) > MAX_URL_CHARS:
        raise ValidationException(
            f"Container URL {shown} is {len(url)} characters; a container URL is at most {MAX_URL_CHARS} "
            "(CreateModel's limit for Image)."
        )
    if not is_remote(url):
        # CreateModel reads an Image as a container URL only so: a URL the check took otherwise would be refused
        # there, or taken for a built-in image name.
        raise ValidationException(
            f"Container URL {shown} must be an http:// or https:// URL with a host, its scheme in lower case as "
            "CreateModel reads an Image."
        )
    try:
        parsed = urlparse(url)
        port = parsed.port
        sent = httpx.URL(url)
    except (ValueError, httpx.InvalidURL) as exc:
        reason = str(exc).rstrip(".")
        if "port" in reason.lower():
            raise ValidationException(
                f"Container URL {shown} has an invalid port ({reason}); give a port from 1 to 65535."
            ) from None
        raise ValidationException(f"Container URL {shown} is not a valid URL: {reason}.") from None
    if port == 0:
        raise ValidationException(
            f"Container URL {shown} has port 0, which cannot be called; give a port from 1 to 65535."
        )
    if not parsed.hostname or not sent.host:
        raise ValidationException(f"Container URL {shown} must be an http:// or https:// URL with a host.")
    return {parsed.hostname.lower(), sent.host.lower()}


def _loopback_literal(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass
class PrecheckReport:
    findings: list[Finding] = field(default_factory=list)
    explainer_config: dict[str, Any] | None = None
    """Set only when it is explainable: an error about the check as a whole clears it (``settle``)."""
    estimates: dict[str, Any] = field(default_factory=dict)
    container: dict[str, Any] | None = None
    """The ContainerDefinition the checked container corresponds to (for CreateModel), when known."""
    content_type: str | None = None
    accept: str | None = None
    not_explainable: list[str] = field(default_factory=list)
    """Combinations tried that cannot be explained (their errors say why), next to the one the config uses."""
    progress: Progress = field(default_factory=Progress)

    @property
    def ok(self) -> bool:
        """The one verdict: the printed config explains the container. An error about another content type or Accept
        does not change it (that combination is listed in ``not_explainable``); any other error does."""
        return self.explainer_config is not None and not any(
            f.level == "error" and f.combo is None for f in self.findings
        )

    def add(self, level: str, message: str, combo: str | None = None) -> None:
        self.findings.append(Finding(level, message, combo))

    def settle(self) -> None:
        """Drop the config when an error concerns the check as a whole, so that no caller prints it as usable."""
        if not self.ok:
            self.explainer_config = None

    def as_dict(self) -> dict[str, Any]:
        """The answer of ``POST /-/precheck`` and of ``openclarify precheck --format json``."""
        return {
            "ok": self.ok,
            "findings": [{"level": f.level, "message": f.message} for f in self.findings],
            "explainer_config": self.explainer_config,
            "estimates": self.estimates,
        }


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
        self._running = 0

    async def run(self, request: PrecheckRequest) -> PrecheckReport:
        """Pre-check one container. Raises ValidationException for bad input and ServiceUnavailable when
        ``max_running`` checks are running already; everything else is a finding."""
        # Refused at once rather than queued, as InvokeEndpoint's admission control does: a queued check would spend
        # its caller's time limit waiting, and a client retries a 503.
        if self._running >= self.limits.max_running:
            raise ServiceUnavailable(
                f"This server is running {rules.plural(self.limits.max_running, 'pre-check')} already, as many as "
                f"it runs at once; retry in {RETRY_AFTER_SECONDS} seconds.",
                RetryAfter=RETRY_AFTER_SECONDS,
            )
        self._running += 1
        try:
            return await self._run(request)
        finally:
            self._running -= 1

    async def _run(self, request: PrecheckRequest) -> PrecheckReport:
        sample = await anyio.to_thread.run_sync(self._parse_sample, request)
        container = await self._container(request.target)
        spec = self._spec(container)
        report = PrecheckReport(container=container)
        for message in sample.left_out:
            report.add("warn", message)
        runtime: Runtime | None = None
        try:
            with anyio.fail_after(self.limits.total_seconds):
                runtime = await self._open(spec, report)
                if runtime is not None:
                    await self._check(runtime, sample, request, report)
        except TimeoutError:
            report.add("error", self._out_of_time(report.progress))
        finally:
            if runtime is not None:
                await runtime.aclose()
        report.settle()
        return report

    def _out_of_time(self, progress: Progress) -> str:
        # The check's own limit, not SageMaker's: a container at 5 s a request runs out of a 30-second check while
        # it may well explain a record in 10 s. Say where it stopped and what the requests took, not a verdict.
        message = f"The pre-check did not finish within {self.limits.total_seconds:g} s, its own time limit; it "
        message += f"stopped while {progress.step}."
        if progress.requests:
            message += (
                f" The slowest of its {rules.plural(progress.requests, 'request')} to the container took "
                f"{secs(progress.slowest)}."
            )
        return message + (
            f" This says nothing yet about SageMaker's 60-second limit: raise {self.limits.timeout_hint} to finish "
            "the check and get a latency estimate."
        )

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
        types = rules.sample_feature_types(records)
        # NaN and infinity would poison the reference scores, the agreement checks and the baseline's median, and an
        # in-process endpoint refuses to explain such a record: the checks use finite records only, and say so.
        kept, left_out = [], []
        for number, (record, line) in enumerate(zip(records, lines, strict=True), start=1):
            j = rules.non_finite_cell(record, types)
            if j is None:
                kept.append((record, line))
            else:
                left_out.append(
                    f"Sample record {number} holds {record[j]} in column {j + 1}; it is left out of the checks and the "
                    "baseline, which need finite features (InvokeEndpoint refuses to explain such a record in "
                    "process, and Kernel SHAP cannot attribute a non-finite value)."
                )
        if not kept:
            raise ValidationException(
                "Every sample record holds NaN or infinity; the pre-check needs records with finite features."
            )
        return Sample([r for r, _ in kept], kind, [line for _, line in kept], types, tuple(left_out))

    async def _container(self, target: Target) -> dict[str, Any]:
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
            if target.image not in BUILTIN_IMAGES:  # an input error, like a URL the server may not call
                raise ValidationException(
                    f"Image {target.image!r} is not a built-in runtime: use one of {', '.join(BUILTIN_IMAGES)}, or "
                    "the http(s) URL of a running model container."
                )
            container = {"Image": target.image}
            if target.model_data:
                container["ModelDataUrl"] = target.model_data
            return container
        if self._models is None:
            raise ValidationException("Registered models can only be pre-checked through a server.")
        assert target.model_name is not None
        # A registered model was accepted by CreateModel and will be called at CreateEndpoint anyway, so its URL is
        # not subject to the host policy; it must still be one httpx can send (CreateModel takes a DEL, for one).
        container = model_container((await self._models.describe(target.model_name)).request)
        if is_remote((container.get("Image") or "").strip()):
            try:
                check_url(container["Image"].strip())
            except ValidationException as exc:
                raise ValidationException(f"Model {target.model_name}: {exc.message}") from None
        return container

    def _spec(self, container: dict[str, Any]) -> RuntimeSpec:
        """What ``build_spec`` refuses (no model file, one outside the model roots or missing, an unknown image) is
        the request's mistake, found without running anything: it cannot be checked, so it is not a finding."""
        try:
            return build_spec(
                container,
                model_roots=self._roots,
                startup_timeout_seconds=2.0,
                request_timeout_seconds=self.limits.request_timeout_seconds,
            )
        except ModelLoadError as exc:
            raise ValidationException(str(exc)) from None

    async def _open(self, spec: RuntimeSpec, report: PrecheckReport) -> Runtime | None:
        runtime = create_runtime(spec)
        if spec.url is not None:
            report.progress.step = f"waiting for GET {spec.url.rstrip('/')}/ping"
            if not await self._ping(spec.url, report):
                return None
            return runtime
        report.progress.step = f"loading the model with {spec.image}"
        try:
            started = time.perf_counter()
            await anyio.to_thread.run_sync(runtime.load)
        except ModelLoadError as exc:
            report.add("error", f"The model does not load: {exc}")
            return None
        report.add("ok", f"The built-in runtime {spec.image} loaded the model in {ms(time.perf_counter() - started)}.")
        return runtime

    async def _ping(self, url: str, report: PrecheckReport) -> bool:
        ping = url.rstrip("/") + "/ping"
        limit = PING_LIMIT_SECONDS
        # Connecting gets SageMaker's 2 s; the answer is waited for longer, so that a slow /ping is told apart from a
        # container that is not there.
        timeout = httpx.Timeout(PING_WAIT_SECONDS, connect=limit)
        try:
            async with httpx.AsyncClient(timeout=timeout) as client:
                started = time.perf_counter()
                # The status is the answer: the body is never read (SageMaker expects none), so a container answering
                # /ping with gigabytes cannot fill the server's memory; leaving the stream closes the connection.
                async with client.stream("GET", ping) as response:
                    took = time.perf_counter() - started
                    status = response.status_code
        except httpx.InvalidURL as exc:  # not an HTTPError; check_url keeps such URLs out, this keeps them from a 500
            report.add("error", f"GET {quote(ping)}: the container URL is not a URL httpx can send ({exc}).")
            return False
        except httpx.ConnectTimeout:
            report.add(
                "error", f"GET {ping}: no connection within {limit:g} s; check the URL, the port and the network."
            )
            return False
        except httpx.TimeoutException:
            report.add(
                "error",
                f"GET {ping} got no answer within {PING_WAIT_SECONDS:g} s: the container accepts connections but "
                f"does not answer its health check, which SageMaker expects within {limit:g} s.",
            )
            return False
        except httpx.HTTPError as exc:
            report.add(
                "error",
                f"GET {ping} failed ({type(exc).__name__}): start the container and check the URL and port "
                "(SageMaker containers listen on 8080).",
            )
            return False
        if took > limit:
            report.add(
                "error",
                f"GET {ping} answered HTTP {status} after {ms(took)}, later than SageMaker's "
                f"{limit:g}-second limit for a health check: the endpoint would never pass it. Make /ping answer "
                "at once (it should not run the model).",
            )
            return False
        if status != 200:
            report.add("error", f"GET {ping} answered HTTP {status}; a healthy container answers 200.")
            return False
        report.add("ok", f"GET {ping} answered 200 in {ms(took)}.")
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
                    combo=content_type,
                )
                report.not_explainable.append(content_type)
                continue
            for accept in accepts:
                probe = self._new_probe(sample, content_type, accept, request.features_attribute, report.progress)
                if probe is None:
                    report.add(
                        "error",
                        f"FeaturesAttribute {request.features_attribute!r} is not a dotted member name, so no "
                        "ContentTemplate can be derived; JSON Lines records cannot be rebuilt for the container.",
                        combo=kind,
                    )
                    report.not_explainable.append(kind)
                    break
                await run_probe(runtime, sample, probe)
                probes.append(probe)
                report.findings.extend(probe.findings)
        chosen = next((p for p in probes if p.ok), None)
        report.not_explainable += [combo_name(p) for p in probes if not p.ok]
        if chosen is None:
            if not any(f.level == "error" for f in report.findings):
                report.add("error", "No content type and accept combination could be checked.")
            return
        if len(probes) > 1:
            report.add("ok", f"The config below uses {combo_name(chosen)}.")
        report.content_type, report.accept = chosen.content_type, chosen.accept
        report.progress.step = f"timing requests of growing size ({combo_name(chosen)})"
        budget = await self._time(runtime, chosen, report)
        await anyio.to_thread.run_sync(self._conclude, runtime, sample, request, chosen, budget, report)
        if report.explainer_config is not None and sample.feature_types is not None:
            report.progress.step = "scoring the text baseline"
            await self._score_baseline(runtime, chosen, report)

    def _new_probe(
        self, sample: Sample, content_type: str, accept: str | None, fa: str | None, progress: Progress
    ) -> Probe | None:
        kind = media_type(content_type)
        template = None
        if kind == JSONLINES and fa is not None:
            template = rules.content_template_for(fa)
            if template is None:
                return None
        lines = sample.lines if kind == sample.content_type else rules.encode_lines(sample.records, kind, template)
        features_attribute = fa if kind == JSONLINES else None
        return Probe(content_type, accept, lines, template, feature_types=sample.feature_types,
                     features_attribute=features_attribute, progress=progress)  # fmt: skip

    # -- cost --------------------------------------------------------------------------------------------------

    async def _time(self, runtime: Runtime, probe: Probe, report: PrecheckReport) -> rules.Budget:
        """Time requests of 1, 2, 4, … rows (two each, the faster counts) within the timing budget, up to the most
        that fit one request of MaxPayloadInMB."""
        spent_until = time.monotonic() + self.limits.timing_seconds
        samples: list[tuple[int, float]] = []
        largest_ok = 0
        # Records are counted, and bytes too, as the explainer's batches are (clarify.records.batch_lines): 1024 rows
        # of a 1 MB record made requests of a gigabyte, which no endpoint would ever be sent.
        most = min(self.limits.max_timing_rows, probe.max_record_count or self.limits.max_timing_rows)
        most = len(fill(probe.lines, most))
        size = 1
        while True:
            lines = cycle(probe.lines, size)
            best = math.inf
            failed = None
            for _ in range(2):
                try:
                    _, took = await invoke(runtime, probe, lines)
                except ModelError as exc:
                    failed = model_error(exc)
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
            slow = best > self.limits.timing_seconds / 4
            if size >= most or not probe.can_batch or time.monotonic() > spent_until or slow:
                break
            size = min(size * 2, most)
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
            f"Measured container cost: {ms(cost.fixed_seconds)} per request + {ms(cost.per_row_seconds)} per "
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
        types = sample.feature_types
        inference: dict[str, Any] = dict(probe.layout.fields)
        if request.features_attribute is not None:
            inference["FeaturesAttribute"] = request.features_attribute
        if probe.template is not None:
            inference["ContentTemplate"] = probe.template
        if probe.max_record_count is not None:
            inference["MaxRecordCount"] = probe.max_record_count

        shap: dict[str, Any] = {}
        players = rules.plural(sample.width, "feature")
        n_features = sample.width
        if types is not None:
            inference["FeatureTypes"] = list(types)
            defaults, n_features, players = _text_players(sample.records, types, report)
            shap["TextConfig"] = {"Language": defaults.language, "Granularity": defaults.granularity}
        try:
            number_of_samples = self._estimate(n_features, players, budget, report, inference)
        except _Failed:
            return
        if number_of_samples is not None:
            shap["NumberOfSamples"] = number_of_samples

        kind = media_type(probe.content_type)
        baseline = rules.median_baseline(sample.records, kind, probe.template, types)
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

    async def _score_baseline(self, runtime: Runtime, probe: Probe, report: PrecheckReport) -> None:
        """The endpoint scores its baseline when it deploys, and a text baseline (the mask token) is a record the
        model has not been sent yet: score it now, so that a config printed as explainable also deploys."""
        assert report.explainer_config is not None and probe.layout is not None
        line = report.explainer_config["ClarifyExplainerConfig"]["ShapConfig"]["ShapBaselineConfig"]["ShapBaseline"]
        try:
            result, _ = await invoke(runtime, probe, [line.encode()])
            _, _, scores, _ = await anyio.to_thread.run_sync(read_batch, result, 1, probe.layout.inference())
        except (ModelError, NonFiniteScores) as exc:
            why = model_error(exc) if isinstance(exc, ModelError) else str(exc)
            report.add(
                "error",
                f"The model cannot score the baseline row {quote(line)} ({why}), so the endpoint would fail to "
                "deploy. Set ShapBaseline to a text the model accepts as 'no information' (docs/text.md).",
            )
            report.explainer_config = None
            return
        report.add("ok", f"The model scores the baseline row: {preview_scores(scores[0])}.")

    def _estimate(
        self, width: int, players: str, budget: rules.Budget, report: PrecheckReport, inference: dict[str, Any]
    ) -> int | None:
        """Latency findings; returns a NumberOfSamples for the config when the default budget cannot fit, and raises
        _Failed (its error recorded) when even one sample cannot."""
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
            f"Estimated explanation time per record (M={width}: {players}; default NumberOfSamples → "
            f"{rules.plural(one.n_samples, 'sample')}): baseline of 1 row {secs(one.seconds)} "
            f"({rules.plural(one.rows, 'synthetic record')} in {rules.plural(one.requests, 'request')}); baseline "
            f"of 10 rows {secs(ten.seconds)}."
        )
        chosen: int | None = None
        if one.seconds <= near:
            report.add("ok", summary)
        else:
            fit = budget.samples_within(width, 1, near)
            if fit < 1:
                report.add(
                    "error",
                    f"{summary} Even NumberOfSamples 1 needs {secs(budget.estimate(width, 1, 1).seconds)}, "
                    f"over the {limit:g}-second limit: the container is too slow per request.",
                )
                raise _Failed
            fitted = budget.estimate(width, 1, fit)
            knobs = [f"NumberOfSamples {fit} brings a 1-row baseline to {secs(fitted.seconds)}"]
            if budget.rows_per_request == 1:
                knobs.append(
                    f"the container takes one record per request ({rules.plural(one.requests, 'request')} of "
                    f"{ms(budget.cost.seconds(1))}); accepting batches (then raise or drop MaxRecordCount) cuts "
                    "the per-request overhead"
                )
            elif inference.get("MaxRecordCount"):
                knobs.append(f"a larger MaxRecordCount than {inference['MaxRecordCount']} cuts the request count")
            if one.seconds > limit:
                chosen = fit
                report.add(
                    "warn",
                    f"{summary} That is over the {limit:g}-second limit; the config sets NumberOfSamples {fit} "
                    f"({secs(fitted.seconds)}, fewer samples means noisier attributions). Other knobs: "
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
                f"A 10-row baseline would take {secs(ten_configured)} per record: keep the baseline at {rows} or "
                f"fewer{lower}.",
            )
        if chosen is not None:
            report.estimates["configured"] = budget.estimate(width, 1, chosen).as_dict()
        return chosen


# --------------------------------------------------------------------------------------------------------------
# Worker-thread helpers


def _text_players(
    records: Sequence[Record], types: Sequence[str], report: PrecheckReport
) -> tuple[rules.TextDefaults, int, str]:
    """The TextConfig for the sample's text, and Kernel SHAP's players: the non-text features plus the units of the
    text (docs/text.md), counted for the sample record that has most."""
    text_columns = [j for j, kind in enumerate(types) if kind == TEXT]
    texts = [str(r[j]) for r in records for j in text_columns]
    defaults = rules.text_defaults(texts)
    others = len(types) - len(text_columns)
    exact = True
    most = 0
    for record in records:
        counts = [rules.count_units(str(record[j]), defaults.language, defaults.granularity) for j in text_columns]
        exact = exact and all(e for _, e in counts)
        most = max(most, sum(c for c, _ in counts))
    columns = ", ".join(str(j + 1) for j in text_columns)
    report.add(
        "ok",
        f"Text in column{'s' if len(text_columns) > 1 else ''} {columns} (cells that are not numbers): the config "
        f"sets FeatureTypes {list(types)} and {defaults.why} Each {defaults.granularity} is a player, so the cost "
        "grows with the length of the text.",
    )
    if not exact:
        report.add(
            "warn",
            "spaCy is not installed here, so the text units are estimated. The server needs it to explain text: "
            "pip install 'openclarify[text]'.",
        )
    players = f"{rules.plural(others, 'feature')} + up to {rules.plural(most, defaults.granularity + ' unit')}"
    return defaults, others + most, players


def _sample_format(text: str, features_attribute: str | None) -> str:
    first = text.lstrip("\ufeff \t\r\n")[:1]
    return JSONLINES if first in "{[" or features_attribute is not None else CSV
