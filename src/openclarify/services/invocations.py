"""InvokeEndpoint: route a request to a variant, pass it through or explain it, within the deadline.

- An endpoint without ``ExplainerConfig`` answers the model's bytes unchanged (body, content type, custom
  attributes), with the invoked variant.
- An explainer endpoint runs the Clarify pipeline (``services.explanations``) in a worker thread and answers
  ``application/json`` (spec §3.2, §4).

The whole invocation obeys ``deadline_seconds`` (SageMaker's 60 s): past it the client gets a ModelError saying
so, the worker thread stops at its next check, and the connection is never left hanging.

After a server restart, an InService endpoint answers once its deployment has loaded again. An invocation that
arrives before waits for it (at most ``RESTORE_WAIT_SECONDS``, and half its deadline), then gets ServiceUnavailable
(HTTP 503, ``Retry-After``), saying why the endpoint is not ready. Why 503 and not ModelNotReadyException (429):
botocore documents that one for serverless variants being provisioned and multi-model endpoints loading a target
model, neither of which this server has, and its standard and adaptive retry modes do not retry it (a modelled
error without the retryable trait), while every mode retries a 503. It is also what admission control answers.

A variant serves at most InitialInstanceCount invocations at once (``LiveVariant.gate``), in process or remote
(whose runtime also bounds the container requests in flight).

Extended responses (opt-in, beyond Clarify): a ``CustomAttributes`` item ``openclarify-extended=true`` adds the
``openclarify`` member of ``clarify.response`` (expected value, f(x), standard errors, exact flag, model rows,
seed). The custom attributes are still forwarded to the model unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import NoReturn

import anyio
import anyio.to_thread
import numpy as np

from openclarify.clarify.config import parse_explainer_config
from openclarify.clarify.text import model_table, resolve_feature_types, tokenizer
from openclarify.errors import ModelError, ServiceUnavailable, ValidationError, ValidationException
from openclarify.kernelshap import DesignCache
from openclarify.services import telemetry
from openclarify.services.arns import ArnFactory
from openclarify.services.baselines import (
    PreparedExplainer,
    VariantBaseline,
    check_headers,
    numeric_matrix,
    read_baseline,
    why_not_numeric,
)
from openclarify.services.design_pool import DesignPool
from openclarify.services.endpoints import EndpointService, LiveEndpoint, LiveVariant, Restoring
from openclarify.services.explanations import (
    Bridge,
    Deadline,
    DeadlineExceeded,
    Invocation,
    RemoteScorer,
    check_design_budget,
    is_in_process,
    remote_baseline_scores,
    run_explained,
)
from openclarify.services.output_checks import check_output_fields
from openclarify.services.unimplemented import refuse_unimplemented_invocation
from openclarify.store import EndpointRow

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 6 * 1024 * 1024  # InvokeEndpoint's Body limit (spec §3.1)
EXTRAS_KEY = "clarify"
EXTENDED_ATTRIBUTE = "openclarify-extended"
_ITEM_SPLIT = re.compile(r"[;,]")
# Longest an invocation waits for an endpoint being loaded again after a restart, before it is told to retry.
RESTORE_WAIT_SECONDS = 10.0
# The designs kept for endpoints with a Seed, server-wide (``kernelshap.DesignCache``): at M = 20 with the default
# budget a design is about 0.4 MB, with 400 text units about 11 MB.
SEEDED_DESIGN_BYTES = 64 * 1024 * 1024


# sagemaker-runtime operations besides InvokeEndpoint, refused in these words. Clarify explains through InvokeEndpoint
# only: neither operation has an EnableExplanations member.
UNSERVED_OPERATIONS = {
    "InvokeEndpointAsync": (
        "this server has no asynchronous endpoints (CreateEndpointConfig refuses AsyncInferenceConfig); call "
        "InvokeEndpoint, which answers synchronously"
    ),
    "InvokeEndpointWithResponseStream": (
        "this server does not stream responses; call InvokeEndpoint, which sends the whole answer at once"
    ),
}


@dataclass(frozen=True)
class InvokeRequest:
    endpoint_name: str
    body: bytes
    content_type: str | None = None
    accept: str | None = None
    custom_attributes: str | None = None
    target_variant: str | None = None
    target_model: str | None = None
    inference_id: str | None = None
    enable_explanations: str | None = None
    # Members this server refuses (services.unimplemented): read so that they are refused, not ignored.
    inference_component_name: str | None = None
    session_id: str | None = None
    target_container_hostname: str | None = None
    received_at: float | None = None
    """When the request arrived (``time.monotonic``): its deadline counts from there, the time its body took to
    arrive included. None: from when ``invoke`` is called."""


@dataclass(frozen=True)
class InvokeResponse:
    body: bytes
    content_type: str
    invoked_variant: str
    custom_attributes: str | None = None
    # Work to do once the answer has been sent (planning the designs of the next requests). Run before the answer
    # is out, it would hold the GIL while the event loop waits to send it.
    after: Callable[[], None] | None = None


def _model_words(exc: Exception) -> str:
    """What the model said: an in-process model's own failure arrives as ModelError (runtimes.tabular)."""
    if isinstance(exc, ModelError) and exc.original_message is not None:
        return exc.original_message
    return str(exc)


