"""A variant's model as a Ray Serve deployment, and the :class:`Runtime` the endpoint service talks to it with."""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextvars
import dataclasses
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np
from ray import serve

from openclarify.runtimes import InvokeResult, ModelLoadError, Runtime, RuntimeSpec, create_runtime

APP_PREFIX = "openclarify-model-"
# Synthetic rows per fanned-out batch: small enough that one explanation makes several batches to spread, large
# enough that per-request overhead (about 1-2 ms through a handle) stays small next to the model's time.
FANOUT_ROWS = 4096
REPLICA_CPUS = 0.25
# Which runtime object owns each model application in this (ingress) process: an update hands the application
# to the new runtime, and closing the old one must then leave it running.
_owners: dict[str, RayRuntime] = {}
_owners_lock = threading.Lock()


@serve.deployment(ray_actor_options={"num_cpus": REPLICA_CPUS}, max_ongoing_requests=32)
class ModelReplica:
    """One replica: the model loaded in process by its ordinary runtime."""

    def __init__(self, spec: RuntimeSpec) -> None:
        from openclarify.process import tune_for_serving

        tune_for_serving()
        self.runtime = create_runtime(spec)
        self.runtime.load()

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.001)
    async def predict(self, batches: list[np.ndarray]) -> list[tuple[np.ndarray, int]]:
        """Request batching: concurrent batches take one hop to the worker thread; each is still predicted as
        its own matrix, so every batch's outputs are exactly what one process would compute for it."""
        outputs = await asyncio.to_thread(lambda: [np.asarray(self.runtime.predict(b)) for b in batches])
        return [(out, os.getpid()) for out in outputs]

    async def invoke(
        self, body: bytes, content_type: str | None, accept: str | None, custom_attributes: str | None
    ) -> tuple[InvokeResult, int]:
        return await self.runtime.invoke(body, content_type, accept, custom_attributes), os.getpid()


def ray_runtime(spec: RuntimeSpec, endpoint: str, variant: str) -> RayRuntime:
    """The endpoint service's runtime factory in Ray mode: one Serve application per (endpoint, variant), named
    after them, so an update redeploys the same application and Serve changes it in place."""
    return RayRuntime(spec, f"{APP_PREFIX}{endpoint.lower()}-{variant.lower()}")


class RayRuntime(Runtime):
    """Forwards to the variant's replicas. ``calls_by_pid`` counts which replica process answered (debug route)."""

    fanout_rows = FANOUT_ROWS

    def __init__(self, spec: RuntimeSpec, name: str) -> None:
        super().__init__(spec)
        self.name = name
        self.replicas = max(1, spec.max_concurrency)
        self.handle: Any = None
        self.calls_by_pid: collections.Counter[int] = collections.Counter()
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=2 * self.replicas, thread_name_prefix=name)

    def load(self) -> None:
        # Load once here first: a bad artifact fails the deployment with the runtime's own message at once,
        # instead of Serve retrying replicas that cannot start.
        probe = create_runtime(self.spec)
        probe.load()
        probe.close()
        deployment = ModelReplica.options(name="model", num_replicas=self.replicas)
        # The replica count is num_replicas, not part of what a replica is built from: a change of
        # InitialInstanceCount alone then scales the running deployment instead of replacing its replicas.
        replica_spec = dataclasses.replace(self.spec, max_concurrency=1)
        try:
            serve.run(deployment.bind(replica_spec), name=self.name, route_prefix=None)
        except Exception as exc:
            raise ModelLoadError(f"Ray Serve could not start the model replicas: {exc}") from None
        self.handle = serve.get_app_handle(self.name)
        with _owners_lock:
            _owners[self.name] = self

    def predict(self, X: np.ndarray) -> np.ndarray:
        out, pid = self.handle.predict.remote(X).result(timeout_s=self.spec.request_timeout_seconds)
        self.calls_by_pid[pid] += 1
        return np.array(out)  # a writable copy: arrays from Ray's object store are read-only views

    def map_predict(self, predict: Callable[[np.ndarray], np.ndarray], batches: Iterable[np.ndarray]) -> Iterator:
        """The fan-out: up to two batches per replica in flight, outputs yielded in the batches' order."""
        window: collections.deque[concurrent.futures.Future] = collections.deque()
        try:
            for batch in batches:
                context = contextvars.copy_context()  # per-invocation telemetry follows the batch
                window.append(self._pool.submit(context.run, predict, batch))
                if len(window) >= 2 * self.replicas:
                    yield window.popleft().result()
            while window:
                yield window.popleft().result()
        finally:
            for future in window:
                future.cancel()

    async def invoke(
        self, body: bytes, content_type: str | None, accept: str | None, custom_attributes: str | None
    ) -> InvokeResult:
        result, pid = await self.handle.invoke.remote(body, content_type, accept, custom_attributes)
        self.calls_by_pid[pid] += 1
        return result

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        with _owners_lock:
            if _owners.get(self.name) is not self:
                return  # an update handed the application to a newer runtime: leave it serving
            del _owners[self.name]
        serve.delete(self.name)

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)
