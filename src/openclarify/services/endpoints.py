"""Endpoint lifecycle: Creating → InService | Failed, Updating, Deleting, and the live runtimes behind them.

Deployments run as background tasks on the event loop; model loading (CPU and disk) runs in worker threads.
Create/Update/Delete wait up to ``grace_seconds`` for a fast deployment to finish, so the first
DescribeEndpoint (and boto3's waiters, which poll every 30 s) usually see the final state.

Every endpoint row keeps a snapshot of what it deploys (config request + model requests), as SageMaker does:
deleting the config or the model afterwards does not affect a running endpoint, and a restart can redeploy it.

``preparers`` are async hooks run after the runtimes load and before the endpoint goes InService (the
invocation pipeline uses one to load the SHAP baseline). A :class:`ServiceError` raised there fails the
deployment with its message as FailureReason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import anyio.to_thread

from openclarify.errors import ServiceError, ValidationError, ValidationException
from openclarify.runtimes import ModelLoadError, Runtime, RuntimeSpec, build_spec, create_runtime
from openclarify.services.arns import ArnFactory
from openclarify.services.endpoint_configs import EndpointConfigService
from openclarify.services.models import ModelService, model_container
from openclarify.services.pagination import Page, paginate
from openclarify.store import AlreadyExists, EndpointRow, NotFound, Store

log = logging.getLogger(__name__)

IN_PROGRESS = ("Creating", "Updating", "Deleting", "SystemUpdating", "RollingBack")


@dataclass
class LiveVariant:
    name: str
    model_name: str
    weight: float
    instance_count: int
    runtime: Runtime
    gate: asyncio.Semaphore
    """At most InitialInstanceCount requests run on this variant at once."""
    admitted: int = 0
    """Invocations running or waiting on this variant now (admission control, ``services.invocations``)."""


@dataclass
class LiveEndpoint:
    name: str
    config_name: str
    config: dict[str, Any]
    """The CreateEndpointConfig request that is deployed (ExplainerConfig included, as submitted)."""
    variants: list[LiveVariant]
    extras: dict[str, Any] = field(default_factory=dict)
    """Whatever preparers attach (e.g. a parsed explainer)."""

    def pick_variant(self, target: str | None = None, rng: random.Random | None = None) -> LiveVariant:
        """TargetVariant if given, else a variant drawn by InitialVariantWeight."""
        if target is not None:
            for variant in self.variants:
                if variant.name == target:
                    return variant
            raise ValidationError(f"Endpoint {self.name} does not have a variant named {target}.")
        weights = [v.weight for v in self.variants]
        return (rng or random).choices(self.variants, weights=weights, k=1)[0]

    async def aclose(self) -> None:
        for variant in self.variants:
            await _close_quietly(variant.runtime)


Preparer = Callable[[LiveEndpoint], Awaitable[None]]
RuntimeFactory = Callable[[RuntimeSpec, str, str], Runtime]
"""(spec, endpoint name, variant name) -> an unloaded runtime."""


def in_process_runtime(spec: RuntimeSpec, endpoint: str, variant: str) -> Runtime:
    return create_runtime(spec)


class EndpointService:
    def __init__(
        self,
        store: Store,
        arns: ArnFactory,
        models: ModelService,
        configs: EndpointConfigService,
        *,
        model_roots: Sequence[Path],
        startup_timeout_seconds: float = 240.0,
        request_timeout_seconds: float = 60.0,
        grace_seconds: float = 2.0,
        preparers: Sequence[Preparer] = (),
        runtime_factory: RuntimeFactory | None = None,
    ) -> None:
        self._store = store
        self._runtime_factory = runtime_factory or in_process_runtime
        """Builds each variant's runtime: in process by default, Ray Serve replicas in ``serve --ray``."""
        self._arns = arns
        self._models = models
        self._configs = configs
        self._roots = tuple(model_roots)
        self._startup_timeout = startup_timeout_seconds
        self._request_timeout = request_timeout_seconds
        self._grace = grace_seconds
        self._preparers = list(preparers)
        self._live: dict[str, LiveEndpoint] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def add_preparer(self, preparer: Preparer) -> None:
        self._preparers.append(preparer)

    # -- errors in AWS's words ---------------------------------------------------------------------------------

    def not_found(self, name: str) -> ValidationException:
        return ValidationException(f'Could not find endpoint "{self._arns.endpoint(name)}".')

    def _in_progress(self, name: str) -> ValidationException:
        return ValidationException(f'Cannot update in-progress endpoint "{self._arns.endpoint(name)}".')

    # -- reads -------------------------------------------------------------------------------------------------

    def describe(self, name: str) -> EndpointRow:
        try:
            return self._store.get_endpoint(name)
        except NotFound:
            raise self.not_found(name) from None

    def list(self, params: Mapping[str, Any]) -> Page[EndpointRow]:
        return paginate(
            self._store.list_endpoints(),
            params,
            name=lambda r: r.name,
            created=lambda r: r.creation_time,
            modified=lambda r: r.last_modified_time,
            status=lambda r: r.status,
        )

    def live(self, name: str) -> LiveEndpoint | None:
        """The running endpoint, or None when it is not InService (yet)."""
        return self._live.get(name.lower())

    # -- writes ------------------------------------------------------------------------------------------------

    async def create(self, params: Mapping[str, Any]) -> EndpointRow:
        name = params["EndpointName"]
        duplicate = ValidationException(f'Cannot create already existing endpoint "{self._arns.endpoint(name)}".')
        try:
            self._store.get_endpoint(name)
            raise duplicate
        except NotFound:
            pass
        config_name = params["EndpointConfigName"]
        now = time.time()
        row = EndpointRow(
            name=name,
            arn=self._arns.endpoint(name),
            status="Creating",
            creation_time=now,
            last_modified_time=now,
            config_name=self._configs.describe(config_name).name,
            deployment=self._snapshot(config_name),
            request=dict(params),
        )
        try:
            self._store.insert_endpoint(row)
        except AlreadyExists:
            raise duplicate from None
        await self._start(self._run_create(row))
        return row

    async def update(self, params: Mapping[str, Any]) -> EndpointRow:
        name = params["EndpointName"]
        row = self.describe(name)
        if row.status in IN_PROGRESS:
            raise self._in_progress(name)
        if row.status != "InService":
            raise ValidationException(
                f'Cannot update endpoint "{row.arn}" in status {row.status}; DeleteEndpoint is the only '
                "operation allowed on a failed endpoint."
            )
        pending = self._snapshot(params["EndpointConfigName"])
        updated = replace(row, status="Updating", pending=pending, last_modified_time=time.time())
        self._transition(updated, expected="InService")
        await self._start(self._run_update(updated))
        return updated

    async def delete(self, name: str) -> None:
        row = self.describe(name)
        if row.status in IN_PROGRESS:
            raise self._in_progress(name)
        deleting = replace(row, status="Deleting", last_modified_time=time.time())
        self._transition(deleting, expected=row.status)
        await self._start(self._run_delete(deleting))

    # -- start-up and shut-down --------------------------------------------------------------------------------

    async def restore(self) -> None:
        """Bring back what was running before a restart; awaited before the server accepts requests."""
        jobs = []
        for row in self._store.list_endpoints():
            if row.status == "Deleting":
                jobs.append(self._run_delete(row))
            elif row.status in ("InService", "Creating"):
                jobs.append(self._run_create(row))
            elif row.status == "Updating":
                interrupted = replace(
                    row,
                    status="Creating",
                    pending=None,
                    failure_reason="An update was interrupted by a server restart; call UpdateEndpoint again.",
                )
                self._transition(interrupted, expected="Updating")
                jobs.append(self._run_create(interrupted, keep_reason=True))
        await asyncio.gather(*jobs)

    async def shutdown(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for live in list(self._live.values()):
            await live.aclose()
        self._live.clear()

    # -- background work ---------------------------------------------------------------------------------------

    async def _start(self, job: Awaitable[None]) -> None:
        task = asyncio.ensure_future(job)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        await asyncio.wait({task}, timeout=self._grace)

    async def _run_create(self, row: EndpointRow, *, keep_reason: bool = False) -> None:
        try:
            live = await self._deploy(row.name, row.config_name, row.deployment)
        except _DeployFailed as exc:
            self._finish(row, status="Failed", failure_reason=exc.reason)
            return
        previous = self._live.pop(row.name.lower(), None)
        if previous is not None:
            await previous.aclose()
        self._live[row.name.lower()] = live
        if row.status == "InService":
            return  # restored after a restart: nothing changed from the client's point of view
        reason = row.failure_reason if keep_reason else None
        if not self._finish(row, status="InService", failure_reason=reason):
            await self._live.pop(row.name.lower()).aclose()

    async def _run_update(self, row: EndpointRow) -> None:
        assert row.pending is not None
        config_name = row.pending["config_name"]
        try:
            live = await self._deploy(row.name, config_name, row.pending)
        except _DeployFailed as exc:
            # The old deployment keeps serving, as after a SageMaker rollback.
            self._finish(row, status="InService", pending=None, failure_reason=exc.reason)
            return
        old = self._live.get(row.name.lower())
        self._live[row.name.lower()] = live
        self._finish(
            row, status="InService", config_name=config_name, deployment=row.pending, pending=None, failure_reason=None
        )
        if old is not None:
            await old.aclose()

    async def _run_delete(self, row: EndpointRow) -> None:
        live = self._live.pop(row.name.lower(), None)
        if live is not None:
            await live.aclose()
        with contextlib.suppress(NotFound):
            self._store.delete_endpoint(row.name)

    def _finish(self, row: EndpointRow, **changes: Any) -> bool:
        """Record the end of a transition, unless the row moved on meanwhile (e.g. it was deleted)."""
        try:
            self._transition(replace(row, last_modified_time=time.time(), **changes), expected=row.status)
        except ValidationException:
            return False
        return True

    def _transition(self, row: EndpointRow, *, expected: str) -> None:
        try:
            self._store.replace_endpoint(row, expected_status=expected)
        except NotFound:
            raise self._in_progress(row.name) from None

    # -- deployments -------------------------------------------------------------------------------------------

    def _snapshot(self, config_name: str) -> dict[str, Any]:
        config = self._configs.describe(config_name)
        models = {}
        for variant in config.request["ProductionVariants"]:
            model = self._models.describe(variant["ModelName"])
            models[model.name.lower()] = model.request
        return {"config_name": config.name, "config": config.request, "models": models}

    async def _deploy(self, name: str, config_name: str, deployment: Mapping[str, Any]) -> LiveEndpoint:
        variants: list[LiveVariant] = []
        live = LiveEndpoint(name, config_name, deployment["config"], variants)
        try:
            for pv in deployment["config"]["ProductionVariants"]:
                variants.append(await self._load_variant(name, pv, deployment["models"]))
            for prepare in self._preparers:
                await prepare(live)
        except BaseException as exc:
            await live.aclose()
            if isinstance(exc, _DeployFailed):
                raise
            if isinstance(exc, ServiceError):
                raise _DeployFailed(exc.message) from exc
            if isinstance(exc, Exception):
                log.exception("deploying endpoint %s failed", name)
                raise _DeployFailed(f"Internal error while deploying the endpoint ({type(exc).__name__}).") from exc
            raise
        return live

    async def _load_variant(self, endpoint: str, pv: Mapping[str, Any], models: Mapping[str, Any]) -> LiveVariant:
        vname = pv["VariantName"]
        model_request = models[pv["ModelName"].lower()]
        count = int(pv.get("InitialInstanceCount", 1))
        startup = float(pv.get("ContainerStartupHealthCheckTimeoutInSeconds") or self._startup_timeout)
        try:
            spec = build_spec(
                model_container(model_request),
                model_roots=self._roots,
                max_concurrency=count,
                startup_timeout_seconds=min(startup, self._startup_timeout),
                request_timeout_seconds=self._request_timeout,
            )
            runtime = self._runtime_factory(spec, endpoint, vname)
            await anyio.to_thread.run_sync(runtime.load)
        except ModelLoadError as exc:
            raise _DeployFailed(f"Variant {vname} (model {model_request['ModelName']}): {exc}") from None
        return LiveVariant(
            name=vname,
            model_name=model_request["ModelName"],
            weight=float(pv.get("InitialVariantWeight", 1.0)),
            instance_count=count,
            runtime=runtime,
            gate=asyncio.Semaphore(count),
        )


class _DeployFailed(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason[:1024]  # FailureReason's max length


async def _close_quietly(runtime: Runtime) -> None:
    try:
        await runtime.aclose()
    except Exception:
        log.exception("closing a runtime failed")
