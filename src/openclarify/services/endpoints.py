"""Endpoint lifecycle: Creating → InService | Failed, Updating, Deleting, and the live runtimes behind them.

Deployments run as background tasks on the event loop; model loading (CPU and disk) runs in worker threads.
Create/Update/Delete wait up to ``grace_seconds`` for a fast deployment to finish, so the first
DescribeEndpoint (and boto3's waiters, which poll every 30 s) usually see the final state.

Every endpoint row keeps a snapshot of what it deploys (config request + model requests), as SageMaker does:
deleting the config or the model afterwards does not affect a running endpoint, and a restart can redeploy it.

``preparers`` are async hooks run after the runtimes load and before the endpoint goes InService (the
invocation pipeline uses one to load the SHAP baseline). A :class:`ServiceError` raised there fails the
deployment with its message as FailureReason.

After a restart, :meth:`EndpointService.restore` resumes everything in the background, so the server answers
requests at once. An endpoint that was InService stays InService while its deployment loads again (retried with
backoff for as long as it fails: a model container that is down is not a reason to fail a serving endpoint, and
SageMaker never does); ``wait_live`` lets an invocation wait a little for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import anyio.to_thread

from openclarify.errors import ServiceError, ValidationError, ValidationException
from openclarify.runtimes import ModelLoadError, Runtime, RuntimeSpec, build_spec, create_runtime
from openclarify.services.arns import ArnFactory
from openclarify.services.endpoint_configs import EndpointConfigService
from openclarify.services.models import ModelService, model_container
from openclarify.services.pagination import Page, paginate
from openclarify.services.store_thread import StoreThread
from openclarify.store import AlreadyExists, DatabaseUnavailable, EndpointRow, NotFound

log = logging.getLogger(__name__)

T = TypeVar("T")

IN_PROGRESS = ("Creating", "Updating", "Deleting", "SystemUpdating", "RollingBack")

# Restoring an InService endpoint after a restart: each attempt gives a container this long to pass /ping (or less,
# if its startup timeout is shorter), then the next attempt waits 1 s, doubling up to a minute. Short attempts keep
# the reason an invocation is told (``Restoring.last_error``) fresh, and the backoff keeps a dead container from
# being pinged five times a second for ever.
RESTORE_HEALTH_CHECK_SECONDS = 5.0
RESTORE_FIRST_DELAY_SECONDS = 1.0
RESTORE_MAX_DELAY_SECONDS = 60.0
# Recording the end of a Create, Update or Delete is retried for as long as the database fails (``_finish``).
FINAL_WRITE_FIRST_DELAY_SECONDS = 0.5
FINAL_WRITE_MAX_DELAY_SECONDS = 10.0


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

    async def retire(self, patience: float) -> None:
        """Close once the invocations already routed here have answered, waiting at most ``patience`` seconds.

        An update or a delete takes the endpoint's name away from this deployment first, so no new invocation
        reaches it; the ones admitted before still hold it, and closing it under them failed them (a remote
        container's request cut off, 424; in Ray mode the runtime's fan-out pool shut mid-explanation, 500).
        """
        give_up = time.monotonic() + patience
        try:
            while any(variant.admitted for variant in self.variants) and time.monotonic() < give_up:
                await asyncio.sleep(_RETIRE_POLL_SECONDS)
        finally:  # a shutdown cancelling the wait still closes it: the service no longer holds it
            await self.aclose()


# How often a retiring deployment looks whether its last invocation has answered: small next to any invocation.
_RETIRE_POLL_SECONDS = 0.02


@dataclass
class Restoring:
    """An endpoint that was InService before the restart, while its deployment is loaded again. Read-only outside
    :class:`EndpointService`."""

    started: float
    """Wall-clock time the restore began."""
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    """Set once the restore is over: loaded, or ended by UpdateEndpoint, DeleteEndpoint or shutdown."""
    failures: int = 0
    last_error: str | None = None
    """Why the last attempt failed, worded as a FailureReason."""
    task: asyncio.Task[None] | None = None


Preparer = Callable[[LiveEndpoint], Awaitable[None]]
RuntimeFactory = Callable[[RuntimeSpec, str, str], Runtime]
"""(spec, endpoint name, variant name) -> an unloaded runtime."""


def in_process_runtime(spec: RuntimeSpec, endpoint: str, variant: str) -> Runtime:
    return create_runtime(spec)


class EndpointService:
    def __init__(
        self,
        store: StoreThread,
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
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self._store = store
        self._on_change = on_change or (lambda: None)
        """Called on the event loop once a deployment went live or away (the server settles its heap then)."""
        self._runtime_factory = runtime_factory or in_process_runtime
        """Builds each variant's runtime: in process by default, Ray Serve replicas in ``serve --ray``."""
        self._arns = arns
        self._models = models
        self._configs = configs
        self._roots = tuple(model_roots)
        self._startup_timeout = startup_timeout_seconds
        self._request_timeout = request_timeout_seconds
        # An invocation admitted before an update or a delete answers within its deadline (a thread it leaves
        # behind past it serves no one): the old deployment waits that long for them, and one second more.
        self._retire_patience = request_timeout_seconds + 1.0
        self._grace = grace_seconds
        self._preparers = list(preparers)
        self._live: dict[str, LiveEndpoint] = {}
        self._restoring: dict[str, Restoring] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        # Held from reading an endpoint's row to writing it back (Create, Update, Delete and the end of each): the store
        # is called off the event loop, so without it two calls could each read a row, and the second write back a
        # copy the first had already changed (a completed UpdateEndpoint lost, a deleted endpoint's row restored).
        # One server owns its database (``store.held_exclusively``), so a lock in this process is enough.
        self._row_writes = asyncio.Lock()

    def add_preparer(self, preparer: Preparer) -> None:
        self._preparers.append(preparer)

    # -- errors in AWS's words ---------------------------------------------------------------------------------

    def not_found(self, name: str) -> ValidationException:
        return ValidationException(f'Could not find endpoint "{self._arns.endpoint(name)}".')

    def _in_progress(self, name: str) -> ValidationException:
        return ValidationException(f'Cannot update in-progress endpoint "{self._arns.endpoint(name)}".')

    # -- reads -------------------------------------------------------------------------------------------------

    async def describe(self, name: str) -> EndpointRow:
        try:
            return await self._store.get_endpoint(name)
        except NotFound:
            raise self.not_found(name) from None

    async def list(self, params: Mapping[str, Any]) -> Page[EndpointRow]:
        return paginate(
            await self._store.list_endpoints(),
            params,
            name=lambda r: r.name,
            created=lambda r: r.creation_time,
            modified=lambda r: r.last_modified_time,
            status=lambda r: r.status,
            operation="ListEndpoints",
        )

    def live(self, name: str) -> LiveEndpoint | None:
        """The running endpoint, or None when it is not InService (yet), or not loaded again since a restart."""
        return self._live.get(name.lower())

    def exists_here(self, name: str) -> bool:
        """Whether the endpoint is running or being loaded again in this server: False once DeleteEndpoint started
        (an invocation the old deployment still answers then belongs to no endpoint). Memory only, no store call."""
        key = name.lower()
        return key in self._live or key in self._restoring

    def restoring(self, name: str) -> Restoring | None:
        """How loading the endpoint again after a restart is going, or None when it is not being restored."""
        return self._restoring.get(name.lower())

    async def wait_live(self, name: str, timeout: float) -> LiveEndpoint | None:
        """The running endpoint; one being restored after a restart is waited for, up to ``timeout`` seconds."""
        state = self._restoring.get(name.lower())
        if state is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(state.ready.wait(), timeout)
        return self.live(name)

    # -- writes ------------------------------------------------------------------------------------------------

    async def create(self, params: Mapping[str, Any]) -> EndpointRow:
        name = params["EndpointName"]
        duplicate = ValidationException(f'Cannot create already existing endpoint "{self._arns.endpoint(name)}".')
        async with self._row_writes:
            try:
                await self._store.get_endpoint(name)
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
                config_name=(await self._configs.describe(config_name)).name,
                deployment=await self._snapshot(config_name),
                request=dict(params),
            )
            try:
                await self._confirmed(self._store.insert_endpoint(row), row)
            except AlreadyExists:
                raise duplicate from None
        await self._start(self._run_create(row))
        return row

    async def update(self, params: Mapping[str, Any]) -> EndpointRow:
        name = params["EndpointName"]
        async with self._row_writes:
            row = await self.describe(name)
            if row.status in IN_PROGRESS:
                raise self._in_progress(name)
            if row.status != "InService":
                raise ValidationException(
                    f'Cannot update endpoint "{row.arn}" in status {row.status}; DeleteEndpoint is the only '
                    "operation allowed on a failed endpoint."
                )
            pending = await self._snapshot(params["EndpointConfigName"])
            updated = replace(row, status="Updating", pending=pending, last_modified_time=time.time())
            await self._confirmed(self._transition(updated, expected="InService"), updated)
        await self._start(self._run_update(updated))
        return updated

    async def delete(self, name: str) -> None:
        async with self._row_writes:
            row = await self.describe(name)
            if row.status in IN_PROGRESS:
                raise self._in_progress(name)
            deleting = replace(row, status="Deleting", last_modified_time=time.time())
            await self._confirmed(self._transition(deleting, expected=row.status), deleting)
            self._stop_restoring(name)
        await self._start(self._run_delete(deleting))

    # -- start-up and shut-down --------------------------------------------------------------------------------

    async def restore(self) -> None:
        """Resume what was running before a restart. Returns at once: the work runs in the background, so the server
        accepts requests (ping, control plane, console) while endpoints load.

        - InService: loaded again, and retried with backoff until it loads; it stays InService throughout, and
          DescribeEndpoint shows each variant Creating with why it is not serving yet (``_run_restore``).
        - Creating: deployed again with its startup timeout; it may end Failed, as any creation may.
        - Updating: the update is abandoned and rolled back, as SageMaker rolls back a failed update: the endpoint
          is InService on its previous deployment, with a FailureReason saying so, and restored as above.
        - Deleting: the delete completes.
        """
        for row in await self._store.list_endpoints():
            if row.status == "Deleting":
                self._spawn(self._run_delete(row))
            elif row.status == "Creating":
                self._spawn(self._run_create(row))
            elif row.status == "InService":
                self._restore_in_service(row)
            elif row.status == "Updating":
                # The endpoint served its previous deployment until the crash. Redeploying that as Creating made it
                # refuse invocations meanwhile, and end Failed (DeleteEndpoint being all that is left) when its
                # container was down at the restart, which an InService endpoint survives.
                rolled_back = replace(
                    row,
                    status="InService",
                    pending=None,
                    last_modified_time=time.time(),
                    failure_reason="An update was interrupted by a server restart; call UpdateEndpoint again.",
                )
                await self._transition(rolled_back, expected="Updating")
                self._restore_in_service(rolled_back)

    def _restore_in_service(self, row: EndpointRow) -> None:
        state = Restoring(started=time.time())
        self._restoring[row.name.lower()] = state
        state.task = self._spawn(self._run_restore(row, state))

    async def shutdown(self) -> None:
        for name in list(self._restoring):
            self._stop_restoring(name)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for live in list(self._live.values()):
            await live.aclose()
        self._live.clear()

    # -- background work ---------------------------------------------------------------------------------------

    def _spawn(self, job: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(job)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(_log_failure)
        return task

    async def _start(self, job: Coroutine[Any, Any, None]) -> None:
        await asyncio.wait({self._spawn(job)}, timeout=self._grace)

    async def _run_restore(self, row: EndpointRow, state: Restoring) -> None:
        """Load an endpoint that was InService before the restart, until it loads. Nothing is written: to its
        clients the endpoint never stopped being InService, it is only not ready to answer yet."""
        key = row.name.lower()
        delay = RESTORE_FIRST_DELAY_SECONDS
        try:
            while True:
                try:
                    live = await self._deploy(
                        row.name, row.config_name, row.deployment, health_check_seconds=RESTORE_HEALTH_CHECK_SECONDS
                    )
                    break
                except _DeployFailed as exc:
                    state.failures += 1
                    state.last_error = exc.reason
                    log.warning(
                        "endpoint %s is InService but could not be loaded again after the restart (attempt %d); "
                        "retrying in %g s: %s",
                        row.name,
                        state.failures,
                        delay,
                        exc.reason,
                    )
                await asyncio.sleep(delay)
                delay = min(2 * delay, RESTORE_MAX_DELAY_SECONDS)
            # Nothing can have replaced it meanwhile: a successful UpdateEndpoint and DeleteEndpoint end this task
            # first (``_stop_restoring``), and from the end of ``_deploy`` to here nothing awaits.
            self._live[key] = live
            self._on_change()
            if state.failures:
                log.info("endpoint %s is serving again (loaded on attempt %d)", row.name, state.failures + 1)
        finally:
            if self._restoring.get(key) is state:
                del self._restoring[key]
            state.ready.set()

    def _stop_restoring(self, name: str) -> None:
        state = self._restoring.pop(name.lower(), None)
        if state is None:
            return
        if state.task is not None:
            state.task.cancel()
        state.ready.set()

    async def _run_create(self, row: EndpointRow) -> None:
        try:
            live = await self._deploy(row.name, row.config_name, row.deployment)
        except _DeployFailed as exc:
            await self._finish(row, status="Failed", failure_reason=exc.reason)
            self._on_change()
            return
        previous = self._live.pop(row.name.lower(), None)
        if previous is not None:
            await previous.retire(self._retire_patience)
        self._live[row.name.lower()] = live
        if not await self._finish(row, status="InService", failure_reason=None):
            await self._live.pop(row.name.lower()).aclose()
        self._on_change()

    async def _run_update(self, row: EndpointRow) -> None:
        assert row.pending is not None
        config_name = row.pending["config_name"]
        try:
            live = await self._deploy(row.name, config_name, row.pending)
        except _DeployFailed as exc:
            # The old deployment keeps serving, as after a SageMaker rollback.
            await self._finish(row, status="InService", pending=None, failure_reason=exc.reason)
            self._on_change()
            return
        self._stop_restoring(row.name)  # the new deployment replaces the one still loading since a restart
        old = self._live.get(row.name.lower())
        self._live[row.name.lower()] = live
        await self._finish(
            row, status="InService", config_name=config_name, deployment=row.pending, pending=None, failure_reason=None
        )
        if old is not None:
            await old.retire(self._retire_patience)
        self._on_change()

    async def _run_delete(self, row: EndpointRow) -> None:
        live = self._live.pop(row.name.lower(), None)
        if live is not None:
            await live.retire(self._retire_patience)

        async def remove(_: bool) -> None:
            with contextlib.suppress(NotFound):
                await self._store.delete_endpoint(row.name)

        await self._until_recorded(row.name, "its deletion", remove)
        self._on_change()

    async def _finish(self, row: EndpointRow, **changes: Any) -> bool:
        """Record the end of a transition, unless the row moved on meanwhile (e.g. it was deleted)."""
        target = replace(row, last_modified_time=time.time(), **changes)

        async def record(failed_before: bool) -> bool:
            try:
                await self._transition(target, expected=row.status)
            except ValidationException:
                # The row moved on, unless a failed attempt's COMMIT went through before its connection broke.
                try:
                    return failed_before and await self._is_written(target)
                except NotFound:  # read back: the row is gone
                    return False
            return True

        return await self._until_recorded(row.name, f"its status {target.status}", record)

    async def _until_recorded(self, name: str, what: str, write: Callable[[bool], Awaitable[T]]) -> T:
        """``write(failed_before)`` under the row lock, tried again with backoff for as long as the database fails.

        The end of a Create, Update or Delete: the deployment has already gone live or away, and a row left Creating,
        Updating or Deleting would refuse every later call on the endpoint until a restart. Shutdown ends the wait;
        the next start resumes the row (``restore``)."""
        delay, failed = FINAL_WRITE_FIRST_DELAY_SECONDS, False
        while True:
            try:
                async with self._row_writes:
                    return await write(failed)
            except DatabaseUnavailable as exc:
                failed = True
                log.warning(
                    "endpoint %s: the database failed while recording %s; trying again in %g s: %s",
                    name,
                    what,
                    delay,
                    exc,
                )
                await asyncio.sleep(delay)
                delay = min(2 * delay, FINAL_WRITE_MAX_DELAY_SECONDS)

    async def _confirmed(self, write: Awaitable[None], row: EndpointRow) -> None:
        """Await ``write`` of ``row``. When the database failed to answer its COMMIT, the row is read back: a change
        made all the same goes on (its background task started, the caller told it was made), rather than a 503
        whose retry is refused and a row left Creating, Updating or Deleting with no task behind it."""
        try:
            await write
        except DatabaseUnavailable as exc:
            if not exc.maybe_committed:
                raise
            try:
                written = await self._is_written(row)
            except (NotFound, DatabaseUnavailable):
                raise exc from None
            if not written:
                raise
            log.warning("endpoint %s: the database's answer to a change was lost; read back, it was made", row.name)

    async def _is_written(self, row: EndpointRow) -> bool:
        """Whether the stored row is ``row`` as this server wrote it (its status and modification time)."""
        current = await self._store.get_endpoint(row.name)
        return (current.status, current.last_modified_time) == (row.status, row.last_modified_time)

    async def _transition(self, row: EndpointRow, *, expected: str) -> None:
        try:
            await self._store.replace_endpoint(row, expected_status=expected)
        except NotFound:
            raise self._in_progress(row.name) from None

    # -- deployments -------------------------------------------------------------------------------------------

    async def _snapshot(self, config_name: str) -> dict[str, Any]:
        config = await self._configs.describe(config_name)
        models = {}
        for variant in config.request["ProductionVariants"]:
            model = await self._models.describe(variant["ModelName"])
            models[model.name.lower()] = model.request
        return {"config_name": config.name, "config": config.request, "models": models}

    async def _deploy(
        self,
        name: str,
        config_name: str,
        deployment: Mapping[str, Any],
        *,
        health_check_seconds: float | None = None,
    ) -> LiveEndpoint:
        """``health_check_seconds`` shortens how long a container may take to pass /ping (restore attempts)."""
        variants: list[LiveVariant] = []
        live = LiveEndpoint(name, config_name, deployment["config"], variants)
        try:
            for pv in deployment["config"]["ProductionVariants"]:
                variants.append(await self._load_variant(name, pv, deployment["models"], health_check_seconds))
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

    async def _load_variant(
        self,
        endpoint: str,
        pv: Mapping[str, Any],
        models: Mapping[str, Any],
        health_check_seconds: float | None = None,
    ) -> LiveVariant:
        vname = pv["VariantName"]
        model_request = models[pv["ModelName"].lower()]
        count = int(pv.get("InitialInstanceCount", 1))
        startup = min(
            float(pv.get("ContainerStartupHealthCheckTimeoutInSeconds") or self._startup_timeout), self._startup_timeout
        )
        if health_check_seconds is not None:
            startup = min(startup, health_check_seconds)
        try:
            spec = build_spec(
                model_container(model_request),
                model_roots=self._roots,
                max_concurrency=count,
                startup_timeout_seconds=startup,
                request_timeout_seconds=self._request_timeout,
            )
            runtime = self._runtime_factory(spec, endpoint, vname)
        except ModelLoadError as exc:
            raise _DeployFailed(f"Variant {vname} (model {model_request['ModelName']}): {exc}") from None
        try:
            # Not waited for when cancelled (shutdown, DeleteEndpoint): the thread is left to end on its own, and
            # closing the runtime below makes a container health check stop at its next /ping rather than run out
            # the whole startup timeout.
            await anyio.to_thread.run_sync(runtime.load, abandon_on_cancel=True)
        except BaseException as exc:
            await _close_quietly(runtime)
            if isinstance(exc, ModelLoadError):
                raise _DeployFailed(f"Variant {vname} (model {model_request['ModelName']}): {exc}") from None
            raise
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


def _log_failure(task: asyncio.Task[None]) -> None:
    """A background deployment task that failed is logged once, with its traceback, at the time it failed."""
    if not task.cancelled() and task.exception() is not None:
        log.error("a background endpoint task failed", exc_info=task.exception())


async def _close_quietly(runtime: Runtime) -> None:
    try:
        await runtime.aclose()
    except Exception:
        log.exception("closing a runtime failed")