def wants_extended(custom_attributes: str | None) -> bool:
    """``openclarify-extended=true`` among ``;``- or ``,``-separated CustomAttributes items."""
    if not custom_attributes:
        return False
    for item in _ITEM_SPLIT.split(custom_attributes):
        key, _, value = item.partition("=")
        if key.strip().lower() == EXTENDED_ATTRIBUTE and value.strip().lower() in ("true", "1", "yes"):
            return True
    return False


class InvocationService:
    def __init__(
        self,
        endpoints: EndpointService,
        arns: ArnFactory,
        *,
        model_roots: tuple[Path, ...],
        deadline_seconds: float = 60.0,
        allow_https_baseline: bool = False,
        prepare_timeout_seconds: float = 240.0,
        max_text_units: int = 2000,
        max_queued_invocations: int = 64,
        max_design_cells: int | None = None,
    ) -> None:
        self._endpoints = endpoints
        self._arns = arns
        self._roots = model_roots
        self._deadline = deadline_seconds
        self._allow_https = allow_https_baseline
        self._prepare_timeout = prepare_timeout_seconds
        self._max_text_units = max_text_units
        self._max_design_cells = max_design_cells
        self._max_queued = max_queued_invocations
        # Plans coalition designs ahead for endpoints without a Seed (services.design_pool): one thread, since a
        # design takes about a millisecond.
        self._planner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="openclarify-designs")
        # For endpoints with a Seed: each record of a given width gets the same design, planned once. Bounded in
        # bytes, not per endpoint: a text feature makes a design per count of units, up to tens of MB each.
        self._seeded_designs = DesignCache(SEEDED_DESIGN_BYTES)

    def close(self) -> None:
        self._planner.shutdown(wait=False, cancel_futures=True)

    # -- deployment hook -------------------------------------------------------------------------------------

    async def prepare(self, live: LiveEndpoint) -> None:
        """Read, check and predict the SHAP baseline before the endpoint goes InService (an EndpointService
        preparer). A ServiceError here fails the deployment with its message as FailureReason."""
        explainer = live.config.get("ExplainerConfig")
        config = parse_explainer_config(explainer) if explainer else None
        if config is None:
            return
        baseline = await anyio.to_thread.run_sync(read_baseline, config, self._roots, self._allow_https)
        check_headers(config, baseline)
        matrix = await anyio.to_thread.run_sync(numeric_matrix, baseline)
        prepared = PreparedExplainer(
            config=config, baseline=baseline, matrix=matrix, max_design_cells=self._max_design_cells
        )
        if config.shap.text is None:  # the players are the baseline's columns: a design too large fails now
            check_design_budget(config, baseline.width, self._max_design_cells)
        if config.shap.seed is None:
            prepared.design_pool = DesignPool(self._planner)
        else:
            prepared.designs = self._seeded_designs
        if config.shap.text is not None:
            await anyio.to_thread.run_sync(self._prepare_text, prepared)
        for variant in live.variants:
            prepared.variants[variant.name] = await self._prepare_variant(prepared, variant)
        live.extras[EXTRAS_KEY] = prepared

    def _prepare_text(self, prepared: PreparedExplainer) -> None:
        """Column types, the baseline as an object table, and the language's tokenizer loaded now (up to a few
        seconds), so a server without spaCy fails the deployment rather than every invocation."""
        config = prepared.config
        assert config.shap.text is not None
        rows = prepared.baseline.rows
        prepared.feature_types = resolve_feature_types(config.inference.feature_types, True, rows)
        prepared.max_text_units = self._max_text_units
        try:
            prepared.table = model_table(rows, prepared.feature_types)
            tokenizer(config.shap.text.language)
        except ValidationError as exc:
            raise ValidationException(exc.message) from exc

    async def _prepare_variant(self, prepared: PreparedExplainer, variant: LiveVariant) -> VariantBaseline:
        cached = VariantBaseline()
        runtime = variant.runtime
        if is_in_process(runtime):
            if prepared.table is not None:  # text features: the model takes an object array
                try:
                    raw = await anyio.to_thread.run_sync(runtime.predict, prepared.table)
                except (ValueError, TypeError, ModelError) as exc:
                    raise ValidationException(
                        f"Variant {variant.name}: model {variant.model_name} cannot score the SHAP baseline: "
                        f"{_model_words(exc)}."
                    ) from exc
                cached.raw_scores = np.asarray(raw, dtype=np.float64)
                check_output_fields(prepared.config.inference, cached.raw_scores, variant.name, variant.model_name)
                return cached
            if prepared.matrix is None:
                raise ValidationException(
                    f"Variant {variant.name}: the SHAP baseline has non-numeric or missing values "
                    f"({why_not_numeric(prepared.baseline)}), but model {variant.model_name} runs in process and "
                    "takes numbers only."
                )
            try:
                raw = await anyio.to_thread.run_sync(runtime.predict, prepared.matrix)
            except (ValueError, ModelError) as exc:
                raise ValidationException(
                    f"Variant {variant.name}: model {variant.model_name} cannot score the SHAP baseline: "
                    f"{_model_words(exc)}."
                ) from exc
            raw = np.asarray(raw, dtype=np.float64)
            if raw.shape[:1] != (prepared.baseline.size,) or not np.all(np.isfinite(raw)):
                raise ValidationException(
                    f"Variant {variant.name}: model {variant.model_name} gave no finite score for every SHAP "
                    "baseline row."
                )
            # ProbabilityIndex and LabelHeaders against the columns the model really answers (services.output_checks).
            check_output_fields(prepared.config.inference, raw, variant.name, variant.model_name)
            cached.raw_scores = raw
            return cached
        # A remote container must score the baseline in its own MimeType now; other formats are cached on demand.
        mime = prepared.config.shap.baseline.mime_type
        bridge = Bridge(asyncio.get_running_loop(), Deadline(self._prepare_timeout))
        scorer = RemoteScorer(runtime, bridge, prepared.config, mime, None, None)
        try:
            await anyio.to_thread.run_sync(remote_baseline_scores, prepared, cached, scorer, abandon_on_cancel=True)
        except ModelError as exc:
            if exc.original_status_code is not None:
                raise ValidationException(
                    f"Variant {variant.name}: the model container failed on the SHAP baseline: {exc.message.strip()}"
                ) from exc
            # The container answered, but not in a form the config reads with Accept absent; requests name
            # their Accept, and the baseline is predicted in that format then.
            log.info("endpoint baseline not cached for variant %s: %s", variant.name, exc.message)
        except DeadlineExceeded as exc:
            raise ValidationException(
                f"Variant {variant.name}: the model container did not score the SHAP baseline within "
                f"{self._prepare_timeout:g} seconds."
            ) from exc
        return cached

    # -- InvokeEndpoint --------------------------------------------------------------------------------------

    def _not_found(self, name: str) -> ValidationError:
        return ValidationError(f"Endpoint {name} of account {self._arns.account_id} not found.")

    async def _live(self, name: str) -> LiveEndpoint:
        # Names are unique whatever their case, but "the case is preserved and must be matched in InvokeEndpoint"
        # (CreateEndpoint's EndpointName in SageMaker's API reference): another spelling is another, unknown name.
        live = self._endpoints.live(name)
        if live is not None:
            if live.name != name:
                raise self._not_found(name)
            return live
        row = await self._described(name)
        # The read let other work run: the endpoint may have been loaded (or its restore begun) meanwhile.
        live = self._endpoints.live(name)
        if live is not None and live.name == name:
            return live
        if self._endpoints.restoring(name) is not None:
            live = await self._endpoints.wait_live(name, min(RESTORE_WAIT_SECONDS, self._deadline / 2))
            if live is not None:
                return live
            state = self._endpoints.restoring(name)
            if state is not None:
                raise self._not_ready(name, state)
            try:  # the reload ended without it: deleted, or failed to update meanwhile
                row = await self._endpoints.describe(name)
            except ValidationException:
                raise self._not_found(name) from None
        # [UNK] What SageMaker answers for an endpoint that is not InService; ValidationError is the likely one.
        raise ValidationError(
            f"Endpoint {name} of account {self._arns.account_id} is not in service (status {row.status}); "
            "wait for InService."
        )

    async def refuse_operation(self, operation: str, name: str) -> NoReturn:
        """Answer a runtime operation this server does not serve (``UNSERVED_OPERATIONS``) as SageMaker answers bad
        input to it, ValidationError, rather than with a bare 404 boto3 reads as an unmodelled error: the endpoint
        named first, as for InvokeEndpoint, then why and what to call instead."""
        await self._described(name)
        raise ValidationError(f"{operation} is not supported: {UNSERVED_OPERATIONS[operation]}.")

    async def _described(self, name: str) -> EndpointRow:
        """The endpoint spelled exactly ``name``, case included, else the not-found error."""
        try:
            row = await self._endpoints.describe(name)
        except ValidationException:
            raise self._not_found(name) from None
        if row.name != name:
            raise self._not_found(name)
        return row

    def _not_ready(self, name: str, state: Restoring) -> ServiceUnavailable:
        why = (
            f" {state.failures} attempt(s) failed so far, the last with: {state.last_error.rstrip('.')}."
            if state.last_error
            else ""
        )
        return ServiceUnavailable(
            f"Endpoint {name} of account {self._arns.account_id} is InService but not ready yet: the server restarted "
            f"and is loading its model again.{why} It keeps trying in the background; retry shortly.",
            RetryAfter=5,
        )

    async def invoke(self, request: InvokeRequest) -> InvokeResponse:
        if len(request.body) > MAX_BODY_BYTES:
            raise ValidationError(
                f"The request body is {len(request.body)} bytes; InvokeEndpoint accepts at most {MAX_BODY_BYTES} "
                "bytes (6 MiB)."
            )
        refuse_unimplemented_invocation(request)
        started = time.monotonic() if request.received_at is None else request.received_at
        live = await self._live(request.endpoint_name)
        variant = live.pick_variant(request.target_variant)
        telemetry.current().routed(live.name, variant.name)
        prepared: PreparedExplainer | None = live.extras.get(EXTRAS_KEY)
        # Waiting for an endpoint being restored counts against the deadline, as waiting for a free instance and the
        # body's arrival do: a client reading the answer with a 60 s limit gets it within it.
        deadline = Deadline(self._deadline - (time.monotonic() - started))
        try:
            with anyio.fail_after(deadline.remaining()):
                async with self._capacity(variant):
                    if prepared is None:
                        result = await variant.runtime.invoke(
                            request.body, request.content_type, request.accept, request.custom_attributes
                        )
                        return InvokeResponse(result.body, result.content_type, variant.name, result.custom_attributes)
                    return await self._explain(live, variant, prepared, request, deadline)
        except TimeoutError:
            deadline.cancel()
            raise self._timed_out(live.name, prepared is not None) from None
        except DeadlineExceeded:
            raise self._timed_out(live.name, prepared is not None) from None
        except ModelError as exc:
            exc.details.setdefault("LogStreamArn", self._log_stream(live.name))
            raise

    @contextlib.asynccontextmanager
    async def _capacity(self, variant: LiveVariant) -> AsyncIterator[None]:
        """Admission control, then the variant's gate. At most InitialInstanceCount invocations run and
        ``max_queued_invocations`` wait per variant; one more is refused at once with a retryable
        ServiceUnavailable rather than queued past any useful deadline."""
        if variant.admitted >= variant.instance_count + self._max_queued:
            raise ServiceUnavailable(
                f"Variant {variant.name} is at capacity: {variant.instance_count} invocation(s) running and "
                f"{self._max_queued} waiting. Retry after a moment, or raise InitialInstanceCount or the "
                "server's max_queued_invocations.",
                RetryAfter=1,
            )
        variant.admitted += 1
        try:
            # Remote variants too: their container requests are bounded by the runtime, but an invocation's own
            # work (parsing a 6 MiB body, building synthetic records, the response) runs in the server. Ungated,
            # every admitted invocation ran at once: 20 such bodies on one instance took 2.8 GB and starved the
            # event loop until 10-second deadlines answered after 30 s.
            waiting = time.perf_counter()
            async with variant.gate:
                telemetry.current().add_queue(time.perf_counter() - waiting)
                yield
        finally:
            variant.admitted -= 1

    async def _explain(
        self,
        live: LiveEndpoint,
        variant: LiveVariant,
        prepared: PreparedExplainer,
        request: InvokeRequest,
        deadline: Deadline,
    ) -> InvokeResponse:
        invocation = Invocation(
            body=request.body,
            content_type=request.content_type,
            accept=request.accept,
            custom_attributes=request.custom_attributes,
            enable_explanations=request.enable_explanations,
            extended=wants_extended(request.custom_attributes),
        )
        bridge = Bridge(asyncio.get_running_loop(), deadline)
        cached = prepared.variants[variant.name]
        job = partial(run_explained, prepared, cached, variant.runtime, invocation, bridge)
        pool = prepared.design_pool
        try:
            answer = await anyio.to_thread.run_sync(job, abandon_on_cancel=True)
        except BaseException:
            deadline.cancel()
            if pool is not None:
                pool.refill()  # this request's work is over: plan what it took
            raise
        return InvokeResponse(
            answer.body,
            "application/json",
            variant.name,
            answer.custom_attributes,
            after=pool.refill if pool is not None else None,
        )

    def _timed_out(self, name: str, explaining: bool) -> ModelError:
        what = "the prediction and its explanations" if explaining else "the prediction"
        hint = (
            " Explain fewer records per request (EnableExplanations), use fewer baseline rows or a smaller "
            "NumberOfSamples, or raise MaxRecordCount."
            if explaining
            else ""
        )
        error = ModelError(
            f"Your invocation timed out: {what} did not finish within the {self._deadline:g}-second limit of "
            f"endpoint {name}.{hint}"
        )
        error.details["LogStreamArn"] = self._log_stream(name)
        return error

    def _log_stream(self, name: str) -> str:
        return f"arn:aws:logs:{self._arns.region}:{self._arns.account_id}:log-group:/aws/sagemaker/Endpoints/{name}"
